"""The results store: paper-scale experiment outputs kept in ``book/results/``.

One entry per experiment and configuration, named ``<name>-<key>`` where ``key`` hashes the full
config together with ``SCHEMA_VERSION``. An entry is two files:

- ``<name>-<key>.npz``: the numeric arrays, read back with ``allow_pickle=False``;
- ``<name>-<key>.json``: provenance: ``config``, ``device``, ``torch``, ``git_commit``,
  ``wall_s``, ``created`` (plus ``schema`` and ``name``).

Writes are atomic (a temporary file in the same folder, then ``os.replace``), an existing entry is
never overwritten unless asked, quick-profile results are refused, and an entry whose stored
config differs from the requested one is never returned.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import platform
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import torch

SCHEMA_VERSION = 1
DEFAULT_ROOT = Path(__file__).resolve().parents[2] / "book" / "results"


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


def provenance(config: dict, device: torch.device | str, wall_s: float) -> dict:
    """The provenance record of a run: config, device, torch, git commit, wall time, date."""
    return {"config": normalise(config), "device": describe_device(device),
            "torch": torch.__version__, "git_commit": git_commit(), "wall_s": float(wall_s),
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}


def describe_device(device: torch.device | str) -> str:
    """``cuda (NVIDIA H100 ...)`` or ``cpu (x86_64)``."""
    device = torch.device(device)
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return f"{device.type} ({platform.machine() or 'unknown'})"


def git_commit() -> str:
    """The checkout's HEAD commit, or ``unknown`` outside a git checkout."""
    try:
        result = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent,
                                capture_output=True, text=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return result.stdout.strip() or "unknown"


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
