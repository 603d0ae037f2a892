"""Fill the results store with paper-scale runs: ``python -m emergence.results`` (make results).

Runs every experiment the store must hold (``experiments.names(stored_only=True)``; the
paper's days-long transformer configuration only when named with ``--only``), or those named
with ``--only``, in the paper profile, and writes each to ``book/results/``. Before it trains
anything it checks the chosen experiments' entries: an incomplete or damaged entry (see
:mod:`emergence.store`) is reported and stops the command, unless ``--repair`` is given, which
deletes and redoes it; leftover temporary files of killed writers are removed. Without CUDA the
MLP experiments train on the CPU engine (:mod:`emergence.cpu_ensemble`), which runs the whole
MLP suite on two cores in hours; with CUDA they train on the GPU. Entries already in the store
are skipped (``--overwrite`` reruns them). Experiments that accept a ``checkpoint`` argument
save their state under ``checkpoints/`` about once a minute, so a run cut short (a killed
process, a time-limited GPU session) resumes where it stopped when the command is run again,
and the stored ``wall_s`` is the training time summed over the sessions. A checkpoint that is
damaged, or was made by other code or for another config, is reported and its experiment
skipped (exit status 5); delete it to start that experiment over.
``--stop-after SECONDS`` pauses cleanly (checkpoint saved, exit status 3) before a session's
time limit; run the same command again to continue.

On a remote GPU (a lent machine, Colab), ``--archive FILE`` packs the chosen experiments' store
entries into one ``.tar.gz`` at the end (also after a pause), and on the machine that keeps the
book ``--import FILE`` checks and adds them to the store; then commit the new files.
"""

from __future__ import annotations

import argparse
import inspect
import math
import sys
import time
from pathlib import Path

import torch

from . import experiments, store
from .checkpoints import CheckpointError, TrainingPaused

CHECKPOINTS = Path(__file__).resolve().parents[2] / "checkpoints"


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m emergence.results", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="+", metavar="NAME", help="experiments to run")
    parser.add_argument("--overwrite", action="store_true", help="replace stored entries")
    parser.add_argument("--root", type=Path, default=None, help="store folder (book/results)")
    parser.add_argument("--checkpoints", type=Path, default=CHECKPOINTS,
                        help="folder for resumable checkpoints (default: checkpoints/)")
    parser.add_argument("--stop-after", type=_seconds, default=None, metavar="SECONDS",
                        help="pause (checkpoint, exit status 3) after this much wall time")
    parser.add_argument("--archive", type=Path, default=None, metavar="FILE",
                        help="at the end, pack the chosen experiments' entries into FILE")
    parser.add_argument("--repair", action="store_true",
                        help="delete and redo incomplete or damaged entries")
    parser.add_argument("--migrate", action="store_true",
                        help="bring entries of an older store schema up to date, then stop")
    parser.add_argument("--import", dest="import_from", type=Path, default=None, metavar="FILE",
                        help="add the entries of an archive to the store, then stop")
    return parser.parse_args(argv)


