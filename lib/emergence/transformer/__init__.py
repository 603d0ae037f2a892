"""A one-block decoder transformer on multitask sparse parity, several seeds trained as one model.

The paper's transformer (its App. K.2 and its public code) reads each of the ``n_skills + n_bits``
input bits as a token whose features are ``one-hot(bit value, 2) ⊕ one-hot(position, n_tokens)``.
A ``Linear(2 + n_tokens, d_model)`` + ReLU embeds them; one pre-LayerNorm block follows (causal
multi-head self-attention, then a ``d_model → 4 d_model → d_model`` ReLU MLP, each on a residual
branch whose exit projection is halved at initialisation); a final LayerNorm; and a read-out to
one scalar. The paper flattens all tokens into ``Linear(n_tokens · d_model, 1)``; ``readout``
also offers the mean over tokens or the last token, which keep the read-out's fan-in at
``d_model`` and so lift the cap that the flattened fan-in puts on a stable SGD step.

:class:`~emergence.transformer.model.BatchedTransformer` stores every parameter with a leading
"member" axis and evaluates all members with batched matrix products, so an ensemble of seeds
costs one model's kernel launches. Members never mix: the loss is a sum of per-member losses and
the optimisers are elementwise, so each member follows exactly the trajectory it would follow
alone (tested).

:class:`~emergence.transformer.config.TransformerConfig` is an experiment in the sense of
:mod:`emergence.experiments`: ``run(device)`` trains the ensemble on fresh batches drawn on the
device and returns the normalised skill strengths ``R_k / S`` measured on fixed per-skill
evaluation sets.

Modules, one concept each, their public names re-exported here except the loop, which
``run`` calls (importing the package registers ``transformer_time`` and ``transformer_paper``
with :mod:`emergence.experiments`):

- :mod:`.model`: the batched model, its initialisation and the model options;
- :mod:`.data`: the members' tasks, training batches and evaluation sets, drawn on the device;
- :mod:`.train`: the training loop (measurement, divergence check, checkpoint and resume);
- :mod:`.config`: :class:`~.config.TransformerConfig`, its cost and its stable read-out step;
- :mod:`.experiments`: the named configs, the summary of a run and the sweep's command line
  (``python -m emergence.transformer``).
"""

from .config import (
    OPTIMIZERS,
    PRECISIONS,
    SPACINGS,
    TransformerConfig,
    readout_lr_cap,
    step_flops,
)
from .data import TaskStack
from .experiments import (
    in_frequency_order,
    main,
    paper_config,
    research_sweep,
    summarise,
    time_config,
)
from .model import PARAMETRISATIONS, READOUTS, BatchedTransformer

__all__ = [
    "BatchedTransformer", "READOUTS", "PARAMETRISATIONS",
    "TaskStack",
    "TransformerConfig", "OPTIMIZERS", "PRECISIONS", "SPACINGS", "step_flops", "readout_lr_cap",
    "paper_config", "time_config", "research_sweep", "in_frequency_order", "summarise", "main",
]
