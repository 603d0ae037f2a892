"""Scaling laws of the multilinear model (paper Section 4, Appendices E and J).

Two kinds of function live here.

*Exact losses at finite size* (numpy in, numpy out, vectorised over the first argument): the loss
of the multilinear model when one resource is the bottleneck, summed skill by skill over
``n_skills`` power-law skills with no approximation,

- :func:`loss_vs_time` (Eq. 12 with ``d_k / D -> P_s(k)``),
- :func:`loss_vs_data` (Eq. 274: expectation over datasets after infinite training),
- :func:`loss_vs_params` (Eq. 67: the skills outside the basis),
- :func:`loss_vs_time_and_params` and :func:`loss_vs_compute` (Eq. 328 and its envelope over
  allocations ``C = N T``).

*Asymptotic laws* ``L ≈ A X^(-exponent)`` in the limit ``n_skills -> ∞``: the exponents and the
prefactors ``A`` of Theorems 1, 4, 5 and Corollary 5, computed from ``ζ(α+1)``, ``Γ`` and one
numerical integral, with no hard-coded constants. Sums are evaluated in chunks so that a grid of
hundreds of resource values over ``10^5`` skills stays within a few tens of megabytes.
"""

from __future__ import annotations

import numpy as np
from scipy import integrate, optimize, special

from .. import _validate
from .dynamics import skill_probs

__all__ = [
    "time_law_exponent", "data_law_exponent", "param_law_exponent", "compute_law_exponent",
    "compute_allocation_exponents",
    "loss_vs_time", "loss_vs_data", "loss_vs_params", "loss_vs_time_and_params",
    "loss_vs_compute",
    "time_integral", "time_prefactor_at_ratio", "time_law_prefactor",
    "time_law_prefactor_small_r", "time_law_finite_size", "data_law_prefactor",
    "data_law_finite_size",
    "param_law_prefactor", "compute_prefactor_at_ratio", "compute_optimal_ratio",
    "compute_law_prefactor", "compute_optimal_allocation", "loss_vs_compute_finite_size",
    "finite_n_correction", "finite_n_time_law",
]

_CHUNK = 2_000_000  # array elements evaluated at once (16 MB of float64)


# ---------------------------------------------------------------------------------------------
# Exponents: L ∝ X^(-exponent)
# ---------------------------------------------------------------------------------------------

def time_law_exponent(alpha):
    """Exponent of the time law, ``α / (α + 1)`` (Eq. 54; Theorems 2-4)."""
    _validate.positive("alpha", alpha)
    return np.asarray(alpha, dtype=np.float64) / (np.asarray(alpha) + 1.0)


def data_law_exponent(alpha):
    """Exponent of the data law, ``α / (α + 1)`` (Eq. 65; Theorem 5)."""
    return time_law_exponent(alpha)


def param_law_exponent(alpha):
    """Exponent of the parameter law, ``α`` (Eq. 67; Theorem 1)."""
    _validate.positive("alpha", alpha)
    return np.asarray(alpha, dtype=np.float64)


def compute_law_exponent(alpha):
    """Exponent of the compute-optimal law, ``α / (α + 2)`` (Eq. 76; Corollaries 4-5)."""
    _validate.positive("alpha", alpha)
    return np.asarray(alpha, dtype=np.float64) / (np.asarray(alpha) + 2.0)


def compute_allocation_exponents(alpha):
    """Compute-optimal allocation ``N ∝ C^a``, ``T ∝ C^b``: returns ``(a, b)`` (Eq. 75).

    ``a = 1/(α+2)`` and ``b = (α+1)/(α+2)``; they add to 1 because ``N T = C``.
    """
    _validate.positive("alpha", alpha)
    a = 1.0 / (np.asarray(alpha, dtype=np.float64) + 2.0)
    return a, 1.0 - a


# ---------------------------------------------------------------------------------------------
# Exact losses at finite size
# ---------------------------------------------------------------------------------------------

