"""The results store: paper-scale experiment outputs kept in ``book/results/``.

One entry per experiment and configuration, named ``<name>-<key>`` where ``key`` hashes the
canonical config together with ``SCHEMA_VERSION``. An entry is two files:

- ``<name>-<key>.npz``: the numeric arrays, read back with ``allow_pickle=False``;
- ``<name>-<key>.json``: provenance: ``config``, ``device``, ``torch``, ``git_commit``,
  ``code_sha256`` (a digest of the package's sources, which identifies the code even where the
  checkout has no git metadata), ``wall_s``, ``created``, ``schema``, ``name``, and
  ``arrays_sha256``, the SHA-256 of the ``.npz`` file it describes.

What the store promises (each promise has a test in ``tests/test_store.py``):

- **One rule for what enters.** Names are letters, digits and underscores (:func:`check_name`);
  only ``paper``-profile configs are stored; a config is canonicalised before it is hashed
  (JSON types, integral floats written as integers, so ``{"lr": 1}`` and ``{"lr": 1.0}`` are
  one config; NaN and infinity refused). :func:`save` and :func:`import_entries` both apply it.
- **An entry is written as one unit.** A writer holds the entry's lock file (``.<stem>.lock``,
  created exclusively, holding its process id) from its existence check to its last rename, so
  of two writers of a new entry exactly one succeeds; the other gets ``FileExistsError``. Each
  file is written to a temporary file in the same folder and renamed into place.
- **An entry is read as one unit.** :func:`load` checks the arrays against ``arrays_sha256``;
  a reader that meets a half-replaced entry while its writer holds the lock waits and reads
  again. Anything else that does not check out raises :class:`EntryError` naming the file and
  what to do.
- **Nothing half-done passes for done.** :func:`status` tells a complete entry from a missing,
  an incomplete (one file of two) and a damaged one (unreadable, or arrays that do not match
  their digest), and ``python -m emergence.results`` reports incomplete or damaged entries
  before it trains anything (``--repair`` redoes them). Temporary files and locks left by a
  killed process are removed by :func:`clean_leftovers`.
- **Imports are all or nothing.** :func:`import_entries` streams the archive into a staging
  folder inside the store, checks every entry there, and only then renames them in.

Entries travel between machines as one archive (:func:`export_entries`, :func:`import_entries`):
a GPU session anywhere (a lent machine, Colab) returns a single ``.tar.gz``. Entries written
under schema 1 (before digests and canonical numbers) are brought up to date, unchanged in their
arrays, by :func:`migrate`.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import io
import json
import math
import os
import platform
import re
import shutil
import subprocess
import tarfile
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

SCHEMA_VERSION = 2
PACKAGE_DIR = Path(__file__).resolve().parent
DEFAULT_ROOT = PACKAGE_DIR.parents[1] / "book" / "results"
NAME = re.compile(r"^[A-Za-z0-9_]+$")
ENTRY_FILE = re.compile(
    r"^(?P<stem>(?P<name>[A-Za-z0-9_]+)-(?P<key>[0-9a-f]{16}))\.(?P<ext>npz|json)$")
LEFTOVER = re.compile(r"^\..+?(?:\.(?P<pid>\d+)\.(?:tmp|import)|\.lock)$")
STORED_PROFILE = "paper"
READ_RETRIES = 100              # a reader waits up to 100 x 50 ms for a writer to finish


class EntryError(ValueError):
    """A store entry that cannot be used as it is: incomplete, damaged, or from an old schema.
    The message names the file and says what to do."""


# --- what may enter ---------------------------------------------------------------------------

def check_name(name: str) -> str:
    """``name`` if it is a valid experiment name (letters, digits, underscores), else raise."""
    if not isinstance(name, str) or not NAME.match(name):
        raise ValueError(f"name must be a non-empty string of letters, digits and underscores "
                         f"(the store's file names), got {name!r}")
    return name


def check_storable(name: str, config: dict) -> None:
    """Raise unless ``name`` is valid and ``config`` is a paper-profile config."""
    check_name(name)
    if not isinstance(config, dict):
        raise ValueError(f"config must be a dict, got {type(config).__name__}")
    if config.get("profile") != STORED_PROFILE:
        raise ValueError(f"config profile must be {STORED_PROFILE!r} to enter the store, got "
                         f"{config.get('profile')!r} (quick results are never stored)")


def normalise(config: dict) -> dict:
    """The canonical form of a config: as it reads back from JSON (tuples become lists), with
    integral floats written as integers; NaN and infinity are refused."""
    return _canonical(json.loads(json.dumps(config, sort_keys=True)), "config")


def _canonical(value, where: str):
    if isinstance(value, dict):
        return {k: _canonical(v, f"{where}[{k!r}]") for k, v in value.items()}
    if isinstance(value, list):
        return [_canonical(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{where} must be a finite number, got {value}")
        if value.is_integer() and abs(value) < 2**53:
            return int(value)
    return value


def config_key(config: dict) -> str:
    """16 hex digits of SHA-256 over the canonical JSON of the config and the schema version."""
    text = json.dumps({"schema": SCHEMA_VERSION, "config": normalise(config)}, sort_keys=True,
                      separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def entry_paths(name: str, config: dict, root: str | Path | None = None) -> tuple[Path, Path]:
    """``(npz, json)`` paths of the entry for this experiment name and config."""
    stem = f"{check_name(name)}-{config_key(config)}"
    folder = _folder(root)
    return folder / f"{stem}.npz", folder / f"{stem}.json"


def _folder(root) -> Path:
    return Path(root) if root is not None else DEFAULT_ROOT


# --- the state of an entry --------------------------------------------------------------------

def status(name: str, config: dict, root: str | Path | None = None) -> tuple[str, str]:
    """``(state, explanation)`` of the entry for this config; ``state`` is one of ``missing``,
    ``complete``, ``incomplete`` (one of its two files), ``damaged`` (unreadable, or arrays
    that do not match their digest) or ``outdated`` (an older schema: run :func:`migrate`)."""
    npz_path, json_path = entry_paths(name, config, root)
    if not npz_path.exists() and not json_path.exists():
        return "missing", f"no stored result {npz_path.stem}"
    try:
        _read_entry(npz_path, json_path)
    except FileNotFoundError as error:
        return "incomplete", str(error)
    except EntryError as error:
        return ("outdated" if "schema" in str(error) else "damaged"), str(error)
    return "complete", f"{npz_path.stem} is complete"


def exists(name: str, config: dict, root: str | Path | None = None) -> bool:
    """Whether a complete, sound entry exists for exactly this config."""
    return status(name, config, root)[0] == "complete"


def remove(name: str, config: dict, root: str | Path | None = None) -> None:
    """Delete the entry's files (to redo an incomplete or damaged entry), under its lock."""
    npz_path, json_path = entry_paths(name, config, root)
    with _entry_lock(npz_path):
        npz_path.unlink(missing_ok=True)
        json_path.unlink(missing_ok=True)


