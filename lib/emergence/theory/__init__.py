"""The theory of the multilinear model, one topic per module, all re-exported here.

- :mod:`.dynamics`: the exact decoupled dynamics of Part I (skill strengths, emergence and
  saturation times, stage-like training, the linear model);
- :mod:`.scaling`: the scaling laws of Part II (loss against time, data, parameters, compute,
  and their exact prefactors);
- :mod:`.extended`: the extended models of Part III that a neural network is compared with
  (calibrated time model, D_c-shot and N_c-basis learners).
"""

from .dynamics import *  # noqa: F403
from .dynamics import __all__ as _dynamics_all
from .extended import *  # noqa: F403
from .extended import __all__ as _extended_all
from .scaling import *  # noqa: F403
from .scaling import __all__ as _scaling_all

__all__ = [*_dynamics_all, *_scaling_all, *_extended_all]