def _check_common(n_skills, alpha, scale):
    _validate.positive_int("n_skills", n_skills)
    _validate.positive("alpha", alpha)
    _validate.positive("scale", scale)


def _check_basis(n_basis, n_skills) -> int:
    if n_basis is None:
        return n_skills
    _validate.positive_int("n_basis", n_basis)
    if n_basis > n_skills:
        raise ValueError(f"n_basis must be an integer in [1, n_skills={n_skills}], got {n_basis}")
    return int(n_basis)


def _integers(name, values) -> np.ndarray:
    """``values`` as an array, refusing ragged input with an error that names ``name``."""
    try:
        return np.asarray(values)
    except ValueError:
        raise ValueError(f"{name} must be an integer or an array of integers, got "
                         f"{values!r}") from None


def _resource(name, values):
    """A 1-d float array of a non-negative, finite resource (time, data or compute)."""
    arr = _validate.numbers(name, values)
    _validate.finite(name, arr)
    _validate.non_negative(name, arr)
    return arr


def _tail(probs):
    """``tail[N] = Σ_{k > N} P_s(k)`` for N = 0..n_skills, computed from the small end."""
    tail = np.zeros(probs.size + 1)
    tail[:-1] = np.cumsum(probs[::-1])[::-1]
    return tail


def _unlearned_fraction(t, probs, scale, r0, eta):
    """``(1 - R_k(t)/S)`` for times ``t`` (m,) and skills (n,): an (m, n) array (Eq. 11).

    ``1 - R/S = 1 / (1 + exp(2 η S P t) / (S/r - 1)) = expit(log(S/r - 1) - 2 η S P t)``.
    """
    log_odds0 = np.log(scale / r0 - 1.0)
    return special.expit(log_odds0 - 2.0 * eta * scale * np.outer(t, probs))


