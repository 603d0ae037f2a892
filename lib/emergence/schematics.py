"""The paper's schematic figures, drawn: networks and models as nodes and arrows.

Four diagrams of Nam et al. (2024) that are pictures rather than plots: the two-layer linear
network of Saxe et al. (Fig. 5a) and its independent modes (Fig. 5b), the multilinear model
(Fig. 9a) and the weight-tied width-3 ReLU network of Appendix G (Fig. 8a). Each function draws
on the given Axes (a new figure when none is given) and returns it; the notation is the book's.
Circles are units, boxes are fixed functions, and an edge multiplies by a weight; the learnable
weights of a mode or skill are drawn in its colour.
"""

from __future__ import annotations

from itertools import pairwise
from typing import NamedTuple

import matplotlib.pyplot as plt
from matplotlib.patches import Circle, FancyArrowPatch, Rectangle

from .plotting import skill_colors

_INK = "0.25"  # fixed parts: units, fixed functions and fixed maps
_RADIUS = 0.28
_WIDTH = 6.4  # inches, the book's default figure width
_FAR = float("inf")
_BIAS_OFFSETS = ((0.0, 0.5), (0.8, 0.42), (0.0, -0.52))  # Fig. 8(a): bias labels, unit by unit


class _Node(NamedTuple):
    """Where a node is and how far its outline reaches from its centre (a circle or a box)."""

    x: float
    y: float
    half_w: float
    half_h: float
    box: bool = False


def _canvas(ax, xlim: tuple[float, float], ylim: tuple[float, float]):
    """A bare, equal-aspect Axes spanning ``xlim`` by ``ylim``; a new figure if ``ax`` is None."""
    if ax is None:
        height = _WIDTH * (ylim[1] - ylim[0]) / (xlim[1] - xlim[0])
        _, ax = plt.subplots(figsize=(_WIDTH, height), layout="constrained")
    ax.set(xlim=xlim, ylim=ylim, aspect="equal")
    ax.axis("off")
    return ax


def _node(ax, x, y, label="", color=_INK, box=False, half_w=_RADIUS, size=11) -> _Node:
    """A unit (circle) or fixed function (box) at ``(x, y)`` with ``label`` inside."""
    if box:
        ax.add_patch(Rectangle((x - half_w, y - _RADIUS), 2 * half_w, 2 * _RADIUS, fc="white",
                               ec=color, lw=1.5, zorder=2))
    else:
        ax.add_patch(Circle((x, y), _RADIUS, fc="white", ec=color, lw=1.5, zorder=2))
    ax.text(x, y, label, ha="center", va="center", fontsize=size, color=color, zorder=3)
    return _Node(x, y, half_w, _RADIUS, box)


def _edge(ax, start: _Node, end: _Node, label="", color=_INK, at=0.5, arrow=True, size=11):
    """An arrow (or a plain line) between the outlines of two nodes, ``label`` at fraction ``at``.

    The label sits on the line on a white background, so it stays readable where lines cross.
    """
    dx, dy = end.x - start.x, end.y - start.y

    def reach(node):  # from the centre to the outline, along the edge's direction
        if node.box:
            return min(node.half_w / abs(dx) if dx else _FAR, node.half_h / abs(dy) if dy else _FAR)
        return node.half_w / (dx * dx + dy * dy) ** 0.5

    t0, t1 = reach(start), 1 - reach(end)
    ax.add_patch(FancyArrowPatch(
        (start.x + t0 * dx, start.y + t0 * dy), (start.x + t1 * dx, start.y + t1 * dy),
        arrowstyle="-|>" if arrow else "-", mutation_scale=11, shrinkA=0, shrinkB=0,
        color=color, lw=1.2, zorder=1))
    if label:
        ax.text(start.x + at * dx, start.y + at * dy, label, ha="center", va="center",
                fontsize=size, color=color, zorder=3,
                bbox=dict(boxstyle="round,pad=0.1", fc="white", ec="none"))


def _anchor(x, y, half_w=0.3, half_h=0.2) -> _Node:
    """An undrawn node: where an arrow starts or ends next to a piece of text."""
    return _Node(x, y, half_w, half_h, box=True)


def linear_network(ax=None, widths: tuple[int, int, int] = (5, 3, 4)):
    """Fig. 5(a): a two-layer linear network ``ŷ = W₂W₁x``, undercomplete (Saxe et al., 2014).

    Fully connected layers of ``widths`` = (inputs, hidden, outputs) units; the hidden layer is
    narrower than both of the others, as the paper's figure requires.
    """
    d_in, d_hid, d_out = widths
    if not d_hid < min(d_in, d_out):
        raise ValueError(f"the hidden layer must be narrower than both others, got {widths}")
    top = (max(widths) - 1) / 2
    ax = _canvas(ax, (-1.0, 6.0), (-top - 1.1, top + 0.9))
    layers = [[_node(ax, 2.5 * col, top - row - (max(widths) - n) / 2) for row in range(n)]
              for col, n in enumerate(widths)]
    for left, right in pairwise(layers):
        for start in left:
            for end in right:
                _edge(ax, start, end, arrow=False)
    for x, label in ((1.25, "$W_1$"), (3.75, "$W_2$")):
        ax.text(x, top + 0.55, label, ha="center", fontsize=12)
    for x, label in ((0, r"input $x$"), (2.5, "hidden"), (5, r"output $\hat y$")):
        ax.text(x, -top - 0.8, label, ha="center", fontsize=11)
    return ax


