"""The CPU engine: an MLP experiment's ensemble trained by :mod:`emergence.rowsum`'s kernels.

:class:`RowSumEnsemble` holds every member's weights in one of the two layouts of
:mod:`emergence.rowsum` (``"wide"``: lanes over a member's units; ``"lanes"``: lanes over seeds
of one width), together with its optimiser state, its data and its evaluation set, and offers
the same four operations as the torch ensemble (:class:`emergence.train.TorchEnsemble`):
``step``, ``evaluate``, ``state_dict`` and ``load_state_dict``. The trainer
(:func:`emergence.train.train`) does not know which one it drives.

What is the same as the torch path: the initial weights (copied from the same
:class:`~emergence.models.MLPEnsemble`), each member's skill subsets, the fixed training sets
of the data experiments (drawn by the same generator), the evaluation sets, the loss, the
optimisers. What differs: the online batches and the epoch shuffles come from a counter-based
hash instead of torch's generator, and in the lanes layout the seeds of one group (up to 16
seeds of the same width) see the same input stream. Their targets still differ (each seed has
its own skill subsets), as do their initial weights, so they are different runs; but their
batches are not independent, and the experiment's docstring says so.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from . import rowsum
from .models import MLPEnsemble
from .theory.dynamics import skill_probs

MAX_LANES_WIDTH = 32            # widest member that the lanes layout takes
EVAL_CHUNK = 4096               # evaluation samples per kernel call


def pack_bits(bits: torch.Tensor | np.ndarray) -> np.ndarray:
    """Pack 0/1 bits ``(..., n_b)`` (n_b <= 64) into uint64, bit j of the word = bit j."""
    bits = np.asarray(bits, dtype=np.uint64)
    if bits.shape[-1] > 64:
        raise ValueError(f"n_bits must be <= 64 for the CPU engine, got {bits.shape[-1]}")
    weights = np.left_shift(np.uint64(1), np.arange(bits.shape[-1], dtype=np.uint64))
    return (bits * weights).sum(axis=-1, dtype=np.uint64)


def subset_masks(subsets: torch.Tensor) -> np.ndarray:
    """``(M, n_s)`` uint64: the skill-bit mask of every member's skill subsets."""
    masks = np.zeros(subsets.shape[:2], dtype=np.uint64)
    for j in range(subsets.shape[2]):
        masks |= np.left_shift(np.uint64(1), subsets[:, :, j].numpy().astype(np.uint64))
    return masks


class Layout:
    """Where each member lives: slot ``slot[i]``, lane ``lane[i]``; and each slot's stream.

    ``wide``: one member per slot (lane 0), units on the vector lanes. ``lanes``: members in
    order of width fill the slots ``rowsum.LANES`` at a time, so a slot holds seeds of one width
    or of two neighbouring ones; its kernels loop over the largest width in the slot, and the
    narrower members' extra units are masked (zero, and they stay zero). Filling every lane
    wastes less than rounding each width's seeds up to whole slots (50 seeds of a width would
    take 64 lanes).
    """

    def __init__(self, kind: str, widths: Sequence[int]) -> None:
        widths = np.asarray(widths, dtype=np.int64)
        self.kind = kind
        if kind == "wide":
            self.slot = np.arange(len(widths))
            self.lane = np.zeros(len(widths), dtype=np.int64)
            self.slot_width = np.full(len(widths), int(widths.max()))
            self.n_lanes = 1
            return
        order = np.argsort(widths, kind="stable")
        self.slot = np.empty(len(widths), dtype=np.int64)
        self.lane = np.empty(len(widths), dtype=np.int64)
        self.slot[order] = np.arange(len(widths)) // rowsum.LANES
        self.lane[order] = np.arange(len(widths)) % rowsum.LANES
        n_slots = int(self.slot.max()) + 1
        self.slot_width = np.zeros(n_slots, dtype=np.int64)
        np.maximum.at(self.slot_width, self.slot, widths)
        self.n_lanes = rowsum.LANES

    @property
    def n_slots(self) -> int:
        return len(self.slot_width)

    def spread(self, per_member: np.ndarray, fill=0) -> np.ndarray:
        """``(n_slots, n_lanes, ...)`` array holding ``per_member[i]`` at member i's place."""
        per_member = np.asarray(per_member)
        out = np.full((self.n_slots, self.n_lanes, *per_member.shape[1:]), fill,
                      dtype=per_member.dtype)
        out[self.slot, self.lane] = per_member
        return out

    def gather(self, per_slot: np.ndarray) -> np.ndarray:
        """The inverse of :meth:`spread`: ``(M, ...)`` from ``(n_slots, n_lanes, ...)``."""
        return per_slot[self.slot, self.lane]


