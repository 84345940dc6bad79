r"""Feature maps before and after a unit (the paper's Fig. 5b/d), caught with forward hooks.

A unit is a residual block, :math:`y = x + \mathrm{BN}(W\,Y)`: the map *before* is its input
:math:`x`, the map *after* its output :math:`y`, and their difference is what the unit adds. A
heatmap of a ``C``-channel map needs one number per cell; :func:`feature_heatmap` takes the
channels' L2 norm (default), their mean, or their mean magnitude.

:func:`capture_unit_io` finds the units of a model (the backbones' ``units`` dict, or any module
of a class in the unit registry), hooks them, runs the model once and gives back each unit's
input and output. :func:`explain_units` then replays each ReGr unit on its captured input with
``ReGr.explain``: a :class:`regr_edu.trace.UnitTrace` per unit, whose fields ``V``, ``R`` (or
``Lc``/``Ls`` for attention), ``offsets``, ``grids`` and ``scales`` the figures read.
"""
from __future__ import annotations

from typing import Any, NamedTuple, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .._checks import check_float, check_number, check_rank, check_size
from ..units import UNIT_CLASSES, unit_class
from ._common import as_numpy, check_index, panels, to_display


class UnitIO(NamedTuple):
    """A unit's input (the map *before*) and output (*after*), detached."""

    input: torch.Tensor
    output: torch.Tensor