def _rows(n_rows, n_cols):
    """Slices of at most ``_CHUNK / n_cols`` rows covering ``range(n_rows)``."""
    step = max(1, _CHUNK // max(n_cols, 1))
    return (slice(i, min(i + step, n_rows)) for i in range(0, n_rows, step))


def loss_vs_time(T, n_skills, alpha, scale=1.0, r0=0.01, eta=1.0, n_basis=None):
    """Exact loss of the multilinear model after training for time ``T`` on unlimited data.

    Eq. 12 with ``d_k / D -> P_s(k)``: ``L(T) = Σ_{k ≤ N} P_s(k) ½ (S - R_k(T))²
    + ½ S² Σ_{k > N} P_s(k)``, where ``N = n_basis`` (default ``n_skills``) and every skill starts
    at ``R_k(0) = r0``. ``T`` is any array of times >= 0; the result has its shape.
    """
    _check_common(n_skills, alpha, scale)
    _validate.in_open_interval("r0", r0, 0.0, scale)
    _validate.positive("eta", eta)
    n_basis = _check_basis(n_basis, n_skills)
    t = _resource("T", T)
    table = loss_vs_time_and_params(t.ravel(), [n_basis], n_skills, alpha, scale, r0, eta)
    return table[:, 0].reshape(t.shape)


def loss_vs_time_and_params(T, n_basis, n_skills, alpha, scale=1.0, r0=0.01, eta=1.0):
    """Exact loss ``L(N, T)`` (Eq. 12 / 328, unlimited data) on a grid: shape (len(T), len(N)).

    One pass over the skills per time serves every basis size at once, through the cumulative
    sum ``Σ_{k ≤ N} P_s(k) L_k(T)``: the table behind the compute-optimal envelope.
    """
    _check_common(n_skills, alpha, scale)
    _validate.in_open_interval("r0", r0, 0.0, scale)
    _validate.positive("eta", eta)
    t = _resource("T", T).ravel()
    sizes = _integers("n_basis", n_basis).ravel()
    if sizes.size == 0 or not np.issubdtype(sizes.dtype, np.integer) or sizes.min() < 1 \
            or sizes.max() > n_skills:
        raise ValueError(f"n_basis must be integers in [1, n_skills={n_skills}], got {n_basis!r}")
    probs = skill_probs(n_skills, alpha)
    tail = _tail(probs)
    out = np.empty((t.size, sizes.size))
    for rows in _rows(t.size, n_skills):
        learned = np.cumsum(probs * _unlearned_fraction(t[rows], probs, scale, r0, eta) ** 2,
                            axis=1)
        out[rows] = learned[:, sizes - 1]
    return 0.5 * scale**2 * (out + tail[sizes])


def loss_vs_data(D, n_skills, alpha, scale=1.0, r0=0.0, n_basis=None):
    """Expected loss after infinite training on ``D`` i.i.d. samples (Eq. 274; Eq. 59 at r0=0).

    ``E_D[L] = ½ (S - r)² Σ_{k ≤ N} P_s(k) (1 - P_s(k))^D + ½ S² Σ_{k > N} P_s(k)``: the
    one-shot learner knows skill k exactly iff it saw at least one of its samples, which
    happens with probability ``1 - (1 - P_s(k))^D``. ``D`` may be any real >= 0 (the formula is
    analytic in D); it is evaluated as ``exp(D log1p(-P))`` so that large D costs nothing extra.
    """
    _check_common(n_skills, alpha, scale)
    _validate.in_half_open_interval("r0", r0, 0.0, scale)
    n_basis = _check_basis(n_basis, n_skills)
    d = _resource("D", D)
    flat = d.ravel()
    probs = skill_probs(n_skills, alpha)[:n_basis]
    log_miss = np.log1p(-probs) if n_skills > 1 else np.full(1, -np.inf)
    unseen = np.empty(flat.size)
    for rows in _rows(flat.size, n_basis):
        with np.errstate(invalid="ignore"):  # 0 * -inf for D = 0 with a single skill
            exponent = np.nan_to_num(np.outer(flat[rows], log_miss), nan=0.0)
        unseen[rows] = np.exp(exponent) @ probs
    tail = 0.5 * scale**2 * _tail(skill_probs(n_skills, alpha))[n_basis]
    return (0.5 * (scale - r0) ** 2 * unseen + tail).reshape(d.shape)


def loss_vs_params(N, n_skills, alpha, scale=1.0):
    """Loss with ``N`` basis functions after unlimited time and data (Eq. 67 / Corollary 2).

    The first N skills are learned exactly, the rest are out of reach:
    ``L(N) = ½ S² Σ_{k > N} P_s(k)``. ``N`` is an integer array with values in [0, n_skills].
    """
    _check_common(n_skills, alpha, scale)
    sizes = _integers("N", N)
    if not np.issubdtype(sizes.dtype, np.integer) or sizes.size == 0 or sizes.min() < 0 \
            or sizes.max() > n_skills:
        raise ValueError(f"N must be integers in [0, n_skills={n_skills}], got {N!r}")
    return 0.5 * scale**2 * _tail(skill_probs(n_skills, alpha))[sizes]


def _basis_grid(n_skills, n_points):
    """Integer basis sizes: every integer up to 30, then log-spaced up to ``n_skills``."""
    grid = np.unique(np.round(np.geomspace(1, n_skills, n_points)).astype(np.int64))
    return np.union1d(np.arange(1, min(30, n_skills) + 1), grid)


def loss_vs_compute(C, n_skills, alpha, scale=1.0, r0=0.01, eta=1.0, t_min=1.0,
                    n_basis_points=200, t_per_decade=40):
    """Compute-optimal loss: ``min over N of L(N, T = C / N)`` with unlimited data (Eq. 328).

    Returns ``(loss, n_opt)`` with the shape of ``C``. The minimum runs over basis sizes
    ``N ∈ [1, min(n_skills, C / t_min)]`` (every integer up to 30, then ``n_basis_points``
    log-spaced ones): the envelope of the fixed-N curves of Fig. 3. ``L(N, T)`` is tabulated on a
    log-grid of ``t_per_decade`` times per decade, interpolated in ``log T`` to locate the
    optimum, and the returned loss is then the exact Eq. 12 at the chosen ``(N, C/N)``.
    """
    _check_common(n_skills, alpha, scale)
    _validate.in_open_interval("r0", r0, 0.0, scale)
    _validate.positive("eta", eta)
    _validate.positive("t_min", t_min)
    _validate.positive_int("n_basis_points", n_basis_points)
    _validate.positive_int("t_per_decade", t_per_decade)
    c = _resource("C", C)
    _validate.positive("C", c)
    if np.any(c < t_min):
        raise ValueError(f"C must be >= t_min={t_min} (at least one basis function for t_min)")
    flat = c.ravel()
    sizes = _basis_grid(n_skills, n_basis_points)
    lo, hi = np.log10(max(t_min, flat.min() / sizes.max())), np.log10(flat.max())
    times = np.logspace(lo, hi, max(2, int(np.ceil((hi - lo) * t_per_decade)) + 1))
    table = loss_vs_time_and_params(times, sizes, n_skills, alpha, scale, r0, eta)
    log_table = np.log(np.maximum(table, np.finfo(np.float64).tiny))  # a full basis reaches 0
    candidate = np.full((flat.size, sizes.size), np.inf)
    for j, n in enumerate(sizes):
        t = flat / n
        ok = t >= t_min * (1 - 1e-12)
        candidate[ok, j] = np.interp(np.log(t[ok]), np.log(times), log_table[:, j])
    n_opt = sizes[np.argmin(candidate, axis=1)]
    loss = np.array([loss_vs_time(ci / n, n_skills, alpha, scale, r0, eta, n_basis=int(n))
                     for ci, n in zip(flat, n_opt, strict=True)])
    return loss.reshape(c.shape), n_opt.reshape(c.shape)


# ---------------------------------------------------------------------------------------------
# Prefactors in the limit n_skills -> ∞
# ---------------------------------------------------------------------------------------------

def _phi(u, scale, r0):
    """Skill loss as a function of ``u = η S P T``: ``½ S² [1 + e^{2u} / (S/r - 1)]^(-2)``."""
    return 0.5 * scale**2 * special.expit(np.log(scale / r0 - 1.0) - 2.0 * u) ** 2


def _check_prefactor_args(alpha, scale, r0, eta=1.0):
    _validate.positive("alpha", alpha)
    _validate.positive("scale", scale)
    _validate.in_open_interval("r0", r0, 0.0, scale)
    _validate.positive("eta", eta)


def time_integral(alpha, scale=1.0, r0=0.01, lower=0.0):
    """``∫_lower^∞ u^(-1/(α+1)) Φ_{S,r}(u) du`` (Theorem 4, Eq. 238), by adaptive quadrature.

    The substitution ``s = u^(α/(α+1))`` turns it into ``(α+1)/α ∫ Φ(s^((α+1)/α)) ds``, whose
    integrand is smooth and bounded, so ``scipy.integrate.quad`` needs no singular weight. The
    break point is the emergence of the skill, ``u = ½ log(S/r - 1)``.
    """
    _check_prefactor_args(alpha, scale, r0)
    _validate.non_negative("lower", lower)
    power = (alpha + 1.0) / alpha
    s_low = float(lower) ** (1.0 / power)
    s_break = max(np.log(scale / r0 - 1.0), 1e-3) ** (1.0 / power)  # past the sigmoid's step

    def integrand(s):
        return _phi(s**power, scale, r0)

    pieces = [(s_low, max(s_low, s_break)), (max(s_low, s_break), np.inf)]
    tol = 1e-15 * scale**2  # absolute floor: far past the front the integral is ~e^(-4u)
    total = sum(integrate.quad(integrand, a, b, limit=200, epsabs=tol, epsrel=1e-11)[0]
                for a, b in pieces if b > a)
    return power * total


def time_prefactor_at_ratio(lam, alpha, scale=1.0, r0=0.01):
    """Theorem 4's ``A(λ)``: ``L ≈ A(λ) (η S T)^(-α/(α+1))`` when ``N = λ (η S T)^(1/(α+1))``.

    ``A(λ) = ζ^(-1/(α+1)) / (α+1) ∫_{λ^-(α+1)/ζ}^∞ u^(-1/(α+1)) Φ(u) du + S² λ^-α / (2 α ζ)``
    with ``ζ = ζ(α+1)``: the first term is the partly trained basis, the second the skills
    outside it. ``lam`` in (0, ∞]; ``λ = ∞`` is the pure time law.
    """
    _check_prefactor_args(alpha, scale, r0)
    lam_arr = _validate.numbers("lam", lam)
    _validate.positive("lam", lam_arr)
    zeta = special.zeta(alpha + 1.0)
    out = []
    for value in lam_arr.ravel():
        lower = 0.0 if np.isinf(value) else value ** -(alpha + 1.0) / zeta
        outside = 0.0 if np.isinf(value) else scale**2 * value**-alpha / (2 * alpha * zeta)
        inside = zeta ** (-1.0 / (alpha + 1.0)) / (alpha + 1.0) * time_integral(
            alpha, scale, r0, lower)
        out.append(inside + outside)
    return np.asarray(out).reshape(lam_arr.shape)[()]


def time_law_prefactor(alpha, scale=1.0, r0=0.01, eta=1.0):
    """``A_T`` in ``L ≈ A_T T^(-α/(α+1))`` for ``n_skills, N, D -> ∞`` (Eq. 321; Thm 4, λ=∞)."""
    _check_prefactor_args(alpha, scale, r0, eta)
    return float(time_prefactor_at_ratio(np.inf, alpha, scale, r0)
                 * (eta * scale) ** (-alpha / (alpha + 1.0)))


def time_law_prefactor_small_r(alpha, scale=1.0, r0=0.01, eta=1.0):
    """Small-initialisation asymptote of :func:`time_law_prefactor` (Proposition 7).

    Replacing the sigmoid by a step at ``u = ½ log((S-r)/r)`` gives
    ``∫ u^(-1/(α+1)) Φ du ≈ (α+1) S² / (2α) (½ log((S-r)/r))^(α/(α+1))``: the prefactor grows only
    like ``log(S/r)^(α/(α+1))`` as the initial strength shrinks.
    """
    _check_prefactor_args(alpha, scale, r0, eta)
    zeta = special.zeta(alpha + 1.0)
    step = (alpha + 1.0) * scale**2 / (2 * alpha) * (
        0.5 * np.log((scale - r0) / r0)) ** (alpha / (alpha + 1.0))
    return float(zeta ** (-1.0 / (alpha + 1.0)) / (alpha + 1.0) * step
                 * (eta * scale) ** (-alpha / (alpha + 1.0)))


def data_law_prefactor(alpha, scale=1.0, r0=0.0):
    """``A_D`` in ``E[L] ≈ A_D D^(-α/(α+1))`` for ``N, T -> ∞`` (Eqs. 302, 324; Theorem 5).

    ``A_D = ½ (S - r)² ζ(α+1)^(-1/(α+1)) Γ(α/(α+1)) / (α+1)``.
    """
    _validate.positive("alpha", alpha)
    _validate.positive("scale", scale)
    _validate.in_half_open_interval("r0", r0, 0.0, scale)
    zeta = special.zeta(alpha + 1.0)
    return float(0.5 * (scale - r0) ** 2 * zeta ** (-1.0 / (alpha + 1.0))
                 * special.gamma(alpha / (alpha + 1.0)) / (alpha + 1.0))


def _partial_zeta(n_skills, alpha):
    """``Σ_{j ≤ n_skills} j^-(α+1)``, the finite-size normaliser that replaces ``ζ(α+1)``.

    Computed as ``ζ(α+1) - ζ(α+1, n_skills+1)`` with the Hurwitz zeta function: O(1) in n_skills.
    """
    return float(special.zeta(alpha + 1.0) - special.zeta(alpha + 1.0, n_skills + 1.0))


def _tail_mass(n_basis, n_skills, alpha):
    """``Σ_{N < k ≤ n_s} P_s(k)`` from Hurwitz zeta values, without building the skill list."""
    upper = special.zeta(alpha + 1.0, n_skills + 1.0)
    return (special.zeta(alpha + 1.0, np.asarray(n_basis, dtype=np.float64) + 1.0) - upper) \
        / _partial_zeta(n_skills, alpha)


def time_law_finite_size(T, n_skills, alpha, scale=1.0, r0=0.01, eta=1.0, n_basis=None):
    """Theorem 4 at finite size: the continuum approximation of Eq. 12 with its finite cut-offs.

    ``L ≈ ζ_n^(-1/(α+1)) / (α+1) (η S T)^(-α/(α+1)) ∫_{u_N}^∞ u^(-1/(α+1)) Φ(u) du
    + ½ S² Σ_{k > N} P_s(k)``, with the exact normaliser ``ζ_n = Σ_{j ≤ n_s} j^-(α+1)`` and
    ``u_N = η S T N^-(α+1) / ζ_n`` the scaled time of the last basis skill (λ finite in Thm 4).
    What remains between this and :func:`loss_vs_time` is only the sum-to-integral error.
    """
    _check_common(n_skills, alpha, scale)
    _validate.in_open_interval("r0", r0, 0.0, scale)
    _validate.positive("eta", eta)
    n_basis = _check_basis(n_basis, n_skills)
    t = _resource("T", T)
    _validate.positive("T", t)
    zeta_n = _partial_zeta(n_skills, alpha)
    x = eta * scale * t.ravel()
    integral = np.array([time_integral(alpha, scale, r0, xi * n_basis ** -(alpha + 1) / zeta_n)
                         for xi in x])
    inside = zeta_n ** (-1.0 / (alpha + 1)) / (alpha + 1) * x ** (-alpha / (alpha + 1)) * integral
    outside = 0.5 * scale**2 * _tail_mass(n_basis, n_skills, alpha)
    return (inside + outside).reshape(t.shape)


def data_law_finite_size(D, n_skills, alpha, scale=1.0, r0=0.0, n_basis=None):
    """Theorem 5 (case ``D = O(N^(α+1))``) at finite size, with the upper incomplete gamma.

    ``E[L] ≈ ½ (S-r)² ζ_n^(-1/(α+1)) Γ(a, D N^-(α+1) / ζ_n) D^-a / (α+1) + ½ S² Σ_{k>N} P_s(k)``
    with ``a = α/(α+1)``, ``Γ(a, x) = gammaincc(a, x) Γ(a)`` and the exact normaliser ``ζ_n``.
    With ``N, n_s -> ∞`` it is :func:`data_law_prefactor` ``· D^-a``; Theorem 5 writes the
    second term as ``S² N^-α / (2 α ζ)``, its limit for ``n_s ≫ N``.
    """
    _check_common(n_skills, alpha, scale)
    _validate.in_half_open_interval("r0", r0, 0.0, scale)
    n_basis = _check_basis(n_basis, n_skills)
    d = _resource("D", D)
    _validate.positive("D", d)
    a = alpha / (alpha + 1.0)
    zeta_n = _partial_zeta(n_skills, alpha)
    upper_gamma = special.gammaincc(a, d * n_basis ** -(alpha + 1.0) / zeta_n) * special.gamma(a)
    seen = 0.5 * (scale - r0) ** 2 * zeta_n ** (-1.0 / (alpha + 1.0)) / (alpha + 1.0)
    outside = 0.5 * scale**2 * _tail_mass(n_basis, n_skills, alpha)
    return d**-a * seen * upper_gamma + outside


def param_law_prefactor(alpha, scale=1.0, n_ratio=0.0):
    """``A_N`` in ``L ≈ A_N N^-α`` for ``T, D -> ∞`` (Theorem 1): ``S² (1 - γ^α) / (2 α ζ(α+1))``.

    ``n_ratio`` is ``γ = lim N / n_skills`` in [0, 1); 0 (the default) is ``n_skills ≫ N``.
    """
    _validate.positive("alpha", alpha)
    _validate.positive("scale", scale)
    _validate.in_half_open_interval("n_ratio", n_ratio, 0.0, 1.0)
    return float(scale**2 * (1.0 - n_ratio**alpha) / (2 * alpha * special.zeta(alpha + 1.0)))


def compute_prefactor_at_ratio(lam, alpha, scale=1.0, r0=0.01):
    """Corollary 5: ``L ≈ A(λ^((α+2)/(α+1))) λ^(α/(α+1)) (η S C)^(-α/(α+2))``; returns the factor.

    The allocation is ``N = λ (η S C)^(1/(α+2))``, ``η S T = (η S C)^((α+1)/(α+2)) / λ``.
    """
    _check_prefactor_args(alpha, scale, r0)
    lam_arr = _validate.numbers("lam", lam)
    _validate.positive("lam", lam_arr)
    _validate.finite("lam", lam_arr)
    return (time_prefactor_at_ratio(lam_arr ** ((alpha + 2.0) / (alpha + 1.0)), alpha, scale, r0)
            * lam_arr ** (alpha / (alpha + 1.0)))


def compute_optimal_ratio(alpha, scale=1.0, r0=0.01):
    """The ``λ*`` minimising :func:`compute_prefactor_at_ratio` (Eq. 330; no closed form)."""
    _check_prefactor_args(alpha, scale, r0)
    result = optimize.minimize_scalar(
        lambda x: float(compute_prefactor_at_ratio(np.exp(x), alpha, scale, r0)),
        bounds=(-12.0, 12.0), method="bounded", options={"xatol": 1e-7})
    return float(np.exp(result.x))


def compute_law_prefactor(alpha, scale=1.0, r0=0.01, eta=1.0):
    """``A_C`` in ``L ≈ A_C C^(-α/(α+2))`` along the compute-optimal frontier (Eq. 330).

    ``A_C = min_λ A(λ^((α+2)/(α+1))) λ^(α/(α+1)) · (η S)^(-α/(α+2))``.
    """
    _check_prefactor_args(alpha, scale, r0, eta)
    lam = compute_optimal_ratio(alpha, scale, r0)
    return float(compute_prefactor_at_ratio(lam, alpha, scale, r0)
                 * (eta * scale) ** (-alpha / (alpha + 2.0)))


def compute_optimal_allocation(C, alpha, scale=1.0, r0=0.01, eta=1.0):
    """Asymptotically optimal ``(N, T)`` for compute ``C = N T`` (Corollary 5 at ``λ*``).

    ``N = λ* (η S C)^(1/(α+2))`` and ``T = C / N``; N is real-valued here (round it to use it).
    """
    _check_prefactor_args(alpha, scale, r0, eta)
    c = _resource("C", C)
    _validate.positive("C", c)
    n = compute_optimal_ratio(alpha, scale, r0) * (eta * scale * c) ** (1.0 / (alpha + 2.0))
    return n, c / n


def loss_vs_compute_finite_size(C, n_skills, alpha, scale=1.0, r0=0.01, eta=1.0, t_min=1.0,
                                per_decade=40):
    """Compute-optimal envelope of :func:`time_law_finite_size` (Theorem 4 at finite size).

    ``min over N of time_law_finite_size(C/N, n_skills, n_basis=N)``, searched over integers
    ``per_decade`` to a decade within a factor 30 either side of the asymptotic optimum
    ``N* = λ* (η S C)^(1/(α+2))``. Its cost does not grow with ``n_skills`` (the normaliser and
    the tail come from Hurwitz zeta values), so it shows how the envelope of
    :func:`loss_vs_compute` approaches :func:`compute_law_prefactor` as ``n_skills -> ∞``.
    Returns ``(loss, n_opt)`` with the shape of ``C``.
    """
    _check_common(n_skills, alpha, scale)
    _validate.positive_int("per_decade", per_decade)
    _validate.positive("t_min", t_min)
    c = _resource("C", C)
    if np.any(c < t_min):
        raise ValueError(f"C must be >= t_min={t_min}, got {C!r}")
    flat = c.ravel()
    guess, _ = compute_optimal_allocation(flat, alpha, scale, r0, eta)
    loss, n_opt = np.empty(flat.size), np.empty(flat.size, dtype=np.int64)
    for i, (ci, gi) in enumerate(zip(flat, guess, strict=True)):
        low, high = max(1.0, gi / 30), min(float(n_skills), gi * 30, ci / t_min)
        low = min(low, high)
        count = max(2, int(np.ceil(np.log10(high / low) * per_decade)) + 1)
        sizes = np.unique(np.round(np.geomspace(low, high, count)).astype(np.int64))
        values = [float(time_law_finite_size(ci / n, n_skills, alpha, scale, r0, eta, int(n)))
                  for n in sizes]
        best = int(np.argmin(values))
        loss[i], n_opt[i] = values[best], sizes[best]
    return loss.reshape(c.shape), n_opt.reshape(c.shape)


# ---------------------------------------------------------------------------------------------
# Finite-N correction of the time law for small alpha (App. E.1, Eqs. 55-56, 69)
# ---------------------------------------------------------------------------------------------

def finite_n_correction(n_basis, n_skills, alpha, scale=1.0):
    """``L_C = S² A N^-α / (2α)``, the boundary term at k = N of Eq. 55 (A = 1 / Σ j^-(α+1)).

    For small α it is not negligible even for large N: ``N^-α ≈ 0.34`` at ``N = 5·10^4, α = 0.1``.
    """
    _check_common(n_skills, alpha, scale)
    n_basis = _check_basis(n_basis, n_skills)
    norm = skill_probs(n_skills, alpha)[0]  # P_s(1) = A
    return float(scale**2 * norm * n_basis**-alpha / (2 * alpha))


def finite_n_time_law(T, n_skills, alpha, scale=1.0, r0=0.01, eta=1.0, n_basis=None,
                      t_ref=1.0):
    """The finite-N corrected time law (Eq. 56, anchored at ``t_ref``).

    Eq. 56, ``dL/dT = -α/(α+1) (L + L_C) / T``, integrates to
    ``L(T) = (L(t_ref) + L_C) (T / t_ref)^(-α/(α+1)) - L_C`` for the loss of the basis skills;
    the constant loss of the skills outside the basis is added back. ``L(t_ref)`` is exact.
    The law holds while the emergence front is inside the basis (``eta S T << N^(α+1)``); past
    it the basis skills' loss would turn negative, so it is clipped at zero (the parameter
    floor), which the exact loss approaches from above.
    """
    _check_common(n_skills, alpha, scale)
    n_basis = _check_basis(n_basis, n_skills)
    _validate.positive("t_ref", t_ref)
    t = _resource("T", T)
    l_c = finite_n_correction(n_basis, n_skills, alpha, scale)
    tail = loss_vs_params(np.array(n_basis), n_skills, alpha, scale)
    start = loss_vs_time(t_ref, n_skills, alpha, scale, r0, eta, n_basis) - tail
    basis_loss = (start + l_c) * (t / t_ref) ** -time_law_exponent(alpha) - l_c
    return np.maximum(basis_loss, 0.0) + tail
