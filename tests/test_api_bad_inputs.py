"""The public theory and fitting API under bad inputs, driven by Hypothesis.

Every public function of :mod:`emergence.theory` and :mod:`emergence.fits` is called with valid
arguments except one, which gets a value that no parameter of this API accepts (NaN, infinity
where a finite number is meant is not in this list, a string, None, a boolean, a negative or a
ragged value). The promise of the package: such a call raises ValueError or TypeError whose
message names the parameter; it is never accepted silently and never hangs.
"""

from __future__ import annotations

import inspect

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emergence import fits
from emergence import theory as th

STRENGTH = np.clip(np.linspace(0, 1, 6)[:, None] + np.array([0.0, 0.02, -0.02]), 0, 1)
VALID = {
    "skill_probs": dict(n_skills=5, alpha=0.6),
    "growth_rate": dict(prob=0.3, scale=1.0, eta=1.0, b2=1.0),
    "skill_strength": dict(t=10.0, prob=0.3, scale=1.0, r0=0.01, eta=1.0, b2=1.0),
    "skill_loss": dict(t=10.0, prob=0.3, scale=1.0, r0=0.01, eta=1.0, b2=1.0),
    "emergence_time": dict(prob=0.3, scale=1.0, r0=0.01, eta=1.0, eps=0.05, b2=1.0),
    "saturation_time": dict(prob=0.3, scale=1.0, eta=1.0, eps=0.05, b2=1.0),
    "is_stage_like": dict(probs=[0.6, 0.3, 0.1], scale=1.0, r0=0.01, eta=1.0, eps=0.05),
    "linear_skill_strength": dict(t=10.0, prob=0.3, scale=1.0, eta=1.0),
    "time_law_exponent": dict(alpha=0.6),
    "data_law_exponent": dict(alpha=0.6),
    "param_law_exponent": dict(alpha=0.6),
    "compute_law_exponent": dict(alpha=0.6),
    "compute_allocation_exponents": dict(alpha=0.6),
    "loss_vs_time": dict(T=10.0, n_skills=100, alpha=0.6, scale=1.0, r0=0.01, eta=1.0,
                         n_basis=50),
    "loss_vs_data": dict(D=10.0, n_skills=100, alpha=0.6, scale=1.0, r0=0.0, n_basis=50),
    "loss_vs_params": dict(N=10, n_skills=100, alpha=0.6, scale=1.0),
    "loss_vs_time_and_params": dict(T=10.0, n_basis=10, n_skills=100, alpha=0.6, scale=1.0,
                                    r0=0.01, eta=1.0),
    "loss_vs_compute": dict(C=100.0, n_skills=100, alpha=0.6, scale=1.0, r0=0.01, eta=1.0,
                            t_min=1.0, n_basis_points=10, t_per_decade=5),
    "time_integral": dict(alpha=0.6, scale=1.0, r0=0.01, lower=0.0),
    "time_prefactor_at_ratio": dict(lam=2.0, alpha=0.6, scale=1.0, r0=0.01),
    "time_law_prefactor": dict(alpha=0.6, scale=1.0, r0=0.01, eta=1.0),
    "time_law_prefactor_small_r": dict(alpha=0.6, scale=1.0, r0=0.01, eta=1.0),
    "time_law_finite_size": dict(T=10.0, n_skills=100, alpha=0.6, scale=1.0, r0=0.01,
                                 eta=1.0, n_basis=50),
    "data_law_prefactor": dict(alpha=0.6, scale=1.0, r0=0.0),
    "data_law_finite_size": dict(D=10.0, n_skills=100, alpha=0.6, scale=1.0, r0=0.0,
                                 n_basis=50),
    "param_law_prefactor": dict(alpha=0.6, scale=1.0, n_ratio=0.0),
    "compute_prefactor_at_ratio": dict(lam=2.0, alpha=0.6, scale=1.0, r0=0.01),
    "compute_optimal_ratio": dict(alpha=0.6, scale=1.0, r0=0.01),
    "compute_law_prefactor": dict(alpha=0.6, scale=1.0, r0=0.01, eta=1.0),
    "compute_optimal_allocation": dict(C=100.0, alpha=0.6, scale=1.0, r0=0.01, eta=1.0),
    "loss_vs_compute_finite_size": dict(C=100.0, n_skills=100, alpha=0.6, scale=1.0, r0=0.01,
                                        eta=1.0, t_min=1.0, per_decade=5),
    "finite_n_correction": dict(n_basis=10, n_skills=100, alpha=0.6, scale=1.0),
    "finite_n_time_law": dict(T=10.0, n_skills=100, alpha=0.6, scale=1.0, r0=0.01, eta=1.0,
                              n_basis=50, t_ref=1.0),
    "effective_eta": dict(lr=0.05),
    "calibrated_strength": dict(steps=10.0, prob=0.3, scale=5.0, lr=0.05, b2=0.05, r0=0.01),
    "authors_initial_strength": dict(init_std=0.01),
    "dc_shot_strength": dict(counts=100.0, d_c=800.0, r0=0.0),
    "dc_projection_strength": dict(counts=100.0, d_c=800.0, r0=0.0),
    "dc_shot_expected_count": dict(n_data=1000, probs=0.3, d_c=800.0, r0=0.0),
    "dc_shot_binomial_mean": dict(n_data=1000, probs=0.3, d_c=800.0, r0=0.0),
    "nc_basis_counts": dict(width=6, n_skills=3, n_c=4),
    "nc_basis_strength": dict(width=6, n_skills=3, n_c=4, r0=0.0),
    "nc_basis_strength_continuous": dict(width=6, n_skills=3, n_c=4.0, r0=0.0),
    "fit_power_law": dict(x=np.arange(1.0, 7.0), y=np.arange(1.0, 7.0) ** -0.5),
    "fit_width": dict(widths=np.arange(1, 7), strength=STRENGTH, floor=0.02, n_boot=3,
                      seed=0),
    "fit_data": dict(counts=np.arange(1, 7) * 300.0, strength=STRENGTH, law="eq17",
                     floor=0.02, n_boot=3, seed=0),
    "emergence_steps": dict(steps=np.arange(6), strength=STRENGTH, threshold=0.05),
}
BAD = [float("nan"), "abc", None, True, -7.0, [[1.0, 2.0], [3.0]]]


