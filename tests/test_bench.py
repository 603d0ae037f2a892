"""The benchmark CLI on a tiny experiment: it times both loops and writes the JSON rows."""

import dataclasses
import json

import numpy as np

from emergence import bench, experiments


def tiny(profile):
    base = experiments.config("mlp_data", "quick")
    return dataclasses.replace(base, profile=profile, n_data=(40, 90), width=8)


def test_bench_writes_rows(tmp_path, capsys):
    experiments.register("_bench_tiny", tiny)
    try:
        out = tmp_path / "bench.json"
        assert bench.main(["--out", str(out), "--steps", "2", "--only", "_bench_tiny"]) == 0
    finally:
        experiments._REGISTRY.pop("_bench_tiny")
    rows = json.loads(out.read_text())
    assert len(rows) == 1
    for key in ("name", "device", "model_steps_per_s", "samples_per_s",
                "baseline_model_steps_per_s", "speedup"):
        assert key in rows[0]
    assert rows[0]["speedup"] > 0 and "speedup" in capsys.readouterr().out


def test_host_batches_follow_the_task():
    host = bench.HostBatches(experiments.config("mlp_time", "quick"))
    inputs, targets = host.sample(200)
    assert inputs.shape == (200, 17) and set(np.unique(targets)) <= {-5.0, 5.0}
    np.testing.assert_array_equal(inputs[:, :5].sum(axis=1), 1.0)
