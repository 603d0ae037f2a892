"""Tests of the batched-seed transformer and its emergence analysis (emergence.transformer)."""

import numpy as np
import pytest
import torch

from emergence.fits import emergence_steps
from emergence.tasks import SparseParityTask
from emergence.transformer import (
    BatchedTransformer,
    TaskStack,
    TransformerConfig,
    in_frequency_order,
    paper_config,
    readout_lr_cap,
    research_sweep,
    step_flops,
)

TINY = dict(n_skills=3, n_bits=6, bits_per_skill=2, d_model=16, n_heads=2, batch_size=32,
            n_steps=6, record_every=3, n_eval=64, n_seeds=2, optimizer="sgd", lr=0.01)


def _model(n_models=3, readout="flatten", parametrisation="standard", seed=0):
    gen = torch.Generator().manual_seed(seed)
    return BatchedTransformer(9, 16, 4, n_models, readout, parametrisation, generator=gen)


def _tokens(n_models=3, batch=5, n_tokens=9, seed=1):
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(0, 2, (n_models, batch, n_tokens), generator=gen, dtype=torch.uint8)


@pytest.mark.parametrize("readout", ["flatten", "mean", "last"])
def test_forward_shape_and_dtype(readout):
    out = _model(readout=readout)(_tokens())
    assert out.shape == (3, 5) and out.dtype == torch.float32


def test_paper_architecture_sizes():
    """The paper's model: 39 -> 512 embedding, 4 heads, 2048 MLP, 18944 -> 1 read-out."""
    cfg = paper_config()
    model = BatchedTransformer(cfg.n_tokens, cfg.d_model, cfg.n_heads, 1)
    shapes = model.shapes()
    assert shapes["embed_w"] == (39, 512) and shapes["fc_w"] == (512, 2048)
    assert shapes["head_w"] == (37 * 512,) and cfg.n_heads == 4
    assert (cfg.batch_size, cfg.lr, cfg.momentum, cfg.weight_decay) == (5000, 5e-5, 0.9, 1e-5)


def test_attention_is_causal():
    """Changing tokens after position i leaves the attention output at positions <= i alone."""
    model = _model()
    x = torch.randn(3, 4, 9, 16)
    for i in range(8):
        y = x.clone()
        y[:, :, i + 1:] = torch.randn_like(y[:, :, i + 1:])
        with torch.no_grad():
            a, b = model.attention(x), model.attention(y)
        torch.testing.assert_close(a[:, :, :i + 1], b[:, :, :i + 1], rtol=0, atol=1e-6)
        assert not torch.allclose(a[:, :, i + 1:], b[:, :, i + 1:])


def test_block_matches_torch_pre_layernorm_encoder_layer():
    """Our block equals torch's norm-first TransformerEncoderLayer with a causal mask."""
    torch.manual_seed(0)
    model, d = _model(n_models=1), 16
    layer = torch.nn.TransformerEncoderLayer(d, 4, 4 * d, dropout=0.0, batch_first=True,
                                             norm_first=True).eval()
    p = {k: v[0] for k, v in model.params.items()}
    with torch.no_grad():
        layer.self_attn.in_proj_weight.copy_(p["qkv_w"].T)
        layer.self_attn.in_proj_bias.copy_(p["qkv_b"])
        layer.self_attn.out_proj.weight.copy_(p["attn_out_w"].T)
        layer.self_attn.out_proj.bias.copy_(p["attn_out_b"])
        layer.linear1.weight.copy_(p["fc_w"].T)
        layer.linear1.bias.copy_(p["fc_b"])
        layer.linear2.weight.copy_(p["mlp_out_w"].T)
        layer.linear2.bias.copy_(p["mlp_out_b"])
        x = torch.randn(1, 5, 9, d)
        ours = x + model.attention(model.norm(x, "ln1"))
        ours = ours + model.mlp(model.norm(ours, "ln2"))
        mask = torch.nn.Transformer.generate_square_subsequent_mask(9)
        theirs = layer(x[0], src_mask=mask, is_causal=True)
    torch.testing.assert_close(ours[0], theirs, rtol=1e-5, atol=1e-5)


