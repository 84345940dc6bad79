r"""A real photograph and a feature map made from it, for the chapters' figures.

The photographs ship inside scikit-image's wheel (nothing is downloaded). No trained backbone
is available offline, so :func:`photo_features` stands in for one: a fixed random *patch
embedding* (one strided convolution with seeded random weights, a ReLU, per-channel
standardisation), like the first layer of a vision transformer before training. Its channels
are random functions of each patch's colour and texture, so regions that look alike get similar
feature vectors: enough to show what the relations compute on a real input, not what a trained
network would see.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

PHOTOS = ("chelsea", "astronaut", "coffee", "rocket")


def photo(name: str = "chelsea", size: int = 224) -> torch.Tensor:
    """A square RGB photograph from scikit-image, centre-cropped and resized: ``(3, size, size)``
    floats in ``[0, 1]``."""
    if name not in PHOTOS:
        raise ValueError(f"name must be one of {list(PHOTOS)}, got {name!r}")
    if not isinstance(size, int) or isinstance(size, bool) or size < 8:
        raise ValueError(f"size must be an integer >= 8, got {size!r}")
    import skimage.data

    img = torch.as_tensor(getattr(skimage.data, name)()).permute(2, 0, 1).float() / 255  # (3, H, W)
    _, H, W = img.shape
    s = min(H, W)
    top, left = (H - s) // 2, (W - s) // 2
    img = img[:, top:top + s, left:left + s]                                  # (3, s, s)
    img = F.interpolate(img[None], size=(size, size), mode="bilinear", antialias=True,
                        align_corners=False)[0]                               # (3, size, size)
    return img.clamp(0, 1)


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
