r"""The paper's input pipelines ("Training" and "Testing" paragraphs of the ReGr paper).

CUB-200-2011 (images, PIL in, ``(3, 448, 448)`` float tensor out):

* train -- :func:`cub_train_transform`: a patch of random area in ``[0.08, 1.25]`` of the image
  (and random aspect ratio in ``[3/4, 4/3]``, torchvision's default: the paper gives none) is cut
  out and resized to ``448 x 448``; then a random horizontal flip (**open**: standard in CGNL's
  CUB recipe, not stated in the paper; ``flip=False`` turns it off) and ImageNet normalisation.
  **An area above 1** cannot be cut from inside the image: by default (``oversize="pad"``) the
  window is larger than the image in at least one direction, the image lies inside it at a random
  position along that direction, and the uncovered border is filled with the ImageNet mean colour
  (zero after normalisation): a "zoom out". ``oversize="clamp"`` instead shrinks the window to the
  image in each direction where it is too large, so every area ``>= 1`` gives the whole image
  (up to the aspect ratio) and the top of the range only adds more full-image draws.
  torchvision's ``RandomResizedCrop`` is neither: it redraws up to 10 times and then falls back to
  a centre crop, so its areas above 1 never happen.
* test -- :func:`cub_test_transform`: shorter side resized to 512, centre crop ``448 x 448``.

UCF101 (clips ``(3, T, H, W)`` in: ``uint8`` as :class:`UCF101` decodes them, or float in
``[0, 1]``; float32 out). Resizing and cropping stay in ``uint8`` (torch's ``uint8`` bilinear path is
about 5x faster than float on the CPU); the conversion to float and the normalisation come last,
in one pass.

* train -- :func:`ucf101_train_transform`: shorter side resized to a random integer in
  ``[256, 320]`` (the same for every frame of a clip), a random ``224 x 224`` crop at the same place
  in every frame, random horizontal flip (**open**, as for CUB; the non-local recipe uses it),
  ImageNet normalisation -> ``(3, T, 224, 224)``. The temporal part (8 frames at a random interval
  out of 64 consecutive frames) is the data set's job, as it decides which frames to decode.
* test -- :func:`ucf101_test_transform`: shorter side 256, then *fully convolutional* multi-crop:
  ``crops=3`` square crops of side 256 (the whole shorter side) at the start, centre and end of the
  longer side, so together they cover the whole frame -> ``(3, 3, T, 256, 256)`` (crops first).
  ``crop_size=224`` gives 224 crops instead (for a network built for a fixed input size, e.g. a GCN
  unit). The 10 evenly spaced clips are chosen by the data set.

Randomness comes from ``torch``'s global generator, so ``torch.manual_seed`` and the DataLoader's
per-worker seeding make it reproducible.
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

import torch
import torch.nn.functional as F

from .._checks import check_positive_int

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
IMAGENET_MEAN_RGB255 = tuple(round(255 * m) for m in IMAGENET_MEAN)  # (124, 116, 104)


def _check_pair(name: str, value: object, low: float = 0.0) -> tuple[float, float]:
    try:
        a, b = value  # type: ignore[misc]
        a, b = float(a), float(b)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a pair (low, high) of numbers, got {value!r}") from None
    if not (low < a <= b):
        raise ValueError(f"{name} must satisfy {low} < low <= high, got {value!r}")
    return a, b


def _uniform(low: float, high: float) -> float:
    return float(torch.empty(()).uniform_(low, high)) if high > low else float(low)


def _randint(low: int, high: int) -> int:
    """Uniform integer in [low, high] (both included)."""
    return int(torch.randint(low, high + 1, ())) if high > low else int(low)


# --- CUB: images ----------------------------------------------------------------------------
class RandomAreaCrop:
    r"""Cut a window of random area ``scale`` (fraction of the image, may exceed 1) and aspect
    ``ratio``, resize it to ``size x size``. PIL image in, PIL image out.

    Area above 1: ``oversize="pad"`` (default) keeps the drawn window and fills what lies outside
    the image with ``fill``; ``oversize="clamp"`` clips the window to the image. See the module
    docstring.
    """

    def __init__(self, size: int = 448, scale: Sequence[float] = (0.08, 1.25),
                 ratio: Sequence[float] = (3 / 4, 4 / 3), oversize: str = "pad",
                 fill: Sequence[int] = IMAGENET_MEAN_RGB255) -> None:
        self.size = check_positive_int("size", size)
        self.scale = _check_pair("scale", scale)
        self.ratio = _check_pair("ratio", ratio)
        if oversize not in ("pad", "clamp"):
            raise ValueError(f"oversize must be 'pad' or 'clamp', got {oversize!r}")
        self.oversize = oversize
        self.fill = tuple(int(v) for v in fill)

    def get_params(self, width: int, height: int) -> tuple[int, int, int, int]:
        """Return ``(left, top, w, h)`` of the window in image pixels (may reach outside)."""
        area = width * height * _uniform(*self.scale)
        log_r = _uniform(math.log(self.ratio[0]), math.log(self.ratio[1]))
        r = math.exp(log_r)  # width / height of the window
        w = max(1, round(math.sqrt(area * r)))
        h = max(1, round(math.sqrt(area / r)))
        if self.oversize == "clamp":
            w, h = min(w, width), min(h, height)
        # inside the image along an axis where the window is smaller, around it where larger
        left = _randint(min(0, width - w), max(0, width - w))
        top = _randint(min(0, height - h), max(0, height - h))
        return left, top, w, h

    def __call__(self, img):
        from PIL import Image
        width, height = img.size
        left, top, w, h = self.get_params(width, height)
        out = (self.size, self.size)
        if left >= 0 and top >= 0 and left + w <= width and top + h <= height:
            return img.resize(out, Image.BILINEAR, box=(left, top, left + w, top + h))
        # the window reaches outside: paste the visible part on a canvas of the fill colour
        canvas = Image.new(img.mode, (w, h), self.fill if img.mode == "RGB" else 0)
        x0, y0 = max(left, 0), max(top, 0)
        x1, y1 = min(left + w, width), min(top + h, height)
        canvas.paste(img.crop((x0, y0, x1, y1)), (x0 - left, y0 - top))
        return canvas.resize(out, Image.BILINEAR)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(size={self.size}, scale={self.scale}, ratio="
                f"({self.ratio[0]:.4g}, {self.ratio[1]:.4g}), oversize={self.oversize!r})")


def cub_train_transform(size: int = 448, scale: Sequence[float] = (0.08, 1.25),
                        ratio: Sequence[float] = (3 / 4, 4 / 3), oversize: str = "pad",
                        flip: bool = True, normalize: bool = True) -> Callable:
    """The paper's CUB training transform: PIL image -> ``(3, size, size)`` float tensor."""
    from torchvision import transforms as T
    steps: list = [RandomAreaCrop(size, scale, ratio, oversize)]
    if flip:
        steps.append(T.RandomHorizontalFlip())
    steps.append(T.ToTensor())
    if normalize:
        steps.append(T.Normalize(IMAGENET_MEAN, IMAGENET_STD))
    return T.Compose(steps)


def cub_test_transform(resize: int = 512, size: int = 448, normalize: bool = True) -> Callable:
    """The paper's CUB test transform: shorter side ``resize``, centre crop ``size``."""
    from torchvision import transforms as T
    check_positive_int("resize", resize)
    check_positive_int("size", size)
    if size > resize:
        raise ValueError(f"size must be <= resize (a centre crop of the resized image), got "
                         f"size={size}, resize={resize}")
    steps: list = [T.Resize(resize, interpolation=T.InterpolationMode.BILINEAR),
                   T.CenterCrop(size), T.ToTensor()]
    if normalize:
        steps.append(T.Normalize(IMAGENET_MEAN, IMAGENET_STD))
    return T.Compose(steps)


# --- UCF101: clips (3, T, H, W) -------------------------------------------------------------
def _check_clip(clip: object) -> torch.Tensor:
    if not isinstance(clip, torch.Tensor) or clip.dim() != 4 or clip.shape[0] != 3:
        shape = tuple(clip.shape) if isinstance(clip, torch.Tensor) else type(clip).__name__
        raise ValueError(f"clip must be a (3, T, H, W) tensor, got {shape}")
    if not (clip.is_floating_point() or clip.dtype == torch.uint8):
        raise TypeError(f"clip must have dtype uint8 or a floating-point dtype, got "
                        f"dtype={clip.dtype}")
    return clip


def to_float_clip(clip: torch.Tensor) -> torch.Tensor:
    """``uint8`` clip -> float32 in ``[0, 1]`` (contiguous); a float clip is returned as is."""
    if clip.dtype == torch.uint8:
        return clip.to(torch.float32, memory_format=torch.contiguous_format).div_(255.0)
    return clip


def resize_short_side(clip: torch.Tensor, size: int) -> torch.Tensor:
    """Resize every frame of ``(3, T, H, W)`` so its shorter side is ``size`` (bilinear,
    antialiased; same dtype out)."""
    clip = _check_clip(clip)
    _, T_, H, W = clip.shape
    if min(H, W) == size:
        return clip
    if H <= W:
        new_h, new_w = size, max(1, round(W * size / H))
    else:
        new_h, new_w = max(1, round(H * size / W)), size
    frames = clip.permute(1, 0, 2, 3)  # (T, 3, H, W)
    if clip.dtype == torch.uint8:  # the fast uint8 kernel wants channels-last frames
        frames = frames.contiguous(memory_format=torch.channels_last)
    frames = F.interpolate(frames, size=(new_h, new_w), mode="bilinear", align_corners=False,
                           antialias=True)  # (T, 3, new_h, new_w)
    return frames.permute(1, 0, 2, 3)  # (3, T, new_h, new_w), a view


class ClipRandomShortSide:
    """Shorter side to a random integer in ``[low, high]``, one draw per clip."""

    def __init__(self, low: int = 256, high: int = 320) -> None:
        check_positive_int("low", low)
        check_positive_int("high", high)
        if low > high:
            raise ValueError(f"low must be <= high, got low={low}, high={high}")
        self.low, self.high = low, high

    def __call__(self, clip: torch.Tensor) -> torch.Tensor:
        return resize_short_side(clip, _randint(self.low, self.high))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(low={self.low}, high={self.high})"


class ClipShortSide:
    """Shorter side to ``size``."""

    def __init__(self, size: int = 256) -> None:
        self.size = check_positive_int("size", size)

    def __call__(self, clip: torch.Tensor) -> torch.Tensor:
        return resize_short_side(clip, self.size)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(size={self.size})"


class ClipRandomCrop:
    """The same random ``size x size`` window in every frame."""

    def __init__(self, size: int = 224) -> None:
        self.size = check_positive_int("size", size)

    def __call__(self, clip: torch.Tensor) -> torch.Tensor:
        _, _, H, W = _check_clip(clip).shape
        if H < self.size or W < self.size:
            raise ValueError(f"clip frames must be at least {self.size}x{self.size} to crop, got "
                             f"{H}x{W} (resize the shorter side first)")
        top, left = _randint(0, H - self.size), _randint(0, W - self.size)
        return clip[:, :, top:top + self.size, left:left + self.size]  # (3, T, size, size)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(size={self.size})"


class ClipRandomHorizontalFlip:
    """Flip every frame left-right with probability ``p`` (one draw per clip)."""

    def __init__(self, p: float = 0.5) -> None:
        if not 0.0 <= float(p) <= 1.0:
            raise ValueError(f"p must be in [0, 1], got {p!r}")
        self.p = float(p)

    def __call__(self, clip: torch.Tensor) -> torch.Tensor:
        return clip.flip(-1) if float(torch.rand(())) < self.p else clip

    def __repr__(self) -> str:
        return f"{type(self).__name__}(p={self.p})"


