"""What an instructor plans with: each chapter's prerequisites, objectives, exercises, run time.

The first three are read from the chapters themselves (the "You will need" and "You will be able
to" paragraphs of the first cell, and the ``{exercise}`` boxes), so the teaching page cannot drift
from them. Run times are measured: ``python -m emergence.course`` (``make chapter-times``) executes
every chapter notebook from a fresh kernel, one after the other, and writes each wall-clock time
with the machine to ``book/chapter_times.json``. Run it on a quiet machine: the numbers are only as
good as the cores were free, and the file cannot know what else was running.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from . import __version__, store

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_OUT = ROOT / "book" / "chapter_times.json"


_BOX = re.compile(r"^(?P<fence>[:`]{3,})\{exercise\}[^\n]*\n(?P<body>.*?)^(?P=fence)\s*$",
                  re.M | re.S)


@dataclass(frozen=True)
class Chapter:
    """One chapter as a reader plans it: its page, title, prerequisites, objectives, exercises."""

    stem: str
    title: str
    needs: str
    objectives: str
    exercises: tuple[str, ...]


def _markdown_cells(path: Path) -> list[str]:
    cells = json.loads(path.read_text())["cells"]
    return ["".join(c["source"]) for c in cells if c["cell_type"] == "markdown"]


def _paragraph(text: str, lead: str) -> str:
    match = re.search(rf"^\*\*{lead}:\*\*\s*(.+?)(?:\n\n|\Z)", text, re.M | re.S)
    if not match:
        raise ValueError(f"no '**{lead}:**' paragraph")
    return " ".join(match.group(1).split())


def chapter(path: Path) -> Chapter:
    """Read one chapter notebook's plan from its first markdown cell and its exercise boxes."""
    cells = _markdown_cells(path)
    try:
        needs = _paragraph(cells[0], "You will need")
        objectives = _paragraph(cells[0], "You will be able to")
    except ValueError as err:
        raise ValueError(f"{path.name}: {err} in the first markdown cell") from None
    labels = tuple(re.search(r"^:label:\s*(\S+)", box["body"], re.M).group(1)
                   for box in _BOX.finditer("\n".join(cells)))
    return Chapter(path.stem, cells[0].splitlines()[0].lstrip("# ").strip(), needs, objectives,
                   labels)


def chapter_paths(root: Path = ROOT) -> list[Path]:
    """The notebooks a reader works through, in the order of ``_toc.yml``: the numbered chapters
    and the epilogue (not this teaching page, nor the appendices)."""
    listed = re.findall(r"file:\s*(book/\S+)", (root / "_toc.yml").read_text())
    return [root / f"{entry}.ipynb" for entry in listed
            if (root / f"{entry}.ipynb").exists() and not entry.endswith("/teaching")]


def chapters(root: Path = ROOT) -> list[Chapter]:
    """Every chapter of the book, in reading order."""
    return [chapter(path) for path in chapter_paths(root)]


def retraining_times() -> list[dict]:
    """For each paper-scale experiment: whether the store holds it, and if so its training time
    and the machine it ran on (from the entry's provenance)."""
    from . import experiments

    rows = []
    for name in experiments.names(stored_only=True):
        config = experiments.config(name, "paper").to_dict()
        state, _ = store.status(name, config)
        row = {"name": name, "status": state, "wall_s": None, "device": None}
        if state == "complete":
            _, meta = store.load(name, config)
            row.update(wall_s=meta.get("wall_s"), device=meta.get("device"))
        rows.append(row)
    return rows


def run_notebook(path: Path, profile: str = "quick", timeout: int = 1800) -> float:
    """Execute one notebook in a fresh kernel (cwd: its folder); returns seconds taken."""
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    previous = os.environ.get("EMERGENCE_PROFILE")
    os.environ["EMERGENCE_PROFILE"] = profile  # the kernel inherits it
    try:
        start = time.perf_counter()
        client.execute()
        return time.perf_counter() - start
    finally:
        if previous is None:
            del os.environ["EMERGENCE_PROFILE"]
        else:
            os.environ["EMERGENCE_PROFILE"] = previous


def measure(paths: list[Path], profile: str = "quick") -> dict:
    """Run each notebook once; returns the record :func:`save` writes."""
    seconds = {}
    for path in paths:
        seconds[path.stem] = round(run_notebook(path, profile), 1)
        print(f"{path.stem}: {seconds[path.stem]:.0f} s", flush=True)
    return {"profile": profile, "seconds": seconds, "cpu": store.cpu_model(),
            "cores": os.cpu_count(), "python": platform.python_version(),
            "emergence": __version__,
            "measured": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}


def save(record: dict, out: Path = DEFAULT_OUT) -> None:
    """Write the record atomically (a temporary file renamed into place)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=out.parent, suffix=".tmp", delete=False) as tmp:
        json.dump(record, tmp, indent=1)
        tmp.write("\n")
    os.replace(tmp.name, out)


def load(path: Path = DEFAULT_OUT) -> dict | None:
    """The stored measurement, or None when none has been made."""
    return json.loads(path.read_text()) if path.exists() else None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path,
                        help="notebooks to time (default: every chapter in book/)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--profile", choices=("quick", "paper"), default="quick")
    args = parser.parse_args(argv)
    paths = args.notebooks or chapter_paths()
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        parser.error(f"no such notebook: {', '.join(missing)}")
    save(measure(paths, args.profile), args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