def linear_modes(ax=None, n_modes: int = 3):
    """Fig. 5(b): the same network as ``n_modes`` independent modes, ``u_kᵀŷ = a_k b_k v_kᵀx``.

    Mode k reads the input along ``v_k``, multiplies by the learnable ``a_k`` into its hidden
    direction and by ``b_k`` into the output direction ``u_k`` (the singular vectors of the
    input-output correlation, in the book's notation; the paper swaps the names u and v).
    Modes are drawn in the colours of the skills, as the chapter's plots of the modes.
    """
    ax = _canvas(ax, (-1.3, 5.0), (-n_modes + 0.1, 1.2))
    for k, color in enumerate(skill_colors(n_modes), start=1):
        y = 1 - k
        nodes = [_node(ax, 1.5 * col + 0.5, y, color=color) for col in range(3)]
        _edge(ax, nodes[0], nodes[1], f"$a_{k}$", color)
        _edge(ax, nodes[1], nodes[2], f"$b_{k}$", color)
        ax.text(0.1, y, rf"$v_{k}^\top x$", ha="right", va="center", fontsize=11)
        ax.text(3.9, y, rf"$u_{k}^\top \hat y$", ha="left", va="center", fontsize=11)
    ax.text(2.0, 0.7, r"$u_k^\top \hat y = a_k\, b_k\, v_k^\top x$", ha="center", fontsize=12)
    return ax


def multilinear_model(ax=None):
    """Fig. 9(a): the multilinear model ``f = Σ_k a_k b_k g_k`` as a diagram.

    The input ``(i, x)`` feeds the fixed skill functions ``g_1, g_2, …, g_N``; each output is
    scaled by the two learnable parameters ``a_k`` and ``b_k`` (in the skill's colour) and the
    results are summed into ``f``.
    """
    ax = _canvas(ax, (-0.9, 7.6), (-2.6, 2.3))
    source, total = _anchor(0, 0), _node(ax, 5.6, 0, r"$\Sigma$")
    rows = (("1", 1.5), ("2", 0.5), ("N", -1.5))
    for (k, y), color in zip(rows, [*skill_colors(2), _INK], strict=True):
        g = _node(ax, 1.8, y, f"$g_{k}$", box=True, half_w=0.38)
        unit = _node(ax, 3.6, y, color=color)
        _edge(ax, source, g)
        _edge(ax, g, unit, f"$a_{k}$", color)
        _edge(ax, unit, total, f"$b_{k}$", color, at=0.45)
    ax.text(0, 0, "$(i, x)$", ha="center", va="center", fontsize=12)
    for x in (1.8, 3.6):
        ax.text(x, -0.5, r"$\vdots$", ha="center", va="center", fontsize=12)
    _edge(ax, total, _anchor(7.1, 0, half_w=0.2))
    ax.text(7.1, 0, "$f$", ha="center", va="center", fontsize=12)
    ax.text(1.8, 2.05, "fixed", ha="center", fontsize=10, color=_INK)
    ax.text(3.6, 2.05, "learnable $a_k$, $b_k$", ha="center", fontsize=10, color=_INK)
    ax.text(3.3, -2.4, r"$f(i, x) = \sum_{k=1}^{N} a_k\, b_k\, g_k(i, x)$", ha="center",
            fontsize=12)
    return ax


def toy_relu_network(ax=None):
    """Fig. 8(a): the weight-tied width-3 ReLU network of the paper's Appendix G.

    ``f(x) = wᵀσ(Wx + b) + c`` on three input bits, with hidden weight rows ``(-α, α, -α)``,
    ``(-β, β, -β)``, ``(γ, -γ, γ)``, biases ``b = (0, β, -γ)``, output weights
    ``w = (-2α, β, γ)`` and output bias ``c``. Each hidden unit is one mode and is drawn with
    its weights in colours C1, C2, C3, the colours of the chapter's plot of the modes.
    """
    ax = _canvas(ax, (-0.9, 8.2), (-2.6, 2.7))
    hidden_rows = ((r"-\alpha", r"\alpha", r"-\alpha"), (r"-\beta", r"\beta", r"-\beta"),
                   (r"\gamma", r"-\gamma", r"\gamma"))
    biases, out_weights = ("0", r"\beta", r"-\gamma"), (r"-2\alpha", r"\beta", r"\gamma")
    inputs = [_node(ax, 0, 2 - 2 * j, f"$x_{j + 1}$") for j in range(3)]
    out = _node(ax, 6.6, 0, "$+c$")
    for q, (row, bias, weight) in enumerate(zip(hidden_rows, biases, out_weights, strict=True)):
        color = f"C{q + 1}"
        unit = _node(ax, 4.0, 2 - 2 * q, r"$\sigma$", color)
        for source, w in zip(inputs, row, strict=True):  # a quarter along: nine distinct heights
            _edge(ax, source, unit, f"${w}$", color, at=0.25, size=10)
        _edge(ax, unit, out, f"${weight}$", color, at=0.4, size=10)
        dx, dy = _BIAS_OFFSETS[q]  # beside the unit, clear of its edges
        ax.text(4.0 + dx, unit.y + dy, f"$b_{q + 1} = {bias}$", ha="center", va="center",
                fontsize=10, color=color)
    _edge(ax, out, _anchor(7.8, 0, half_w=0.3))
    ax.text(7.8, 0, "$f(x)$", ha="center", va="center", fontsize=12)
    return ax
