"""Checkpoints: a long run saved whole, resumed bit for bit, paused at a deadline.

The paper-scale runs take hours on two cores, longer than a working session. Every trainer of
the package (the MLP ensembles of :mod:`emergence.train`, the transformers of
:mod:`emergence.transformer` and :mod:`emergence.icl`) saves its whole state with
:func:`save_checkpoint` and continues from it with :func:`load_checkpoint`, which refuses a
damaged file and one made for another configuration or by other code (the caller's ``key``).
:func:`run_resumable` is the loop the transformer trainers share: it steps a run to its end,
saving about once a minute, and pauses cleanly (:class:`TrainingPaused`) at a deadline.
"""

from __future__ import annotations

import hashlib
import io
import os
import time
from pathlib import Path

import torch


class TrainingPaused(RuntimeError):
    """The run reached its deadline; its state is in the checkpoint, ready to resume."""


CHECKPOINT_MAGIC = b"emergence checkpoint v1\n"


class CheckpointError(ValueError):
    """A checkpoint that cannot be resumed from: damaged, foreign, or from other code. The
    message names the file; deleting it starts the run over."""


def save_checkpoint(path: str | Path, state: dict) -> None:
    """Write a training state (tensors, numbers, lists, dicts) atomically to ``path``.

    The file is a header, the SHA-256 of the payload and the payload (``torch.save``'s zip,
    read back without pickle), so :func:`load_checkpoint` notices any damaged byte. A failed
    write (a full disk) removes its temporary file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    torch.save(state, buffer)
    payload = buffer.getvalue()
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(CHECKPOINT_MAGIC + hashlib.sha256(payload).digest() + payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def load_checkpoint(path: str | Path, key: str, device) -> dict:
    """Read a state written by :func:`save_checkpoint`; raise :class:`CheckpointError` for a
    damaged file or one made for another config or by other code (``key`` differs)."""
    data = Path(path).read_bytes()
    head = len(CHECKPOINT_MAGIC)
    payload = data[head + 32:]
    advice = "delete it to start the run over"
    if not data.startswith(CHECKPOINT_MAGIC) or len(data) < head + 32:
        raise CheckpointError(f"checkpoint {path} is not a checkpoint of this package, or is "
                              f"truncated; {advice}")
    if hashlib.sha256(payload).digest() != data[head:head + 32]:
        raise CheckpointError(f"checkpoint {path} is damaged (its digest does not match); "
                              f"{advice}")
    try:
        state = torch.load(io.BytesIO(payload), map_location=device, weights_only=True)
    except Exception as error:  # any unpickling or zip error means an unusable file
        raise CheckpointError(f"checkpoint {path} cannot be read ({error}); {advice}") from None
    found = state.get("key") if isinstance(state, dict) else None
    if found != key:
        raise CheckpointError(f"checkpoint {path} belongs to another configuration or to other "
                              f"code (key {found!r}, expected {key!r}); {advice}")
    return state


def run_resumable(run, n_steps: int, name: str, checkpoint: str | Path | None = None,
                  deadline: float | None = None, every: int = 1,
                  seconds: float = 60.0) -> None:
    """Call ``run.advance()`` until it returns False, the run's last step measured.

    ``run`` has ``advance()``, ``step`` and ``save(path)``. With ``checkpoint`` (a path) the
    state is saved there every ``seconds`` of wall time, looked at every ``every`` steps; with
    ``deadline`` too (a ``time.monotonic()`` value) a run still going then is saved and
    :class:`TrainingPaused` raised, naming the experiment ``name``.
    """
    last_save = time.monotonic()
    while run.advance():
        if checkpoint is None or run.step % every or run.step == n_steps:
            continue
        if deadline is not None and time.monotonic() > deadline:
            run.save(checkpoint)
            raise TrainingPaused(f"experiment {name!r} paused at step {run.step} of {n_steps}; "
                                 f"run again to resume from {checkpoint}")
        if time.monotonic() - last_save > seconds:
            run.save(checkpoint)
            last_save = time.monotonic()
