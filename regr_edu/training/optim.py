r"""The optimizer: SGD (the recipes') or Adam, with per-module learning-rate factors.

A module that carries an ``lr_scale`` attribute and says which parameters it applies to
(:meth:`regr_edu.refine.Refine.eta_parameters`) gets them in a group of their own, at
``lr * lr_scale``. Deformable convolutions are trained this way (their offset branch at a tenth
of the base rate); the refine chapter measures what it does for Eq. 3–4. Every torch optimizer
takes such groups, and a ``LambdaLR`` schedule multiplies each group's own starting rate, so the
factor holds through warm-up and decay.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .._checks import check_choice
from .config import OPTIMIZERS


def param_groups(model: nn.Module, lr: float, weight_decay: float = 0.0) -> list[dict[str, Any]]:
    """Parameter groups for any ``torch.optim`` optimizer: one at ``lr``, one per ``lr_scale``.

    Args:
        model: the network; every submodule with ``lr_scale`` and ``eta_parameters()`` (a
            :class:`~regr_edu.refine.Refine`) puts those parameters at ``lr * lr_scale``.
        lr, weight_decay: the base learning rate and L2 factor of every group.

    Returns:
        a list of ``{"params", "lr", "weight_decay", "lr_scale"}``, every parameter that
        requires a gradient in exactly one group; groups with no parameter are left out.
    """
    scaled: dict[float, list[nn.Parameter]] = {}
    seen: set[int] = set()
    for module in model.modules():
        scale = getattr(module, "lr_scale", None)
        if scale is None or not hasattr(module, "eta_parameters"):
            continue
        for p in module.eta_parameters():
            if p.requires_grad and id(p) not in seen:
                seen.add(id(p))
                scaled.setdefault(float(scale), []).append(p)
    base = [p for p in model.parameters() if p.requires_grad and id(p) not in seen]
    groups = [{"params": base, "lr": lr, "weight_decay": weight_decay, "lr_scale": 1.0}]
    for scale, params in sorted(scaled.items()):
        if scale == 1.0:
            groups[0]["params"] += params
        else:
            groups.append({"params": params, "lr": lr * scale, "weight_decay": weight_decay,
                           "lr_scale": scale})
    return [g for g in groups if g["params"]]


def build_optimizer(name: str, model: nn.Module, lr: float, momentum: float = 0.9,
                    weight_decay: float = 0.0) -> torch.optim.Optimizer:
    """``"sgd"`` (with ``momentum``) or ``"adam"`` over :func:`param_groups` of ``model``."""
    check_choice("optimizer", name, list(OPTIMIZERS))
    groups = param_groups(model, lr, weight_decay)
    if name == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=momentum, weight_decay=weight_decay)
    return torch.optim.Adam(groups, lr=lr, weight_decay=weight_decay)