def choose_layout(widths: Sequence[int], online: bool) -> str:
    """``"lanes"`` for narrow members trained on fresh samples, else ``"wide"``."""
    return "lanes" if online and max(widths) <= MAX_LANES_WIDTH else "wide"


class Parameters:
    """Weights in a layout, with the unit axis last: wide ``w1`` (A, d, H), lanes (A, d, W, L).

    ``flat(name)`` views any of them as ``(A, rows, U)`` for the table and optimiser kernels.
    """

    NAMES = ("w1", "b1", "w2", "b2")

    def __init__(self, layout: Layout, model: MLPEnsemble) -> None:
        self.layout = layout
        d, width = model.w1.shape[1], model.width
        with torch.no_grad():
            w1 = model.w1.detach().cpu().numpy()
            b1 = model.b1.detach().cpu().numpy()[:, 0, :]
            w2 = model.w2.detach().cpu().numpy()[:, :, 0]
            b2 = model.b2.detach().cpu().numpy()[:, 0, 0]
        if layout.kind == "wide":
            pad = ((0, 0), (0, -width % rowsum.BLOCK))
            arrays = {"w1": np.pad(w1, ((0, 0), *pad)), "b1": np.pad(b1, pad),
                      "w2": np.pad(w2, pad), "b2": b2}
        else:
            widest = int(layout.slot_width.max())
            if np.any(w1[:, :, widest:]) or np.any(w2[:, widest:]):
                raise ValueError("lanes layout: members have units beyond their slot width")
            units = widest + -widest % rowsum.UNITS_PER_BLOCK
            pad = ((0, 0), (0, max(units - width, 0)))
            w1, b1, w2 = np.pad(w1, ((0, 0), *pad)), np.pad(b1, pad), np.pad(w2, pad)
            arrays = {"w1": layout.spread(w1[:, :, :units]).transpose(0, 2, 3, 1),
                      "b1": layout.spread(b1[:, :units]).transpose(0, 2, 1),
                      "w2": layout.spread(w2[:, :units]).transpose(0, 2, 1),
                      "b2": layout.spread(b2)}
        self.arrays = {name: _aligned_copy(array) for name, array in arrays.items()}
        self.input_dim, self.width = d, width

    def __getitem__(self, name: str) -> np.ndarray:
        return self.arrays[name]

    def flat(self, name: str, array: np.ndarray | None = None) -> np.ndarray:
        """``(A, rows, U)`` view of parameter ``name`` (or of an array of its shape)."""
        array = self.arrays[name] if array is None else array
        n_slots = array.shape[0]
        if name == "w1":
            return array.reshape(n_slots, self.input_dim, -1)
        if name == "b2" and self.layout.kind == "wide":
            return array.reshape(n_slots, 1, 1)
        return array.reshape(n_slots, 1, -1)

    def to_members(self, name: str, array: np.ndarray | None = None) -> np.ndarray:
        """Parameter (or gradient) ``name`` in the torch ensemble's shapes, padded to its width."""
        array = self.arrays[name] if array is None else array
        n = len(self.layout.slot)
        if self.layout.kind == "wide":
            member = array
        else:
            moved = {"w1": (0, 3, 1, 2), "b1": (0, 2, 1), "w2": (0, 2, 1), "b2": (0, 1)}[name]
            member = self.layout.gather(array.transpose(moved))
        if name == "b2":
            return member.reshape(n, 1, 1)
        member = member[..., :self.width]
        pad = self.width - member.shape[-1]
        member = np.concatenate([member, np.zeros((*member.shape[:-1], pad), member.dtype)], -1)
        return {"w1": member, "b1": member[:, None, :], "w2": member[:, :, None]}[name]


