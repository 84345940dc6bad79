"""Shared helpers of :mod:`regr_edu.viz`: an index check, images for display, panels.

Figures are built with :func:`regr_edu.interactive.new_figure`, a
:class:`matplotlib.figure.Figure` not registered in ``pyplot``'s global list (nothing leaks when
a widget redraws a hundred times), and a notebook shows one returned figure once. Argument
checks are :mod:`regr_edu._checks`'; PNGs come from :func:`regr_edu.interactive.figure_png`.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from .._checks import check_int
from ..interactive._display import new_figure


def check_index(name: str, value: object, low: int, high: int) -> int:
    """:func:`regr_edu._checks.check_int` that also takes a numpy integer (a region index read
    off an array, e.g. :meth:`.RegionBoxes.of_scale`)."""
    return check_int(name, int(value) if isinstance(value, np.integer) else value, low, high)


def as_numpy(name: str, x: object) -> np.ndarray:
    """A tensor (any device, with or without grad) or array-like as a float64 numpy array."""
    if isinstance(x, torch.Tensor):
        return x.detach().to("cpu", torch.float64).numpy()
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a torch.Tensor or a numeric array, "
                        f"got {type(x).__name__}") from None
    return arr


def to_display(image: object, mean: Sequence[float] | None = None,
               std: Sequence[float] | None = None) -> np.ndarray:
    r"""An image or clip as a float array in ``[0, 1]``, channels last, ready for ``imshow``.

    Args:
        image: ``(3, H, W)`` or ``(1, H, W)`` (a tensor, channels first), ``(3, T, H, W)`` (a
            clip), or an array already channels last, ``(H, W, 3)`` / ``(H, W)``.
        mean, std: the normalisation the input went through (e.g. ImageNet's); undone first.
            Without them the image is min-max scaled to ``[0, 1]``.

    Returns:
        ``(H, W, 3)`` for an image, ``(T, H, W, 3)`` for a clip.
    """
    arr = as_numpy("image", image)
    channels_first = isinstance(image, torch.Tensor)
    if arr.ndim == 2:                                            # (H, W) grey
        arr = np.repeat(arr[..., None], 3, axis=-1)              # (H, W, 3)
    elif channels_first and arr.ndim in (3, 4) and arr.shape[0] in (1, 3):
        arr = np.moveaxis(arr, 0, -1)                            # (H, W, C) or (T, H, W, C)
        if arr.shape[-1] == 1:
            arr = np.repeat(arr, 3, axis=-1)
    elif not (arr.ndim == 3 and arr.shape[-1] == 3):
        raise ValueError(f"image must be (3, H, W), (1, H, W) or (3, T, H, W) as a tensor, or "
                         f"(H, W, 3) / (H, W) as an array, got shape {arr.shape}")
    if mean is not None or std is not None:
        m = np.asarray(mean if mean is not None else (0.0, 0.0, 0.0), dtype=np.float64)
        s = np.asarray(std if std is not None else (1.0, 1.0, 1.0), dtype=np.float64)
        arr = arr * s + m
        return np.clip(arr, 0.0, 1.0)
    lo, hi = float(arr.min()), float(arr.max())
    return (arr - lo) / (hi - lo) if hi > lo else np.zeros_like(arr)


def panels(nrows: int, ncols: int, panel: float = 2.6, squeeze: bool = False):
    """A figure of ``(nrows, ncols)`` square panels (:func:`regr_edu.interactive.new_figure`, no
    pyplot state) and its array of axes, with axis ticks off."""
    fig, axes = new_figure(nrows, ncols, figsize=(panel * ncols, panel * nrows + 0.3),
                           layout="constrained", squeeze=squeeze)
    for ax in np.atleast_1d(axes).ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    return fig, axes
