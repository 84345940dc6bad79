r"""Widgets and figures for Eq. 1 (:math:`\rho`, splitting a map into regions).

Plain functions first — they validate their arguments and return tensors, numbers or matplotlib
figures, so tests and the book call them directly — then :func:`regions_widget`, whose slider
bounds are exactly the rule :func:`regions_figure` enforces (a scale no larger than the map).

Inputs are real: :func:`regr_edu.interactive._photo.photo` reads a photograph that ships inside
scikit-image's wheel, and :func:`feature_map` runs it through the first stages of a torchvision
ResNet-18 with *random* weights (seeded; nothing is downloaded): three stages of 3x3
convolutions, ReLUs and residual additions, so each cell sees about 200 x 200 pixels (its
receptive field) and the map keeps the photograph's layout on a coarse grid, as a backbone's
feature map does.
``matplotlib``, ``ipywidgets`` and ``skimage`` are imported inside the functions that need them,
never by ``import regr_edu``.
"""
from __future__ import annotations

import contextlib
import functools
import io
from typing import Any, Sequence

import torch

from .._checks import check_choice, check_float, check_positive_int, check_scale, check_scales
from ..regions import cell_mask, grid_size
from ..regr import count_regions
from ._display import with_static_fallback
from ._photo import photo

STAGES = {"layer1": 4, "layer2": 8, "layer3": 16}        # name -> stride in pixels
SCALE_COLORS = ("#e41a1c", "#1f78b4", "#33a02c", "#ff7f00", "#6a3d9a", "#b15928")
_MEAN = (0.485, 0.456, 0.406)                             # ImageNet statistics, the usual input
_STD = (0.229, 0.224, 0.225)                              # normalisation of a torchvision ResNet


@contextlib.contextmanager
def _one_thread():
    """Run small tensor work on one thread, then restore the thread count.

    The tensors behind these figures are tiny. On a shared 2-core machine a second thread only
    adds waiting: under load, a principal-component step measured 0.2 s on one thread and
    7.7 s on two, a training step of ``aggregation.train_nu`` 10 ms and 130 ms.
    """
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)


# ----------------------------------------------------------------------------------------------
# real inputs: a photograph, a short panning clip, and their feature maps
def pan_clip(image: torch.Tensor, frames: int = 8, size: int = 224, step: int = 32,
             top: int | None = None) -> torch.Tensor:
    """A clip made by sliding a ``size x size`` window to the right across ``image``.

    A stand-in for a video (the camera pans), built from a photograph so nothing is downloaded.
    ``top`` is the window's first row (default: centred vertically).

    Returns:
        ``(3, frames, size, size)``.
    """
    _check_image("image", image)
    frames = check_positive_int("frames", frames)
    size = check_positive_int("size", size)
    step = check_positive_int("step", step)
    _, Hi, Wi = image.shape
    need = size + (frames - 1) * step
    if size > Hi or need > Wi:
        raise ValueError(f"a clip of {frames} frames of {size}x{size} at step {step} needs an "
                         f"image at least {size} high and {need} wide, got image of shape "
                         f"{tuple(image.shape)}")
    top = (Hi - size) // 2 if top is None else top
    if not isinstance(top, int) or not 0 <= top <= Hi - size:
        raise ValueError(f"top must be an integer in [0, {Hi - size}] (image height {Hi} minus "
                         f"size {size}), got {top!r}")
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
        feature: ``(1, C, H, W)``, ``(C, H, W)`` or ``(1, C, T, H, W)``.
        basis: the ``basis`` returned by an earlier call, to draw another map (a reconstruction)
            in the same colours; computed from ``feature`` when ``None``.

    Returns:
        ``(rgb, basis)``: ``rgb`` a numpy array ``(H, W, 3)`` (or ``(T, H, W, 3)``) in ``[0, 1]``.
    """
    check_float("feature", feature)
    f = feature[0] if feature.dim() in (4, 5) else feature           # (C, [T,] H, W)
    if f.dim() not in (3, 4):
        raise ValueError(f"feature must be (C, H, W), (1, C, H, W) or (1, C, T, H, W), got shape "
                         f"{tuple(feature.shape)}")
    C = f.shape[0]
    cells = f.detach().reshape(C, -1).T.double()                     # (cells, C)
    with _one_thread():
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


# ----------------------------------------------------------------------------------------------
# numbers
def region_counts(map_size: Sequence[int], scales: Sequence[tuple[int, int]]) -> dict[str, Any]:
    """How many regions each scale gives on a ``(H, W)`` or ``(T, H, W)`` map, and ``N``.

    Returns:
        ``{"per_scale": [{"scale", "grid", "regions", "cells", "padded"}, ...], "N": int}`` where
        ``grid = (Gh, Gw)`` (after padding), ``cells = h*w = P`` and ``padded`` says whether the
        scale does not divide the map.
    """
    size = tuple(map_size)
    T, H, W = (1, *size) if len(size) == 2 else size
    scales = check_scales("scales", scales)
    rows = []
    for h, w in scales:
        Gh, Gw = grid_size(H, W, (h, w))
        rows.append(dict(scale=(h, w), grid=(Gh, Gw), regions=T * Gh * Gw, cells=h * w,
                         padded=bool(H % h or W % w)))
    return dict(per_scale=rows, N=count_regions((T, H, W), scales))


def describe_counts(map_size: Sequence[int], scales: Sequence[tuple[int, int]]) -> str:
    """One line per scale, e.g. ``scale (4, 4): 7 x 7 = 49 regions of P = 16 cells``."""
    counts = region_counts(map_size, scales)
    T = 1 if len(tuple(map_size)) == 2 else tuple(map_size)[0]
    lines = []
    for r in counts["per_scale"]:
        (Gh, Gw), (h, w) = r["grid"], r["scale"]
        t = f"{T} x " if T > 1 else ""
        pad = " (padded)" if r["padded"] else ""
        lines.append(f"scale ({h}, {w}): {t}{Gh} x {Gw} = {r['regions']} regions of "
                     f"P = {r['cells']} cells{pad}")
    lines.append(f"N = {counts['N']} regions in all")
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------------
# figures
def _check_image(name: str, image: torch.Tensor) -> None:
    check_float(name, image)
    if image.dim() != 3 or image.shape[0] != 3:
        raise ValueError(f"{name} must be an RGB image (3, Hi, Wi), got shape {tuple(image.shape)}")


def _map_hw(name: str, feature: torch.Tensor) -> tuple[int, int]:
    check_float(name, feature)
    if feature.dim() not in (3, 4) or (feature.dim() == 4 and feature.shape[0] != 1):
        raise ValueError(f"{name} must be one map (C, H, W) or (1, C, H, W), got shape "
                         f"{tuple(feature.shape)}")
    return int(feature.shape[-2]), int(feature.shape[-1])


def _stride(image: torch.Tensor, H: int, W: int) -> int:
    _, Hi, Wi = image.shape
    if Hi % H or Wi % W or Hi // H != Wi // W:
        raise ValueError(f"image (Hi, Wi)=({Hi}, {Wi}) must be the feature map (H, W)=({H}, {W}) "
                         f"times one whole stride, got ratios {Hi / H:g} and {Wi / W:g}")
    return Hi // H


def _draw_grid(ax, H: int, W: int, scales, unit: float = 1.0, label: bool = True) -> None:
    """Region boundaries of every scale (in cells, times ``unit``), padded area hatched."""
    from matplotlib.patches import Rectangle

    Hp = max(grid_size(H, W, s)[0] * s[0] for s in scales)
    Wp = max(grid_size(H, W, s)[1] * s[1] for s in scales)
    if Hp > H or Wp > W:   # the zero padding, bottom and right
        for rect in ((0, H, Wp, Hp - H), (W, 0, Wp - W, H)):
            x0, y0, dw, dh = (v * unit for v in rect)
            if dw > 0 and dh > 0:
                ax.add_patch(Rectangle((x0, y0), dw, dh, facecolor="0.85", edgecolor="0.5",
                                       hatch="//", lw=0.0))
    # coarser scales first and thicker, so a finer grid drawn on top stays visible
    order = sorted(range(len(scales)), key=lambda k: -scales[k][0] * scales[k][1])
    for k in order:
        h, w = scales[k]
        Gh, Gw = grid_size(H, W, (h, w))
        color = SCALE_COLORS[k % len(SCALE_COLORS)]
        lw = min(2.6, max(0.35, 12.0 / max(Gh, Gw)))
        for gy in range(Gh + 1):
            ax.plot([0, Gw * w * unit], [gy * h * unit] * 2, color=color, lw=lw,
                    solid_capstyle="butt")
        for gx in range(Gw + 1):
            ax.plot([gx * w * unit] * 2, [0, Gh * h * unit], color=color, lw=lw,
                    solid_capstyle="butt", label=f"({h}, {w})" if (gx == 0 and label) else None)
    ax.set_xlim(-0.5 * unit, Wp * unit + 0.5 * unit)
    ax.set_ylim(Hp * unit + 0.5 * unit, -0.5 * unit)
    ax.set_xticks([])
    ax.set_yticks([])


def regions_figure(image: torch.Tensor, feature: torch.Tensor, scales: Sequence[tuple[int, int]],
                   figsize: tuple[float, float] = (9.0, 4.6)):
    """The regions of each scale drawn over a photograph and over its feature map.

    Args:
        image: ``(3, Hi, Wi)`` in ``[0, 1]``; ``Hi / H`` and ``Wi / W`` must be the same whole
            stride.
        feature: ``(1, C, H, W)`` or ``(C, H, W)``, the map the scales are measured on.
        scales: ``(h, w)`` pairs in feature-map cells, none larger than the map, none repeated.
            A scale that does not divide the map is drawn with its zero padding hatched.

    Returns:
        A matplotlib figure with two panels.
    """
    import matplotlib.pyplot as plt

    _check_image("image", image)
    H, W = _map_hw("feature", feature)
    stride = _stride(image, H, W)
    scales = check_scales("scales", scales)
    for s in scales:
        grid_size(H, W, s)                          # ValueError for a scale larger than the map
    rgb, _ = feature_rgb(feature)
    fig, axes = plt.subplots(1, 2, figsize=figsize, layout="constrained")
    axes[0].imshow(image.permute(1, 2, 0).numpy(), extent=(0, W * stride, H * stride, 0))
    _draw_grid(axes[0], H, W, scales, unit=stride)
    axes[0].set_title(f"photograph, {image.shape[1]} x {image.shape[2]} pixels", fontsize=12)
    axes[1].imshow(rgb, extent=(0, W, H, 0), interpolation="nearest")
    _draw_grid(axes[1], H, W, scales, label=False)
    axes[1].set_title(f"feature map, {H} x {W} cells ({feature.shape[-3]} channels)",
                      fontsize=12)
    axes[0].legend(loc="upper left", bbox_to_anchor=(0, -0.02), ncol=len(scales), frameon=False,
                   title="scale (h, w) in feature-map cells", fontsize=11, title_fontsize=11)
    fig.suptitle(describe_counts((H, W), scales).replace("\n", ";  "), fontsize=11)
    return fig


def regions_grid(image: torch.Tensor, feature: torch.Tensor,
                 scale_sets: Sequence[Sequence[tuple[int, int]]], panel: float = 2.6):
    """Small multiples: one column per set of scales, the photograph above its feature map."""
    import matplotlib.pyplot as plt

    _check_image("image", image)
    H, W = _map_hw("feature", feature)
    stride = _stride(image, H, W)
    if isinstance(scale_sets, (str, bytes)) or len(scale_sets) == 0:
        raise ValueError(f"scale_sets must be a non-empty list of lists of (h, w), "
                         f"got {scale_sets!r}")
    sets = [check_scales(f"scale_sets[{i}]", s) for i, s in enumerate(scale_sets)]
    for s in (s for ss in sets for s in ss):
        grid_size(H, W, s)
    rgb, _ = feature_rgb(feature)
    n = len(sets)
    fig, axes = plt.subplots(2, n, figsize=(panel * n, panel * 2.15), layout="constrained",
                             squeeze=False)
    for j, ss in enumerate(sets):
        axes[0, j].imshow(image.permute(1, 2, 0).numpy(), extent=(0, W * stride, H * stride, 0))
        _draw_grid(axes[0, j], H, W, ss, unit=stride, label=False)
        axes[1, j].imshow(rgb, extent=(0, W, H, 0), interpolation="nearest")
        _draw_grid(axes[1, j], H, W, ss, label=False)
        N = count_regions((H, W), ss)
        names = " + ".join(f"({h},{w})" for h, w in ss)
        axes[0, j].set_title(f"{names}\nN = {N}", fontsize=12)
    axes[0, 0].set_ylabel("photograph", fontsize=12)
    axes[1, 0].set_ylabel(f"{H} x {W} map", fontsize=12)
    return fig


def layout_figure(H: int, W: int, scale: tuple[int, int], reading: str = "pad",
                  figsize: tuple[float, float] | None = None, ax=None):
    """Which cell goes where: each region coloured, each cell labelled with its index ``p``.

    Args:
        H, W: map size in cells (at most 32 x 32, so the labels stay legible).
        scale: ``(h, w)``, no larger than the map.
        reading: ``"pad"`` — the map is zero-padded bottom and right to a multiple of the scale
            and the padded cells (hatched) are masked out; every region has ``h*w`` slots.
            ``"unequal"`` — no padding: an edge region simply has fewer cells (the literal
            reference's :func:`regr_edu.reference.region_cells`); its cell count is printed.
        ax: a matplotlib axes to draw into (a new figure when ``None``).

    Returns:
        The matplotlib figure drawn into.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    from ..reference.regions import region_cells

    H, W = check_positive_int("H", H), check_positive_int("W", W)
    if H > 32 or W > 32:
        raise ValueError(f"H and W must be at most 32 for a legible layout, got (H, W)=({H}, {W})")
    h, w = check_scale("scale", scale)
    check_choice("reading", reading, ("pad", "unequal"))
    Gh, Gw = grid_size(H, W, (h, w))
    mask = cell_mask(H, W, (h, w))                                   # (Gh, Gw, P)
    cmap = plt.get_cmap("tab20")
    Hp, Wp = (Gh * h, Gw * w) if reading == "pad" else (H, W)
    side = 0.32 * max(Hp, Wp) + 1.0
    if ax is None:
        fig, ax = plt.subplots(figsize=figsize or (side, side), layout="constrained")
    else:
        fig = ax.figure
    fs = max(4.0, min(9.0, 120.0 / max(Hp, Wp)))
    for gy in range(Gh):
        for gx in range(Gw):
            color = cmap(((gy * Gw + gx) * 2 + (gy % 2)) % 20)
            if reading == "pad":
                for p in range(h * w):
                    r, c = gy * h + p // w, gx * w + p % w
                    real = bool(mask[gy, gx, p])
                    ax.add_patch(Rectangle((c, r), 1, 1, facecolor=color if real else "0.88",
                                           edgecolor="white", hatch=None if real else "//", lw=0.6))
                    ax.text(c + 0.5, r + 0.5, str(p), ha="center", va="center", fontsize=fs,
                            color="black" if real else "0.45")
            else:
                cells = region_cells(gy, gx, (h, w), H, W)
                for p, (r, c) in enumerate(cells):
                    ax.add_patch(Rectangle((c, r), 1, 1, facecolor=color, edgecolor="white",
                                           lw=0.6))
                    ax.text(c + 0.5, r + 0.5, str(p), ha="center", va="center", fontsize=fs)
                if len(cells) < h * w:
                    r0 = sum(r for r, _ in cells) / len(cells) + 0.5
                    c0 = sum(c for _, c in cells) / len(cells) + 0.5
                    ax.text(c0, r0, f"P={len(cells)}", ha="center", va="center",
                            fontsize=fs + 2, weight="bold",
                            bbox=dict(facecolor="white", alpha=0.8, lw=0, pad=1.0))
            ax.add_patch(Rectangle((gx * w, gy * h), min(w, Wp - gx * w), min(h, Hp - gy * h),
                                   fill=False, edgecolor="black", lw=1.6))
    if reading == "pad" and (Hp > H or Wp > W):
        ax.plot([0, W, W], [H, H, 0], color="#e41a1c", lw=2.0, ls="--")
    ax.set_xlim(0, Wp)
    ax.set_ylim(Hp, 0)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    if reading == "pad" and (Hp > H or Wp > W):
        what = f"padded to {Hp} x {Wp}, padded cells masked"
    elif reading == "unequal" and (H % h or W % w):
        what = "edge regions have fewer cells"
    else:
        what = "the scale divides the map"
    ax.set_title(f"{H} x {W} map, scale ({h}, {w}): {Gh} x {Gw} regions; {what}", fontsize=9)
    return fig


def clip_regions_figure(clip: torch.Tensor, feature: torch.Tensor, scale: tuple[int, int],
                        panel: float = 1.9, cols: int = 4):
    """Every frame of a clip with its regions: regions never span frames (Eq. 1's ``T``).

    Args:
        clip: ``(3, T, Hi, Wi)``.
        feature: ``(1, C, T, H, W)``, the clip's feature map.
        scale: ``(h, w)`` in feature-map cells.
        panel: size of one panel in inches.
        cols: frames per row; each row of frames is drawn above its feature maps.
    """
    import matplotlib.pyplot as plt

    check_float("clip", clip)
    check_float("feature", feature)
    if clip.dim() != 4 or clip.shape[0] != 3:
        raise ValueError(f"clip must be (3, T, Hi, Wi), got shape {tuple(clip.shape)}")
    if feature.dim() != 5 or feature.shape[0] != 1 or feature.shape[2] != clip.shape[1]:
        raise ValueError(f"feature must be (1, C, T, H, W) with T={clip.shape[1]} as the clip, "
                         f"got shape {tuple(feature.shape)}")
    cols = check_positive_int("cols", cols)
    T, H, W = feature.shape[2:]
    stride = _stride(clip[:, 0], H, W)
    h, w = check_scale("scale", scale)
    Gh, Gw = grid_size(H, W, (h, w))
    rgb, _ = feature_rgb(feature)                                    # (T, H, W, 3)
    cols = min(cols, T)
    groups = -(-T // cols)
    fig, axes = plt.subplots(2 * groups, cols, figsize=(panel * cols, panel * 2.1 * groups),
                             layout="constrained", squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for t in range(T):
        top, bottom = axes[2 * (t // cols), t % cols], axes[2 * (t // cols) + 1, t % cols]
        top.axis("on")
        bottom.axis("on")
        top.imshow(clip[:, t].permute(1, 2, 0).numpy(), extent=(0, W * stride, H * stride, 0))
        _draw_grid(top, H, W, [(h, w)], unit=stride, label=False)
        top.set_title(f"frame t = {t}: {Gh * Gw} regions", fontsize=9)
        bottom.imshow(rgb[t], extent=(0, W, H, 0), interpolation="nearest")
        _draw_grid(bottom, H, W, [(h, w)], label=False)
    fig.suptitle(f"scale ({h}, {w}) on a {T} x {H} x {W} map: T x Gh x Gw = {T} x {Gh} x {Gw} "
                 f"= {T * Gh * Gw} regions", fontsize=10)
    return fig


# ----------------------------------------------------------------------------------------------
# the widget
def figure_png(fig, dpi: int = 80) -> bytes:
    """Render a figure to PNG bytes and close it (what the widgets show)."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    plt.close(fig)
    return buf.getvalue()


def regions_widget(image: torch.Tensor | None = None, feature: torch.Tensor | None = None,
                   scale: tuple[int, int] = (4, 4), second: tuple[int, int] | None = (7, 7)):
    """Sliders for one or two region scales, drawn over a photograph and its feature map.

    Slider bounds are the rule :func:`regions_figure` enforces: ``1 <= h <= H``, ``1 <= w <= W``
    (a scale that does not divide the map is allowed and drawn padded). Two equal scales are one
    set of regions, so the second is then ignored.

    Returns:
        An ``ipywidgets.VBox`` with attributes ``h, w, h2, w2`` (sliders), ``two`` (checkbox),
        ``info`` (an ``HTML`` with the region counts), ``image`` (an ``Image`` with the figure)
        and ``scales`` (the scales drawn last), so it can be driven from code.
    """
    import ipywidgets as widgets

    if image is None:
        image = photo("astronaut", 448)
    if feature is None:
        feature = feature_map(image, "layer3")
    _check_image("image", image)
    H, W = _map_hw("feature", feature)
    _stride(image, H, W)
    s1 = check_scale("scale", scale)
    s2 = check_scale("second", second) if second is not None else (min(7, H), min(7, W))
    for s in (s1, s2):
        grid_size(H, W, s)
    style = dict(continuous_update=False, layout=widgets.Layout(width="300px"),
                 style={"description_width": "28px"})
    h = widgets.IntSlider(value=s1[0], min=1, max=H, description="h", **style)
    w = widgets.IntSlider(value=s1[1], min=1, max=W, description="w", **style)
    two = widgets.Checkbox(value=second is not None, description="second scale", indent=False)
    h2 = widgets.IntSlider(value=s2[0], min=1, max=H, description="h₂", **style)
    w2 = widgets.IntSlider(value=s2[1], min=1, max=W, description="w₂", **style)
    info = widgets.HTML()
    picture = widgets.Image(format="png", layout=widgets.Layout(width="100%", max_width="760px"))
    box = widgets.VBox([widgets.HBox([h, w]), widgets.HBox([two, h2, w2]), info, picture])

    def update(_=None) -> None:
        scales = [(h.value, w.value)]
        if two.value and (h2.value, w2.value) != scales[0]:
            scales.append((h2.value, w2.value))
        h2.disabled = w2.disabled = not two.value
        box.scales = tuple(scales)
        info.value = "<pre style='margin:0'>" + describe_counts((H, W), scales) + "</pre>"
        picture.value = figure_png(regions_figure(image, feature, scales, figsize=(9.0, 4.6)))

    for control in (h, w, two, h2, w2):
        control.observe(update, names="value")
    box.h, box.w, box.two, box.h2, box.w2 = h, w, two, h2, w2
    box.info, box.image, box.update = info, picture, update
    update()
    return with_static_fallback(box)
