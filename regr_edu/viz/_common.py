"""Shared helpers of :mod:`regr_edu.viz`: argument checks, images for display, figures.

Figures are built with :class:`matplotlib.figure.Figure` directly, not through ``pyplot``: they
are not registered in pyplot's global list (nothing leaks when a widget redraws a hundred times)
and a notebook shows one returned figure once.
"""
from __future__ import annotations

import io
from typing import Sequence

import numpy as np
import torch


def check_int_in(name: str, value: object, low: int, high: int) -> int:
    """``value`` as an int in ``[low, high]``, else a ``ValueError`` naming the rule."""
    if isinstance(value, (np.integer,)):
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ValueError(f"{name} must be an integer in [{low}, {high}], got {value!r}")
    return value


def check_size(name: str, value: object, lengths: Sequence[int] = (2,)) -> tuple[int, ...]:
    """A size such as ``(H, W)`` or ``(T, H, W)``: a tuple of positive ints of an allowed length."""
    try:
        size = tuple(value)  # type: ignore[arg-type]
    except TypeError:
        size = ()
    ok = len(size) in lengths and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool)
                                      and v >= 1 for v in size)
    if not ok:
        names = " or ".join({2: "(H, W)", 3: "(T, H, W)"}.get(n, f"{n} numbers") for n in lengths)
        raise ValueError(f"{name} must be {names} of positive integers, got {value!r}")
    return tuple(int(v) for v in size)


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


def new_figure(nrows: int, ncols: int, panel: float = 2.6, squeeze: bool = False):
    """A ``Figure`` (not pyplot) and its ``(nrows, ncols)`` array of axes, with axis ticks off."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(panel * ncols, panel * nrows + 0.3), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=squeeze)
    for ax in np.atleast_1d(axes).ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    return fig, axes


def figure_png(fig) -> bytes:
    """Render a figure to PNG bytes (for an ``ipywidgets.Image``)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80)
    return buf.getvalue()