# --- writing and reading ----------------------------------------------------------------------

def save(name: str, config: dict, arrays: dict, provenance: dict,
         root: str | Path | None = None, overwrite: bool = False,
         nan_arrays: tuple[str, ...] = ()) -> Path:
    """Write an entry as one unit (see the module docstring); returns the ``.npz`` path.

    Refuses invalid names, non-paper configs, non-numeric arrays, non-finite values (NaN is
    allowed only in the arrays named in ``nan_arrays``, an experiment's declared placeholders;
    the list is stored with the entry), and (unless ``overwrite``) an entry that already exists
    in any state.
    """
    check_storable(name, config)
    npz_path, json_path = entry_paths(name, config, root)
    checked = {key: _finite(key, _numeric(key, value), nan_arrays)
               for key, value in arrays.items()}
    npz_path.parent.mkdir(parents=True, exist_ok=True)
    with _entry_lock(npz_path):
        if not overwrite and (npz_path.exists() or json_path.exists()):
            raise FileExistsError(f"{npz_path.name} already exists; pass overwrite=True to "
                                  f"replace it")
        with _temporary(npz_path) as tmp_npz, _temporary(json_path) as tmp_json:
            with open(tmp_npz, "wb") as fh:
                np.savez(fh, **checked)
                _flush(fh)
            meta = {**provenance, "name": name, "schema": SCHEMA_VERSION,
                    "config": normalise(config), "arrays_sha256": file_sha256(tmp_npz),
                    "nan_arrays": sorted(nan_arrays)}
            with open(tmp_json, "wb") as fh:
                fh.write(json.dumps(meta, indent=1, sort_keys=True).encode())
                _flush(fh)
            os.replace(tmp_npz, npz_path)
            os.replace(tmp_json, json_path)
    return npz_path


