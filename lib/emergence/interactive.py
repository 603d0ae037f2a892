"""Figures a reader can move: Plotly sliders whose every position is computed at build time.

The published book is static HTML with no kernel behind it, so a slider cannot ask Python for
new curves. Instead :func:`explorer` evaluates the caller's curves at *every* combination of the
slider values when the page is built, stores them (rounded to four significant digits) in the
page, and a few lines of JavaScript swap them in when a slider moves. The same figure works on the
site, in Jupyter and on Colab, which all run the HTML output of a cell.

Several sliders act together: the script reads every slider's position and shows the curves of
that combination, which Plotly's own slider steps (one set of arguments per step of one slider)
cannot do. plotly.js is loaded from Plotly's CDN at the version pinned by the installed ``plotly``
package, the address the browser test serves from the package's own copy.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import plotly.graph_objects as go

from . import _validate, fits, theory

_DIGITS = 4  # significant digits kept for the stored curves: below a pixel on any figure
_SLIDER_HEIGHT = 0.24  # figure fraction each slider takes below the plot


@dataclass(frozen=True)
class Slider:
    """One slider: the ``label`` it shows, its ``values`` and the position it starts at."""

    label: str
    values: Sequence[float]
    active: int = 0
    fmt: str = "{:g}"

    def __post_init__(self):
        if len(self.values) < 2:
            raise ValueError(f"slider {self.label!r}: values needs at least 2 entries, "
                             f"got {len(self.values)}")
        if not 0 <= self.active < len(self.values):
            raise ValueError(f"slider {self.label!r}: active must be in [0, {len(self.values)}),"
                             f" got {self.active}")


@dataclass(frozen=True)
class Frame:
    """What one combination of slider values shows: the curves, and optionally a title."""

    traces: Sequence[go.Scatter]
    title: str | None = None


@dataclass
class Explorer:
    """A Plotly figure with sliders, shown in a notebook or page as self-contained HTML."""

    figure: go.Figure
    sliders: Sequence[Slider]
    frames: list[dict] = field(repr=False)
    div_id: str = "explorer"

    @property
    def n_frames(self) -> int:
        """How many slider combinations the page stores."""
        return len(self.frames)

    def html(self) -> str:
        """The figure as an HTML fragment: plotly.js from the CDN, the div, the slider script."""
        return self.figure.to_html(
            full_html=False, include_plotlyjs="cdn", include_mathjax=False,
            div_id=self.div_id, post_script=_SWAP_SCRIPT.replace(
                "__FRAMES__", json.dumps(self.frames, separators=(",", ":"))).replace(
                "__SHAPE__", json.dumps([len(s.values) for s in self.sliders])),
            config={"displaylogo": False, "responsive": True})

    def _repr_html_(self) -> str:
        return self.html()


# Runs once the figure exists: on any slider change, read every slider's position, find the
# stored combination, and swap its curves (and title) in.
_SWAP_SCRIPT = """
(function () {
  const gd = document.getElementById('{plot_id}');
  const frames = __FRAMES__, shape = __SHAPE__;
  gd.on('plotly_sliderchange', function () {
    let key = 0;
    gd.layout.sliders.forEach(function (s, d) { key = key * shape[d] + s.active; });
    const f = frames[key];
    const layout = f.title === null ? {} : {'title.text': f.title};
    const x = f.which.map(function (i) { return f.xs[i]; });
    Plotly.update(gd, {x: x, y: f.y, name: f.name}, layout, x.map(function (_, i) { return i; }));
  });
})();
"""


def _rounded(values) -> list:
    """Numbers with ``_DIGITS`` significant digits, NaN and infinities as gaps (JSON null)."""
    array = np.asarray(values, dtype=float).ravel()
    return [float(f"{v:.{_DIGITS}g}") if np.isfinite(v) else None for v in array]


def _frame_data(frame: Frame) -> dict:
    """A frame as the page stores it; x is stored once per distinct array (curves share a grid)."""
    xs, which = [], []
    for trace in frame.traces:
        x = _rounded(trace.x)
        if x not in xs:
            xs.append(x)
        which.append(xs.index(x))
    return {"xs": xs, "which": which, "y": [_rounded(t.y) for t in frame.traces],
            "name": [t.name for t in frame.traces], "title": frame.title}


def _position(values: Sequence[float], start: float | None) -> int:
    """The index of ``start`` in ``values`` (the middle one when ``start`` is None)."""
    if start is None:
        return len(values) // 2
    matches = [i for i, v in enumerate(values) if np.isclose(v, start)]
    if not matches:
        raise ValueError(f"start value {start!r} is not one of the slider's values {list(values)}")
    return matches[0]


def _slider_layout(slider: Slider, row: int) -> dict:
    steps = [{"label": slider.fmt.format(v), "method": "skip", "args": []}
             for v in slider.values]
    return {"active": slider.active, "steps": steps, "x": 0.0, "len": 1.0,
            "y": -0.12 - row * _SLIDER_HEIGHT, "yanchor": "top", "pad": {"t": 30},
            "currentvalue": {"prefix": f"{slider.label} = ", "font": {"size": 13}}}


def explorer(sliders: Sequence[Slider], draw: Callable[..., Frame], *, name: str,
             x_title: str, y_title: str, log_x: bool = False, log_y: bool = False,
             x_range: Sequence[float] | None = None, y_range: Sequence[float] | None = None,
             static: Sequence[go.Scatter] = (), height: int = 480) -> Explorer:
    """Evaluate ``draw(*values)`` at every combination of the sliders' values; return the figure.

    ``draw`` returns a :class:`Frame` whose traces are the same in number and kind at every
    combination (only their data, names and the title change); ``static`` traces (measurements,
    say) are drawn once, over them, and never change. ``name`` makes the figure's HTML id,
    so a page with several explorers keeps them apart and a rebuild gives the same page. Axis ranges
    are in data units (Plotly's log axes take exponents; this converts); without them the axes
    follow the data.
    """
    if not sliders:
        raise ValueError("sliders: give at least one Slider")
    grid = list(itertools.product(*(s.values for s in sliders)))
    frames = [draw(*values) for values in grid]
    counts = {len(f.traces) for f in frames}
    if len(counts) != 1:
        raise ValueError(f"draw must return the same number of traces everywhere, got {counts}")
    start = int(np.ravel_multi_index([s.active for s in sliders], [len(s.values) for s in sliders]))
    figure = go.Figure(list(frames[start].traces) + list(static))
    figure.update_layout(
        title={"text": frames[start].title or ""}, height=height + len(sliders) * 70,
        margin={"t": 60, "b": 40 + len(sliders) * 80}, template="simple_white",
        sliders=[_slider_layout(s, row) for row, s in enumerate(sliders)],
        legend={"x": 1.02, "y": 1.0})
    for axis, title, log, span in (("xaxis", x_title, log_x, x_range),
                                   ("yaxis", y_title, log_y, y_range)):
        settings = {"title": {"text": title}, "type": "log" if log else "linear"}
        if span is not None:
            settings["range"] = [float(np.log10(v)) if log else float(v) for v in span]
        figure.update_layout({axis: settings})
    return Explorer(figure, list(sliders), [_frame_data(f) for f in frames],
                    div_id=f"explorer-{name}")


# ---- the book's explorers --------------------------------------------------------------------

_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd")


def _line(x, y, name, color, dash="solid", width=2.0) -> go.Scatter:
    return go.Scatter(x=np.asarray(x), y=np.asarray(y), name=name, mode="lines",
                      line={"color": color, "dash": dash, "width": width})


def stages(alphas: Sequence[float], r0_fractions: Sequence[float], *, start=(None, None),
           n_skills: int = 5, scale: float = 5.0, eps: float = 0.05,
           n_points: int = 160) -> Explorer:
    """Ch. 3: ``R_k(t)/S`` of the first skills, with sliders for ``α`` and ``R(0)/S``.

    Time is in units of skill 1's growth time ``1/(2ηSP_s(1))``, which ``R(0)`` does not change,
    so a smaller ``R(0)`` visibly delays every skill (by ``ln(S/R(0))`` units). The title says
    which consecutive pairs are stage-like (Eq. 41) and skill 1's threshold on ``R(0)/S``, the
    closed form the chapter derives.
    """
    def draw(alpha, fraction):
        probs = theory.skill_probs(n_skills, alpha)
        r0 = fraction * scale
        unit = 1.0 / float(theory.growth_rate(probs[0], scale))
        last = float(theory.emergence_time(probs[-1], scale, r0, eps=eps)
                     + theory.saturation_time(probs[-1], scale, eps=eps))
        t = np.linspace(0.0, 1.05 * last, n_points)
        strength = theory.skill_strength(t[:, None], probs, scale, r0) / scale
        traces = [_line(t / unit, strength[:, k], f"R_{k + 1}/S", _COLORS[k % len(_COLORS)])
                  for k in range(n_skills)]
        traces.append(_line([0, 1.05 * last / unit], [eps, eps], f"ε = {eps}", "gray",
                            dash="dot", width=1))
        staged = np.flatnonzero(theory.is_stage_like(probs, scale, r0, eps=eps)) + 1
        rho = probs[0] / probs[1] - 1
        threshold = 1 / (1 + (1 / eps - 1) ** (1 + 2 / rho))
        pairs = ", ".join(f"{k}→{k + 1}" for k in staged) or "none"
        return Frame(traces, f"stage-like pairs: {pairs}  (skills 1→2 need R(0)/S < "
                             f"{threshold:.1e})")

    return explorer([Slider("α", alphas, _position(alphas, start[0])),
                     Slider("R(0)/S", r0_fractions, _position(r0_fractions, start[1]), "{:.0e}")],
                    draw, name="stages", x_title="time × 2ηS P_s(1)", y_title="R_k / S",
                    y_range=(0.0, 1.02))


_LAWS = {  # resource -> (its symbol, the exact loss, the law's prefactor and exponent)
    "time": ("T", lambda x, n, a, s, r0: theory.loss_vs_time(x, n, a, s, r0),
             lambda a, s, r0: theory.time_law_prefactor(a, s, r0), theory.time_law_exponent),
    "data": ("D", lambda x, n, a, s, r0: theory.loss_vs_data(x, n, a, s, r0),
             lambda a, s, r0: theory.data_law_prefactor(a, s, r0), theory.data_law_exponent),
    "params": ("N", lambda x, n, a, s, r0: theory.loss_vs_params(
        np.minimum(x, n).astype(int), n, a, s),
               lambda a, s, r0: theory.param_law_prefactor(a, s), theory.param_law_exponent),
}


def _law_curves(resource, alpha, n_skills, x, scale, r0):
    _, exact_loss, prefactor, exponent = _LAWS[resource]
    return (exact_loss(x, int(n_skills), alpha, scale, r0),
            prefactor(alpha, scale, r0) * x ** -exponent(alpha))


def _longest_run(close) -> tuple[int, int]:
    """Start and end (exclusive) of the longest run of True in ``close``."""
    best, start = (0, 0), None
    for i, ok in enumerate(np.append(close, False)):
        if ok and start is None:
            start = i
        elif not ok and start is not None:
            best, start = max(best, (start, i), key=lambda r: r[1] - r[0]), None
    return best


def law_range(resource: str, alpha: float, n_skills: int, *, tolerance: float = 0.1,
              scale: float = 1.0, r0: float = 0.01, x=None) -> tuple[float, float] | None:
    """The longest stretch of the resource over which the power law is within ``tolerance``.

    Returns ``(low, high)`` on the grid ``x`` (default: log-spaced from 1 far past where
    ``n_s`` cuts the law off), or None when no stretch spans a full decade: the exact loss and the
    law also agree briefly where they cross at small values, which says nothing about the law.
    """
    if resource not in _LAWS:
        raise ValueError(f"resource must be one of {sorted(_LAWS)}, got {resource!r}")
    _validate.in_open_interval("tolerance", tolerance, 0.0, 1.0)
    x = _default_grid(resource, alpha, n_skills) if x is None else np.asarray(x, dtype=float)
    exact, law = _law_curves(resource, alpha, n_skills, x, scale, r0)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        lo, hi = _longest_run(np.abs(law / exact - 1) < tolerance)
    if hi <= lo or x[hi - 1] < 10 * x[lo]:
        return None
    return float(x[lo]), float(x[hi - 1])


def _default_grid(resource, alpha, n_skills, n_points=120):
    if resource == "params":
        return np.unique(np.round(np.geomspace(1, n_skills, n_points)))
    return np.geomspace(1.0, 10 * n_skills ** (alpha + 1.0), n_points)


def scaling_law(resource: str, alphas: Sequence[float], n_skills: Sequence[int], *,
                start=(None, None), scale: float = 1.0, r0: float = 0.01, tolerance: float = 0.1,
                n_points: int = 120) -> Explorer:
    """Chs. 4–6: the exact loss against one resource and its power law, sliders ``α`` and ``n_s``.

    ``resource`` is ``"time"`` (Eq. 12 against ``A_T T^(-α/(α+1))``), ``"data"`` (Eq. 59 against
    ``A_D D^(-α/(α+1))``) or ``"params"`` (Eq. 67 against ``A_N N^(-α)``). The title says over
    which stretch the law is within ``tolerance`` of the exact loss: it ends where the finite
    number of skills ``n_s`` takes over, so moving ``n_s`` moves it.
    """
    if resource not in _LAWS:
        raise ValueError(f"resource must be one of {sorted(_LAWS)}, got {resource!r}")
    symbol, _, _, exponent = _LAWS[resource]
    x = _default_grid(resource, max(alphas), max(n_skills), n_points)

    def draw(alpha, n):
        exact, law = _law_curves(resource, alpha, n, x, scale, r0)
        span = law_range(resource, alpha, n, tolerance=tolerance, scale=scale, r0=r0, x=x)
        title = (f"the law is nowhere within {tolerance:.0%} over a full decade of {symbol}"
                 if span is None else
                 f"law within {tolerance:.0%} for {span[0]:.2g} ≤ {symbol} ≤ {span[1]:.2g}")
        return Frame([_line(x, exact, "exact loss", _COLORS[0]),
                      _line(x, law, f"{symbol}^-{exponent(alpha):.3f} law", "black", "dot")],
                     title)

    return explorer([Slider("α", alphas, _position(alphas, start[0])),
                     Slider("n_s", n_skills, _position(n_skills, start[1]), "{:.0e}")],
                    draw, name=f"{resource}-law", x_title=symbol, y_title="loss",
                    log_x=True, log_y=True)


def compute_frontier(alphas: Sequence[float], *, start: float | None = None, n_skills: int = 10**5,
                     fixed_n: Sequence[int] = (10, 100, 1000, 10_000), scale: float = 1.0,
                     r0: float = 0.01, n_points: int = 50) -> Explorer:
    """Ch. 7: fixed-width loss curves against compute ``C = N T``, their envelope and its law.

    One slider, ``α``. The envelope is the minimum over widths
    (:func:`emergence.theory.scaling.loss_vs_compute`); the law is ``A_C C^(-α/(α+2))`` of
    Corollary 5, and the title gives the envelope's optimal width at the largest compute against
    ``λ* (η S C)^(1/(α+2))``.
    """
    compute = np.geomspace(1e2, 1e9, n_points)

    def draw(alpha):
        traces = []
        for i, n in enumerate(fixed_n):
            usable = compute >= n  # at least unit time per basis function
            loss = np.full(compute.shape, np.nan)
            loss[usable] = theory.loss_vs_time(compute[usable] / n, n_skills, alpha, scale, r0,
                                               n_basis=int(n))
            traces.append(_line(compute, loss, f"N = {n:g}", _COLORS[i % len(_COLORS)],
                                width=1.2))
        envelope, n_opt = theory.loss_vs_compute(compute, n_skills, alpha, scale, r0)
        law = theory.compute_law_prefactor(alpha, scale, r0) * compute ** (
            -theory.compute_law_exponent(alpha))
        traces += [_line(compute, envelope, "compute-optimal", "black", width=3),
                   _line(compute, law, f"C^-{theory.compute_law_exponent(alpha):.3f} law",
                         "black", "dot")]
        predicted, _ = theory.compute_optimal_allocation(compute[-1], alpha, scale, r0)
        return Frame(traces, f"at C = {compute[-1]:.0e}: optimal N = {n_opt[-1]}, "
                             f"Corollary 5 gives {float(predicted):.0f}")

    return explorer([Slider("α", alphas, _position(alphas, start))], draw,
                    name="compute-frontier", x_title="compute C = N T", y_title="loss",
                    log_x=True, log_y=True)


def fitted_constant(symbol: str, fit, x, measured, predict: Callable, *, x_title: str,
                    y_title: str, labels: Sequence[str] | None = None, log_x: bool = False,
                    span: float = 2.0, n_values: int = 13, n_points: int = 200) -> Explorer:
    """Part III: network curves against the calibrated prediction, with a slider over the constant.

    ``fit`` is the calibration (its ``value`` and ``uncertainty``), ``x`` the resource at which the
    network was measured and ``measured`` its mean strengths there, shape ``(len(x), curves)``;
    ``predict(value, x)`` returns the model's strengths at ``x`` for the constant ``value``, same
    shape. The slider runs over the values of :func:`emergence.fits.constant_scan` (the fit in the
    middle), and the title gives the RMS gap between network and prediction at each, so a reader
    sees how sharply the measurements pin the constant down.
    """
    x = np.asarray(x, dtype=float)
    measured = np.asarray(measured, dtype=float).reshape(len(x), -1)
    values, gaps = fits.constant_scan(predict, fit.value, x, measured, span=span,
                                      n_values=n_values)
    labels = labels or [f"curve {k + 1}" for k in range(measured.shape[1])]
    fine = (np.geomspace(x[x > 0].min(), x.max(), n_points) if log_x
            else np.linspace(x.min(), x.max(), n_points))
    colors = [_COLORS[k % len(_COLORS)] for k in range(measured.shape[1])]
    static = [go.Scatter(x=x, y=measured[:, k], name=f"network, {labels[k]}", mode="markers",
                         marker={"color": colors[k], "size": 5, "symbol": "circle-open"})
              for k in range(measured.shape[1])]

    def draw(value):
        curves = np.asarray(predict(value, fine)).reshape(len(fine), -1)
        gap = gaps[int(np.argmin(np.abs(values - value)))]
        return Frame([_line(fine, curves[:, k], f"model, {labels[k]}", colors[k])
                      for k in range(measured.shape[1])],
                     f"{symbol} = {value:.3g} ({value / fit.value:.2f} × the fit "
                     f"{fit.value:.3g} ± {fit.uncertainty:.2g}): RMS gap {gap:.3f}")

    return explorer([Slider(symbol, values, n_values // 2, "{:.3g}")], draw,
                    name=f"fit-{''.join(c for c in symbol if c.isalnum())}", x_title=x_title,
                    y_title=y_title, log_x=log_x, static=static, y_range=(-0.02, 1.05))
