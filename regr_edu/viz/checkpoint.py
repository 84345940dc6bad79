"""A trained model for the figures, from a checkpoint written by ``python -m regr_edu.train``:
:func:`load_trained_model` (the model, rebuilt and in eval mode, and its run's ``args``; not to be
confused with :func:`regr_edu.training.load_checkpoint`, which returns the checkpoint's raw
contents to resume a run) and :func:`checkpoint_example` (one input of its data set).

The file is read with ``torch.load(..., weights_only=True)`` (tensors and plain containers only,
nothing executed). A checkpoint holds the model's ``state_dict`` under ``"model"`` and the
training configuration under ``"args"`` (:class:`regr_edu.training.TrainConfig` as a dict, with
``model``, ``unit``, ``num_units``, ``unit_kwargs``, ``model_kwargs``, ``image_size`` ...); the
model is rebuilt from it with the training code's own ``build_model`` unless ``build`` is given.
"""
from __future__ import annotations

import os
import pickle
from typing import Any, Callable, Mapping

import torch
from torch import nn

from .._checks import check_int

BUILDERS = ("small_resnet", "resnet50", "c2d_resnet50", "i3d_resnet50")


def read_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """The checkpoint's contents (``weights_only=True``); ``ValueError`` if it is not a dict."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"checkpoint must be a path (str or os.PathLike), got "
                        f"{type(path).__name__}")
    if not os.path.isfile(path):
        raise ValueError(f"checkpoint must be an existing file, got {os.fspath(path)!r}")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except (EOFError, RuntimeError, ValueError, OSError, pickle.UnpicklingError) as err:
        raise ValueError(f"checkpoint {os.fspath(path)!r} could not be read as a torch checkpoint: "
                         f"it is empty, truncated, not a checkpoint, or holds objects that "
                         f"weights_only=True refuses ({type(err).__name__}: "
                         f"{str(err).splitlines()[0] if str(err) else ''})") from None
    if not isinstance(ckpt, dict):
        raise ValueError(f"checkpoint must hold a dict (model state and args), got a "
                         f"{type(ckpt).__name__} in {os.fspath(path)!r}")
    return ckpt


def model_from_args(args: Mapping[str, Any], state: Mapping[str, torch.Tensor]) -> nn.Module:
    """Rebuild the network that ``regr_edu.train`` built for ``args`` (its ``TrainConfig`` as a
    dict), with :func:`regr_edu.training.build_model`. The number of classes is read from the
    classifier's weight in ``state``; the input size from ``image_size`` (and ``frames``)."""
    from types import SimpleNamespace

    from ..training import TrainConfig, build_model
    from ..training.config import FIELDS

    if args.get("model") not in BUILDERS:
        raise ValueError(f"checkpoint args['model'] must be one of {list(BUILDERS)}, got "
                         f"{args.get('model')!r}")
    if "fc.weight" not in state:
        raise ValueError("checkpoint's model state must hold the classifier 'fc.weight' (to read "
                         f"the number of classes), got keys {sorted(state)[:6]} ...")
    cfg = TrainConfig(**{k: v for k, v in args.items() if k in FIELDS})
    cfg.weights = None              # the checkpoint has every weight: never fetch ImageNet's
    S = cfg.image_size
    data = SimpleNamespace(num_classes=int(state["fc.weight"].shape[0]),
                           input_size=(cfg.frames, S, S) if cfg.is_video else (S, S))
    return build_model(cfg, data)


def load_trained_model(path: str | os.PathLike,
                       build: Callable[[Mapping[str, Any]], nn.Module] | None = None,
                       device: str | torch.device = "cpu") -> tuple[nn.Module, dict[str, Any]]:
    """A trained model in eval mode, and the checkpoint's ``args``.

    Args:
        path: the checkpoint file (e.g. ``runs/cub_regr/checkpoint.pth``).
        build: ``args -> model`` to rebuild the network (default: :func:`model_from_args`,
            as ``regr_edu.train`` built it).
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
    model = build(args) if build is not None else model_from_args(args, state)
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        wanted, given = set(model.state_dict()), set(state)
        raise ValueError(f"checkpoint {os.fspath(path)!r} holds the weights of another network "
                         f"than the one rebuilt from its args: missing {sorted(wanted - given)[:5]}"
                         f", unexpected {sorted(given - wanted)[:5]} (or shapes differ); pass "
                         f"build= to rebuild the right one") from None
    return model.to(device).eval(), args


def checkpoint_example(args: Mapping[str, Any], index: int = 0
                       ) -> tuple[torch.Tensor, int, dict[str, Any]]:
    """One input of a checkpoint's data set, built the way its run built it.

    The data set, its folder and its transforms come from the checkpoint's ``args`` (its
    ``TrainConfig`` as a dict) through the training code's own
    :func:`regr_edu.training.data.build_datasets`, so a CUB checkpoint gets a CUB test image, a
    UCF101 or Kinetics checkpoint a clip, a synthetic one a synthetic sample.

    Args:
        args: the ``args`` that :func:`load_trained_model` returns.
        index: which sample.

    Returns:
        ``(x, label, norm)``: ``x`` of the model's input size, ``(3, S, S)`` for images or
        ``(3, T, S, S)`` for clips (a training-size clip: the video test sets hold several
        full-height views per video); ``norm`` is ``{"mean": ..., "std": ...}`` for ImageNet-
        normalised data (pass it to the figures to draw the input in its colours), else
        ``{}``.
    """
    from ..training import TrainConfig
    from ..training.config import FIELDS
    from ..training.data import build_datasets

    check_int("index", index, 0)
    cfg = TrainConfig(**{k: v for k, v in args.items() if k in FIELDS})
    data = build_datasets(cfg)
    dataset = data.train if data.video_level else data.test
    if index >= len(dataset):
        raise ValueError(f"index must be < {len(dataset)} (the {cfg.dataset} set), got {index}")
    x, label = dataset[index]
    norm: dict[str, Any] = {}
    if cfg.dataset in ("cub", "ucf101", "kinetics"):
        from ..data.transforms import IMAGENET_MEAN, IMAGENET_STD
        norm = {"mean": IMAGENET_MEAN, "std": IMAGENET_STD}
    return x, int(label), norm