def load(name: str, config: dict, root: str | Path | None = None) -> tuple[dict, dict]:
    """``(arrays, provenance)`` of the entry for exactly this config.

    Raises FileNotFoundError when there is none (or only half of one), ValueError when the
    stored config differs, :class:`EntryError` when it is damaged or outdated.
    """
    npz_path, json_path = entry_paths(name, config, root)
    arrays, meta = _read_entry(npz_path, json_path)
    if meta.get("config") != normalise(config):
        raise ValueError(f"stored result {json_path.name} was made with a different config; "
                         f"it cannot stand for the requested one")
    return arrays, meta


def _read_entry(npz_path: Path, json_path: Path) -> tuple[dict, dict]:
    """Both files of an entry, checked against each other; retried while a writer is at work."""
    for attempt in range(READ_RETRIES + 1):
        missing = [p.name for p in (npz_path, json_path) if not p.exists()]
        if missing:
            active = _writer_active(npz_path)  # before looking again: a writer holds the lock
            if attempt < READ_RETRIES and (active or not all(
                    not (npz_path.parent / name).exists() for name in missing)):
                time.sleep(0.05)
                continue
            raise FileNotFoundError(
                f"no complete stored result {npz_path.stem}: {' and '.join(missing)} missing"
                + ("" if len(missing) == 2 else
                   f" (a half-written entry: delete {npz_path.stem}.* and rerun, or run "
                   f"`python -m emergence.results --repair`)"))
        before = json_path.read_bytes()
        data = npz_path.read_bytes()
        meta = _read_meta(json_path)
        if hashlib.sha256(data).hexdigest() == meta["arrays_sha256"]:
            return _arrays(data, npz_path), meta
        active = _writer_active(npz_path)  # first: a writer holds the lock until its json is in
        changed = json_path.read_bytes() != before
        if attempt < READ_RETRIES and (active or changed):
            time.sleep(0.05)
            continue
        raise EntryError(f"{npz_path} does not match the digest in {json_path.name}: the entry "
                         f"is damaged; restore it (`git checkout -- {npz_path.stem}.*` in the "
                         f"store) or redo it (`python -m emergence.results --repair`)")
    raise AssertionError("unreachable")


