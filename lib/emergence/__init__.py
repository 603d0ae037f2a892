"""emergence: the code behind the executable textbook on the exactly solvable model of
emergence and scaling laws in multitask sparse parity (Nam et al., NeurIPS 2024).

Modules, one concept each. Foundations:

- :mod:`emergence.tasks`: the multitask sparse parity task, sampled on any torch device;
- :mod:`emergence.skills`: the skill basis, skill strengths and the loss decomposition;
- :mod:`emergence.theory`: the multilinear model's exact dynamics, its scaling laws and the
  extended models a network is compared with;
- :mod:`emergence.multilinear`: gradient descent on the multilinear model itself;
- :mod:`emergence.profiles`: the ``paper`` and ``quick`` experiment sizes;
- :mod:`emergence.store`: the results store of paper-scale runs (npz + provenance, no pickle).

Experiments, built on them:

- :mod:`emergence.models`: batched ensembles of two-layer ReLU networks;
- :mod:`emergence.train`: the batched trainer (device-side data, optimisers, R_k measurement);
- :mod:`emergence.cpu_ensemble` and :mod:`emergence.rowsum`: the CPU engine, which trains the
  same ensembles on two cores with row-sum kernels (numba), chosen by default on the CPU;
- :mod:`emergence.transformer`: the batched transformer of the last chapter (model, data,
  training loop, config, named experiments);
- :mod:`emergence.experiments`: the named experiments and ``run_or_load``;
- :mod:`emergence.fits`: calibration fits with uncertainties, power-law fits;
- :mod:`emergence.results` and :mod:`emergence.bench`: ``make results`` and ``make bench``.

For the chapters: :mod:`emergence.plotting` (one figure style), :mod:`emergence.schematics`
(the paper's diagrams of its networks and models) and :mod:`emergence.book` (provenance banner,
glue, warning boxes).
"""

__version__ = "0.1.0"