def test_embedding_is_linear_in_one_hot_features():
    """embed(tokens) = ReLU(W^T [one-hot value, one-hot position] + b), as the paper's code."""
    model, tokens = _model(n_models=1), _tokens(n_models=1)
    feats = torch.cat([torch.nn.functional.one_hot(tokens.long(), 2).float(),
                       torch.eye(9).expand(1, 5, 9, 9)], dim=-1)
    w, b = model.params["embed_w"][0], model.params["embed_b"][0]
    with torch.no_grad():
        torch.testing.assert_close(model.embed(tokens), torch.relu(feats @ w + b))


@pytest.mark.parametrize("readout", ["flatten", "mean", "last"])
@pytest.mark.parametrize("parametrisation", ["standard", "mup"])
def test_batched_members_equal_single_models(readout, parametrisation):
    """Member i of the ensemble gives the outputs and gradients of the same model alone."""
    model, tokens = _model(readout=readout, parametrisation=parametrisation), _tokens()
    targets = torch.randn(3, 5)
    ((model(tokens) - targets) ** 2).mean(1).sum().backward()
    for i in range(3):
        single = model.member(i)
        out = single(tokens[i:i + 1])
        ((out - targets[i:i + 1]) ** 2).mean().backward()
        torch.testing.assert_close(out[0], model(tokens)[i], rtol=1e-6, atol=1e-6)
        for key, param in single.params.items():
            torch.testing.assert_close(param.grad[0], model.params[key].grad[i],
                                       rtol=1e-5, atol=1e-6)


def test_members_stay_independent_during_training():
    """Perturbing member 0's data changes member 0's trajectory and nothing else."""
    model_a, model_b = _model(), _model()
    tokens = _tokens(batch=16)
    other = tokens.clone()
    other[0] = 1 - other[0]
    for model, data in ((model_a, tokens), (model_b, other)):
        opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-3)
        for _ in range(3):
            opt.zero_grad()
            (model(data) ** 2).mean(1).sum().backward()
            opt.step()
    for key in model_a.params:
        torch.testing.assert_close(model_a.params[key][1:], model_b.params[key][1:],
                                   rtol=0, atol=0)
    assert not torch.equal(model_a.params["head_w"][0], model_b.params["head_w"][0])


def test_exit_projections_halved_and_mup_readout():
    std = _model(n_models=64)
    bound = 0.5 / np.sqrt(16)
    assert std.params["attn_out_w"].abs().max() <= bound
    assert std.params["attn_out_w"].abs().max() > 0.9 * bound
    mup = _model(n_models=64, parametrisation="mup")
    assert abs(mup.params["head_w"].std().item() * 9 * 16 - 1.0) < 0.05
    lrs = [g["lr"] for g in mup.param_groups(0.3)]
    assert lrs == [0.3, 0.3 / (9 * 16)]
    zero = BatchedTransformer(9, 16, 4, 2, zero_readout=True)
    assert torch.count_nonzero(zero(_tokens(n_models=2))) == 0


def test_task_stack_targets_match_task():
    tasks = [SparseParityTask(3, 6, 2, 0.9, 2.0, seed=s) for s in (4, 5)]
    stack = TaskStack(tasks)
    tokens, targets = stack.sample(50, torch.Generator().manual_seed(0))
    assert tokens.shape == (2, 50, 9) and tokens.dtype == torch.uint8
    for e, task in enumerate(tasks):
        skill, bits = task.decode(tokens[e].float())
        torch.testing.assert_close(task.target(skill, bits), targets[e])
    eval_tokens, eval_targets = stack.evaluation_sets(7, torch.Generator().manual_seed(0))
    assert eval_tokens.shape == (3, 2, 7, 9) and eval_targets.shape == (3, 2, 7)
    assert torch.all(eval_tokens[1, :, :, 1] == 1) and torch.all(eval_tokens[1, :, :, 0] == 0)


