r"""The chapters' real inputs: a photograph, a panning clip, and feature maps made from them.

The photographs ship inside scikit-image's wheel (nothing is downloaded). No trained backbone is
available offline, so two stand-ins make feature maps:

- :func:`feature_map` (the regions and aggregation chapters): the first stages of a torchvision
  ResNet-18 with *random* weights (seeded): 3x3 convolutions, ReLUs and residual additions, so
  each cell sees a neighbourhood of its patch and the map keeps the photograph's layout on a
  coarse grid, as a backbone's feature map does. :func:`feature_rgb` draws such a map.
- :func:`photo_features` (the relations chapter): a fixed random *patch embedding* (one strided
  convolution, a ReLU, per-channel standardisation), like the first layer of a vision
  transformer before training.

Either keeps what a region looks like, not what a trained network would see.
"""
from __future__ import annotations

import contextlib
import functools
from typing import Any

import torch
import torch.nn.functional as F

from .._checks import (check_choice, check_float, check_int, check_positive_int, check_rank,
                       check_shape)

PHOTOS = ("chelsea", "astronaut", "coffee", "rocket")
STAGES = {"layer1": 4, "layer2": 8, "layer3": 16}        # name -> stride in pixels
_MEAN = (0.485, 0.456, 0.406)                             # ImageNet statistics, the usual input
_STD = (0.229, 0.224, 0.225)                              # normalisation of a torchvision ResNet


@contextlib.contextmanager
def one_thread():
    """Run small tensor work on one thread, then restore the thread count.

    The tensors behind the figures are tiny. On a shared 2-core machine a second thread only
    adds waiting: under load, a principal-component step measured 0.2 s on one thread and
    7.7 s on two, a training step of ``aggregation.train_nu`` 10 ms and 130 ms.
    """
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)


def photo(name: str = "chelsea", size: int = 224) -> torch.Tensor:
    """A square RGB photograph from scikit-image, centre-cropped and resized: ``(3, size, size)``
    floats in ``[0, 1]``."""
    check_choice("name", name, PHOTOS)
    check_int("size", size, 8)
    import skimage.data

    img = torch.as_tensor(getattr(skimage.data, name)()).permute(2, 0, 1).float() / 255  # (3, H, W)
    _, H, W = img.shape
    s = min(H, W)
    top, left = (H - s) // 2, (W - s) // 2
    img = img[:, top:top + s, left:left + s]                                  # (3, s, s)
    img = F.interpolate(img[None], size=(size, size), mode="bilinear", antialias=True,
                        align_corners=False)[0]                               # (3, size, size)
    return img.clamp(0, 1)


def pan_clip(image: torch.Tensor, frames: int = 8, size: int = 224, step: int = 32,
             top: int | None = None) -> torch.Tensor:
    """A clip made by sliding a ``size x size`` window to the right across ``image``.

    A stand-in for a video (the camera pans), built from a photograph so nothing is downloaded.
    ``top`` is the window's first row (default: centred vertically).

    Returns:
        ``(3, frames, size, size)``.
    """
    check_shape("image", image, (3, None, None), "an RGB image (3, Hi, Wi)")
    frames = check_positive_int("frames", frames)
    size = check_positive_int("size", size)
    step = check_positive_int("step", step)
    _, Hi, Wi = image.shape
    need = size + (frames - 1) * step
    if size > Hi or need > Wi:
        raise ValueError(f"a clip of {frames} frames of {size}x{size} at step {step} needs an "
                         f"image at least {size} high and {need} wide, got image of shape "
                         f"{tuple(image.shape)}")
    top = (Hi - size) // 2 if top is None else check_int("top", top, 0, Hi - size)
    crops = [image[:, top:top + size, t * step:t * step + size] for t in range(frames)]
    return torch.stack(crops, dim=1)                                # (3, T, size, size)


@functools.lru_cache(maxsize=4)
def _backbone(seed: int) -> torch.nn.Module:
    from torchvision.models import resnet18

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = resnet18(weights=None)
    return net.eval()


