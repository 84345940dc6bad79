r"""Which input pixels a prediction rests on: Captum's Grad-CAM and Integrated Gradients
(Kokhlikyan et al. 2020), for a baseline and a +ReGr model on the same inputs.

- **Grad-CAM** (``LayerGradCam``) weighs the channels of the last feature map by the mean
  gradient of the class score and keeps the positive part: a coarse map, one number per cell of
  the last stage, upsampled to the input.
- **Integrated Gradients** (``IntegratedGradients``) integrates the gradient along the straight
  path from a baseline input (zeros: the mean image after normalisation) to the input; the
  attributions of one input sum to the score difference (completeness), up to the path
  integral's discretisation error, which Captum returns as the convergence delta.

Grad-CAM needs a layer. For the backbones of :mod:`regr_edu.models` the default is their last
feature map ``model.features(x)``, reached through a thin wrapper that runs
``features -> avgpool -> dropout -> fc`` with an identity "tap" on the map; the wrapper is checked
against ``model(x)`` before use. Its map is ``(B, C, T, h, w)`` for clips, so Grad-CAM sees the
frames together (a layer inside a frame-by-frame backbone would see ``B*T`` samples).
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .._checks import check_float, check_int, check_rank
from ._common import as_numpy, check_index, panels, to_display
from .features import _run_eval

METHODS = ("gradcam", "ig")
TITLES = {"gradcam": "Grad-CAM", "ig": "Integrated Gradients"}


class FeatureTap(nn.Module):
    """``model`` as ``fc(dropout(avgpool(tap(features(x)))))``, with ``tap`` an identity layer that
    Captum's layer methods can hook."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        for attr in ("features", "avgpool", "fc"):
            if not hasattr(model, attr):
                raise ValueError(f"model must have features(), avgpool and fc (the backbones of "
                                 f"regr_edu.models do) for the default Grad-CAM layer, or pass "
                                 f"layer=...; {type(model).__name__} has no {attr!r}")
        self.model = model
        self.tap = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = self.model
        f = self.tap(m.features(x))                            # (B, C, [T,] h, w)
        f = m.avgpool(f).flatten(1)                            # (B, C)
        return m.fc(m.dropout(f) if hasattr(m, "dropout") else f)


def _check_input(x: torch.Tensor) -> None:
    check_float("x", x)
    check_rank("x", x, (4, 5), "(B, 3, H, W) or (B, 3, T, H, W)")