def _aligned_copy(array: np.ndarray) -> np.ndarray:
    """A C-contiguous copy of ``array`` starting on a cache line (see rowsum.aligned_zeros)."""
    copy = rowsum.aligned_zeros(array.shape, array.dtype)
    copy[...] = array
    return copy


class Optimizer:
    """SGD or Adam (``torch.optim`` semantics) over :class:`Parameters`, one rate per member."""

    def __init__(self, params: Parameters, kind: str, weight_decay: float,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8) -> None:
        self.params, self.kind = params, kind
        self.weight_decay = np.float32(weight_decay)
        self.betas = (np.float32(betas[0]), np.float32(betas[1]))
        self.eps = np.float32(eps)
        self.n_steps = 0
        shapes = {name: params[name].shape for name in Parameters.NAMES}
        self.exp_avg = {n: rowsum.aligned_zeros(s) for n, s in shapes.items()} \
            if kind == "adam" else {}
        self.exp_avg_sq = {n: rowsum.aligned_zeros(s) for n, s in shapes.items()} \
            if kind == "adam" else {}
        self._rates, self._rates_for = {}, None

    def step(self, grads: dict, lr: np.ndarray) -> None:
        self.n_steps += 1
        rates = self._unit_rates(lr)
        beta1, beta2 = self.betas
        correction1 = np.float32(1.0 - float(beta1) ** self.n_steps)
        correction2 = np.float32((1.0 - float(beta2) ** self.n_steps) ** 0.5)
        for name in Parameters.NAMES:
            param, grad = self.params.flat(name), self.params.flat(name, grads[name])
            if self.kind == "sgd":
                rowsum.sgd_update(param, grad, rates[name], self.weight_decay)
            else:
                rowsum.adam_update(param, grad, self.params.flat(name, self.exp_avg[name]),
                                   self.params.flat(name, self.exp_avg_sq[name]), rates[name],
                                   self.weight_decay, beta1, beta2, self.eps, correction1,
                                   correction2)

    def _unit_rates(self, lr: np.ndarray) -> dict:
        """Per-member rates laid out as ``(A, U)`` for each parameter (cached until they change)."""
        if self._rates_for is not None and np.array_equal(lr, self._rates_for):
            return self._rates
        layout = self.params.layout
        per_slot = layout.spread(np.asarray(lr, dtype=np.float32))       # (A, L)
        self._rates = {}
        for name in Parameters.NAMES:
            units = self.params.flat(name).shape[2]
            self._rates[name] = np.ascontiguousarray(
                np.tile(per_slot, (1, units // per_slot.shape[1])))
        self._rates_for = np.array(lr, copy=True)
        return self._rates

    def state_dict(self) -> dict:
        return {"n_steps": self.n_steps,
                "exp_avg": {n: torch.from_numpy(a) for n, a in self.exp_avg.items()},
                "exp_avg_sq": {n: torch.from_numpy(a) for n, a in self.exp_avg_sq.items()}}

    def load_state_dict(self, state: dict) -> None:
        self.n_steps = int(state["n_steps"])
        for mine, stored in ((self.exp_avg, state["exp_avg"]),
                             (self.exp_avg_sq, state["exp_avg_sq"])):
            for name, array in mine.items():
                array[...] = stored[name].numpy()


class OnlineBatches:
    """Fresh samples each step, one stream per slot, drawn by the hash of (seed, slot, step)."""

    def __init__(self, layout: Layout, n_bits: int, alpha: float, n_skills: int,
                 batch_size: int, seed: int) -> None:
        self.seed, self.n_bits = int(seed), n_bits
        self.cdf = np.cumsum(skill_probs(n_skills, alpha))
        self.cdf[-1] = 1.0
        self.x = np.zeros((layout.n_slots, batch_size), np.uint64)
        self.k = np.zeros((layout.n_slots, batch_size), np.int64)
        self.size = np.full(layout.n_slots, batch_size, np.int64)
        self.stream = np.arange(layout.n_slots)
        self.changed = self.stream          # slots whose batch each fill rewrites: all
        self.n_members = len(layout.slot)

    def batch_sizes(self) -> np.ndarray:
        """Every member's batch size (the same for all)."""
        return np.full(self.n_members, self.x.shape[1])

    def fill(self, step: int) -> None:
        rowsum.draw_online(self.seed, step, self.n_bits, self.cdf, self.x, self.k)

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


class FixedBatches:
    """Each member's own fixed training set, walked in shuffled epochs (wide layout only).

    The sets are the torch path's (:class:`emergence.train.FixedDataset` with the same
    ``sampler`` and ``seed``): same samples, same skill counts. Epochs and batch sizes follow
    the same rule; the shuffles come from the hash of (seed, member, epoch). A member with
    one step per epoch trains on its whole set in its original order every step, so its batch
    is gathered once (again after ``load_state_dict``); ``changed`` lists the members
    whose batch the last ``fill`` rewrote.
    """

    def __init__(self, sampler, n_data: Sequence[int], batch_size: int, seed: int) -> None:
        from .train import FixedDataset

        self.n_data = np.asarray(n_data, dtype=np.int64)
        self.steps_per_epoch, self.sizes = FixedDataset.epochs(self.n_data, batch_size)
        generator = torch.Generator().manual_seed(int(seed))
        skill, bits = sampler.draw(int(self.n_data.max()), generator)
        self.counts = FixedDataset.skill_counts(skill, self.n_data, sampler.n_skills).numpy()
        self.data_x = pack_bits(bits)
        self.data_k = skill.numpy().astype(np.int64)
        self.seed = int(seed)
        members = len(self.n_data)
        self.order = np.tile(np.arange(self.data_x.shape[1], dtype=np.int64), (members, 1))
        self.x = np.zeros((members, int(self.sizes.max())), np.uint64)
        self.k = np.zeros_like(self.x, dtype=np.int64)
        self.size = self.sizes.copy()
        self.stream = np.arange(members)
        self.walking = np.flatnonzero(self.steps_per_epoch > 1)
        self.changed, self.gathered = self.stream, False

    def batch_sizes(self) -> np.ndarray:
        return self.sizes

    def fill(self, step: int) -> None:
        epoch, offset = np.divmod(step, self.steps_per_epoch)
        for member in np.flatnonzero((offset == 0) & (self.steps_per_epoch > 1)):
            rowsum.shuffle(self.seed, member, epoch[member], self.order[member],
                           self.n_data[member])
        self.changed = self.walking if self.gathered else self.stream
        rowsum.gather(self.order, offset * self.sizes, self.sizes, self.changed, self.data_x,
                      self.data_k, self.x, self.k)
        self.gathered = True

    def state_dict(self) -> dict:
        return {"order": torch.from_numpy(self.order)}

    def load_state_dict(self, state: dict) -> None:
        self.order[...] = state["order"].numpy()
        self.gathered = False


class RowSumEnsemble:
    """An experiment's ensemble on the CPU engine (see the module docstring).

    Parameters
    ----------
    model : the torch ensemble whose initial weights are taken (masked units stay zero).
    sampler : the experiment's :class:`~emergence.train.SkillSampler` (subsets, alpha, scale).
    optimizer : ``"sgd"`` or ``"adam"``; ``weight_decay`` as in :class:`MemberOptimizer`.
    data : ``("online", batch_size, seed)`` or ``("fixed", n_data, batch_size, seed)``.
    eval_bits : ``(n_s * n_eval, n_b)`` 0/1 evaluation inputs, skill-major (see
        :func:`emergence.train.evaluation_bits`).
    layout : ``"wide"``, ``"lanes"`` or None to choose with :func:`choose_layout`.
    """

    def __init__(self, model: MLPEnsemble, sampler, optimizer: str, weight_decay: float,
                 data: tuple, eval_bits: torch.Tensor, layout: str | None = None) -> None:
        if sampler.n_bits > rowsum.MAX_BITS:
            raise ValueError(f"n_bits must be <= {rowsum.MAX_BITS} for the CPU engine, got "
                             f"{sampler.n_bits}")
        widths = model.member_widths()
        online = data[0] == "online"
        kind = layout or choose_layout(widths, online)
        if kind == "lanes" and not online:
            raise ValueError("layout 'lanes' needs online data (seeds share a stream)")
        self.layout = Layout(kind, widths)
        self.n_members, self.n_skills = model.n_members, sampler.n_skills
        self.params = Parameters(self.layout, model)
        self.optimizer = Optimizer(self.params, optimizer, weight_decay)
        self.data = OnlineBatches(self.layout, sampler.n_bits, sampler.alpha, self.n_skills,
                                  data[1], data[2]) if online else \
            FixedBatches(sampler, data[1], data[2], data[3])
        # (A, n_s, lanes): lanes last, so the kernels' loops over a slot's lanes vectorise
        self.masks = np.ascontiguousarray(
            self.layout.spread(subset_masks(sampler.subsets.cpu())).transpose(0, 2, 1))
        self.scale = self.layout.spread(np.full(self.n_members, sampler.scale, np.float32))
        self._allocate()
        n_eval = len(eval_bits) // self.n_skills
        self.eval_x = pack_bits(eval_bits)[None, :]
        self.eval_k = np.repeat(np.arange(self.n_skills), n_eval)[None, :]

    def _allocate(self) -> None:
        """Every buffer a step needs, allocated once (fresh pages each step cost more than
        the kernels) and on cache lines (:func:`rowsum.aligned_zeros`). The unit axis is cut
        into blocks of ``BLOCK`` (both layouts pad their widths to whole blocks). Tables are
        per worker: one block's (:func:`rowsum.forward_scratch`, built by the job that reads
        them), and gradient tables (:func:`rowsum.gradient_scratch`) of one block in the wide
        layout, of a whole group in the lanes layout."""
        w1 = self.params.flat("w1")
        n_slots, n_units = w1.shape[0], w1.shape[2]
        wide = self.layout.kind == "wide"
        n_blocks = n_units // rowsum.BLOCK
        zeros = rowsum.aligned_zeros
        self.grads = {name: zeros(self.params[name].shape) for name in Parameters.NAMES}
        batch = self.data.x.shape[1]
        self.slot_loss = np.zeros((n_slots, self.layout.n_lanes), np.float32)
        self.forward_scratch = rowsum.forward_scratch(self.n_skills)
        if wide:
            self.y = zeros((n_slots, batch, 1))
            shape = (n_slots, n_blocks, max(batch, EVAL_CHUNK))
            self.partial = zeros(shape)
            self.active = zeros(shape, np.uint64)
            self.delta = zeros((n_slots, batch))
            self.table_grad, self.control_grad = rowsum.gradient_scratch(self.n_skills, 1)
        else:
            self.table_grad, self.control_grad = rowsum.gradient_scratch(self.n_skills,
                                                                         n_blocks)
            self.partial, self.active = rowsum.lanes_scratch(n_blocks, max(batch, EVAL_CHUNK))

    def compute_gradients(self, step: int) -> np.ndarray:
        """Draw the step's batch, fill ``self.grads``; returns the members' losses ``(M,)``."""
        data = self.data
        data.fill(step)
        p, g = self.params, self.grads
        w1, b1 = p.flat("w1"), p.flat("b1")[:, 0]
        gw1, gb1 = p.flat("w1", g["w1"]), p.flat("b1", g["b1"])[:, 0]
        if self.layout.kind == "wide":
            rowsum.targets(data.x, data.k, data.stream, self.masks, self.scale, self.y,
                           data.changed)
            rowsum.wide_forward(w1, b1, p["w2"], data.x, data.k, data.stream, data.size,
                                self.partial, self.active, self.forward_scratch)
            rowsum.wide_residual(self.partial, p["b2"], self.y, data.size, self.delta,
                                 self.slot_loss[:, 0], g["b2"])
            rowsum.wide_backward(data.x, data.k, data.stream, data.size, self.delta,
                                 self.active, self.table_grad, self.control_grad, gw1, gb1)
        else:
            rowsum.lanes_step(w1, b1, p.flat("w2")[:, 0], p["b2"],
                              self.layout.slot_width, data.x, data.k, self.masks, self.scale,
                              data.x.shape[1], self.table_grad, self.control_grad, gw1, gb1,
                              g["b2"], self.slot_loss, self.partial, self.active,
                              self.forward_scratch)
        rowsum.weight_gradients(w1, b1, p.flat("w2")[:, 0], gw1, gb1,
                                p.flat("w2", g["w2"])[:, 0])
        return self.layout.gather(self.slot_loss)

    def step(self, step: int, lr: np.ndarray) -> np.ndarray:
        """One update of every member at learning rates ``lr`` (M,); returns their losses."""
        loss = self.compute_gradients(step)
        self.optimizer.step(self.grads, lr)
        return loss

    def evaluate(self) -> tuple[np.ndarray, np.ndarray]:
        """``(strength, loss)``, both ``(M, n_s)``: ``R_k / S`` and ``½ mean (S g_k - f)²``."""
        p = self.params
        w1, b1 = p.flat("w1"), p.flat("b1")[:, 0]
        sums = np.zeros((self.layout.n_slots, self.layout.n_lanes, self.n_skills, 2),
                        np.float32)
        n_total = self.eval_x.shape[1]
        for start in range(0, n_total, EVAL_CHUNK):
            x = np.ascontiguousarray(self.eval_x[:, start:start + EVAL_CHUNK])
            k = np.ascontiguousarray(self.eval_k[:, start:start + EVAL_CHUNK])
            n = x.shape[1]
            if self.layout.kind == "wide":
                streams = np.zeros(self.layout.n_slots, np.int64)
                sizes = np.full(self.layout.n_slots, n, np.int64)
                rowsum.wide_forward(w1, b1, p["w2"], x, k, streams, sizes, self.partial,
                                    self.active, self.forward_scratch)
                rowsum.wide_scores(self.partial, p["b2"], x, k, self.masks, self.scale, n,
                                   sums)
            else:
                rowsum.lanes_scores(w1, b1, p.flat("w2")[:, 0], p["b2"],
                                    self.layout.slot_width, x, k, n, self.masks, self.scale,
                                    sums, self.partial, self.active, self.forward_scratch)
        sums = self.layout.gather(sums) / (n_total // self.n_skills)
        scale = self.layout.gather(self.scale)[:, None]
        return sums[..., 0] / scale, 0.5 * sums[..., 1]

    def state_dict(self) -> dict:
        return {"params": {n: torch.from_numpy(a) for n, a in self.params.arrays.items()},
                "optimizer": self.optimizer.state_dict(), "data": self.data.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        for name, array in self.params.arrays.items():
            array[...] = state["params"][name].numpy()
        self.optimizer.load_state_dict(state["optimizer"])
        self.data.load_state_dict(state["data"])

    def member_gradients(self) -> dict[str, np.ndarray]:
        """The last computed gradients in the torch ensemble's shapes (for tests)."""
        return {name: self.params.to_members(name, self.grads[name])
                for name in Parameters.NAMES}

    def member_parameters(self) -> dict[str, np.ndarray]:
        """The weights in the torch ensemble's shapes."""
        return {name: self.params.to_members(name) for name in Parameters.NAMES}
