"""Unit tests of emergence.icl: sampling, strategies, the two models, skill read-outs, and
training that pauses and resumes bit for bit."""

import time

import numpy as np
import pytest
import torch
from scipy.stats import entropy

from emergence.checkpoints import CheckpointError, TrainingPaused
from emergence.icl import chains, skills, strategies
from emergence.icl.config import ICLConfig, NGramConfig
from emergence.icl.minimal import MinimalConfig, MinimalModel
from emergence.icl.model import AttentionOnlyTransformer, _skew


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_dirichlet_rows_are_uniform_on_the_simplex():
    p = chains.dirichlet_matrices(20000, 3, gen())
    assert torch.allclose(p.sum(-1), torch.ones(20000, 3))
    # Dir(1,1,1): each coordinate is Beta(1, 2), mean 1/3, variance 1/18
    assert abs(p[..., 0].mean().item() - 1 / 3) < 4 * (1 / 18 / 60000) ** 0.5
    assert abs(p[..., 0].var().item() - 1 / 18) < 0.002


def test_stationary_distribution_is_invariant_and_matches_power_iteration():
    p = chains.dirichlet_matrices(50, 4, gen(1))
    pi = chains.stationary(p)
    assert torch.allclose((pi[:, None] @ p)[:, 0], pi, atol=1e-5)
    power = torch.linalg.matrix_power(p.double(), 512)[:, 0].float()
    assert torch.allclose(pi, power, atol=1e-4)


def test_doubly_stochastic_prior_has_uniform_stationary_distribution():
    p = chains.doubly_stochastic_matrices(100, 3, gen(2))
    assert torch.allclose(p.sum(-2), torch.ones(100, 3), atol=1e-5)
    assert torch.allclose(chains.stationary(p), torch.full((100, 3), 1 / 3), atol=1e-4)


def test_mixture_fraction_is_exact():
    p = chains.sample_matrices(10, 3, 0.3, gen(3))
    balanced = torch.isclose(p.sum(-2), torch.ones(10, 3), atol=1e-5).all(-1)
    assert balanced[:3].all() and not balanced[3:].any()


def test_chains_follow_their_transition_matrix():
    p = torch.tensor([[[0.9, 0.1], [0.3, 0.7]]]).expand(4000, -1, -1)
    x = chains.sample_chains(p, 50, gen(4))
    prev, nxt = x[:, :-1].reshape(-1), x[:, 1:].reshape(-1)
    freq = ((prev == 0) & (nxt == 1)).sum().item() / (prev == 0).sum().item()
    n0 = (prev == 0).sum().item()
    assert abs(freq - 0.1) < 5 * (0.09 / n0) ** 0.5
    first = (x[:, 0] == 0).float().mean().item()  # pi = (0.75, 0.25)
    assert abs(first - 0.75) < 5 * (0.75 * 0.25 / 4000) ** 0.5


def test_strategies_match_brute_force_counts():
    x = chains.sample_chains(chains.dirichlet_matrices(30, 3, gen(5)), 12, gen(6))
    bi, uni = strategies.bigram(x, 3), strategies.unigram(x, 3)
    for n in range(30):
        seq = x[n].tolist()
        counts = [sum(seq[i] == seq[-1] and seq[i + 1] == j for i in range(11)) for j in range(3)]
        want = [(c + 1) / (sum(counts) + 3) for c in counts]
        assert np.allclose(bi[n].numpy(), want)
        assert np.allclose(uni[n].numpy(), [(seq.count(j) + 1) / 15 for j in range(3)])
    assert torch.allclose(strategies.uniform(x, 3), torch.full((30, 3), 1 / 3).double())