def _seconds(text: str) -> float:
    """A finite number of seconds >= 0 (argparse type of ``--stop-after``)."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"must be a finite number of seconds >= 0, got {text!r}")
    return value


def run_one(name: str, device: torch.device, args: argparse.Namespace,
            deadline: float | None = None, code: dict | None = None) -> float | None:
    """Run one experiment at paper size and store it; returns its wall time (None if skipped).

    The entry records ``code``, the :func:`~emergence.store.code_identity` taken when the
    command started (by default, before this run), not the checkout as it is when the run
    ends, which may have been edited meanwhile; a warning says so when it was. Raises
    :class:`emergence.checkpoints.TrainingPaused` when it reaches ``deadline`` unfinished.
    """
    code = code or store.code_identity()
    cfg = experiments.config(name, "paper")
    config = cfg.to_dict()
    if store.exists(name, config, args.root) and not args.overwrite:
        print(f"{name}: already stored, skipped (--overwrite to rerun)", flush=True)
        return None
    options = {"progress": sys.stdout.isatty()}
    checkpoint = args.checkpoints / f"{name}-{store.config_key(config)}.pt"
    accepted = inspect.signature(cfg.run).parameters
    if "checkpoint" in accepted:
        options["checkpoint"] = checkpoint
    if "deadline" in accepted and deadline is not None:
        options["deadline"] = deadline
    engine = None
    if "engine" in accepted:
        engine = options["engine"] = experiments.default_engine(device)
    start = time.perf_counter()
    arrays = cfg.run(device, **options)
    wall = float(arrays.get("wall_s", time.perf_counter() - start))
    meta = store.provenance(config, device, wall, engine=engine, code=code)
    if store.code_identity() != code:
        print(f"{name}: the package changed on disk during the run; the entry records the code "
              f"the run started with ({code['git_commit']})", file=sys.stderr, flush=True)
    path = store.save(name, config, arrays, meta, args.root, overwrite=args.overwrite,
                      nan_arrays=getattr(cfg, "nan_arrays", ()))
    checkpoint.unlink(missing_ok=True)
    print(f"{name}: {wall:.1f} s on {store.describe_device(device)} -> {path}", flush=True)
    return wall


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.migrate:
        for old, new in store.migrate(args.root):
            print(f"migrated {old} -> {new}")
        return 0
    if args.import_from is not None:
        added = store.import_entries(args.import_from, args.root, overwrite=args.overwrite)
        print(f"imported {len(added)} entr{'y' if len(added) == 1 else 'ies'}: {added}")
        return 0
    known = experiments.names()
    chosen = args.only or experiments.names(stored_only=True)
    unknown = sorted(set(chosen) - set(known))
    if unknown:
        print(f"unknown experiment(s) {unknown}; known: {known}", file=sys.stderr)
        return 2
    status = check_entries(chosen, args) or run_all(chosen, args)
    if args.archive is not None:
        packed = store.export_entries(args.archive, chosen, args.root)
        print(f"packed {len(packed)} entr{'y' if len(packed) == 1 else 'ies'} into "
              f"{args.archive}", flush=True)
    return status


def check_entries(chosen: list[str], args: argparse.Namespace) -> int:
    """Before any training: clean leftovers, and report (or with ``--repair`` delete) the
    chosen experiments' incomplete, damaged or outdated entries; 4 if any stop the command."""
    for folder in (args.root, args.checkpoints):
        for name in store.clean_leftovers(folder):
            print(f"removed leftover {name}", flush=True)
    broken = []
    for name in chosen:
        config = experiments.config(name, "paper").to_dict()
        state, why = store.status(name, config, args.root)
        if state in ("missing", "complete"):
            continue
        if args.repair and state != "outdated":
            store.remove(name, config, args.root)
            print(f"{name}: {state} entry deleted, to be redone ({why})", flush=True)
        else:
            broken.append(name)
            print(f"{name}: stored entry is {state}: {why}", file=sys.stderr, flush=True)
    if broken:
        print("nothing was trained; fix the entries above (--repair redoes incomplete or "
              "damaged ones, --migrate updates outdated ones)", file=sys.stderr)
        return 4
    return 0


def run_all(chosen: list[str], args: argparse.Namespace) -> int:
    """Run the chosen experiments in turn; 0 when all are stored, 3 when paused for time, 5
    when an experiment was skipped for an unusable checkpoint."""
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    deadline = None if args.stop_after is None else time.monotonic() + args.stop_after
    total, failed = 0.0, []
    code = store.code_identity()        # before any training: the code this process runs
    for name in chosen:
        if deadline is not None and time.monotonic() > deadline:
            print(f"out of time before {name}; run again to continue", flush=True)
            return 3
        try:
            total += run_one(name, device, args, deadline, code) or 0.0
        except TrainingPaused as pause:
            print(pause, flush=True)
            return 3
        except CheckpointError as error:
            print(f"{name}: skipped: {error}", file=sys.stderr, flush=True)
            failed.append(name)
    print(f"done: {len(chosen) - len(failed)} experiment(s), {total:.1f} s of training"
          + (f"; skipped for unusable checkpoints: {failed}" if failed else ""), flush=True)
    return 5 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
