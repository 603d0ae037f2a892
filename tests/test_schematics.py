"""The schematics (emergence.schematics) draw the structure and the labels they claim to.

Nodes are found by the label written at their centre, edges by their end points, and an edge's
label by lying on the segment between the two centres it joins.
"""

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_hex
from matplotlib.figure import Figure
from matplotlib.patches import Circle, FancyArrowPatch, Rectangle
from matplotlib.path import Path

from emergence import schematics


def axes():
    """Axes on an Agg figure of its own, outside pyplot."""
    return FigureCanvasAgg(Figure()).figure.add_subplot()


def circles(ax) -> list[Circle]:
    return [p for p in ax.patches if isinstance(p, Circle)]


def ends(arrow: FancyArrowPatch) -> tuple[np.ndarray, np.ndarray]:
    """Where an edge starts and where its tip is (the vertex farthest from the start)."""
    path = arrow.get_path()
    points = path.vertices[path.codes != Path.CLOSEPOLY]
    return points[0], points[np.argmax(np.linalg.norm(points - points[0], axis=1))]


def edges(ax) -> list[tuple[np.ndarray, np.ndarray]]:
    return [ends(p) for p in ax.patches if isinstance(p, FancyArrowPatch)]


def centre(ax, label: str) -> np.ndarray:
    """The position of the one text ``label`` (a node's label sits at its centre)."""
    (found,) = [t.get_position() for t in ax.texts if t.get_text() == label]
    return np.array(found)


def labels_between(ax, a, b) -> list[str]:
    """The texts lying strictly inside the segment from ``a`` to ``b``."""
    a, b, found = np.asarray(a), np.asarray(b), []
    for text in ax.texts:
        p = np.array(text.get_position())
        t = np.dot(p - a, b - a) / np.dot(b - a, b - a)
        if 0 < t < 1 and np.linalg.norm(a + t * (b - a) - p) < 1e-9:
            found.append(text.get_text())
    return found


def touches(point, circle: Circle, tol=0.05) -> bool:
    return abs(np.linalg.norm(point - np.array(circle.center)) - circle.radius) < tol


def test_linear_network_is_undercomplete_and_fully_connected():
    ax = schematics.linear_network(axes(), widths=(5, 3, 4))
    _, per_layer = np.unique([c.center[0] for c in circles(ax)], return_counts=True)
    assert per_layer.tolist() == [5, 3, 4]
    assert len(edges(ax)) == 5 * 3 + 3 * 4
    for point in (p for edge in edges(ax) for p in edge):  # every line meets two outlines
        assert any(touches(point, c, tol=1e-9) for c in circles(ax))
    assert {"$W_1$", "$W_2$"} <= {t.get_text() for t in ax.texts}
    with pytest.raises(ValueError, match="narrower"):
        schematics.linear_network(axes(), widths=(3, 3, 3))


@pytest.mark.parametrize("name", ["linear_network", "linear_modes", "multilinear_model",
                                  "toy_relu_network"])
def test_without_axes_a_schematic_gets_a_figure_of_the_book_width(name):
    ax = getattr(schematics, name)()
    assert ax.figure.get_figwidth() == 6.4 and not ax.axison
    plt.close(ax.figure)


def test_linear_modes_are_chains_scaled_by_a_then_b():
    ax = schematics.linear_modes(axes(), n_modes=3)
    heights = sorted({c.center[1] for c in circles(ax)}, reverse=True)
    assert len(heights) == 3 and len(circles(ax)) == 9 and len(edges(ax)) == 6
    for k, y in enumerate(heights, start=1):
        row = sorted((c for c in circles(ax) if c.center[1] == y), key=lambda c: c.center[0])
        assert labels_between(ax, row[0].center, row[1].center) == [f"$a_{k}$"]
        assert labels_between(ax, row[1].center, row[2].center) == [f"$b_{k}$"]
        colours = {to_hex(c.get_edgecolor()) for c in row}
        assert colours == {to_hex(t.get_color()) for t in ax.texts
                           if t.get_text() in (f"$a_{k}$", f"$b_{k}$")}
    centre(ax, r"$u_k^\top \hat y = a_k\, b_k\, v_k^\top x$")


def test_multilinear_model_scales_each_fixed_skill_by_a_and_b_into_the_sum():
    ax = schematics.multilinear_model(axes())
    boxes = [p for p in ax.patches if isinstance(p, Rectangle)]
    total = next(c for c in circles(ax) if np.allclose(c.center, centre(ax, r"$\Sigma$")))
    assert len(boxes) == 3 and sum(touches(tip, total) for _, tip in edges(ax)) == len(boxes)
    for k in ("1", "2", "N"):
        g = centre(ax, f"$g_{k}$")
        (unit,) = [c for c in circles(ax) if c.center[1] == g[1]]
        assert labels_between(ax, g, unit.center) == [f"$a_{k}$"]
        assert labels_between(ax, unit.center, total.center) == [f"$b_{k}$"]
    centre(ax, r"$f(i, x) = \sum_{k=1}^{N} a_k\, b_k\, g_k(i, x)$")


def test_toy_relu_network_has_the_papers_tied_weights():
    W = [[r"-\alpha", r"\alpha", r"-\alpha"], [r"-\beta", r"\beta", r"-\beta"],
         [r"\gamma", r"-\gamma", r"\gamma"]]
    bias, w = ["0", r"\beta", r"-\gamma"], [r"-2\alpha", r"\beta", r"\gamma"]
    ax = schematics.toy_relu_network(axes())
    inputs = [centre(ax, f"$x_{j}$") for j in (1, 2, 3)]
    units = sorted((c for c in circles(ax) if c.center[0] == 4.0), key=lambda c: -c.center[1])
    out = centre(ax, "$+c$")
    assert len(circles(ax)) == 7 and len(edges(ax)) == 3 * 3 + 3 + 1
    for q, unit in enumerate(units):
        for j, x in enumerate(inputs):
            assert labels_between(ax, x, unit.center) == [f"${W[q][j]}$"]
        assert labels_between(ax, unit.center, out) == [f"${w[q]}$"]
        b = centre(ax, f"$b_{q + 1} = {bias[q]}$")
        assert min(units, key=lambda c: np.linalg.norm(b - c.center)) is unit
