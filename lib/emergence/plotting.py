"""One figure style for the whole book, and the colours that identify skills."""

from __future__ import annotations

import matplotlib as mpl
import matplotlib.pyplot as plt

BOOK_STYLE = {
    "figure.figsize": (6.4, 4.0),
    "figure.dpi": 110,
    "savefig.dpi": 150,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.titlesize": 11,
    "axes.labelsize": 11,
    "legend.fontsize": 9,
    "legend.frameon": False,
    "lines.linewidth": 1.8,
}


def use_book_style() -> None:
    """Apply the book's matplotlib style (call once per chapter)."""
    mpl.rcParams.update(BOOK_STYLE)


def skill_colors(n_skills: int) -> list:
    """A distinct colour per skill, the same skill the same colour in every chapter."""
    cmap = plt.get_cmap("tab10" if n_skills <= 10 else "viridis")
    if n_skills <= 10:
        return [cmap(k) for k in range(n_skills)]
    return [cmap(k / max(n_skills - 1, 1)) for k in range(n_skills)]

