"""emergence: the code behind the executable textbook on the exactly solvable model of
emergence and scaling laws in multitask sparse parity (Nam et al., NeurIPS 2024).

Modules, one concept each:

- :mod:`emergence.tasks`: the multitask sparse parity task, sampled on any torch device;
- :mod:`emergence.skills`: the skill basis, skill strengths and the loss decomposition;
- :mod:`emergence.theory`: the exact decoupled dynamics of the multilinear model;
- :mod:`emergence.multilinear`: gradient descent on the multilinear model itself;
- :mod:`emergence.profiles`: the ``paper`` and ``quick`` experiment sizes;
- :mod:`emergence.plotting`: the book's figure style;
- :mod:`emergence.book`: small helpers for the chapters (banner, glue).
"""

__version__ = "0.1.0"