def test_run_shapes_and_determinism():
    cfg = TransformerConfig(**TINY)
    first, second = cfg.run("cpu"), cfg.run("cpu")
    assert first["steps"].tolist() == [0, 3, 6]
    assert first["strength"].shape == (3, 2, 3) and first["loss"].shape == (3, 2, 3)
    assert first["train_loss"].shape == (3, 2)
    for key in ("strength", "loss", "train_loss"):
        np.testing.assert_array_equal(first[key], second[key])
    other = cfg.replace(seed=1).run("cpu")
    assert not np.array_equal(first["strength"], other["strength"])


def test_paused_run_resumes_bit_for_bit(tmp_path):
    import time

    from emergence.checkpoints import TrainingPaused

    cfg = TransformerConfig(**{**TINY, "optimizer": "adam", "warmup_steps": 50, "n_steps": 250,
                               "record_every": 25})
    whole = cfg.run("cpu")
    checkpoint = tmp_path / "ck.pt"
    with pytest.raises(TrainingPaused, match="step 100 of 250"):
        cfg.run("cpu", checkpoint=checkpoint, deadline=time.monotonic() - 1)
    with pytest.raises(ValueError, match="another configuration"):
        cfg.replace(lr=0.02).run("cpu", checkpoint=checkpoint)
    resumed = cfg.run("cpu", checkpoint=checkpoint)
    for key in ("steps", "strength", "loss", "train_loss"):
        np.testing.assert_array_equal(whole[key], resumed[key])


def test_divergence_names_the_experiment_and_seed():
    from emergence.train import TrainingDiverged

    cfg = TransformerConfig(**{**TINY, "lr": 50.0, "momentum": 0.9, "n_steps": 200,
                               "record_every": 100, "name": "blowup"})
    with pytest.raises(TrainingDiverged, match="'blowup': seed [01] diverged"):
        cfg.run("cpu")


def test_adam_warmup_and_record_steps():
    cfg = TransformerConfig(**{**TINY, "optimizer": "adam", "warmup_steps": 3, "n_steps": 7})
    assert cfg.record_steps().tolist() == [0, 3, 6, 7]
    out = cfg.run("cpu")
    assert np.all(np.isfinite(out["strength"])) and out["strength"].shape == (4, 2, 3)
    log = cfg.replace(n_steps=1000, record_every=100, record_spacing="log").record_steps()
    assert log[0] == 0 and log[1] == 1 and log[-1] == 1000 and np.all(np.diff(log) > 0)
    assert len(log) == 11 and np.all(np.diff(np.log(log[1:])) < 1.0)


def test_to_dict_is_json_ready():
    import json
    d = TransformerConfig(**TINY).to_dict()
    assert json.loads(json.dumps(d)) == d and d["betas"] == [0.9, 0.999]


@pytest.mark.parametrize("change, name", [
    ({"d_model": 15}, "d_model"), ({"readout": "pool"}, "readout"), ({"lr": 0.0}, "lr"),
    ({"optimizer": "rmsprop"}, "optimizer"), ({"parametrisation": "ntk"}, "parametrisation"),
    ({"n_bits": 5}, "n_bits"), ({"momentum": 1.0}, "momentum"), ({"n_seeds": 0}, "n_seeds"),
    ({"profile": "fast"}, "profile"), ({"precision": "float16"}, "precision"),
    ({"warmup_steps": -1}, "warmup_steps"), ({"record_spacing": "sqrt"}, "record_spacing"),
])
def test_bad_config_names_parameter(change, name):
    with pytest.raises(ValueError, match=name):
        TransformerConfig(**{**TINY, **change})


def test_bad_model_inputs_name_parameter():
    with pytest.raises(ValueError, match="tokens"):
        _model()(_tokens(n_models=2))
    with pytest.raises(ValueError, match="d_model"):
        BatchedTransformer(9, 10, 4)
    with pytest.raises(ValueError, match="index"):
        _model().member(3)
    with pytest.raises(ValueError, match="tasks"):
        TaskStack([])