def _read_meta(json_path: Path) -> dict:
    try:
        meta = json.loads(json_path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise EntryError(f"{json_path} is damaged ({error}); restore it from git or redo the "
                         f"entry (`python -m emergence.results --repair`)") from None
    if not isinstance(meta, dict) or meta.get("schema") != SCHEMA_VERSION:
        found = meta.get("schema") if isinstance(meta, dict) else None
        raise EntryError(f"{json_path} has schema {found!r}, not {SCHEMA_VERSION}: bring it up "
                         f"to date with `python -m emergence.results --migrate`")
    if not isinstance(meta.get("arrays_sha256"), str):
        raise EntryError(f"{json_path} has no arrays_sha256; restore it from git or redo it")
    return meta


def _arrays(data: bytes, npz_path: Path) -> dict:
    """The arrays of an ``.npz`` held in memory, read without pickle."""
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            return {key: _numeric(key, npz[key]) for key in npz.files}
    except Exception as error:  # zip, format and pickle errors all mean a bad file
        raise EntryError(f"{npz_path} cannot be read ({type(error).__name__}: {error}); "
                         f"restore it from git or redo it") from None


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file, read in 1 MB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# --- locks and temporary files ----------------------------------------------------------------

@contextmanager
def _entry_lock(npz_path: Path):
    """Exclusive access to one entry: the lock file ``.<stem>.lock`` is created with O_EXCL
    and holds the writer's pid; a lock whose process is gone is stale and taken over."""
    lock = npz_path.with_name(f".{npz_path.stem}.lock")
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            owner = _lock_owner(lock)
            if owner is not None and _alive(owner):
                raise FileExistsError(f"{npz_path.stem} is being written by process {owner} "
                                      f"(lock {lock.name})") from None
            lock.unlink(missing_ok=True)
            continue
        with os.fdopen(fd, "w") as fh:
            fh.write(str(os.getpid()))
        try:
            yield
        finally:
            lock.unlink(missing_ok=True)
        return
    raise FileExistsError(f"could not take the lock {lock} for {npz_path.stem}")


def _lock_owner(lock: Path) -> int | None:
    try:
        return int(lock.read_text().strip())
    except (OSError, ValueError):
        return None


def _writer_active(npz_path: Path) -> bool:
    owner = _lock_owner(npz_path.with_name(f".{npz_path.stem}.lock"))
    return owner is not None and _alive(owner)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


@contextmanager
def _temporary(path: Path):
    """A temporary file name next to ``path`` (``.<name>.<pid>.tmp``), removed unless renamed."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.",
                               suffix=f".{os.getpid()}.tmp")
    os.close(fd)
    try:
        yield Path(tmp)
    finally:
        Path(tmp).unlink(missing_ok=True)


def _flush(fh) -> None:
    fh.flush()
    os.fsync(fh.fileno())


def clean_leftovers(root: str | Path | None = None) -> list[str]:
    """Remove temporary files, locks and import folders whose process is gone; returns their
    names. Those of a live process (a writer at work) are left alone."""
    folder = _folder(root)
    removed = []
    for path in folder.glob(".*") if folder.exists() else ():
        match = LEFTOVER.match(path.name)
        if not match:
            continue
        pid = _lock_owner(path) if match["pid"] is None else int(match["pid"])
        if pid is not None and _alive(pid):
            continue
        shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
        removed.append(path.name)
    return removed


# --- provenance -------------------------------------------------------------------------------

def provenance(config: dict, device: torch.device | str, wall_s: float,
               engine: str | None = None, code: dict | None = None) -> dict:
    """The provenance record of a run: config, device, torch, code identity, wall time, date,
    and the training engine (``"torch"`` or the CPU engine ``"rowsum"``) when there is one.

    ``code`` is the :func:`code_identity` taken before the run started; a run of hours has
    its code loaded by then, and the checkout may have been edited since (without it, the
    identity is taken now).
    """
    record = {"config": normalise(config), "device": describe_device(device),
              "torch": torch.__version__, **(code or code_identity()), "wall_s": float(wall_s),
              "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}
    if engine is not None:
        record["engine"] = engine
    return record


def describe_device(device: torch.device | str) -> str:
    """``cuda (NVIDIA H100 ...)`` or ``cpu (AMD EPYC, x86_64, 2 threads)``."""
    device = torch.device(device)
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return f"{device.type} ({cpu_model()}, {platform.machine() or 'unknown'}, " \
        f"{torch.get_num_threads()} threads)"


def cpu_model() -> str:
    """The CPU's model name from ``/proc/cpuinfo`` (Linux), else ``platform.processor()``."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def code_identity() -> dict:
    """``{"git_commit": ..., "code_sha256": ...}`` of the package as it is on disk now."""
    return {"git_commit": git_commit(), "code_sha256": code_digest()}


def git_commit() -> str:
    """The checkout's HEAD commit, with ``-dirty`` when the package differs from it.

    Outside a git checkout (a copied working tree) it is ``$EMERGENCE_GIT_COMMIT`` when set,
    else ``unknown``; :func:`code_digest` identifies the code either way.
    """
    def git(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["git", *args], cwd=PACKAGE_DIR, capture_output=True, text=True,
                              timeout=10, check=True)
    try:
        head = git("rev-parse", "HEAD").stdout.strip()
        dirty = git("status", "--porcelain", "--", str(PACKAGE_DIR)).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return os.environ.get("EMERGENCE_GIT_COMMIT", "unknown")
    return f"{head}-dirty" if dirty else (head or "unknown")


def code_digest() -> str:
    """SHA-256 over the package's ``.py`` files (relative paths and contents, in path order)."""
    sources = {p.relative_to(PACKAGE_DIR).as_posix(): p for p in PACKAGE_DIR.rglob("*.py")}
    return digest_sources({rel: sources[rel].read_bytes() for rel in sources})


def digest_sources(sources: dict[str, bytes]) -> str:
    """The digest of :func:`code_digest` for ``{relative posix path: contents}``."""
    digest = hashlib.sha256()
    for rel in sorted(sources):
        digest.update(rel.encode() + b"\0" + sources[rel] + b"\0")
    return digest.hexdigest()


# --- moving entries between machines ----------------------------------------------------------

def stems(names: list[str] | None = None, root: str | Path | None = None) -> list[str]:
    """The entries (``<name>-<key>``) with both files in the store, optionally only ``names``'."""
    folder = _folder(root)
    found = {m["stem"]: m["name"] for p in folder.glob("*.npz")
             if (m := ENTRY_FILE.match(p.name)) and (folder / f"{m['stem']}.json").exists()}
    return sorted(s for s, n in found.items() if names is None or n in names)


def export_entries(archive: str | Path, names: list[str] | None = None,
                   root: str | Path | None = None) -> list[str]:
    """Write the store's entries (all, or those of ``names``) into one ``.tar.gz``; atomic.

    Returns the exported stems. Every entry is checked (:func:`status`) first: a damaged one is
    never exported. An existing archive is replaced: it is a transport file.
    """
    folder = _folder(root)
    chosen = stems(names, folder)
    for stem in chosen:
        _read_entry(folder / f"{stem}.npz", folder / f"{stem}.json")
    archive = Path(archive)
    archive.parent.mkdir(parents=True, exist_ok=True)
    with _temporary(archive) as tmp:
        with tarfile.open(tmp, mode="w:gz") as tar:
            for stem in chosen:
                for ext in ("npz", "json"):
                    tar.add(folder / f"{stem}.{ext}", arcname=f"{stem}.{ext}", recursive=False)
        with open(tmp, "rb") as fh:
            _flush(fh)
        os.replace(tmp, archive)
    return chosen


def import_entries(archive: str | Path, root: str | Path | None = None,
                   overwrite: bool = False) -> list[str]:
    """Check every entry of an archive made by :func:`export_entries`, then add them all.

    Each archive member must be a plain file named ``<name>-<key>.npz|json``; every entry needs
    both files, a JSON of this schema with its name, a paper-profile config whose key is
    ``<key>`` and the digest of its arrays, which must load without pickle and be numeric.
    Members are streamed into a staging folder inside the store, so memory stays small and a
    failure (a bad entry, a full disk) leaves the store as it was; an entry already in the
    store is refused unless ``overwrite``.
    """
    folder = _folder(root)
    folder.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=folder, prefix=".archive.",
                                    suffix=f".{os.getpid()}.import"))
    try:
        chosen = sorted({ENTRY_FILE.match(n)["stem"] for n in _unpack(Path(archive), staging)})
        for stem in chosen:
            _check_staged(stem, staging)
        clashes = [s for s in chosen if (folder / f"{s}.npz").exists()
                   or (folder / f"{s}.json").exists()]
        if clashes and not overwrite:
            raise FileExistsError(f"the store already holds {clashes}; pass overwrite=True to "
                                  f"replace them")
        for stem in chosen:
            with _entry_lock(folder / f"{stem}.npz"):
                os.replace(staging / f"{stem}.npz", folder / f"{stem}.npz")
                os.replace(staging / f"{stem}.json", folder / f"{stem}.json")
        return chosen
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _unpack(archive: Path, staging: Path) -> list[str]:
    """Stream the archive's members into ``staging``, refusing anything but entry files."""
    names = []
    with tarfile.open(archive, mode="r|gz") as tar:
        for member in tar:
            if not member.isfile() or not ENTRY_FILE.match(member.name) or \
                    member.name in names:
                raise ValueError(f"archive {archive.name} holds {member.name!r}, which is not a "
                                 f"store entry file (<name>-<16 hex>.npz or .json, once each)")
            with tar.extractfile(member) as source, open(staging / member.name, "wb") as fh:
                shutil.copyfileobj(source, fh, 1 << 20)
                _flush(fh)
            names.append(member.name)
    return names


