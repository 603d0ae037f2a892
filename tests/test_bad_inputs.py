"""Bad inputs get a ValueError that names the parameter, never a silent result or a raw error
(the cases an adversarial test of the package found)."""

import dataclasses

import numpy as np
import pytest

from emergence import _validate, bench, experiments, fits, results
from emergence import theory as th
from emergence.tasks import SparseParityTask
from emergence.transformer import TransformerConfig


@pytest.mark.parametrize("check, value", [
    (_validate.finite_positive, float("inf")), (_validate.positive, True),
    (_validate.positive, "3"), (_validate.positive, None), (_validate.non_negative, "x"),
    (_validate.positive_int, 5.5), (_validate.probability, [0.5, "a"]),
])
def test_validators_refuse_non_numbers_and_infinity(check, value):
    with pytest.raises(ValueError, match="^x must"):
        check("x", value)


@pytest.mark.parametrize("name", ["mlp_time", "mlp_data", "mlp_params"])
@pytest.mark.parametrize("field, value", [
    ("profile", "fast"), ("n_seeds", 0), ("n_steps", -1), ("lr", float("inf")),
    ("lr", "0.1"), ("optimizer", "rmsprop"), ("init_std", 0), ("bits_per_skill", 99),
    ("weight_decay", float("nan")), ("seed", -1), ("name", "my-exp"),
])
def test_mlp_configs_validate_every_setting(name, field, value):
    cfg = experiments.config(name, "quick")
    with pytest.raises(ValueError, match=field):
        dataclasses.replace(cfg, **{field: value})


@pytest.mark.parametrize("name, field, value", [
    ("mlp_time", "record_every", 0), ("mlp_time", "width", 5.5),
    ("mlp_data", "n_data", (10, 0)), ("mlp_data", "n_data", ()),
    ("mlp_params", "widths", (1, 2.5)), ("mlp_params", "n_history", 0),
])
def test_experiment_specific_settings_are_validated(name, field, value):
    with pytest.raises(ValueError, match=field):
        dataclasses.replace(experiments.config(name, "quick"), **{field: value})


@pytest.mark.parametrize("field, value", [
    ("lr", float("inf")), ("betas", (0.9, 1.5)), ("betas", 0.9), ("compile", "no"),
    ("momentum", "a"), ("warmup_steps", 2.5), ("zero_readout", 1),
])
def test_transformer_config_validates(field, value):
    with pytest.raises(ValueError, match=field):
        TransformerConfig(**{field: value})


def test_fits_refuse_no_bootstrap_and_an_infinite_floor():
    counts, strength = np.arange(1, 6) * 100.0, np.tile(np.linspace(0, 1, 5), (3, 1)).T
    with pytest.raises(ValueError, match="n_boot"):
        fits.fit_data(counts, strength, n_boot=0)
    with pytest.raises(ValueError, match="floor"):
        fits.fit_data(counts, strength, floor=float("inf"))


def test_command_lines_refuse_nonsense_numbers(capsys):
    with pytest.raises(SystemExit):
        results.parse_args(["--stop-after", "nan"])
    with pytest.raises(SystemExit):
        bench.main(["--steps", "-1"])
    assert "must be" in capsys.readouterr().err


def test_finite_n_time_law_never_goes_below_the_parameter_floor():
    times = np.logspace(0, 7, 30)
    law = th.finite_n_time_law(times, 10**5, 0.6, n_basis=100)
    floor = th.loss_vs_params(np.array(100), 10**5, 0.6)
    assert np.all(law >= floor - 1e-12)


def test_many_distinct_subsets_are_drawn():
    # with the old pairwise check this took minutes (quadratic in the number of skills)
    task = SparseParityTask(20_000, 64, 3, 0.6, disjoint=False)
    assert len({tuple(sorted(s)) for s in task.skill_bits.tolist()}) == 20_000


def test_a_skill_list_too_large_for_memory_is_refused_by_name():
    with pytest.raises(ValueError, match="n_skills must be <= 100000000"):
        th.loss_vs_time(10.0, 10**9, 0.6)
