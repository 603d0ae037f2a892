"""The results store: paper-scale experiment outputs kept in ``book/results/``.

One entry per experiment and configuration, named ``<name>-<key>`` where ``key`` hashes the full
config together with ``SCHEMA_VERSION``. An entry is two files:

- ``<name>-<key>.npz``: the numeric arrays, read back with ``allow_pickle=False``;
- ``<name>-<key>.json``: provenance: ``config``, ``device``, ``torch``, ``git_commit``,
  ``code_sha256`` (a digest of the package's sources, which identifies the code even where the
  checkout has no git metadata), ``wall_s``, ``created`` (plus ``schema`` and ``name``).

Entries travel between machines as one archive (:func:`export_entries`, :func:`import_entries`):
a GPU session anywhere (a lent machine, Colab) returns a single ``.tar.gz``, and importing it
checks every entry (name, key against its config, schema, no pickle) before writing it.

Writes are atomic (a temporary file in the same folder, then ``os.replace``), an existing entry is
never overwritten unless asked, quick-profile results are refused, and an entry whose stored
config differs from the requested one is never returned.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import io
import json
import os
import platform
import re
import subprocess
import tarfile
import tempfile
from pathlib import Path

import numpy as np
import torch

SCHEMA_VERSION = 1
PACKAGE_DIR = Path(__file__).resolve().parent
DEFAULT_ROOT = PACKAGE_DIR.parents[1] / "book" / "results"
ENTRY_FILE = re.compile(
    r"^(?P<stem>(?P<name>[A-Za-z0-9_]+)-(?P<key>[0-9a-f]{16}))\.(?P<ext>npz|json)$")


def normalise(config: dict) -> dict:
    """The config as it reads back from JSON (tuples become lists), for hashing and comparing."""
    return json.loads(json.dumps(config, sort_keys=True))


def config_key(config: dict) -> str:
    """16 hex digits of SHA-256 over the canonical JSON of the config and the schema version."""
    text = json.dumps({"schema": SCHEMA_VERSION, "config": normalise(config)}, sort_keys=True,
                      separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def entry_paths(name: str, config: dict, root: str | Path | None = None) -> tuple[Path, Path]:
    """``(npz, json)`` paths of the entry for this experiment name and config."""
    if not name or any(c in name for c in "/\\") or name.startswith("."):
        raise ValueError(f"name must be a plain non-empty file name, got {name!r}")
    stem = f"{name}-{config_key(config)}"
    folder = Path(root) if root is not None else DEFAULT_ROOT
    return folder / f"{stem}.npz", folder / f"{stem}.json"


def exists(name: str, config: dict, root: str | Path | None = None) -> bool:
    """Whether a complete entry (both files) exists for exactly this config."""
    arrays, meta = entry_paths(name, config, root)
    return arrays.exists() and meta.exists()


def save(name: str, config: dict, arrays: dict, provenance: dict,
         root: str | Path | None = None, overwrite: bool = False) -> Path:
    """Write an entry atomically; returns the ``.npz`` path.

    Refuses quick-profile configs, non-numeric arrays, and (unless ``overwrite``) an entry
    that already exists.
    """
    if config.get("profile") == "quick":
        raise ValueError("config profile is 'quick': quick results are never written to the store")
    npz_path, json_path = entry_paths(name, config, root)
    if not overwrite and (npz_path.exists() or json_path.exists()):
        raise FileExistsError(f"{npz_path.name} already exists; pass overwrite=True to replace it")
    checked = {key: _numeric(key, value) for key, value in arrays.items()}
    meta = {**provenance, "name": name, "schema": SCHEMA_VERSION, "config": normalise(config)}
    npz_path.parent.mkdir(parents=True, exist_ok=True)
    _atomic_write(npz_path, lambda fh: np.savez(fh, **checked))
    text = json.dumps(meta, indent=1, sort_keys=True)
    _atomic_write(json_path, lambda fh: fh.write(text.encode()))
    return npz_path


def load(name: str, config: dict, root: str | Path | None = None) -> tuple[dict, dict]:
    """``(arrays, provenance)`` of the entry for exactly this config.

    Raises FileNotFoundError when there is none, ValueError when the stored config differs.
    """
    npz_path, json_path = entry_paths(name, config, root)
    if not (npz_path.exists() and json_path.exists()):
        raise FileNotFoundError(f"no stored result {npz_path.stem} for experiment {name!r}")
    meta = json.loads(json_path.read_text())
    if meta.get("config") != normalise(config) or meta.get("schema") != SCHEMA_VERSION:
        raise ValueError(f"stored result {json_path.name} was made with a different config or "
                         f"schema; it cannot stand for the requested one")
    with np.load(npz_path, allow_pickle=False) as data:
        arrays = {key: data[key] for key in data.files}
    return arrays, meta


def provenance(config: dict, device: torch.device | str, wall_s: float,
               engine: str | None = None) -> dict:
    """The provenance record of a run: config, device, torch, code identity, wall time, date,
    and the training engine (``"torch"`` or the CPU engine ``"rowsum"``) when there is one."""
    record = {"config": normalise(config), "device": describe_device(device),
              "torch": torch.__version__, "git_commit": git_commit(),
              "code_sha256": code_digest(), "wall_s": float(wall_s),
              "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}
    if engine is not None:
        record["engine"] = engine
    return record


def describe_device(device: torch.device | str) -> str:
    """``cuda (NVIDIA H100 ...)`` or ``cpu (AMD EPYC, x86_64, 2 threads)``."""
    device = torch.device(device)
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return f"{device.type} ({_cpu_model()}, {platform.machine() or 'unknown'}, " \
        f"{torch.get_num_threads()} threads)"


def _cpu_model() -> str:
    """The CPU's model name from ``/proc/cpuinfo`` (Linux), else ``platform.processor()``."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


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
    """The complete entries (``<name>-<key>``) in the store, optionally only those of ``names``."""
    folder = Path(root) if root is not None else DEFAULT_ROOT
    found = {m["stem"]: m["name"] for p in folder.glob("*.npz")
             if (m := ENTRY_FILE.match(p.name)) and (folder / f"{m['stem']}.json").exists()}
    return sorted(s for s, n in found.items() if names is None or n in names)


