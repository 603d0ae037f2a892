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
    for key in ("name", "device", "engine", "ms_per_step", "model_steps_per_s",
                "samples_per_s", "baseline_model_steps_per_s", "speedup", "torch_ms_per_step",
                "speedup_vs_torch_ensemble", "roofline_ms", "roofline_fraction", "eval_s",
                "run_minutes", "gemm_gflops", "memory_gbps"):
        assert key in rows[0], key
    row = rows[0]
    assert row["speedup"] > 0 and row["roofline_ms"] > 0 and row["run_minutes"] > 0
    assert row["ms_per_step"] == 1e3 * row["members"] / row["model_steps_per_s"]
    assert "x roofline" in capsys.readouterr().out


def test_dense_step_cost_counts_layer_one_both_ways():
    cfg = experiments.config("mlp_time", "paper")
    cost = bench.dense_step_cost(cfg, 1.0)
    assert cost["flops"] == 4 * 37 * 1000 + 6 * 1000 and cost["bytes"] == 16 * 1000


def test_host_batches_follow_the_task():
    host = bench.HostBatches(experiments.config("mlp_time", "quick"))
    inputs, targets = host.sample(200)
    assert inputs.shape == (200, 17) and set(np.unique(targets)) <= {-5.0, 5.0}
    np.testing.assert_array_equal(inputs[:, :5].sum(axis=1), 1.0)