def test_trigram_chains_follow_their_table_from_a_stationary_start():
    """Order 3: the state after the context (a, b) is drawn from row 2a + b, and the first two
    states come from the stationary distribution of the chain of contexts."""
    table = torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.5, 0.5], [0.3, 0.7]])
    p = table.expand(4000, -1, -1)
    lifted = chains.context_chain(p[:1])[0]
    assert torch.allclose(lifted.sum(-1), torch.ones(4))
    assert lifted[1, 2] == table[1, 0] and lifted[1, 3] == table[1, 1] and lifted[1, 0] == 0
    x = chains.sample_chains(p, 40, gen(11))
    context = 2 * x[:, :-2] + x[:, 1:-1]
    for c in range(4):
        here = context == c
        freq = (x[:, 2:][here] == 1).float().mean().item()
        var = table[c, 1] * table[c, 0] / here.sum().item()
        assert abs(freq - table[c, 1].item()) < 5 * var ** 0.5
    pi = chains.stationary(lifted[None])[0]
    start = torch.bincount(2 * x[:, 0] + x[:, 1], minlength=4) / 4000
    assert torch.allclose(start, pi, atol=5 * (0.25 / 4000) ** 0.5)


def test_ngram_strategies_match_brute_force_counts():
    x = chains.sample_chains(chains.dirichlet_matrices(30, 2, gen(12), order=3), 15, gen(13))
    tri = strategies.predict("trigram", x, 2)
    for n in range(30):
        seq = x[n].tolist()
        counts = [sum(seq[i - 1:i + 1] == seq[-2:] and seq[i + 1] == j for i in range(1, 14))
                  for j in range(2)]
        assert np.allclose(tri[n].numpy(), [(c + 1) / (sum(counts) + 2) for c in counts])
    assert strategies.names(3) == ("uniform", "unigram", "bigram", "trigram")
    assert torch.equal(strategies.ngram(x, 2, 2), strategies.bigram(x, 2))


def test_pooled_stay_rule_matches_brute_force_counts():
    x = chains.sample_chains(chains.doubly_stochastic_matrices(20, 2, gen(14)), 9, gen(15))
    pooled = strategies.pooled_stay(x, 2)
    for n in range(20):
        seq = x[n].tolist()
        stay = (sum(a == b for a, b in zip(seq, seq[1:], strict=False)) + 1) / 10
        want = [stay if j == seq[-1] else 1 - stay for j in range(2)]
        assert np.allclose(pooled[n].numpy(), want)


def test_kl_matches_scipy_and_is_zero_on_equal_arguments():
    p, q = torch.tensor([0.2, 0.0, 0.8]), torch.tensor([0.3, 0.3, 0.4])
    assert strategies.kl(p, q).item() == pytest.approx(entropy(p.numpy(), q.numpy()))
    assert strategies.kl(q, q).item() == 0.0


def test_skew_equals_gather_of_relative_offsets():
    t = 7
    rel = torch.randn(2, t, t)
    out = _skew(rel)
    for i in range(t):
        for j in range(i + 1):
            assert out[1, i, j] == rel[1, i, t - 1 - (i - j)]


@pytest.mark.parametrize("heads", [1, 2])
def test_relative_attention_scores_match_the_definition(heads):
    """Each head scores with its own slice of the query, key and relative vectors, over the
    square root of its width."""
    model = AttentionOnlyTransformer(3, 6, d=4, n_models=1, heads=(heads, 1))
    x = torch.randint(0, 3, (1, 2, 6), generator=gen(7))
    layer = model.layers[0]
    stream = model.embed[0][x[0]][None]
    weights = model.attention(layer, stream, heads)[0, 1]
    h = torch.nn.functional.layer_norm(stream[0, 1], (4,))
    q, k = h @ layer["query"][0], h @ layer["key"][0]
    width = 4 // heads
    for g in range(heads):
        part = slice(g * width, (g + 1) * width)
        for i in range(6):
            rel = layer["relative"][0, :, part]
            s = torch.stack([q[i, part] @ (k[j, part] + rel[i - j]) for j in range(i + 1)])
            want = torch.softmax(s / width ** 0.5, 0)
            assert torch.allclose(weights[g, i, : i + 1], want, atol=1e-6)
            assert torch.all(weights[g, i, i + 1:] == 0)


