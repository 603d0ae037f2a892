"""Sparse parity learned by SGD (Part IV: Barak et al. 2022, Edelman et al. 2023).

Modules, one concept each:

- :mod:`.task`: the (n, k)-parity task, one hidden subset per member, online and fixed data;
- :mod:`.model`: :class:`~.model.ParityMLP`, many 2-layer MLPs (seeds, widths) as one model,
  with ReLU or z^k units and the uniform, Bernoulli, Gaussian, PyTorch and s-sparse inits;
- :mod:`.train`: plain SGD (hinge, square or correlation loss, weight decay) recording each
  member's success step t_c (100 % on a held-out batch) and optional traces;
- :mod:`.fourier`: exact Fourier coefficients by enumeration, the majority closed form, the
  Fourier gap and the exact population gradient of an MLP;
- :mod:`.escape`: escape from a small init for products of q factors (disjoint PolyNet,
  degree-q multilinear skill);
- :mod:`.experiments`: the named experiments of Chapter 13;
- Chapter 14's: :mod:`.lottery` (lottery-ticket units of a sparse init and their probability),
  :mod:`.frontier` (the statistical-query budget, exact correlations), :mod:`.pareto` (the
  success grid over width and sample size), :mod:`.rewind` (prune, rewind, retrain) and
  :mod:`.calib_frontier` (Chapter 8's data calibration at other widths and a sparse init).

Importing the package registers the stored experiments of :mod:`.experiments`, :mod:`.pareto`
and :mod:`.calib_frontier` with :mod:`emergence.experiments`.
"""

from .model import ACTIVATIONS, INITS, ParityMLP, PolyNet, disjoint_blocks
from .task import FixedParitySet, OnlineParity, ParityTask, random_inputs, random_subsets
from .train import LOSSES, HeldOut, ParityRun, member_losses, train_parity

__all__ = [
    "ParityTask", "OnlineParity", "FixedParitySet", "random_subsets", "random_inputs",
    "ParityMLP", "PolyNet", "disjoint_blocks", "ACTIVATIONS", "INITS",
    "train_parity", "HeldOut", "ParityRun", "member_losses", "LOSSES",
]

# Importing the package registers its stored experiments with emergence.experiments.
from . import calib_frontier, experiments, pareto  # noqa: E402, F401