def function(name: str):
    return getattr(th, name, None) or getattr(fits, name)


def calls() -> list[tuple[str, str]]:
    return [(name, param) for name, kwargs in VALID.items() for param in kwargs]


def outcome(name: str, param: str, value) -> str:
    """``named`` (the promised error), ``accepted`` (no error) or what went wrong."""
    if value is None and param == "n_basis":
        return "named"  # None is n_basis's documented default: the whole skill list
    kwargs = {**VALID[name], param: value}
    try:
        with np.errstate(all="ignore"):
            function(name)(**kwargs)
    except (ValueError, TypeError) as error:
        return "named" if param in str(error) else f"unnamed {type(error).__name__}: {error}"
    except Exception as error:  # noqa: BLE001 - any other type breaks the promise
        return f"other {type(error).__name__}: {error}"
    return "accepted"


def test_every_public_function_has_a_valid_example():
    public = {n for n in th.__all__ if callable(getattr(th, n))}
    public |= {"fit_power_law", "fit_width", "fit_data", "emergence_steps"}
    assert public == set(VALID)
    for name, kwargs in VALID.items():
        assert set(kwargs) <= set(inspect.signature(function(name)).parameters), name
        with np.errstate(all="ignore"):
            function(name)(**kwargs)


@settings(max_examples=300, derandomize=True, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(call=st.sampled_from(calls()), value=st.sampled_from(BAD))
def test_a_bad_value_is_an_error_that_names_its_parameter(call, value):
    name, param = call
    assert outcome(name, param, value) == "named", (name, param, value)


def test_the_whole_api_meets_the_promise():
    results = {(n, p, repr(v)): outcome(n, p, v) for n, p in calls() for v in BAD}
    failures = {k: r for k, r in results.items() if r != "named"}
    print(f"{len(results) - len(failures)} of {len(results)} bad inputs named")
    assert not failures, failures
