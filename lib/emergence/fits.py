"""Least-squares calibration of the extended models on one-skill networks (Section 5, Fig. 11).

Each extended model has a single constant (``B²``, ``D_c`` or ``N_c``). It is fitted to the
seed-mean ``R/S`` of an ``n_s = 1`` network, each point weighted by the spread over seeds (floored,
so that saturated points with no spread do not dominate). Two uncertainties are reported:

- ``stderr``: the usual standard error from the Jacobian at the optimum, with the covariance
  scaled by the reduced chi² (so it also absorbs any mismatch of the model's shape);
- ``bootstrap_stderr``: the spread of the fitted constant when the seeds are resampled with
  replacement and the fit is repeated, which needs no assumption about the noise.

The time model has a second, nuisance parameter: the initial strength ``R(0)``. The network's
measured ``R(0)`` is a random number of either sign with mean zero, so it cannot be read off
step 0; it is fitted jointly with ``B²`` (in log space, both being positive).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import optimize

from . import _validate
from .theory import extended

__all__ = [
    "Fit", "TimeFit", "fit_time", "fit_data", "fit_width", "calibrate",
    "emergence_steps", "strength_standard_error", "PowerLawFit", "fit_power_law",
    "constant_scan", "half_strength_size",
]

_N_BOOT = 200


@dataclass(frozen=True)
class Fit:
    """One fitted constant: value, Jacobian standard error, bootstrap standard error over seeds,
    and the root-mean-square residual of the seed-mean data about the fitted curve."""

    name: str
    value: float
    stderr: float
    bootstrap_stderr: float
    residual_rms: float

    @property
    def uncertainty(self) -> float:
        """The larger of the two standard errors: the cautious one to quote."""
        return max(self.stderr, self.bootstrap_stderr)

    def z_score(self, reference: float) -> float:
        """How many uncertainties ``reference`` lies from the fitted value."""
        return abs(self.value - reference) / self.uncertainty


@dataclass(frozen=True)
class TimeFit(Fit):
    """The time calibration: ``B²`` plus the jointly fitted initial strength ``R(0)/S``."""

    r0: float
    r0_stderr: float


def _weights(strength: np.ndarray, floor: float):
    """Seed mean and the per-point sigma (seed std, floored) of ``(n_points, n_seeds)`` data."""
    strength = _validate.numbers("strength", strength)
    if strength.ndim != 2 or strength.shape[1] < 2:
        raise ValueError(f"strength must have shape (n_points, n_seeds >= 2), got {strength.shape}")
    _validate.finite("strength", strength)
    _validate.finite_positive("floor", floor)
    return strength.mean(axis=1), np.maximum(strength.std(axis=1, ddof=1), floor)


def _least_squares(model, x, y, sigma, p0, bounds):
    """Weighted least squares; returns the optimum, its scaled covariance and the RMS residual."""
    sol = optimize.least_squares(lambda p: (model(x, p) - y) / sigma, p0, bounds=bounds,
                                 x_scale="jac")
    dof = max(len(y) - len(p0), 1)
    chi2 = 2.0 * sol.cost / dof
    jac = sol.jac
    cov = np.linalg.pinv(jac.T @ jac) * chi2
    rms = float(np.sqrt(np.mean((model(x, sol.x) - y) ** 2)))
    return sol.x, cov, rms


def _bootstrap(fit_once, strength: np.ndarray, n_boot: int, seed: int) -> np.ndarray:
    """Refit on ``n_boot`` resamples of the seeds (columns); returns the fitted parameters."""
    _validate.positive_int("n_boot", n_boot)
    _validate.non_negative_int("seed", seed)
    rng = np.random.default_rng(seed)
    n_seeds = strength.shape[1]
    return np.array([fit_once(strength[:, rng.integers(0, n_seeds, n_seeds)])
                     for _ in range(n_boot)])


def _time_model(t, p, scale, lr):
    b2, r0 = np.exp(p[0]), np.exp(p[1]) * scale
    return extended.calibrated_strength(t, 1.0, scale=scale, lr=lr, b2=b2, r0=r0)


def fit_time(steps, strength, *, scale: float, lr: float, floor: float = 0.02,
             n_boot: int = _N_BOOT, seed: int = 0) -> TimeFit:
    """Fit ``B²`` and ``R(0)`` of Eq. 14 to a one-skill network's ``R/S`` over training.

    ``steps`` (n_rec,) are SGD steps, ``strength`` (n_rec, n_seeds) is ``R/S``; ``lr`` is the
    network's learning rate on the no-½ MSE loss (the theory uses ``eta = 2 lr``).
    """
    steps = np.asarray(steps, dtype=np.float64)
    _validate.non_negative("steps", steps)
    mean, sigma = _weights(strength, floor)
    if steps.shape != mean.shape:
        raise ValueError(f"steps must have shape {mean.shape}, got {steps.shape}")

    def model(t, p):
        return _time_model(t, p, scale, lr)

    # Start from the half-way time: 2 eta B² S t_half = ln(S/R0 - 1) with R0/S = 1e-3.
    t_half = steps[np.argmax(mean >= 0.5 * mean.max())] or steps.max() / 2
    b2_start = np.log(999.0) / (2.0 * extended.effective_eta(lr) * scale * max(t_half, 1.0))
    p0 = np.log([b2_start, 1e-3])
    bounds = ([-30.0, -30.0], [10.0, -1e-9])

    def fit_once(s):
        m, sg = _weights(s, floor)
        return _least_squares(model, steps, m, sg, p0, bounds)[0]

    p, cov, rms = _least_squares(model, steps, mean, sigma, p0, bounds)
    boot = _bootstrap(fit_once, np.asarray(strength, dtype=np.float64), n_boot, seed)
    b2, r0 = np.exp(p)
    return TimeFit("B2", float(b2), float(b2 * np.sqrt(cov[0, 0])),
                   float(np.std(np.exp(boot[:, 0]), ddof=1)), rms,
                   float(r0), float(r0 * np.sqrt(cov[1, 1])))


def _fit_one_constant(name, model, x, strength, fallback, floor, n_boot, seed) -> Fit:
    """Fit a single positive constant (in log space) of ``model(x, value)`` to seed-mean data.

    ``x`` (n,) is the resource, ``strength`` (n, n_seeds) the final ``R/S``. Both curves it
    serves reach 1 at the constant, so the search starts at the first ``x`` where the mean is
    nearly learned (``fallback`` when none is).
    """
    mean, sigma = _weights(strength, floor)
    if x.shape != mean.shape:
        raise ValueError(f"{_X_NAMES[name]} must have shape {mean.shape}, got {x.shape}")
    learned = np.nonzero(mean >= 0.9)[0]
    start = max(x[learned[0]] if learned.size else fallback, 1.0)

    def logmodel(xx, p):
        return model(xx, np.exp(p[0]))

    bounds = ([-30.0], [30.0])
    # The curves have a kink (where the skill is fully learned), so a local search can stall on
    # it: start from the best point of a log grid spanning a factor 30 either side of ``start``.
    grid = np.log(start) + np.linspace(-np.log(30.0), np.log(30.0), 121)

    def fit_once(s):
        m, sg = _weights(s, floor)
        chi2 = [np.sum(((logmodel(x, [g]) - m) / sg) ** 2) for g in grid]
        return _least_squares(logmodel, x, m, sg, [grid[int(np.argmin(chi2))]], bounds)

    p, cov, rms = fit_once(strength)
    boot = _bootstrap(lambda s: fit_once(s)[0], np.asarray(strength, dtype=np.float64), n_boot,
                      seed)
    value = float(np.exp(p[0]))
    return Fit(name, value, float(value * np.sqrt(cov[0, 0])),
               float(np.std(np.exp(boot[:, 0]), ddof=1)), rms)


_X_NAMES = {"D_c": "counts", "N_c": "widths"}
_DATA_LAWS = {"eq17": extended.dc_shot_strength, "projection": extended.dc_projection_strength}


def fit_data(counts, strength, *, law: str = "eq17", floor: float = 0.02,
             n_boot: int = _N_BOOT, seed: int = 0) -> Fit:
    """Fit ``D_c`` of the ``D_c``-shot learner to final ``R/S`` against skill counts.

    ``counts`` (n_D,) are the examples of the skill in each training set (for one skill, the
    data set size ``D``); ``strength`` (n_D, n_seeds) is the final ``R/S``. ``law`` is
    ``"eq17"`` (the paper's ``1 - sqrt(1 - d/D_c)``) or ``"projection"`` (``d / D_c``).
    """
    if not isinstance(law, str) or law not in _DATA_LAWS:
        raise ValueError(f"law must be one of {sorted(_DATA_LAWS)}, got {law!r}")
    counts = _validate.numbers("counts", counts)
    _validate.non_negative("counts", counts)
    return _fit_one_constant("D_c", _DATA_LAWS[law], counts, strength, 2.0 * counts.max(),
                             floor, n_boot, seed)


def fit_width(widths, strength, *, floor: float = 0.02, n_boot: int = _N_BOOT,
              seed: int = 0) -> Fit:
    """Fit a real ``N_c`` of the ``N_c``-basis learner to one-skill ``R/S`` against width.

    Uses the continuous form ``clip(N / N_c, 0, 1)`` of Eq. 21 for skill 1.
    """
    widths = _validate.numbers("widths", widths)
    _validate.positive("widths", widths)

    def model(w, n_c):
        return extended.nc_basis_strength_continuous(w, 1, n_c)[..., 0]

    return _fit_one_constant("N_c", model, widths, strength, widths.max(), floor, n_boot, seed)


def calibrate(result, **kwargs) -> Fit:
    """Fit the constant a one-skill experiment result calibrates, whichever it is.

    ``result`` is an :class:`emergence.experiments.Result` (anything with ``arrays`` and
    ``config``) of ``calib_time``, ``calib_data`` or ``calib_params``; returns a
    :class:`TimeFit` (B²) or a :class:`Fit` (D_c, N_c). Extra keywords go to the fit.
    """
    arrays, config = result.arrays, result.config
    strength = np.asarray(arrays["strength"])
    if strength.ndim != 3 or strength.shape[2] != 1:
        raise ValueError(f"calibration needs one skill: strength shape (n, n_seeds, 1), "
                         f"got {strength.shape}")
    strength = strength[..., 0]
    if "steps" in arrays:
        return fit_time(arrays["steps"], strength, scale=config["scale"], lr=config["lr"],
                        **kwargs)
    if "n_data" in arrays:
        counts = np.asarray(arrays["skill_counts"])[..., 0].mean(axis=1)
        return fit_data(counts, strength, **kwargs)
    if "widths" in arrays:
        return fit_width(arrays["widths"], strength, **kwargs)
    raise ValueError(f"result arrays must hold steps, n_data or widths, got {sorted(arrays)}")


def constant_scan(predict, fitted: float, x, measured, *, span: float = 2.0,
                  n_values: int = 13) -> tuple[np.ndarray, np.ndarray]:
    """The RMS gap between measurements and a model as its constant moves around the fit.

    ``predict(value, x)`` gives the model's strengths at ``x`` (shape of ``measured``) for the
    constant ``value``; the scan runs over ``n_values`` values from ``fitted / span`` to
    ``fitted * span``, log-spaced with the fit in the middle. Returns ``(values, gaps)``: how
    sharply the measurements pin the constant down, and whether the fit sits at the bottom.
    """
    _validate.finite_positive("fitted", fitted)
    _validate.in_open_interval("span", span, 1.0, np.inf)
    if not (isinstance(n_values, (int, np.integer)) and n_values >= 3 and n_values % 2):
        raise ValueError(f"n_values must be an odd integer >= 3 (the fit in the middle), "
                         f"got {n_values!r}")
    measured = np.asarray(measured, dtype=float)
    values = fitted * np.geomspace(1 / span, span, n_values)
    gaps = np.array([np.sqrt(np.mean((np.asarray(predict(v, x)).reshape(measured.shape)
                                      - measured) ** 2)) for v in values])
    return values, gaps


def emergence_steps(steps, strength, threshold: float = 0.05) -> np.ndarray:
    """First recorded step at which ``R/S >= threshold``, along axis 0; NaN where never reached.

    ``strength`` has shape ``(n_rec, ...)``; the result has shape ``strength.shape[1:]``.
    """
    steps = _validate.numbers("steps", steps)
    strength = _validate.numbers("strength", strength)
    _validate.in_open_interval("threshold", threshold, 0.0, 1.0)
    if strength.ndim < 1:
        raise ValueError(f"strength must have a record axis first, got shape {strength.shape}")
    _validate.finite("strength", strength)
    if steps.ndim != 1 or steps.shape[0] != strength.shape[0]:
        raise ValueError(f"steps must have shape ({strength.shape[0]},), got {steps.shape}")
    reached = strength >= threshold
    first = np.argmax(reached, axis=0)
    return np.where(reached.any(axis=0), steps[first], np.nan)


def half_strength_size(sizes, strength, level: float = 0.5) -> np.ndarray:
    """The resource (training-set size, width) at which ``R/S`` first reaches ``level``.

    Interpolated linearly in ``log(size)`` between the two recorded sizes that bracket the
    crossing, along axis 0 of ``strength`` (shape ``(len(sizes), ...)``, sizes increasing and
    positive). NaN where the level is never reached, or is already reached at the first size (the
    crossing is then outside the measured range): a location on the curve that needs no fit, so
    a change of shape (abruptness) does not move it the way it moves a fitted constant.
    """
    sizes = _validate.numbers("sizes", sizes)
    strength = _validate.numbers("strength", strength)
    _validate.in_open_interval("level", level, 0.0, 1.0)
    if sizes.ndim != 1 or sizes.size < 2 or np.any(sizes <= 0) or np.any(np.diff(sizes) <= 0):
        raise ValueError(f"sizes must be a 1-d increasing array of positive values, got {sizes!r}")
    if strength.shape[:1] != sizes.shape:
        raise ValueError(f"strength must have shape ({sizes.size}, ...), got {strength.shape}")
    _validate.finite("strength", strength)
    above = strength >= level
    first = np.argmax(above, axis=0)
    inside = above.any(axis=0) & (first > 0)
    after = np.where(inside, first, 1)
    lo = np.take_along_axis(strength, (after - 1)[None], 0)[0]
    hi = np.take_along_axis(strength, after[None], 0)[0]
    log_size = np.log(sizes)
    fraction = (level - lo) / np.where(hi > lo, hi - lo, 1.0)
    crossing = np.exp(log_size[after - 1] + fraction * (log_size[after] - log_size[after - 1]))
    return np.where(inside, crossing, np.nan)


def strength_standard_error(strength, loss, n_eval: int) -> np.ndarray:
    """Standard error of each measured ``R_k/S``, from the same evaluation set's ``½ MSE``.

    ``R_k/S`` is the mean over ``n_eval`` samples of ``f g_k / S`` (``g_k = ±1``), so its
    variance is ``(E[f²]/S² - (R_k/S)²) / n_eval``, and ``E[f²]`` follows from the per-skill
    loss ``L_k = ½ E[(S g_k - f)²]``: ``E[f²]/S² = 2 L_k/S² - 1 + 2 R_k/S``. ``strength`` is
    ``R_k/S`` and ``loss`` is ``L_k / S²`` (both as stored, any equal shapes). The emergence
    threshold means something only where it stands several of these above zero: once a
    network outputs values of order ``S`` the noise on a still-unlearned skill is about
    ``1/sqrt(n_eval)``, ``0.044`` for 512 samples against a threshold of ``0.05``.
    """
    _validate.positive_int("n_eval", n_eval)
    strength = np.asarray(strength, dtype=np.float64)
    loss = np.asarray(loss, dtype=np.float64)
    if strength.shape != loss.shape:
        raise ValueError(f"loss must have the shape of strength {strength.shape}, "
                         f"got {loss.shape}")
    second_moment = 2.0 * loss - 1.0 + 2.0 * strength
    return np.sqrt(np.clip(second_moment - strength**2, 0.0, None) / n_eval)


@dataclass(frozen=True)
class PowerLawFit:
    """``y ≈ prefactor · x^slope`` fitted on log-log axes, with the slope's standard error."""

    slope: float
    slope_stderr: float
    prefactor: float

    def __call__(self, x):
        return self.prefactor * np.asarray(x, dtype=np.float64) ** self.slope


def fit_power_law(x, y) -> PowerLawFit:
    """Ordinary least squares of ``log y`` on ``log x`` (points with NaN are dropped).

    ``x`` (n,) and ``y`` (n,) or (n, n_rep): replicates (e.g. seeds) are all used as points,
    so the slope's standard error reflects their scatter.
    """
    x = _validate.numbers("x", x)
    y = _validate.numbers("y", y)
    xx = np.broadcast_to(x.reshape(-1, *([1] * (y.ndim - 1))), y.shape).ravel()
    yy = y.ravel()
    keep = np.isfinite(yy)
    if keep.sum() < 3 or np.unique(xx[keep]).size < 2:
        raise ValueError("fit_power_law needs >= 3 finite points at >= 2 distinct x")
    _validate.positive("x", xx[keep])
    _validate.positive("y", yy[keep])
    res = optimize.curve_fit(lambda lx, a, b: a + b * lx, np.log(xx[keep]), np.log(yy[keep]))
    (intercept, slope), cov = res
    return PowerLawFit(float(slope), float(np.sqrt(cov[1, 1])), float(np.exp(intercept)))
