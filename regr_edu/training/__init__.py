r"""Training: the configuration, the loop, checkpoints, torchrun, plots.

- :mod:`.config` — :class:`TrainConfig` (a dataclass, one comment per field) and the recipes
  shipped in ``regr_edu/configs/*.json``;
- :mod:`.run` — :func:`run` builds data, model, optimizer and schedule and trains;
- :mod:`.optim` — SGD or Adam over :func:`param_groups` (refine's ``lr_scale``);
- :mod:`.monitor` — :class:`RefineMonitor`, refine's offsets and gradients at every step;
- :mod:`.engine` — one epoch, one evaluation, top-k (clip and video level);
- :mod:`.data` — data sets per ``--dataset`` and sharded loaders;
- :mod:`.checkpoint` — atomic checkpoints that ``torch.load(weights_only=True)`` reads, RNG state;
- :mod:`.distributed` — the environment ``torchrun`` sets;
- :mod:`.plots` — loss and accuracy curves (imports matplotlib when called).

The command line is ``python -m regr_edu.train`` (:mod:`regr_edu.train`).
"""
from .checkpoint import load_checkpoint, rng_state, save_atomic, set_rng_state
from .config import TrainConfig, list_recipes, load_recipe, make_config
from .monitor import RefineMonitor
from .optim import build_optimizer, param_groups
from .run import build_model, lr_lambda, read_metrics, run

__all__ = ["TrainConfig", "make_config", "load_recipe", "list_recipes", "run", "build_model",
           "lr_lambda", "read_metrics", "load_checkpoint", "save_atomic", "rng_state",
           "set_rng_state", "plot_history", "param_groups", "build_optimizer", "RefineMonitor"]


def plot_history(*args, **kwargs):
    """See :func:`regr_edu.training.plots.plot_history` (imports matplotlib on call)."""
    from .plots import plot_history as _plot
    return _plot(*args, **kwargs)
