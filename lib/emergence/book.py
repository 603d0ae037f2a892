"""Helpers for the chapters: a provenance banner and a ``glue`` that works without myst-nb."""

from __future__ import annotations

import platform

import torch

from . import __version__
from .profiles import active_profile


def device() -> torch.device:
    """The device experiments run on: CUDA when available, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def banner(source: str = "computed in this page") -> str:
    """One line saying which profile, device and results this page was made with; prints it."""
    dev = device()
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else platform.processor() or "cpu"
    line = (f"profile: {active_profile()} | device: {dev.type} ({name}) | torch {torch.__version__}"
            f" | emergence {__version__} | results: {source}")
    print(line)
    return line


def glue(name: str, value, display: bool = False):
    """Store a value for ``{glue:}`` references in the built book; a no-op outside myst-nb."""
    try:
        from myst_nb import glue as myst_glue
    except ImportError:  # plain Jupyter or Colab without myst-nb
        return value
    myst_glue(name, value, display=display)
    return value


def warning_box(text: str) -> str:
    """Show ``text`` as a visible warning admonition in the page (plain text outside Jupyter).

    The HTML uses the classes ``admonition warning``, which the book's theme styles like a
    MyST ``{warning}`` box; a plain-text version goes to consoles. The same text is shown once
    per executed cell, so a chapter may call this on a warning that ``run_or_load`` already
    displayed. Returns ``text``.
    """
    import html

    from IPython import get_ipython
    from IPython.display import display

    shell = get_ipython()
    if shell is None:
        print(f"WARNING: {text}")
        return text
    key = (id(shell), shell.execution_count, text)
    if key in warning_box.shown:
        return text
    warning_box.shown.add(key)
    markup = (f'<div class="admonition warning"><p class="admonition-title">Warning</p>'
              f"<p>{html.escape(text)}</p></div>")
    display({"text/html": markup, "text/plain": f"WARNING: {text}"}, raw=True)
    return text


warning_box.shown = set()
