"""The batched one-block transformer (architecture: :mod:`emergence.transformer`) and its init.

Every parameter carries a leading member axis, so one set of batched matrix products evaluates
every seed of an ensemble. The initialisation (PyTorch's default with halved residual exits, as
in the paper's code, or muP) lives with the model because the stable learning rates depend on it;
the option tuples name the read-outs and parametrisations the model accepts.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .. import _validate

READOUTS = ("flatten", "mean", "last")
PARAMETRISATIONS = ("standard", "mup")


def _check_choice(name: str, value, allowed) -> None:
    """Require ``value`` in ``allowed``; the config checks its own options with it too."""
    if value not in allowed:
        raise ValueError(f"{name} must be one of {allowed}, got {value!r}")


class BatchedTransformer(nn.Module):
    """``n_models`` independent one-block transformers evaluated together.

    Parameters
    ----------
    n_tokens : sequence length (``n_skills + n_bits`` for sparse parity), >= 1.
    d_model : embedding width, >= 1 and divisible by ``n_heads``.
    n_heads : attention heads, >= 1.
    n_models : ensemble members (seeds), >= 1.
    readout : ``"flatten"`` (the paper), ``"mean"`` or ``"last"``.
    parametrisation : ``"standard"`` (PyTorch's default init, as the paper) or ``"mup"``
        (read-out initialised at std ``1/fan_in`` and attention logits scaled by ``1/d_head``;
        pair it with :meth:`param_groups`, which lowers the read-out's step by its fan-in).
    init_scale : multiplier on every initial weight and bias (LayerNorms excepted), > 0.
    zero_readout : start the read-out at zero, so that every ``R_k(0) = 0`` exactly.
    generator : a CPU ``torch.Generator``; the same generator state gives the same weights.
    """

    def __init__(self, n_tokens: int, d_model: int, n_heads: int, n_models: int = 1,
                 readout: str = "flatten", parametrisation: str = "standard",
                 init_scale: float = 1.0, zero_readout: bool = False,
                 generator: torch.Generator | None = None):
        super().__init__()
        for name, value in (("n_tokens", n_tokens), ("d_model", d_model),
                            ("n_heads", n_heads), ("n_models", n_models)):
            _validate.positive_int(name, value)
        if d_model % n_heads:
            raise ValueError(f"d_model must be divisible by n_heads={n_heads}, got {d_model}")
        _check_choice("readout", readout, READOUTS)
        _check_choice("parametrisation", parametrisation, PARAMETRISATIONS)
        _validate.positive("init_scale", init_scale)
        self.n_tokens, self.d_model, self.n_heads = n_tokens, d_model, n_heads
        self.n_models = n_models
        self.readout, self.parametrisation = readout, parametrisation
        shapes = self.shapes()
        init = _initial_weights(shapes, self.readout_fan_in, parametrisation, init_scale,
                                n_models, generator)
        if zero_readout:
            init["head_w"].zero_()
            init["head_b"].zero_()
        self.params = nn.ParameterDict({k: nn.Parameter(v) for k, v in init.items()})

    @property
    def readout_fan_in(self) -> int:
        """Read-out inputs: ``n_tokens · d_model`` when flattening, else ``d_model``."""
        return self.n_tokens * self.d_model if self.readout == "flatten" else self.d_model

    def shapes(self) -> dict[str, tuple[int, ...]]:
        """Per-member parameter shapes; weights are stored ``(fan_in, fan_out)``."""
        d, t = self.d_model, self.n_tokens
        return {
            "embed_w": (2 + t, d), "embed_b": (d,),
            "ln1_w": (d,), "ln1_b": (d,), "qkv_w": (d, 3 * d), "qkv_b": (3 * d,),
            "attn_out_w": (d, d), "attn_out_b": (d,),
            "ln2_w": (d,), "ln2_b": (d,), "fc_w": (d, 4 * d), "fc_b": (4 * d,),
            "mlp_out_w": (4 * d, d), "mlp_out_b": (d,),
            "lnf_w": (d,), "lnf_b": (d,), "head_w": (self.readout_fan_in,), "head_b": (),
        }

    def param_groups(self, lr: float) -> list[dict]:
        """Optimiser groups: one learning rate, except the muP read-out's ``lr / fan_in``."""
        head = [self.params["head_w"], self.params["head_b"]]
        body = [p for k, p in self.params.items() if k not in ("head_w", "head_b")]
        head_lr = lr / self.readout_fan_in if self.parametrisation == "mup" else lr
        return [{"params": body, "lr": lr}, {"params": head, "lr": head_lr}]

    # -- pieces of the forward pass, each (n_models, ..., features) -> same leading axes ------

    def embed(self, tokens: torch.Tensor) -> torch.Tensor:
        """ReLU(Linear(one-hot value ⊕ one-hot position)) for 0/1 tokens ``(E, B, T)``."""
        w, b = self.params["embed_w"], self.params["embed_b"]
        value = tokens.to(w.dtype)[..., None]                              # (E, B, T, 1)
        by_value = w[:, None, None, 0] + value * (w[:, None, None, 1] - w[:, None, None, 0])
        by_position = w[:, None, 2:2 + tokens.shape[-1]]                   # (E, 1, T, d)
        return torch.relu(by_value + by_position + b[:, None, None])

    def attention(self, x: torch.Tensor) -> torch.Tensor:
        """Causal multi-head self-attention with its exit projection, ``(E, B, T, d)``."""
        n_models, batch, n_tok, d = x.shape
        heads, d_head = self.n_heads, d // self.n_heads
        qkv = _linear(x, self.params["qkv_w"], self.params["qkv_b"])
        q, k, v = qkv.view(n_models, batch, n_tok, 3, heads, d_head).permute(3, 0, 1, 4, 2, 5)
        scale = 1.0 / d_head if self.parametrisation == "mup" else 1.0 / math.sqrt(d_head)
        q, k, v = (t.reshape(-1, n_tok, d_head) for t in (q, k, v))    # (E·B·heads, T, d_head)
        future = torch.ones(n_tok, n_tok, dtype=torch.bool, device=x.device).triu(1)
        mask = torch.zeros(n_tok, n_tok, device=x.device).masked_fill(future, float("-inf"))
        scores = torch.baddbmm(mask.to(q.dtype).expand(q.shape[0], -1, -1), q,
                               k.transpose(1, 2), alpha=scale)
        mixed = torch.bmm(scores.softmax(dim=-1), v)                   # token t sees tokens <= t
        mixed = mixed.view(n_models, batch, heads, n_tok, d_head).transpose(2, 3)
        mixed = mixed.reshape(n_models, batch, n_tok, d)
        return _linear(mixed, self.params["attn_out_w"], self.params["attn_out_b"])

    def mlp(self, x: torch.Tensor) -> torch.Tensor:
        """The block's ``d → 4d → d`` ReLU MLP."""
        hidden = torch.relu(_linear(x, self.params["fc_w"], self.params["fc_b"]))
        return _linear(hidden, self.params["mlp_out_w"], self.params["mlp_out_b"])

    def norm(self, x: torch.Tensor, which: str) -> torch.Tensor:
        """LayerNorm over features with each member's own gain and bias."""
        w, b = self.params[which + "_w"], self.params[which + "_b"]
        shape = (x.shape[0],) + (1,) * (x.dim() - 2) + (x.shape[-1],)
        return F.layer_norm(x, x.shape[-1:]) * w.view(shape) + b.view(shape)

    def pool(self, x: torch.Tensor) -> torch.Tensor:
        """What the read-out sees: ``(E, B, T, d)`` -> ``(E, B, readout_fan_in)``."""
        if self.readout == "flatten":
            return x.flatten(2)
        return x.mean(dim=2) if self.readout == "mean" else x[:, :, -1]

    def features(self, tokens: torch.Tensor) -> torch.Tensor:
        """The read-out's inputs ``(E, B, readout_fan_in)`` for tokens ``(E, B, T)``."""
        if tokens.dim() != 3 or tokens.shape[0] != self.n_models or tokens.shape[2] > self.n_tokens:
            raise ValueError(f"tokens must have shape (n_models={self.n_models}, batch, "
                             f"T <= {self.n_tokens}), got {tuple(tokens.shape)}")
        if self.readout == "flatten" and tokens.shape[2] != self.n_tokens:
            raise ValueError(f"tokens must have exactly n_tokens={self.n_tokens} positions for the "
                             f"flatten read-out, got {tokens.shape[2]}")
        x = self.embed(tokens)
        x = x + self.attention(self.norm(x, "ln1"))
        x = x + self.mlp(self.norm(x, "ln2"))
        return self.pool(self.norm(x, "lnf"))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """Outputs ``(E, B)`` for 0/1 token sequences ``(E, B, T)`` (member e reads row e)."""
        out = torch.einsum("ebf,ef->eb", self.features(tokens), self.params["head_w"])
        return out + self.params["head_b"][:, None]

    def member(self, index: int) -> BatchedTransformer:
        """A one-member copy of member ``index`` (same weights), e.g. to check independence."""
        if not 0 <= index < self.n_models:
            raise ValueError(f"index must lie in [0, {self.n_models}), got {index!r}")
        single = BatchedTransformer(self.n_tokens, self.d_model, self.n_heads, 1, self.readout,
                                    self.parametrisation)
        with torch.no_grad():
            for key, value in self.params.items():
                single.params[key].copy_(value[index:index + 1])
        return single.to(next(self.parameters()).device)


def _linear(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-member affine map: ``x (E, ..., i) @ w (E, i, o) + b (E, o)``."""
    flat = x.reshape(x.shape[0], -1, x.shape[-1])
    out = torch.baddbmm(b[:, None, :], flat, w)
    return out.view(*x.shape[:-1], w.shape[-1])


def _initial_weights(shapes: dict, readout_fan_in: int, parametrisation: str, init_scale: float,
                     n_models: int, generator: torch.Generator | None) -> dict[str, torch.Tensor]:
    """PyTorch's default ``nn.Linear`` init, ``U(±1/sqrt(fan_in))`` for weights and biases.

    LayerNorms start at gain 1 and bias 0; the two residual exit projections are divided by 2,
    as in the paper's code (it divides every "exit" parameter by the square root of their
    number, four). muP draws the read-out weight from ``N(0, 1/fan_in²)`` with a zero bias.
    """
    fan_in = {"embed": shapes["embed_w"][0], "qkv": shapes["qkv_w"][0],
              "attn_out": shapes["attn_out_w"][0], "fc": shapes["fc_w"][0],
              "mlp_out": shapes["mlp_out_w"][0], "head": readout_fan_in}
    out = {}
    for key, shape in shapes.items():
        full = (n_models, *shape)
        layer = key.rsplit("_", 1)[0]
        if layer.startswith("ln"):
            out[key] = torch.ones(full) if key.endswith("_w") else torch.zeros(full)
            continue
        if layer == "head" and parametrisation == "mup":
            std = init_scale / readout_fan_in
            out[key] = (std * torch.randn(full, generator=generator) if key.endswith("_w")
                        else torch.zeros(full))
            continue
        bound = init_scale / math.sqrt(fan_in[layer])
        if layer in ("attn_out", "mlp_out"):
            bound /= 2.0
        out[key] = (2.0 * torch.rand(full, generator=generator) - 1.0) * bound
    return out
