"""The paper's two-layer attention-only transformer with relative positions, batched over seeds.

Architecture (the official code's ``Relative_Transformer``, see the reproduction notes): a
learned token embedding of width ``d``; ``n_layers`` attention layers, each a pre-LayerNorm,
causal self-attention whose score between query ``i`` and key ``j <= i`` is
``(q_i . k_j + q_i . r_{i-j}) / sqrt(d_h)`` with a learned table ``r`` of relative-position
vectors, an output projection, and a residual add. A layer has one head by default
(``d_h = d``); for chains of order ``n`` the paper gives the first layer ``n - 1`` heads, each
working on its own ``d_h = d / (n - 1)`` coordinates of the queries, keys, values and relative
vectors. **No MLP blocks**; a final LayerNorm and a linear un-embedding to ``k`` logits.
Dropout (probability ``dropout``) acts on the embedding, the attention weights and each
residual branch, as in the code. Initialisation: ``N(0, 0.02)`` for embeddings, projections
and relative positions, ``N(0, 0.02/sqrt(2 n_layers))`` for the output projections (minGPT's
rule), LayerNorms at (1, 0).

Every parameter carries a leading member axis of size ``n_models``: members never mix, so an
ensemble of seeds trains as one model and each member follows the trajectory it would follow
alone (the loss is a sum over members and AdamW acts elementwise).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .. import _validate

DECAYED = ("query", "key", "value", "out", "unembed")  # AdamW decays only the Linear weights


def _normal(shape, std: float) -> nn.Parameter:
    return nn.Parameter(torch.randn(*shape) * std)


def _layer_norm(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """LayerNorm over the feature axis with per-member affine parameters ``(M, d)``."""
    x = F.layer_norm(x, x.shape[-1:])
    return x * weight[:, None, None] + bias[:, None, None]


def _skew(rel: torch.Tensor) -> torch.Tensor:
    """``out[..., i, j] = rel[..., i, T-1-(i-j)]`` for ``j <= i`` (the rest is never used).

    ``rel[..., i, o]`` is query ``i`` against the relative vector of offset ``T-1-o``; padding one
    column and re-reading the buffer with rows one longer shifts row ``i`` by ``T-1-i``
    (the "skewing" of Huang et al.'s Music Transformer), with no gather.
    """
    *lead, t, _ = rel.shape
    padded = F.pad(rel, (1, 0)).reshape(*lead, t + 1, t)
    return padded[..., 1:, :]


class AttentionOnlyTransformer(nn.Module):
    """``n_models`` two-layer (by default) attention-only transformers evaluated together.

    Input: states ``(M, B, T)`` (int64 in ``[0, k)``), output: logits ``(M, B, T, k)``.
    ``heads`` gives each layer's number of heads (default one each); each must divide ``d``.
    """

    def __init__(self, k: int, length: int, d: int = 16, n_layers: int = 2,
                 n_models: int = 1, dropout: float = 0.0, heads: tuple[int, ...] | None = None):
        super().__init__()
        for name, value in (("k", k), ("length", length), ("d", d), ("n_layers", n_layers),
                            ("n_models", n_models)):
            _validate.positive_int(name, value)
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must lie in [0, 1), got {dropout!r}")
        heads = (1,) * n_layers if heads is None else tuple(heads)
        if len(heads) != n_layers or not all(isinstance(h, int) and h >= 1 and d % h == 0
                                             for h in heads):
            raise ValueError(f"heads must give each of the {n_layers} layers a number of heads "
                             f"that divides d = {d}, got {heads!r}")
        self.k, self.length, self.d, self.dropout = k, length, d, dropout
        self.n_models, self.heads = n_models, heads
        m, std, out_std = n_models, 0.02, 0.02 / math.sqrt(2 * n_layers)
        self.embed = _normal((m, k, d), std)
        self.layers = nn.ModuleList()
        for _ in range(n_layers):
            layer = nn.ParameterDict({
                "ln_w": nn.Parameter(torch.ones(m, d)), "ln_b": nn.Parameter(torch.zeros(m, d)),
                "query": _normal((m, d, d), std), "key": _normal((m, d, d), std),
                "value": _normal((m, d, d), std), "out": _normal((m, d, d), out_std),
                "relative": _normal((m, length, d), std)})
            self.layers.append(layer)
        self.ln_w = nn.Parameter(torch.ones(m, d))
        self.ln_b = nn.Parameter(torch.zeros(m, d))
        self.unembed = _normal((m, d, k), std)
        offsets = torch.arange(length)[:, None] - torch.arange(length)[None, :]
        self.register_buffer("future", offsets < 0, persistent=False)

    def parameter_groups(self, weight_decay: float) -> list[dict]:
        """AdamW groups: weight decay on the projection and un-embedding weights only."""
        decayed = [p for n, p in self.named_parameters() if n.split(".")[-1] in DECAYED]
        rest = [p for n, p in self.named_parameters() if n.split(".")[-1] not in DECAYED]
        return [{"params": decayed, "weight_decay": weight_decay},
                {"params": rest, "weight_decay": 0.0}]

    @staticmethod
    def _split(x: torch.Tensor, heads: int) -> torch.Tensor:
        """``(M, B, T, d)`` -> ``(M, B, heads, T, d / heads)``: each head's coordinates."""
        m, b, t, d = x.shape
        return x.view(m, b, t, heads, d // heads).transpose(2, 3)

    def attention(self, layer: nn.ParameterDict, x: torch.Tensor, heads: int = 1) -> torch.Tensor:
        """Attention weights ``(M, B, heads, T, T)`` of one layer on the residual stream ``x``."""
        h = _layer_norm(x, layer["ln_w"], layer["ln_b"])
        q = self._split(torch.einsum("mbtd,mde->mbte", h, layer["query"]), heads)
        key = self._split(torch.einsum("mbtd,mde->mbte", h, layer["key"]), heads)
        t = x.shape[2]
        relative = self._split(layer["relative"][:, None, :t], heads)
        # keys and reversed relative vectors in one product: [..., T keys | T offsets T-1..0]
        both = torch.cat([key, relative.flip(3).expand_as(key)], 3)
        both = q @ both.transpose(-1, -2)
        scores = both[..., :t] + _skew(both[..., t:])
        future = self.future[:t, :t]
        scores = scores.masked_fill(future, float("-inf")) / math.sqrt(self.d // heads)
        return torch.softmax(scores, -1)

    def forward(self, x: torch.Tensor, with_attention: bool = False):
        """Logits ``(M, B, T, k)``; with ``with_attention`` also each layer's weights
        ``(M, B, heads, T, T)``."""
        if x.ndim != 3 or x.shape[2] > self.length:
            raise ValueError(f"x must have shape (n_models, batch, t <= {self.length}), "
                             f"got {tuple(x.shape)}")
        drop = self.dropout if self.training else 0.0
        index = x + self.k * torch.arange(x.shape[0], device=x.device)[:, None, None]
        stream = F.dropout(self.embed.reshape(-1, self.d)[index], drop)
        maps = []
        for layer, heads in zip(self.layers, self.heads, strict=True):
            maps.append(self.attention(layer, stream, heads))
            weights = F.dropout(maps[-1], drop)
            h = _layer_norm(stream, layer["ln_w"], layer["ln_b"])
            v = self._split(torch.einsum("mbtd,mde->mbte", h, layer["value"]), heads)
            mixed = (weights @ v).transpose(2, 3).reshape(stream.shape)
            branch = torch.einsum("mbtd,mde->mbte", mixed, layer["out"])
            stream = stream + F.dropout(branch, drop)
        h = _layer_norm(stream, self.ln_w, self.ln_b)
        logits = torch.einsum("mbtd,mdk->mbtk", h, self.unembed)
        return (logits, maps) if with_attention else logits