@pytest.mark.parametrize("heads", [(1, 1), (2, 1)])
def test_members_of_the_ensemble_do_not_interact(heads):
    torch.manual_seed(0)
    model = AttentionOnlyTransformer(2, 10, d=8, n_models=3, heads=heads)
    x = torch.randint(0, 2, (3, 4, 10), generator=gen(8))
    model(x)[1].sum().backward()
    for p in model.parameters():
        if p.grad is not None:
            assert p.grad[0].abs().max() == 0 and p.grad[2].abs().max() == 0
    single = AttentionOnlyTransformer(2, 10, d=8, n_models=1, heads=heads)
    with torch.no_grad():
        for a, b in zip(single.parameters(), model.parameters(), strict=True):
            a.copy_(b[1:2])
    assert torch.allclose(single(x[1:2]), model(x)[1:2], atol=1e-6)


def test_minimal_model_gradient_on_v_vanishes_at_the_unigram_solution():
    x = chains.sample_chains(chains.dirichlet_matrices(16, 3, gen(9)), 20, gen(10))
    model = MinimalModel(3, 19, 1, w_init=0.7)
    with torch.no_grad():
        model.v.normal_()
    logits = model(x[None, :, :-1])
    loss = torch.nn.functional.cross_entropy(logits.reshape(-1, 3), x[:, 1:].reshape(-1))
    loss.backward()
    assert model.v.grad.abs().max() < 1e-7 and model.w.grad.abs().max() > 1e-3
    model.zero_grad()
    with torch.no_grad():
        model.w.copy_(torch.eye(3) * 0.7)  # a token-matching W: now v does get a gradient
    loss = torch.nn.functional.cross_entropy(model(x[None, :, :-1]).reshape(-1, 3),
                                             x[:, 1:].reshape(-1))
    loss.backward()
    assert model.v.grad.abs().max() > 1e-4


def test_minimal_model_with_previous_token_mixing_counts_bigrams():
    x = chains.sample_chains(chains.dirichlet_matrices(4, 2, gen(11)), 15, gen(12))
    model = MinimalModel(2, 15, 1, w_init=0.0)
    with torch.no_grad():
        model.v[0, 1] = 60.0  # softmax puts all weight on offset 1 (offset 0 at i = 0)
        model.w.copy_(torch.eye(2)[None] * 2.0)
    logits = model(x[None])[0].detach()
    for n in range(4):
        seq = x[n].tolist()
        for i in range(1, 15):  # position 0 can only look at itself: h_0 = e_{x_0}
            want = [2.0 * (sum(seq[j - 1] == seq[i] and seq[j] == a for j in range(1, i + 1))
                           + (seq[0] == seq[i] == a)) / (i + 1) for a in range(2)]
            assert np.allclose(logits[n, i].numpy(), want, atol=1e-5)


def test_strengths_and_stage_readout():
    ref = np.array([0.2, 0.1, 0.01])
    r_uni, r_bi = skills.strengths(np.array([0.2, 0.1, 0.055, 0.01, 0.3]), ref)
    assert np.allclose(r_uni, [0, 1, 1, 1, 0]) and np.allclose(r_bi, [0, 0, 0.5, 1, 0])
    steps = np.arange(5) * 10.0
    nearest = np.array([[0, 1, 1, 2, 2], [0, 2, 1, 1, 1]])
    onsets = skills.stage_onsets(steps, nearest)
    assert np.allclose(onsets, [[0, 10, 30], [0, 20, 10]])
    assert skills.in_order(onsets, nearest).tolist() == [True, False]
    t_mid, width = skills.transition_width(steps, np.array([[0, 0, 0.1, 0.9, 1.0]]))
    assert t_mid[0] == pytest.approx(25.0) and width[0] == pytest.approx(7.5)


def test_strengths_and_stages_with_a_trigram_stage():
    ref = np.array([0.2, 0.1, 0.05, 0.01])
    r_uni, r_bi, r_tri = skills.strengths(np.array([0.1, 0.03]), ref)
    assert np.allclose(r_bi, [0, 1]) and np.allclose(r_tri, [0, 0.5])
    steps = np.arange(5) * 10.0
    nearest = np.array([[0, 1, 2, 3, 3], [0, 1, 3, 2, 3]])
    onsets = skills.stage_onsets(steps, nearest, 4)
    assert np.allclose(onsets, [[0, 10, 20, 30], [0, 10, 30, 20]])
    assert skills.in_order(onsets, nearest).tolist() == [True, False]


