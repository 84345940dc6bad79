"""Load a trained model for the figures: a checkpoint written by ``python -m regr_edu.train``.

The file is read with ``torch.load(..., weights_only=True)`` (tensors and plain containers only,
nothing executed). A checkpoint holds the model's ``state_dict`` under ``"model"`` and the
training arguments under ``"args"``; the model is rebuilt from the arguments (``model``,
``unit``, ``num_units``, ``num_classes`` ...) unless ``build`` is given.
"""
from __future__ import annotations

import os
from typing import Any, Callable, Mapping

import torch
from torch import nn

BUILDERS = ("small_resnet", "resnet50", "c2d_resnet50", "i3d_resnet50")


def read_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """The checkpoint's contents (``weights_only=True``); ``ValueError`` if it is not a dict."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"checkpoint must be a path (str or os.PathLike), got {type(path).__name__}")
    if not os.path.isfile(path):
        raise ValueError(f"checkpoint must be an existing file, got {os.fspath(path)!r}")
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(ckpt, dict):
        raise ValueError(f"checkpoint must hold a dict (model state and args), got a "
                         f"{type(ckpt).__name__} in {os.fspath(path)!r}")
    return ckpt


def model_from_args(args: Mapping[str, Any], num_classes: int | None = None) -> nn.Module:
    """Rebuild the network that ``regr_edu.train`` built for ``args``."""
    from .. import models

    name = args.get("model")
    if name not in BUILDERS:
        raise ValueError(f"checkpoint args['model'] must be one of {list(BUILDERS)}, got {name!r}")
    n = num_classes if num_classes is not None else args.get("num_classes")
    if n is None:
        raise ValueError("num_classes must be given: the checkpoint's args hold no num_classes")
    kwargs: dict[str, Any] = dict(unit=args.get("unit"))
    if args.get("unit") is not None:
        kwargs["num_units"] = int(args.get("num_units", 1))
    if args.get("input_size") is not None:
        kwargs["input_size"] = tuple(args["input_size"])
    unit_kwargs = args.get("unit_kwargs") or {}
    return getattr(models, name)(int(n), **kwargs, **dict(unit_kwargs))


def load_checkpoint(path: str | os.PathLike,
                    build: Callable[[Mapping[str, Any]], nn.Module] | None = None,
                    device: str | torch.device = "cpu") -> tuple[nn.Module, dict[str, Any]]:
    """A trained model in eval mode, and the checkpoint's ``args``.

    Args:
        path: the checkpoint file (e.g. ``runs/cub_regr/checkpoint.pth``).
        build: ``args -> model`` to rebuild the network (default :func:`model_from_args`).
        device: where to put the model.

    Returns:
        ``(model, args)``.
    """
    ckpt = read_checkpoint(path)
    state = ckpt.get("model", ckpt)
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor)
                                                 for v in state.values()):
        raise ValueError(f"checkpoint must hold the model's state_dict under 'model', got keys "
                         f"{sorted(ckpt)[:8]}")
    args = dict(ckpt.get("args") or {})
    model = (build or model_from_args)(args)
    model.load_state_dict(state)
    return model.to(device).eval(), args