def feature_map(image: torch.Tensor, stage: str = "layer3", seed: int = 0) -> torch.Tensor:
    """Run a photograph (or each frame of a clip) through a randomly initialised ResNet-18.

    Args:
        image: ``(3, Hi, Wi)`` image or ``(3, T, Hi, Wi)`` clip, values in ``[0, 1]``.
        stage: ``"layer1"`` (stride 4, 64 channels), ``"layer2"`` (stride 8, 128) or
            ``"layer3"`` (stride 16, 256). A 448-pixel image gives a 28 x 28 map at ``layer3``,
            the size of ResNet-50's res4 on CUB; a 224-pixel frame gives 14 x 14, as on UCF101.
        seed: seeds the random weights (the global random state is left untouched).

    Returns:
        ``(1, C, H, W)`` for an image, ``(1, C, T, H, W)`` for a clip (frame by frame, as a C2D
        network does), float32, without gradients.
    """
    check_float("image", image)
    if image.dim() not in (3, 4) or image.shape[0] != 3:
        raise ValueError(f"image must be (3, Hi, Wi) or a clip (3, T, Hi, Wi), got shape "
                         f"{tuple(image.shape)}")
    check_choice("stage", stage, tuple(STAGES))
    stride = STAGES[stage]
    if image.shape[-1] % stride or image.shape[-2] % stride:
        raise ValueError(f"image height and width must be multiples of the stride {stride} of "
                         f"{stage}, got shape {tuple(image.shape)}")
    clip = image.dim() == 4
    frames = image.permute(1, 0, 2, 3) if clip else image[None]      # (T, 3, Hi, Wi)
    mean = torch.tensor(_MEAN).reshape(1, 3, 1, 1)
    std = torch.tensor(_STD).reshape(1, 3, 1, 1)
    net = _backbone(int(seed))
    with torch.no_grad():
        h = (frames - mean) / std
        h = net.maxpool(net.relu(net.bn1(net.conv1(h))))            # stride 4
        for name in ("layer1", "layer2", "layer3"):
            h = getattr(net, name)(h)
            if name == stage:
                break                                                # (T, C, H, W)
    if clip:
        return h.permute(1, 0, 2, 3)[None].contiguous()              # (1, C, T, H, W)
    return h                                                         # (1, C, H, W)


def feature_rgb(feature: torch.Tensor, basis: dict | None = None) -> tuple[Any, dict]:
    """Show a ``C``-channel map as colours: its top three principal components as R, G, B.

    Args:
        feature: ``(1, C, H, W)`` or ``(1, C, T, H, W)``.
        basis: the ``basis`` returned by an earlier call, to draw another map (a reconstruction)
            in the same colours; computed from ``feature`` when ``None``.

    Returns:
        ``(rgb, basis)``: ``rgb`` a numpy array ``(H, W, 3)`` (or ``(T, H, W, 3)``) in ``[0, 1]``.
    """
    check_float("feature", feature)
    check_rank("feature", feature, (4, 5), "(1, C, H, W) or (1, C, T, H, W)")
    f = feature[0]                                                   # (C, [T,] H, W)
    cells = f.detach().reshape(f.shape[0], -1).T.double()            # (cells, C)
    with one_thread():
        if basis is None:
            mean = cells.mean(0)
            _, _, Vh = torch.linalg.svd(cells - mean, full_matrices=False)
            comps = Vh[:3]                                           # (3, C)
            proj = (cells - mean) @ comps.T
            lo, hi = torch.quantile(proj, 0.01, dim=0), torch.quantile(proj, 0.99, dim=0)
            basis = dict(mean=mean, comps=comps, lo=lo, hi=hi)
        proj = (cells - basis["mean"]) @ basis["comps"].T            # (cells, 3)
    rgb = ((proj - basis["lo"]) / (basis["hi"] - basis["lo"]).clamp_min(1e-12)).clamp(0, 1)
    return rgb.T.reshape(3, *f.shape[1:]).movedim(0, -1).float().numpy(), basis


def photo_features(image: torch.Tensor, cells: int = 28, channels: int = 64,
                   seed: int = 0) -> torch.Tensor:
    """A ``(1, channels, cells, cells)`` feature map of ``image`` ``(3, S, S)``: a seeded random
    patch embedding (patch ``S // cells``), ReLU, each channel standardised over the map."""
    if image.dim() != 3 or image.shape[0] != 3 or image.shape[1] != image.shape[2]:
        raise ValueError(f"image must be a square RGB tensor (3, S, S), got {tuple(image.shape)}")
    S = image.shape[-1]
    if not isinstance(cells, int) or cells < 1 or S % cells:
        raise ValueError(f"cells must be a positive integer dividing the image size {S}, "
                         f"got {cells!r}")
    patch = S // cells
    gen = torch.Generator().manual_seed(seed)
    weight = torch.randn(channels, 3, patch, patch, generator=gen) / (3 * patch * patch) ** 0.5
    centred = image[None] - image.mean(dim=(1, 2)).reshape(1, 3, 1, 1)       # (1, 3, S, S)
    f = F.relu(F.conv2d(centred, weight, stride=patch))                       # (1, C, cells, cells)
    mean = f.mean(dim=(2, 3), keepdim=True)
    std = f.std(dim=(2, 3), keepdim=True)
    return (f - mean) / (std + 1e-6)