def find_units(model: nn.Module) -> dict[str, nn.Module]:
    """The global-reasoning units inside ``model``, by module path, in network order.

    ``model`` itself counts when it is a unit. Units are modules of a class in the registry
    (:data:`regr_edu.units.UNIT_CLASSES`) or of a subclass of one.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    classes = tuple(unit_class(name) for name in UNIT_CLASSES)
    found = {name or "unit": m for name, m in model.named_modules() if isinstance(m, classes)}
    # a unit inside a unit (none today) would be counted twice: keep the outermost
    return {n: m for n, m in found.items()
            if not any(n != o and n.startswith(o + ".") for o in found)}


def _run_eval(model: nn.Module, x: torch.Tensor):
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            return model(x)
    finally:
        model.train(was_training)


def capture_unit_io(model: nn.Module, x: torch.Tensor,
                    units: Sequence[str] | None = None) -> dict[str, UnitIO]:
    """Run ``model`` on ``x`` once (eval mode, no grad) and catch each unit's input and output.

    Args:
        model: a backbone with units, or a unit.
        x: the model's input, on the model's device.
        units: module paths to catch (default: every unit :func:`find_units` finds).

    Returns:
        ``{path: UnitIO(input, output)}`` in network order; for a backbone from
        :mod:`regr_edu.models` the paths are ``"units.<stage>_<block>"``.
    """
    check_float("x", x)
    found = find_units(model)
    if units is not None:
        units = [units] if isinstance(units, str) else list(units)
        unknown = [u for u in units if u not in found]
        if unknown:
            raise ValueError(f"units must name units of the model, one of {list(found)}; "
                             f"got {unknown}")
        found = {u: found[u] for u in units}
    if not found:
        raise ValueError(f"model must contain at least one unit ({sorted(UNIT_CLASSES)}), got a "
                         f"{type(model).__name__} with none (was it built with unit=None?)")
    caught: dict[str, UnitIO] = {}

    def hook(name):
        def fn(module, args, output):
            caught[name] = UnitIO(args[0].detach(), output.detach())
        return fn

    handles = [m.register_forward_hook(hook(n)) for n, m in found.items()]
    try:
        _run_eval(model, x)
    finally:
        for h in handles:
            h.remove()
    return {n: caught[n] for n in found if n in caught}


def explain_units(model: nn.Module, x: torch.Tensor) -> dict[str, Any]:
    """``ReGr.explain`` for every ReGr unit of ``model``, on the input it sees for ``x``.

    Returns:
        ``{path: trace}``, each a :class:`regr_edu.trace.UnitTrace` whose ``image_size`` is the
        ``(T, H, W)`` of ``x`` (its ``map_size`` is that of the unit's map).
    """
    import dataclasses

    from ..regr import ReGr

    ios = capture_unit_io(model, x)
    found = find_units(model)
    out: dict[str, Any] = {}
    for name, io in ios.items():
        unit = found[name]
        if not isinstance(unit, ReGr):
            continue
        was_training = unit.training
        unit.eval()
        try:
            with torch.no_grad():
                info = unit.explain(io.input)
        finally:
            unit.train(was_training)
        out[name] = dataclasses.replace(
            info, image_size=((x.shape[2] if x.dim() == 5 else 1), *x.shape[-2:]))
    if not out:
        raise ValueError(f"model must contain a ReGr unit to explain, got units "
                         f"{[type(m).__name__ for m in found.values()]}")
    return out


def feature_heatmap(feature: torch.Tensor, reduce: str = "norm",
                    size: Sequence[int] | None = None) -> torch.Tensor:
    r"""One number per cell of a feature map, for a heatmap.

    Args:
        feature: ``(B, C, H, W)`` or ``(B, C, T, H, W)``.
        reduce: over the channels: ``"norm"`` (L2 norm, default), ``"mean"`` or ``"abs"`` (mean
            magnitude).
        size: ``(H', W')`` to upsample to (bilinear, e.g. the input's size), per frame.

    Returns:
        ``(B, H, W)`` or ``(B, T, H, W)`` (``H', W'`` if ``size`` is given), float.
    """
    check_float("feature", feature)
    check_rank("feature", feature, (4, 5), "(B, C, H, W) or (B, C, T, H, W)")
    ops = {"norm": lambda f: f.norm(dim=1), "mean": lambda f: f.mean(dim=1),
           "abs": lambda f: f.abs().mean(dim=1)}
    if reduce not in ops:
        raise ValueError(f"reduce must be one of {list(ops)}, got {reduce!r}")
    m = ops[reduce](feature.detach())                           # (B, H, W) or (B, T, H, W)
    if size is not None:
        size = check_size("size", size, (2,))
        lead = m.shape[:-2]
        m = m.reshape(-1, 1, *m.shape[-2:])                     # (B*T, 1, H, W)
        m = F.interpolate(m, size=size, mode="bilinear", align_corners=False)
        m = m.reshape(*lead, *size)                             # (B[, T], H', W')
    return m


def unit_heatmaps_figure(image: object, before: torch.Tensor, after: torch.Tensor, *,
                         sample: int = 0, frame: int = 0, reduce: str = "norm",
                         mean: Sequence[float] | None = None, std: Sequence[float] | None = None,
                         alpha: float = 0.55, title: str | None = None):
    r"""Fig. 5b/d: the input, the map before the unit, after it, and what the unit added.

    ``before`` and ``after`` share one colour scale, so a cell that brightens did gain; the last
    panel, :math:`\|y - x\|` per cell, has its own.

    Args:
        image: the input of sample ``sample`` alone, ``(3, H, W)`` or ``(3, T, H, W)``.
        before, after: the unit's input and output, ``(B, C, h, w)`` or ``(B, C, T, h, w)``
            (a :class:`UnitIO`'s fields).
        sample, frame: which sample of the batch, which frame of the map (clips).
        reduce: see :func:`feature_heatmap`.

    Returns:
        A ``matplotlib.figure.Figure`` with four panels.
    """
    check_float("before", before)
    check_float("after", after)
    if before.shape != after.shape:
        raise ValueError(f"before and after must have the same shape (a unit keeps it), got "
                         f"{tuple(before.shape)} and {tuple(after.shape)}")
    sample = check_index("sample", sample, 0, before.shape[0] - 1)
    disp = to_display(image, mean, std)
    frames = disp[None] if disp.ndim == 3 else disp              # (T_in, H, W, 3)
    size = frames.shape[1:3]
    T = before.shape[2] if before.dim() == 5 else 1
    frame = check_index("frame", frame, 0, T - 1)
    alpha = check_number("alpha", alpha, 0.0, 1.0)

    def pick(m):                                                 # (B[, T], H, W) -> (H, W)
        m = m[sample]
        return as_numpy("map", m[frame] if m.dim() == 3 else m)

    hb = pick(feature_heatmap(before, reduce, size))
    ha = pick(feature_heatmap(after, reduce, size))
    hd = pick(feature_heatmap(after - before, "norm", size))
    lo, hi = min(hb.min(), ha.min()), max(hb.max(), ha.max())
    shown = frames[min(len(frames) - 1, frame * len(frames) // T)]
    fig, axes = panels(1, 4)
    axes = axes[0]
    axes[0].imshow(shown)
    axes[0].set_title("input", fontsize=9)
    for ax, m, name, (vmin, vmax) in ((axes[1], hb, "before the unit", (lo, hi)),
                                      (axes[2], ha, "after the unit", (lo, hi)),
                                      (axes[3], hd, "added: |after - before|",
                                       (hd.min(), hd.max()))):
        ax.imshow(shown)
        im = ax.imshow(m, cmap="jet", alpha=alpha, vmin=vmin, vmax=vmax if vmax > vmin else None)
        ax.set_title(name, fontsize=9)
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.02, format="%.3g")
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def heatmap_change(before: torch.Tensor, after: torch.Tensor, reduce: str = "norm") -> np.ndarray:
    """Relative change of the heatmap per sample, ``||h_after - h_before|| / ||h_before||``
    (``(B,)``): how much the unit moved the map at all (0 for a freshly built unit)."""
    hb, ha = feature_heatmap(before, reduce), feature_heatmap(after, reduce)
    num = (ha - hb).flatten(1).norm(dim=1)
    den = hb.flatten(1).norm(dim=1).clamp_min(1e-12)
    return as_numpy("change", num / den)