def predict(model: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(classes, probabilities)``, each ``(B,)``: the model's top class (eval mode, no grad)."""
    _check_input(x)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            p = torch.softmax(model(x), dim=1)                   # (B, num_classes)
    finally:
        model.train(was_training)
    prob, cls = p.max(dim=1)
    return cls, prob


def _targets(model: nn.Module, x: torch.Tensor, target) -> torch.Tensor:
    if target is None:
        return predict(model, x)[0]
    t = torch.as_tensor(target, device=x.device).long().reshape(-1)
    if t.numel() == 1:
        t = t.expand(x.shape[0])
    if t.numel() != x.shape[0]:
        raise ValueError(f"target must be one class or one per sample ({x.shape[0]}), got "
                         f"{t.numel()} values")
    return t


def attribute(model: nn.Module, x: torch.Tensor, target: int | Sequence[int] | None = None,
              method: str = "gradcam", *, layer: nn.Module | None = None,
              baselines: torch.Tensor | float | None = None, n_steps: int = 32,
              internal_batch_size: int | None = None, return_delta: bool = False):
    r"""Attributions of ``model``'s class score ``target`` to the input ``x`` (Captum).

    Args:
        model: a classifier ``(B, 3, [T,] H, W) -> (B, num_classes)``, run in eval mode.
        x: ``(B, 3, H, W)`` or a clip batch ``(B, 3, T, H, W)``.
        target: class index (one for all, or one per sample); ``None``: the model's prediction.
        method: ``"gradcam"`` (``LayerGradCam``, ReLU'd, upsampled to the input) or ``"ig"``
            (``IntegratedGradients``).
        layer: the Grad-CAM layer (a module of ``model``); default the last feature map, see the
            module docstring.
        baselines: Integrated Gradients' baseline (default zeros).
        n_steps, internal_batch_size: Integrated Gradients' path steps and chunk size.
        return_delta: also return IG's convergence delta ``(B,)`` (Grad-CAM: ``None``).

    Returns:
        Grad-CAM: ``(B, 1, H, W)`` (clips ``(B, 1, T, H, W)``); IG: the shape of ``x``. With
        ``return_delta``, a pair ``(attributions, delta)``.
    """
    from captum.attr import IntegratedGradients, LayerGradCam

    _check_input(x)
    if method not in METHODS:
        raise ValueError(f"method must be one of {list(METHODS)}, got {method!r}")
    check_int("n_steps", n_steps, 2)
    tgt = _targets(model, x, target)
    was_training = model.training
    model.eval()
    try:
        if method == "gradcam":
            forward, cam_layer = model, layer
            if layer is None:
                forward = FeatureTap(model)
                cam_layer = forward.tap
                with torch.no_grad():
                    if not torch.allclose(forward(x), model(x), rtol=1e-4, atol=1e-5):
                        raise ValueError(f"{type(model).__name__}.forward is not "
                                         f"fc(avgpool(features(x))): pass layer=... for Grad-CAM")
            cam = LayerGradCam(forward, cam_layer).attribute(x, target=tgt,
                                                             relu_attributions=True)
            cam = cam.detach()
            if x.dim() == 4:
                cam = cam.reshape(x.shape[0], 1, *cam.shape[-2:])     # (B, 1, h, w)
                out = F.interpolate(cam, size=x.shape[-2:], mode="bilinear", align_corners=False)
            else:
                if cam.dim() != 5:
                    raise ValueError(f"layer's output must be (B, C, T, h, w) for a clip, got "
                                     f"a Grad-CAM map of shape {tuple(cam.shape)}")
                out = F.interpolate(cam, size=x.shape[-3:], mode="trilinear",
                                    align_corners=False)             # (B, 1, T, H, W)
            return (out, None) if return_delta else out
        ig = IntegratedGradients(model)
        attr, delta = ig.attribute(x, baselines=baselines, target=tgt, n_steps=n_steps,
                                   internal_batch_size=internal_batch_size,
                                   return_convergence_delta=True)
        attr = attr.detach()
        return (attr, delta.detach()) if return_delta else attr
    finally:
        model.train(was_training)


def _show(ax, attr_hwc: np.ndarray, original: np.ndarray, method: str) -> None:
    """One panel with Captum's ``visualize_image_attr`` (a blank note for an all-zero map)."""
    from captum.attr import visualization as viz

    if not np.isfinite(attr_hwc).all() or np.abs(attr_hwc).max() < 1e-12:
        ax.imshow(original)
        ax.text(0.5, 0.5, "attribution is zero", transform=ax.transAxes, ha="center",
                color="white", fontsize=8, bbox=dict(facecolor="black", alpha=0.6))
        return
    sign = "positive" if method == "gradcam" else "absolute_value"
    viz.visualize_image_attr(attr_hwc, original, method="blended_heat_map", sign=sign,
                             plt_fig_axis=(ax.figure, ax), use_pyplot=False, alpha_overlay=0.55)


def attribution_figure(models: Mapping[str, nn.Module], x: torch.Tensor,
                       target: int | None = None, methods: Sequence[str] = METHODS, *,
                       sample: int = 0, frame: int = 0, mean: Sequence[float] | None = None,
                       std: Sequence[float] | None = None, n_steps: int = 32,
                       title: str | None = None):
    """Side by side: one row per model (e.g. ``{"baseline": m0, "+ReGr": m1}``), the input and
    one panel per method, drawn with Captum's ``visualize_image_attr`` on the same input.

    Args:
        models: name -> classifier; every model sees the same ``x[sample]``.
        x: ``(B, 3, H, W)`` or ``(B, 3, T, H, W)``; only sample ``sample`` is attributed.
        target: the class to explain for every model; ``None``: each model's own prediction
            (the row's title says which class and its probability).
        methods: a subset of ``("gradcam", "ig")``.
        frame: the frame shown for a clip.

    Returns:
        A ``matplotlib.figure.Figure`` with ``len(models)`` rows and ``1 + len(methods)`` columns.
    """
    _check_input(x)
    if not isinstance(models, Mapping) or not models:
        raise ValueError(f"models must be a non-empty mapping name -> model, got {models!r}")
    methods = [methods] if isinstance(methods, str) else list(methods)
    bad = [m for m in methods if m not in METHODS]
    if bad or not methods:
        raise ValueError(f"methods must be a non-empty subset of {list(METHODS)}, got {methods}")
    sample = check_index("sample", sample, 0, x.shape[0] - 1)
    T = x.shape[2] if x.dim() == 5 else 1
    frame = check_index("frame", frame, 0, T - 1)
    xs = x[sample:sample + 1]                                   # (1, 3, [T,] H, W)
    disp = to_display(xs[0], mean, std)
    original = disp[frame] if disp.ndim == 4 else disp          # (H, W, 3)
    fig, axes = panels(len(models), 1 + len(methods))
    for r, (name, model) in enumerate(models.items()):
        cls, prob = predict(model, xs)
        tgt = int(cls[0]) if target is None else int(target)
        axes[r, 0].imshow(original)
        p_tgt = prob[0] if target is None else torch.softmax(
            _run_eval(model, xs), dim=1)[0, tgt]
        axes[r, 0].set_title(f"{name}: class {tgt} (p={float(p_tgt):.2f})", fontsize=9)
        for c, method in enumerate(methods, start=1):
            a = attribute(model, xs, tgt, method, n_steps=n_steps)[0]   # (C', [T,] H, W)
            a = a[:, frame] if a.dim() == 4 else a                      # (C', H, W)
            _show(axes[r, c], np.moveaxis(as_numpy("attr", a), 0, -1), original, method)
            axes[r, c].set_title(f"{name}: {TITLES[method]}", fontsize=9)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig
