"""Named experiments, run_or_load, the results CLI, and the quick configs' phenomena.

The full quick runs of the data and width experiments take 10-20 s each on two busy cores; they
are skipped unless ``EMERGENCE_SLOW_TESTS=1`` (the chapters run them anyway). The quick time
experiment always runs: it checks that skills emerge in order of frequency.
"""

import argparse
import dataclasses
import json
import os
import time

import numpy as np
import pytest
import torch

from emergence import experiments, results, store
from emergence.checkpoints import TrainingPaused

MLP_NAMES = ["calib_data", "calib_params", "calib_time", "mlp_data", "mlp_params", "mlp_time"]
slow = pytest.mark.skipif(os.environ.get("EMERGENCE_SLOW_TESTS") != "1",
                          reason="slow quick-config run; set EMERGENCE_SLOW_TESTS=1")


def tiny(profile):
    base = experiments.config("mlp_time", "quick")
    return dataclasses.replace(base, name="_tiny", profile=profile, width=16, batch_size=32,
                               n_steps=20 if profile == "quick" else 250, record_every=10,
                               n_eval=64)


@pytest.fixture
def registered():
    experiments.register("_tiny", tiny)
    yield "_tiny"
    experiments._REGISTRY.pop("_tiny", None)


def test_names_and_contract_attributes():
    assert set(MLP_NAMES) <= set(experiments.names())
    for name in MLP_NAMES:
        for profile in ("paper", "quick"):
            cfg = experiments.config(name, profile)
            assert cfg.name == name and cfg.profile == profile
            for attr in ("n_skills", "n_bits", "bits_per_skill", "alpha", "scale", "init_std",
                         "optimizer", "lr", "batch_size", "n_steps", "n_seeds"):
                assert getattr(cfg, attr) is not None
            assert json.loads(json.dumps(cfg.to_dict()))["profile"] == profile
            assert cfg.n_skills == (1 if name.startswith("calib") else 5)


def test_paper_settings_follow_the_plotted_runs():
    time_cfg = experiments.config("mlp_time", "paper")
    assert (time_cfg.lr, time_cfg.init_std, time_cfg.width, time_cfg.batch_size,
            time_cfg.n_steps, time_cfg.n_seeds, time_cfg.n_eval) == (0.02, 0.01, 1000, 4000,
                                                                       30_000, 10, 20_000)
    data_cfg = experiments.config("mlp_data", "paper")
    assert (data_cfg.lr, data_cfg.init_std, data_cfg.batch_size) == (0.05, 0.001, 2000)
    params_cfg = experiments.config("mlp_params", "paper")
    assert params_cfg.optimizer == "adam" and params_cfg.widths == tuple(range(1, 21))
    assert (params_cfg.n_bits, params_cfg.bits_per_skill, params_cfg.scale) == (32, 3, 5.0)


def test_bad_names_and_profiles_raise():
    with pytest.raises(ValueError, match="name"):
        experiments.config("nope", "quick")
    with pytest.raises(ValueError, match="profile"):
        experiments.config("mlp_time", "huge")
    with pytest.raises(ValueError, match="make"):
        experiments.register("x", 3)


@pytest.mark.parametrize("name", MLP_NAMES)
def test_every_quick_config_runs_with_the_contract_shapes(name):
    cfg = dataclasses.replace(experiments.config(name, "quick"), n_steps=10)
    arrays = cfg.run("cpu")
    shape = (cfg.n_seeds, cfg.n_skills)
    if cfg.kind == "time":
        assert arrays["strength"].shape == (len(arrays["steps"]), *shape)
        assert arrays["loss"].shape == arrays["strength"].shape
    elif cfg.kind == "data":
        assert arrays["strength"].shape == (len(cfg.n_data), *shape)
        assert arrays["skill_counts"].shape == arrays["strength"].shape
        np.testing.assert_array_equal(arrays["skill_counts"].sum(-1),
                                      np.repeat(np.asarray(cfg.n_data)[:, None], cfg.n_seeds, 1))
    else:
        assert arrays["strength"].shape == (len(cfg.widths), *shape)
        np.testing.assert_array_equal(arrays["widths"], cfg.widths)


# How to shorten a paper config to a few steps: each field a config has is set to this value.
SHORT = {"n_steps": 4, "max_steps": 4, "n_eval": 64, "record_every": 2, "n_history": 2,
         "check_every": 2}


@slow
@pytest.mark.parametrize("name", sorted(experiments.names()))
def test_every_paper_config_runs_a_few_steps_at_full_size(name):
    """The paper sizes (members, widths, batches, data sets) run end to end, on the CPU, so a
    shape or memory mistake costs a CI minute rather than a GPU session. The transformers keep
    their width but take a tiny batch: their paper batches would take minutes on two cores.
    Every experiment's arrays must be finite, except the placeholders it declares."""
    cfg = experiments.config(name, "paper")
    changes = {field: value for field, value in SHORT.items() if hasattr(cfg, field)}
    assert {"n_steps", "max_steps"} & set(changes), f"{name}: no step count to shorten"
    if cfg.to_dict()["kind"] == "transformer":
        changes.update(batch_size=8, n_seeds=2)
    small = dataclasses.replace(cfg, **changes)
    arrays = small.run("cpu")
    placeholders = set(getattr(small, "nan_arrays", ()))
    assert arrays and all(np.isfinite(np.asarray(a)).all() for key, a in arrays.items()
                          if np.asarray(a).dtype.kind == "f" and key not in placeholders)
    if "strength" in arrays and hasattr(small, "n_skills"):
        assert arrays["strength"].shape[-2:] == (small.n_seeds, small.n_skills)


def emergence_steps(arrays, level=0.5):
    mean = arrays["strength"].mean(axis=1)
    return [arrays["steps"][np.argmax(mean[:, k] >= level)] if mean[-1, k] >= level else np.inf
            for k in range(mean.shape[1])]


def test_quick_time_experiment_learns_skills_in_order_of_frequency():
    arrays = experiments.config("mlp_time", "quick").run("cpu")
    times = emergence_steps(arrays)
    final = arrays["strength"][-1].mean(axis=0)
    print("steps to R_k/S = 0.5:", times, "final R_k/S:", np.round(final, 2))
    assert times[0] < times[1] < times[2] < times[3], times
    assert final[3] > final[4] and final[0] > 0.95


def check_rises(strength, skills):
    """Mean R_k/S over seeds grows from the smallest to the largest setting, and by skill."""
    mean = strength.mean(axis=1)
    print(np.round(mean, 2))
    for k in skills:
        assert mean[-1, k] > mean[0, k] + 0.3, (k, mean[:, k])
    assert mean[-1, 0] >= mean[-1, 1] - 0.05 >= mean[-1, 2] - 0.1


@slow
def test_quick_data_experiment_learns_more_skills_with_more_data():
    check_rises(experiments.config("mlp_data", "quick").run("cpu")["strength"], [0, 1, 2])


@slow
def test_quick_width_experiment_learns_more_skills_with_more_units():
    check_rises(experiments.config("mlp_params", "quick").run("cpu")["strength"], [0, 1, 2])


@slow
@pytest.mark.parametrize("name", ["calib_time", "calib_data", "calib_params"])
def test_quick_calibration_experiments_learn_their_skill(name):
    strength = experiments.config(name, "quick").run("cpu")["strength"].mean(axis=1)
    print(name, np.round(strength[:, 0], 2))
    assert strength[-1, 0] > 0.9 and strength[0, 0] < 0.5


def test_run_or_load_quick_is_computed_and_never_stored(registered, tmp_path):
    res = experiments.run_or_load(registered, "quick", root=tmp_path)
    assert res.source == "computed" and res.warning is None
    assert res.arrays["strength"].shape == (3, tiny("quick").n_seeds, 5)
    assert res.config["profile"] == "quick"
    assert not any(tmp_path.iterdir())