class ClipMultiCrop:
    r"""``crops`` square windows of side ``size`` spread evenly along the longer side, centred on
    the shorter side: ``(3, T, H, W) -> (crops, 3, T, size, size)``.

    With ``size`` equal to the shorter side and 3 crops, the crops touch the two ends and the
    centre of the longer side and together cover the whole frame: the non-local network's
    "fully-convolutional" test, as the ReGr paper reports.
    """

    def __init__(self, size: int | None = None, crops: int = 3) -> None:
        self.size = None if size is None else check_positive_int("size", size)
        self.crops = check_positive_int("crops", crops)

    def __call__(self, clip: torch.Tensor) -> torch.Tensor:
        _, _, H, W = _check_clip(clip).shape
        size = min(H, W) if self.size is None else self.size
        if size > min(H, W):
            raise ValueError(f"crop size must be <= the shorter side, got size={size} for "
                             f"{H}x{W} frames")
        long_is_w = W >= H
        span = (W if long_is_w else H) - size  # room along the longer side
        off_short = ((H if long_is_w else W) - size) // 2
        starts = ([span // 2] if self.crops == 1 else
                  [round(k * span / (self.crops - 1)) for k in range(self.crops)])
        views = []
        for s in starts:
            if long_is_w:
                views.append(clip[:, :, off_short:off_short + size, s:s + size])
            else:
                views.append(clip[:, :, s:s + size, off_short:off_short + size])
        return torch.stack(views)  # (crops, 3, T, size, size)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(size={self.size}, crops={self.crops})"


class ClipToFloat:
    """``uint8`` -> float32 in ``[0, 1]``, contiguous (float input passes through)."""

    def __call__(self, clip: torch.Tensor) -> torch.Tensor:
        return to_float_clip(clip).contiguous()

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class ClipNormalize:
    """Per-channel ``(x - mean) / std`` on ``(..., 3, T, H, W)``, float32 out; a ``uint8`` input
    is read as ``x / 255`` (converted and normalised in one pass)."""

    def __init__(self, mean: Sequence[float] = IMAGENET_MEAN,
                 std: Sequence[float] = IMAGENET_STD) -> None:
        self.mean = torch.tensor(mean, dtype=torch.float32).view(3, 1, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(3, 1, 1, 1)

    def __call__(self, clip: torch.Tensor) -> torch.Tensor:
        if clip.dtype == torch.uint8:  # (x / 255 - mean) / std = x * a - b
            a = 1.0 / (255.0 * self.std)
            b = self.mean / self.std
            out = clip.to(torch.float32, memory_format=torch.contiguous_format)
            return out.mul_(a).sub_(b)
        return ((clip - self.mean.to(clip)) / self.std.to(clip)).contiguous()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(mean={self.mean.flatten().tolist()})"


class Compose:
    """Apply callables in order (kept here so clip transforms need no torchvision import)."""

    def __init__(self, steps: Sequence[Callable]) -> None:
        self.steps = list(steps)

    def __call__(self, x):
        for step in self.steps:
            x = step(x)
        return x

    def __repr__(self) -> str:
        inner = "\n".join(f"    {s!r}," for s in self.steps)
        return f"{type(self).__name__}([\n{inner}\n])"


def ucf101_train_transform(short_side: Sequence[int] = (256, 320), crop: int = 224,
                           flip: bool = True, normalize: bool = True) -> Compose:
    """The paper's UCF101 training transform: ``(3, T, H, W) -> (3, T, crop, crop)``."""
    low, high = short_side
    steps: list = [ClipRandomShortSide(low, high), ClipRandomCrop(crop)]
    if flip:
        steps.append(ClipRandomHorizontalFlip())
    steps.append(ClipNormalize() if normalize else ClipToFloat())
    return Compose(steps)


def ucf101_test_transform(short_side: int = 256, crop_size: int | None = None, crops: int = 3,
                          normalize: bool = True) -> Compose:
    """The paper's UCF101 test transform: ``(3, T, H, W) -> (crops, 3, T, s, s)``, ``s`` =
    ``crop_size`` or the shorter side (256)."""
    return Compose([ClipShortSide(short_side), ClipMultiCrop(crop_size, crops),
                    ClipNormalize() if normalize else ClipToFloat()])
