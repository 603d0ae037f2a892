"""The batched MLP ensemble: shapes, init, masking, and equality with one network at a time."""

import pytest
import torch

from emergence.models import MLPEnsemble, single_mlp


def ensemble(widths=None, n_members=4, width=6, std=0.3, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return MLPEnsemble(n_members, 5, width, std, widths=widths, generator=generator)


def test_shapes_and_shared_input():
    model = ensemble()
    x = torch.rand(7, 5)
    assert model.w1.shape == (4, 5, 6) and model.b2.shape == (4, 1, 1)
    shared = model(x)
    stacked = model(x.expand(4, 7, 5))
    assert shared.shape == (4, 7)
    torch.testing.assert_close(shared, stacked)


def test_init_is_normal_for_weights_and_biases():
    model = MLPEnsemble(64, 30, 200, 0.05, generator=torch.Generator().manual_seed(1))
    for param in model.parameters():  # within 4 standard errors of N(0, 0.05²)
        n = param.numel()
        assert abs(param.std().item() - 0.05) < 4 * 0.05 / (2 * n) ** 0.5
        assert abs(param.mean().item()) < 4 * 0.05 / n**0.5


def test_same_seed_same_weights():
    a, b, c = ensemble(seed=3), ensemble(seed=3), ensemble(seed=4)
    torch.testing.assert_close(a.w1, b.w1, rtol=0, atol=0)
    assert not torch.equal(a.w1, c.w1)


@pytest.mark.parametrize("widths", [None, [1, 3, 6, 2]])
def test_losses_and_gradients_match_single_networks(widths):
    """Summed member losses give each member exactly its own mean-loss gradient."""
    model = ensemble(widths)
    x, y = torch.rand(4, 9, 5), torch.randn(4, 9)
    member_loss = ((model(x) - y) ** 2).mean(dim=1)
    member_loss.sum().backward()
    for i in range(4):
        net = model.to_sequential(i)
        loss = torch.nn.functional.mse_loss(net(x[i]).squeeze(-1), y[i])
        loss.backward()
        w = net[0].weight.shape[0]
        torch.testing.assert_close(member_loss[i], loss.detach(), rtol=1e-6, atol=1e-7)
        torch.testing.assert_close(model.w1.grad[i, :, :w], net[0].weight.grad.T, rtol=1e-5,
                                   atol=1e-7)
        torch.testing.assert_close(model.b1.grad[i, 0, :w], net[0].bias.grad, rtol=1e-5,
                                   atol=1e-7)
        torch.testing.assert_close(model.w2.grad[i, :w, 0], net[2].weight.grad[0], rtol=1e-5,
                                   atol=1e-7)
        torch.testing.assert_close(model.b2.grad[i, 0, 0], net[2].bias.grad[0], rtol=1e-5,
                                   atol=1e-7)
        assert torch.all(model.w1.grad[i, :, w:] == 0) and torch.all(model.w2.grad[i, w:] == 0)


def test_masked_units_are_zero_and_counted():
    model = ensemble([1, 3, 6, 2])
    assert model.member_widths() == [1, 3, 6, 2]
    assert torch.all(model.w1[0, :, 1:] == 0) and torch.all(model.b1[3, :, 2:] == 0)


@pytest.mark.parametrize("kwargs, name", [
    ({"n_members": 0}, "n_members"), ({"width": 0}, "width"), ({"init_std": -1.0}, "init_std"),
    ({"widths": [1, 2, 9]}, "widths"), ({"widths": [1, 2]}, "widths"),
])
def test_bad_inputs_name_the_parameter(kwargs, name):
    args = {"n_members": 3, "input_dim": 5, "width": 6, "init_std": 0.1, **kwargs}
    with pytest.raises(ValueError, match=name):
        MLPEnsemble(**args)


def test_to_sequential_rejects_bad_member_and_single_mlp_inits():
    with pytest.raises(ValueError, match="member"):
        ensemble().to_sequential(4)
    net = single_mlp(5, 3, init_std=0.2)
    assert len(net) == 3 and net[0].weight.shape == (3, 5)
