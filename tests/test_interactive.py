"""The slider figures: every combination stored in the right place, the titles true to the theory.

The browser test (``tests/test_site.py``) moves the sliders on the built site; these tests check the
Python side: what the page stores for each slider position and what its titles claim.
"""

import json
import re

import numpy as np
import plotly
import plotly.graph_objects as go
import pytest

from emergence import fits, interactive, theory
from emergence.interactive import Frame, Slider


def frame_of(values):
    """A frame whose single trace carries the slider values it was drawn for."""
    return Frame([go.Scatter(x=[0.0, 1.0], y=list(values), name="t")], title=str(values))


def test_every_combination_is_stored_where_the_page_looks_for_it():
    sliders = [Slider("a", (1.0, 2.0, 3.0)), Slider("b", (10.0, 20.0))]
    figure = interactive.explorer(sliders, lambda a, b: frame_of((a, b)), name="grid",
                                  x_title="x", y_title="y")
    assert figure.n_frames == 6
    for i, a in enumerate((1.0, 2.0, 3.0)):
        for j, b in enumerate((10.0, 20.0)):
            key = i * 2 + j  # the page's key: slider positions in row-major order
            assert figure.frames[key]["y"] == [[a, b]]
            assert figure.frames[key]["title"] == str((a, b))


def test_the_figure_starts_at_the_sliders_active_positions():
    sliders = [Slider("a", (1.0, 2.0, 3.0), active=2), Slider("b", (10.0, 20.0), active=0)]
    figure = interactive.explorer(sliders, lambda a, b: frame_of((a, b)), name="start",
                                  x_title="x", y_title="y")
    assert list(figure.figure.data[0].y) == [3.0, 10.0]
    assert [s.active for s in figure.figure.layout.sliders] == [2, 0]


def test_html_loads_the_pinned_plotly_and_carries_frames_and_script():
    figure = interactive.explorer([Slider("a", (1.0, 2.0))], lambda a: frame_of((a,)),
                                  name="page", x_title="x", y_title="y",
                                  static=[go.Scatter(x=[0], y=[0], name="data")])
    html = figure.html()
    version = plotly.offline.get_plotlyjs_version()
    assert f"https://cdn.plot.ly/plotly-{version}.min.js" in html
    assert 'id="explorer-page"' in html and "plotly_sliderchange" in html
    stored = json.loads(re.search(r"const frames = (\[.*?\]), shape", html).group(1))
    assert stored == figure.frames and all(len(f["y"]) == 1 for f in stored)  # static not stored
    assert len(figure.figure.data) == 2


def test_stored_numbers_are_rounded_and_gaps_are_null():
    figure = interactive.explorer(
        [Slider("a", (1.0, 2.0))],
        lambda a: Frame([go.Scatter(x=[1.0, 2.0, 3.0], y=[np.pi * a, np.nan, np.inf])]),
        name="round", x_title="x", y_title="y")
    assert figure.frames[0]["y"] == [[3.142, None, None]]


def test_bad_sliders_and_frames_are_refused():
    with pytest.raises(ValueError, match="slider 'a': values needs at least 2"):
        Slider("a", (1.0,))
    with pytest.raises(ValueError, match=r"slider 'a': active must be in \[0, 2\)"):
        Slider("a", (1.0, 2.0), active=2)
    with pytest.raises(ValueError, match="same number of traces"):
        interactive.explorer([Slider("a", (1.0, 2.0))],
                             lambda a: Frame([go.Scatter(y=[a])] * int(a)), name="n",
                             x_title="x", y_title="y")
    with pytest.raises(ValueError, match="sliders"):
        interactive.explorer([], frame_of, name="none", x_title="x", y_title="y")
    with pytest.raises(ValueError, match="start value 0.7 is not one of"):
        interactive.stages((0.2, 0.6), (1e-2, 1e-4), start=(0.7, None))
    with pytest.raises(ValueError, match="resource must be one of"):
        interactive.law_range("compute", 0.6, 1000)


def test_stage_titles_agree_with_eq_41():
    alphas, fractions = (0.4, 1.0), (1e-2, 1e-4, 1e-9)
    figure = interactive.stages(alphas, fractions, scale=5.0)
    for key, (alpha, fraction) in enumerate((a, f) for a in alphas for f in fractions):
        staged = theory.is_stage_like(theory.skill_probs(5, alpha), 5.0, 5.0 * fraction)
        pairs = re.search(r"stage-like pairs: (.*?)  \(", figure.frames[key]["title"]).group(1)
        expected = ", ".join(f"{k}→{k + 1}" for k in np.flatnonzero(staged) + 1) or "none"
        assert pairs == expected


def test_law_range_finds_the_decades_where_the_law_holds():
    x = np.geomspace(1, 1e6, 61)
    # the time law at alpha = 0.6: the stretch ends near n_s^(alpha+1) and grows with n_s
    small, large = (interactive.law_range("time", 0.6, n) for n in (10**3, 10**5))
    assert large[1] / small[1] == pytest.approx(100**1.6, rel=0.3)
    assert interactive.law_range("params", 0.2, 1000) is None  # no full decade within 10%
    # a grid too short to hold a decade cannot report one
    assert interactive.law_range("time", 0.6, 10**5, x=x[:10]) is None


def test_constant_scan_finds_the_constant_that_made_the_data():
    x = np.linspace(0, 2000, 21)

    def model(d_c, d):
        return theory.dc_shot_strength(d, d_c)

    values, gaps = fits.constant_scan(model, 800.0, x, model(800.0, x))
    assert values[6] == pytest.approx(800.0) and gaps[6] == pytest.approx(0.0, abs=1e-12)
    assert np.all(np.diff(gaps[:7]) < 0) and np.all(np.diff(gaps[6:]) > 0)
    assert values[0] == pytest.approx(400.0) and values[-1] == pytest.approx(1600.0)
    with pytest.raises(ValueError, match="n_values must be an odd integer"):
        fits.constant_scan(model, 800.0, x, x, n_values=4)
    with pytest.raises(ValueError, match="span"):
        fits.constant_scan(model, 800.0, x, x, span=1.0)
    with pytest.raises(ValueError, match="fitted"):
        fits.constant_scan(model, -1.0, x, x)


def test_fitted_constant_titles_report_the_scan():
    x = np.linspace(0, 2000, 21)

    def model(d_c, d):
        return theory.dc_shot_strength(d, d_c)

    fit = fits.Fit(name="D_c", value=800.0, stderr=10.0, bootstrap_stderr=10.0,
                   residual_rms=0.0)
    figure = interactive.fitted_constant("D_c", fit, x, model(800.0, x), model,
                                         x_title="D", y_title="R/S")
    assert figure.n_frames == 13 and figure.figure.layout.sliders[0].active == 6
    assert "RMS gap 0.000" in figure.frames[6]["title"]
    assert len(figure.figure.data) == 2  # the model curve and the measured points