def test_frequency_order_of_emergence_steps():
    steps = np.arange(0, 1001, 10)
    tau_true = 10.0 * np.arange(1, 5) ** 1.9
    strength = (steps[:, None, None] >= tau_true[None, None, :]) * np.ones((1, 3, 4))
    strength[:, 1, 3] = 0.0                      # seed 1 never learns skill 4
    strength[:, 2, 0] = strength[:, 2, 2]        # seed 2 learns skill 1 with skill 3
    tau = emergence_steps(steps, strength)
    assert in_frequency_order(tau).tolist() == [True, False, False]
    with pytest.raises(ValueError, match="tau"):
        in_frequency_order(tau[0])


def test_step_flops_scale_with_width_and_batch():
    cfg = TransformerConfig(**TINY)
    assert step_flops(cfg.replace(batch_size=64)) == pytest.approx(2 * step_flops(cfg))
    assert step_flops(cfg.replace(d_model=32)) > 3 * step_flops(cfg)


def test_readout_lr_cap_matches_direct_hessian():
    """The cap is 2 / the top eigenvalue of the read-out Hessian, computed here with autograd."""
    cfg = TransformerConfig(**{**TINY, "n_seeds": 1})
    cap = readout_lr_cap(cfg, n_samples=64)
    model, tasks = cfg.build()
    tokens, targets = tasks.sample(64, torch.Generator().manual_seed(cfg.seed + 3))
    feats = model.features(tokens).detach()[0]

    def loss(w):
        return ((feats @ w[:-1] + w[-1] - targets[0]) ** 2).mean()

    hessian = torch.autograd.functional.hessian(loss, torch.zeros(feats.shape[1] + 1))
    top = torch.linalg.eigvalsh(hessian)[-1]
    assert cap.shape == (1,) and cap[0] == pytest.approx(2.0 / top.item(), rel=1e-4)
    with pytest.raises(ValueError, match="n_samples"):
        readout_lr_cap(cfg, n_samples=0)


def test_named_configs_and_registry():
    from emergence import experiments
    assert {"transformer_time", "transformer_paper"} <= set(experiments.names())
    assert "transformer_time" in experiments.names(stored_only=True)
    assert "transformer_paper" not in experiments.names(stored_only=True)  # days of GPU time
    quick = experiments.config("transformer_time", "quick")
    assert quick.profile == "quick" and quick.zero_readout and quick.n_seeds >= 5
    paper = experiments.config("transformer_paper", "paper")
    assert paper == paper_config("paper") and paper.n_steps == 1_000_000
    assert experiments.config("transformer_paper", "quick").d_model < paper.d_model
    sweep = research_sweep()
    assert experiments.config("transformer_time", "paper").to_dict()["d_model"] == \
        sweep["flatten_d64"].d_model
    for cfg in sweep.values():
        assert (cfg.n_skills, cfg.n_bits, cfg.bits_per_skill, cfg.alpha) == (5, 32, 3, 0.9)


def test_sweep_cli_smoke(tmp_path, monkeypatch):
    """The GPU sweep's command line runs a capped run and writes its arrays and summary."""
    import emergence.transformer.experiments as module  # main looks the sweep up here
    tiny = TransformerConfig(**TINY)
    monkeypatch.setattr(module, "research_sweep", lambda: {"tiny": tiny})
    (summary,) = module.main(["--only", "tiny", "--out", str(tmp_path), "--max-steps", "4"])
    assert summary["name"] == "tiny" and len(summary["tau"]) == tiny.n_seeds
    assert np.load(tmp_path / "tiny.npz")["strength"].shape[1:] == (2, 3)
    with pytest.raises(ValueError, match="--only"):
        module.main(["--only", "nope", "--out", str(tmp_path)])


def test_divergence_is_caught_at_the_last_step_too():
    from emergence.train import TrainingDiverged

    cfg = TransformerConfig(**{**TINY, "n_steps": 99, "record_every": 33, "lr": 50.0})
    with pytest.raises(TrainingDiverged, match="transformer_time"):
        cfg.run("cpu")
