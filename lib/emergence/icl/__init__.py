"""In-context learning of Markov chains (Edelman et al. 2024): task, strategies, models.

Modules, one concept each:

- :mod:`.chains`: priors over transition matrices and the chains, sampled on the device;
- :mod:`.strategies`: the uniform, unigram and bigram predictors and the KL divergence;
- :mod:`.model`: the two-layer attention-only transformer with relative positions, batched
  over seeds;
- :mod:`.train`: the training loop and the paper's last-token measurements;
- :mod:`.config`: :class:`~.config.ICLConfig`, an experiment of :mod:`emergence.experiments`;
- :mod:`.minimal`: the two-factor minimal model (positional mixing ``v``, bilinear ``W``);
- :mod:`.skills`: skill strengths ``R_uni``, ``R_bi`` and the phase read-out;
- :mod:`.experiments`: the named configs (importing the package registers ``icl_markov``,
  ``icl_prior_mix``, ``icl_prior_half``, ``icl_trigram`` and the three-state runs
  ``icl_k3``, ``icl_k3_prior_half``, ``icl_k3_prior_mix``).
"""

from . import chains, strategies
from .config import ICLConfig
from .experiments import markov_config, minimal_config, prior_mix_config
from .model import AttentionOnlyTransformer

__all__ = ["chains", "strategies", "ICLConfig", "AttentionOnlyTransformer",
           "markov_config", "prior_mix_config", "minimal_config"]