TINY = ICLConfig(length=12, d=8, batch_size=4, n_steps=6, record_every=2, n_test=8,
                 n_seeds=2, unigram_free=(0.0, 1.0), lr=1e-2)


def test_a_paused_and_resumed_run_equals_the_uninterrupted_one(tmp_path):
    """Dropout, the data stream, AdamW's moments and the records all survive the pause."""
    whole = TINY.run()
    checkpoint = tmp_path / "icl.pt"
    with pytest.raises(TrainingPaused, match="paused at step 1 of 6"):
        TINY.run(checkpoint=checkpoint, deadline=time.monotonic() - 1)
    with pytest.raises(TrainingPaused, match="paused at step 2 of 6"):
        TINY.run(checkpoint=checkpoint, deadline=time.monotonic() - 1)
    resumed = TINY.run(checkpoint=checkpoint)
    assert set(resumed) == set(whole)
    for key in whole:
        if key != "wall_s":
            np.testing.assert_array_equal(resumed[key], whole[key], err_msg=key)
    assert resumed["wall_s"] > 0


def test_a_checkpoint_of_another_config_is_refused(tmp_path):
    checkpoint = tmp_path / "icl.pt"
    with pytest.raises(TrainingPaused):
        TINY.run(checkpoint=checkpoint, deadline=time.monotonic() - 1)
    with pytest.raises(CheckpointError, match="another configuration"):
        TINY.replace(lr=2e-2).run(checkpoint=checkpoint)


def test_a_trigram_run_measures_four_strategies_and_two_look_backs():
    cfg = NGramConfig(length=12, d=8, batch_size=4, n_steps=2, record_every=1, n_test=8,
                      n_seeds=2)
    out = cfg.run()
    assert cfg.build().heads == (2, 1) and out["reference"].shape == (4,)
    for key in ("kl_trigram", "previous_token", "second_previous_token"):
        assert out[key].shape == (2, 3), key
    assert "order" not in ICLConfig().to_dict() and cfg.to_dict()["order"] == 3


def test_the_minimal_config_shares_the_task_settings_and_their_checks():
    cfg = MinimalConfig(unigram_free=(0.0, 0.5), n_seeds=3)
    assert cfg.n_members == 6 and cfg.member_unigram_free().tolist() == [0, 0, 0, .5, .5, .5]
    assert cfg.to_dict()["unigram_free"] == [0.0, 0.5] and "kind" not in cfg.to_dict()
    assert ICLConfig().to_dict()["kind"] == "icl_markov"
    with pytest.raises(ValueError, match="k must be an integer >= 2"):
        MinimalConfig(k=1)


@pytest.mark.parametrize("call", [
    lambda: chains.dirichlet_matrices(5, 1),
    lambda: chains.sample_matrices(5, 2, 1.5),
    lambda: strategies.predict("fourgram", torch.zeros(2, 3, dtype=torch.long), 2),
    lambda: strategies.ngram(torch.zeros(2, 3, dtype=torch.long), 2, 4),
    lambda: chains.sample_matrices(5, 2, 0.5, order=3),
    lambda: NGramConfig(order=4),
    lambda: NGramConfig(d=33),
    lambda: NGramConfig(unigram_free=(0.5,)),
    lambda: AttentionOnlyTransformer(2, 10, d=8, heads=(3, 1)),
    lambda: skills.strengths([0.1], [0.1, 0.2, 0.0]),
    lambda: skills.transition_width([0, 1], [[0, 1]], low=0.6),
    lambda: ICLConfig(lr=-1.0),
    lambda: ICLConfig(unigram_free=(1.2,)),
    lambda: MinimalConfig(lr_v=0.0),
    lambda: AttentionOnlyTransformer(2, 10, dropout=1.0),
])
def test_bad_inputs_raise_value_error(call):
    with pytest.raises(ValueError):
        call()