def export_entries(archive: str | Path, names: list[str] | None = None,
                   root: str | Path | None = None) -> list[str]:
    """Write the store's entries (all, or those of ``names``) into one ``.tar.gz``; atomic.

    Returns the exported stems. An existing archive is replaced: it is a transport file.
    """
    folder = Path(root) if root is not None else DEFAULT_ROOT
    chosen = stems(names, folder)
    archive = Path(archive)
    archive.parent.mkdir(parents=True, exist_ok=True)

    def write(fh):
        with tarfile.open(fileobj=fh, mode="w:gz") as tar:
            for stem in chosen:
                for ext in ("npz", "json"):
                    tar.add(folder / f"{stem}.{ext}", arcname=f"{stem}.{ext}", recursive=False)
    _atomic_write(archive, write)
    return chosen


def import_entries(archive: str | Path, root: str | Path | None = None,
                   overwrite: bool = False) -> list[str]:
    """Check every entry of an archive made by :func:`export_entries`, then write them.

    Each archive member must be a plain file named ``<name>-<key>.npz|json``; every entry needs
    both files, its JSON must carry this schema, its name, and a config whose key is ``<key>``,
    and its arrays must load without pickle and be numeric. Nothing is written unless every
    entry passes; an entry already in the store is refused unless ``overwrite``.
    """
    files = _read_archive(Path(archive))
    entries = {}
    for stem in sorted({ENTRY_FILE.match(n)["stem"] for n in files}):
        entries[stem] = _checked_entry(stem, files)
    folder = Path(root) if root is not None else DEFAULT_ROOT
    clashes = [s for s in entries if (folder / f"{s}.npz").exists()
               or (folder / f"{s}.json").exists()]
    if clashes and not overwrite:
        raise FileExistsError(f"the store already holds {clashes}; pass overwrite=True to "
                              f"replace them")
    folder.mkdir(parents=True, exist_ok=True)
    for stem, (npz_bytes, json_bytes) in entries.items():
        _atomic_write(folder / f"{stem}.npz", lambda fh, b=npz_bytes: fh.write(b))
        _atomic_write(folder / f"{stem}.json", lambda fh, b=json_bytes: fh.write(b))
    return list(entries)


def _read_archive(archive: Path) -> dict[str, bytes]:
    """The archive's members as ``{name: bytes}``, refusing anything but store entry files."""
    files = {}
    with tarfile.open(archive, mode="r:gz") as tar:
        for member in tar.getmembers():
            if not member.isfile() or not ENTRY_FILE.match(member.name):
                raise ValueError(f"archive {archive.name} holds {member.name!r}, which is not a "
                                 f"store entry file (<name>-<16 hex>.npz or .json)")
            files[member.name] = tar.extractfile(member).read()
    return files


def _checked_entry(stem: str, files: dict[str, bytes]) -> tuple[bytes, bytes]:
    """``(npz, json)`` bytes of one archived entry, after checking it is a sound entry."""
    name, key = ENTRY_FILE.match(f"{stem}.npz").group("name", "key")
    if f"{stem}.npz" not in files or f"{stem}.json" not in files:
        raise ValueError(f"entry {stem} is incomplete in the archive: it needs .npz and .json")
    meta = json.loads(files[f"{stem}.json"])
    if meta.get("schema") != SCHEMA_VERSION or meta.get("name") != name:
        raise ValueError(f"entry {stem}: schema {meta.get('schema')!r} or name "
                         f"{meta.get('name')!r} does not match (schema {SCHEMA_VERSION}, {name!r})")
    if config_key(meta.get("config", {})) != key:
        raise ValueError(f"entry {stem}: its stored config hashes to "
                         f"{config_key(meta.get('config', {}))}, not to its key {key}")
    with np.load(io.BytesIO(files[f"{stem}.npz"]), allow_pickle=False) as data:
        for array_name in data.files:
            _numeric(array_name, data[array_name])
    return files[f"{stem}.npz"], files[f"{stem}.json"]


def _numeric(key: str, value) -> np.ndarray:
    array = np.asarray(value)
    if array.dtype.kind not in "biuf":
        raise ValueError(f"array {key!r} must be numeric (bool, int or float), got {array.dtype}")
    return array


def _atomic_write(path: Path, write) -> None:
    """Write through a temporary file in the same folder, then rename it into place."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