def _check_staged(stem: str, staging: Path) -> None:
    """Raise ValueError unless the staged files of ``stem`` form a sound entry."""
    name, key = ENTRY_FILE.match(f"{stem}.npz").group("name", "key")
    npz_path, json_path = staging / f"{stem}.npz", staging / f"{stem}.json"
    if not (npz_path.exists() and json_path.exists()):
        raise ValueError(f"entry {stem} is incomplete in the archive: it needs .npz and .json")
    meta = _read_meta(json_path)
    if meta.get("name") != name:
        raise ValueError(f"entry {stem}: its JSON names {meta.get('name')!r}, not {name!r}")
    check_storable(name, meta.get("config"))
    if config_key(meta["config"]) != key:
        raise ValueError(f"entry {stem}: its stored config hashes to "
                         f"{config_key(meta['config'])}, not to its key {key}")
    with np.load(npz_path, allow_pickle=False) as data:
        for array_name in data.files:
            _finite(array_name, _numeric(array_name, data[array_name]),
                    meta.get("nan_arrays", ()))
    if file_sha256(npz_path) != meta["arrays_sha256"]:
        raise ValueError(f"entry {stem}: its arrays do not match the digest in its JSON")


def migrate(root: str | Path | None = None) -> list[tuple[str, str]]:
    """Bring schema-1 entries up to date: canonical config, new key, ``arrays_sha256``.

    The arrays are not touched (the new ``.npz`` is a copy of the old file); returns the
    ``(old stem, new stem)`` pairs.
    """
    folder = _folder(root)
    moved = []
    for json_path in sorted(folder.glob("*.json")):
        match = ENTRY_FILE.match(json_path.name)
        if not match:
            continue
        meta = json.loads(json_path.read_text())
        old_npz = json_path.with_suffix(".npz")
        if meta.get("schema") != 1 or not old_npz.exists():
            continue
        config = normalise(meta["config"])
        new_npz, new_json = entry_paths(match["name"], config, folder)
        if new_npz.exists() or new_json.exists():
            raise FileExistsError(f"cannot migrate {json_path.name}: {new_npz.stem} exists")
        with _entry_lock(new_npz), _temporary(new_npz) as tmp_npz, \
                _temporary(new_json) as tmp_json:
            shutil.copyfile(old_npz, tmp_npz)
            new_meta = {**meta, "schema": SCHEMA_VERSION, "config": config,
                        "arrays_sha256": file_sha256(tmp_npz)}
            tmp_json.write_text(json.dumps(new_meta, indent=1, sort_keys=True))
            os.replace(tmp_npz, new_npz)
            os.replace(tmp_json, new_json)
        old_npz.unlink()
        json_path.unlink()
        moved.append((match["stem"], new_npz.stem))
    return moved


def _finite(key: str, array: np.ndarray, nan_arrays) -> np.ndarray:
    """``array`` if its values are finite (NaN allowed when ``key`` is in ``nan_arrays``)."""
    if array.dtype.kind == "f":
        bad = np.isinf(array) if key in nan_arrays else ~np.isfinite(array)
        if bad.any():
            raise ValueError(f"array {key!r} holds {int(bad.sum())} non-finite values; only the "
                             f"arrays an experiment declares ({sorted(nan_arrays)}) may hold "
                             f"NaN placeholders")
    return array


def _numeric(key: str, value) -> np.ndarray:
    array = np.asarray(value)
    if array.dtype.kind not in "biuf":
        raise ValueError(f"array {key!r} must be numeric (bool, int or float), got {array.dtype}")
    return array
