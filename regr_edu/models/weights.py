r"""Backbone weights: torchvision's ImageNet ResNet-50, a local file, and inflation to 3-D.

``weights="imagenet"`` uses torchvision's ``ResNet50_Weights.IMAGENET1K_V1`` file (the weights the
2018–2020 papers started from), looked up first in torch hub's cache
(``<torch.hub.get_dir()>/checkpoints/resnet50-0676ba61.pth``). Only when it is not there is it
downloaded, with a timeout; without network the error says which file to fetch and where to put
it. ``weights=path`` loads a local file with ``torch.load(path, weights_only=True)``: either a
torchvision-layout ResNet-50 state dict or a whole model of this package (units included), or a
checkpoint dict holding one under ``"model"`` or ``"state_dict"``.

Inflation (I3D, Carreira and Zisserman 2017): a 2-D kernel ``(O, I, k, k)`` becomes the 3-D kernel
``(O, I, kt, k, k)`` holding ``kt`` copies divided by ``kt``. On a clip of identical frames the
3-D convolution then gives the 2-D one's output at every frame the temporal zero padding does not
reach.
"""
from __future__ import annotations

import hashlib
import os
import pathlib
import urllib.error
import urllib.request
from typing import Callable, Mapping

import torch
from torch import nn

DOWNLOAD_TIMEOUT_S = 10.0  # per socket operation: no network fails fast


def imagenet_url() -> str:
    """URL of torchvision's ResNet-50 ImageNet weights (IMAGENET1K_V1)."""
    from torchvision.models import ResNet50_Weights
    return ResNet50_Weights.IMAGENET1K_V1.url


def imagenet_cache_path() -> pathlib.Path:
    """Where torch hub (and this package) keeps the ImageNet file."""
    name = imagenet_url().rsplit("/", 1)[-1]
    return pathlib.Path(torch.hub.get_dir()) / "checkpoints" / name


def _fetch(url: str, dst: pathlib.Path, timeout: float = DOWNLOAD_TIMEOUT_S) -> None:
    """Download ``url`` to ``dst`` atomically (:func:`regr_edu.training.checkpoint.write_atomic`:
    a temporary file in the same folder, then ``os.replace``); torchvision's file names carry the
    first 8 hex digits of the SHA-256, and a file that does not match is never put in place."""
    from ..training.checkpoint import write_atomic
    prefix = dst.stem.rsplit("-", 1)[-1]

    def write(f) -> None:
        digest = hashlib.sha256()
        with urllib.request.urlopen(url, timeout=timeout) as r:
            while chunk := r.read(1 << 20):
                digest.update(chunk)
                f.write(chunk)
        if not digest.hexdigest().startswith(prefix):
            raise RuntimeError(f"downloaded {url} but its SHA-256 {digest.hexdigest()[:8]}... "
                               f"does not start with {prefix} (from the file name)")
    write_atomic(dst, write)


def imagenet_state_dict() -> dict[str, torch.Tensor]:
    """torchvision's ResNet-50 ImageNet state dict, from the cache or downloaded once."""
    path = imagenet_cache_path()
    if not path.is_file():
        url = imagenet_url()
        try:
            _fetch(url, path)
        except (urllib.error.URLError, OSError, TimeoutError) as e:
            raise RuntimeError(
                f"weights='imagenet' needs torchvision's ResNet-50 ImageNet file {path.name}, "
                f"which is not in the cache and could not be downloaded ({e}). On a machine with "
                f"network, download {url} and put it at {path} (or pass weights='/path/to/"
                f"{path.name}')") from e
    return torch.load(path, map_location="cpu", weights_only=True)


def read_state_dict(weights: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The state dict named by ``weights``: ``"imagenet"`` or a local file."""
    if isinstance(weights, str) and weights == "imagenet":
        return imagenet_state_dict()
    if not isinstance(weights, (str, os.PathLike)):
        raise TypeError(f"weights must be None, 'imagenet' or a path to a local file, "
                        f"got {type(weights).__name__}")
    path = pathlib.Path(weights)
    if not path.is_file():
        raise ValueError(f"weights must be None, 'imagenet' or a path to a local file; "
                         f"no file at {str(path)!r}")
    state = torch.load(path, map_location="cpu", weights_only=True)
    for key in ("model", "state_dict"):
        if isinstance(state, Mapping) and key in state and isinstance(state[key], Mapping):
            state = state[key]
    if not isinstance(state, Mapping):
        raise ValueError(f"weights file {str(path)!r} must hold a state dict, "
                         f"got {type(state).__name__}")
    return dict(state)


def inflate(weight: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """A 2-D kernel ``(O, I, k, k)`` as a 3-D one of ``like``'s shape ``(O, I, kt, k, k)``:
    ``kt`` copies along time, divided by ``kt``."""
    kt = like.shape[2]
    # (O, I, k, k) -> (O, I, 1, k, k) -> (O, I, kt, k, k)
    return weight.unsqueeze(2).repeat(1, 1, kt, 1, 1) / kt


def load_backbone_state(model: nn.Module, state: Mapping[str, torch.Tensor],
                        adapt: Callable[[str, torch.Tensor, torch.Tensor], torch.Tensor] | None
                        = None) -> None:
    """Load ``state`` into ``model``: every key must be the model's (``ValueError`` otherwise);
    the classifier ``fc`` is skipped when its shape differs (another ``num_classes``); the units
    and ``fc`` may be missing (they keep their initialisation); ``adapt(key, tensor, target)``
    may reshape a tensor (inflation)."""
    own = model.state_dict()
    unexpected = [k for k in state if k not in own]
    if unexpected:
        raise ValueError(f"weights hold {len(unexpected)} keys this model lacks, e.g. "
                         f"{unexpected[:3]}: is it a state dict for this architecture?")
    new = {}
    for k, v in state.items():
        target = own[k]
        if v.shape != target.shape and adapt is not None:
            v = adapt(k, v, target)
        if v.shape != target.shape:
            if k.startswith("fc."):
                continue                                    # another num_classes: keep the new head
            raise ValueError(f"weights[{k!r}] has shape {tuple(v.shape)}, the model's "
                             f"{tuple(target.shape)}")
        new[k] = v
    missing = [k for k in own if k not in new and not k.startswith(("units.", "fc."))
               and not k.endswith("num_batches_tracked")]
    if missing:
        raise ValueError(f"weights lack {len(missing)} backbone keys, e.g. {missing[:3]}")
    model.load_state_dict(new, strict=False)


def inflate_adapter(key: str, v: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``adapt`` for :func:`load_backbone_state`: inflate 4-D kernels to the model's 5-D ones."""
    if v.dim() == 4 and target.dim() == 5 and target.shape[:2] == v.shape[:2] \
            and target.shape[3:] == v.shape[2:]:
        return inflate(v, target)
    return v