def test_run_or_load_falls_back_to_quick_with_a_visible_warning(registered, tmp_path,
                                                                  monkeypatch, capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    res = experiments.run_or_load(registered, "paper", root=tmp_path)
    assert res.source == "quick-fallback" and "quick" in res.warning
    assert res.config["profile"] == "quick"
    assert "WARNING" in capsys.readouterr().out
    assert not any(tmp_path.iterdir())


def test_matched_runs_come_from_one_task(registered, tmp_path, monkeypatch):
    experiments.register("_tiny2", lambda profile: dataclasses.replace(tiny(profile),
                                                                       name="_tiny2"))
    try:
        stored = experiments.run_or_load(registered, "paper", device="cpu", root=tmp_path)
        assert stored.config["profile"] == "paper"
        monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
        calib, net = experiments.run_or_load_matched(registered, "_tiny2", "paper",
                                                     root=tmp_path)
        assert calib.config["profile"] == net.config["profile"] == "quick"
        assert "same task" in calib.warning and net.source == "quick-fallback"
        both = experiments.run_or_load_matched(registered, registered, "paper", root=tmp_path)
        assert [run.source for run in both] == ["store", "store"]
    finally:
        experiments._REGISTRY.pop("_tiny2", None)


def test_run_or_load_paper_computes_stores_then_loads(registered, tmp_path):
    first = experiments.run_or_load(registered, "paper", device="cpu", root=tmp_path)
    assert first.source == "computed" and first.provenance["wall_s"] > 0
    second = experiments.run_or_load(registered, "paper", root=tmp_path)
    assert second.source == "store" and second.warning is None
    np.testing.assert_array_equal(first.arrays["strength"], second.arrays["strength"])
    assert second.provenance["config"] == store.normalise(tiny("paper").to_dict())


def test_results_cli_stores_then_skips(registered, tmp_path, capsys):
    args = ["--only", registered, "--root", str(tmp_path), "--checkpoints", str(tmp_path / "ck")]
    assert results.main(args) == 0
    assert store.exists(registered, tiny("paper").to_dict(), tmp_path)
    assert not any((tmp_path / "ck").glob("*")) if (tmp_path / "ck").exists() else True
    assert results.main(args) == 0
    out = capsys.readouterr().out
    assert "already stored" in out and "s on cpu" in out
    assert results.main(["--only", "nope"]) == 2


def test_an_entry_records_the_code_that_started_its_run(registered, tmp_path, monkeypatch,
                                                        capsys):
    """Editing the checkout during a run of hours must not relabel its entry: the code
    identity is the one taken before training, and the command says the files changed."""
    calls = []

    def digest():
        calls.append(None)
        return ("a" if len(calls) == 1 else "b") * 64

    monkeypatch.setattr(store, "code_digest", digest)
    args = ["--only", registered, "--root", str(tmp_path), "--checkpoints", str(tmp_path / "ck")]
    assert results.main(args) == 0
    _, meta = store.load(registered, tiny("paper").to_dict(), tmp_path)
    assert meta["code_sha256"] == "a" * 64 and len(calls) > 1
    assert "changed on disk during the run" in capsys.readouterr().err


def test_results_cli_pauses_at_its_deadline_and_resumes(registered, tmp_path, capsys):
    args = argparse.Namespace(root=tmp_path, checkpoints=tmp_path / "ck", overwrite=False)
    with pytest.raises(TrainingPaused):
        results.run_one(registered, torch.device("cpu"), args, deadline=time.monotonic() - 1)
    assert len(list((tmp_path / "ck").glob("*.pt"))) == 1
    assert results.run_one(registered, torch.device("cpu"), args) > 0
    assert not list((tmp_path / "ck").glob("*.pt"))
    assert store.exists(registered, tiny("paper").to_dict(), tmp_path)
    cli = ["--only", registered, "--root", str(tmp_path), "--overwrite",
           "--checkpoints", str(tmp_path / "ck"), "--stop-after", "0"]
    assert results.main(cli) == 3


def test_results_cli_packs_an_archive_that_another_store_imports(registered, tmp_path, capsys):
    gpu, book = tmp_path / "gpu", tmp_path / "book"
    archive = tmp_path / "out" / "store.tar.gz"
    assert results.main(["--only", registered, "--root", str(gpu),
                         "--checkpoints", str(tmp_path / "ck"), "--archive", str(archive)]) == 0
    assert results.main(["--import", str(archive), "--root", str(book)]) == 0
    assert "imported 1 entry" in capsys.readouterr().out
    assert store.exists(registered, tiny("paper").to_dict(), book)
