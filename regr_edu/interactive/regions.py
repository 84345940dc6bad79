r"""The figures and the widget of the regions chapter (Eq. 1, :math:`\rho`).

The chapter's inputs, a photograph, a panning clip and their feature maps, come from
:mod:`regr_edu.interactive._photo`; the split itself is :func:`regr_edu.split_regions`. Here:
how many regions a set of scales gives (:func:`region_counts`), the regions drawn over a
photograph and its map (:func:`regions_figure`, :func:`regions_grid`,
:func:`clip_regions_figure`), the order of the cells in a region (:func:`layout_figure`), and
:func:`regions_widget`, whose slider bounds are exactly the rule :func:`regions_figure`
enforces (a scale no larger than the map).
"""
from __future__ import annotations

from typing import Any, Sequence

import torch

from .._checks import (check_choice, check_int, check_list, check_positive_int, check_scale,
                       check_scales, check_shape)
from ..regions import cell_mask, grid_size
from ..regr import count_regions
from ._display import figure_png, new_figure, with_static_fallback
from ._photo import feature_map, feature_rgb, photo

SCALE_COLORS = ("#e41a1c", "#1f78b4", "#33a02c", "#ff7f00", "#6a3d9a", "#b15928")


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
def _check_pair(image: torch.Tensor, feature: torch.Tensor) -> tuple[int, int, int]:
    """A photograph and its one map: ``(H, W, stride)``; ValueError if they do not match."""
    check_shape("image", image, (3, None, None), "an RGB image (3, Hi, Wi)")
    check_shape("feature", feature, (1, None, None, None), "one map (1, C, H, W)")
    (_, Hi, Wi), (H, W) = image.shape, feature.shape[-2:]
    if Hi % H or Wi % W or Hi // H != Wi // W:
        raise ValueError(f"image (Hi, Wi)=({Hi}, {Wi}) must be the feature map (H, W)=({H}, {W}) "
                         f"times one whole stride, got ratios {Hi / H:g} and {Wi / W:g}")
    return H, W, Hi // H


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


def _draw_pair(top, bottom, image, rgb, H: int, W: int, stride: int, scales,
               label: bool = False) -> None:
    """The photograph with the regions of ``scales`` in ``top``, its map's colours in
    ``bottom``."""
    top.imshow(image.permute(1, 2, 0).numpy(), extent=(0, W * stride, H * stride, 0))
    _draw_grid(top, H, W, scales, unit=stride, label=label)
    bottom.imshow(rgb, extent=(0, W, H, 0), interpolation="nearest")
    _draw_grid(bottom, H, W, scales, label=False)


def regions_figure(image: torch.Tensor, feature: torch.Tensor, scales: Sequence[tuple[int, int]],
                   figsize: tuple[float, float] = (9.0, 4.6)):
    """The regions of each scale drawn over a photograph and over its feature map.

    Args:
        image: ``(3, Hi, Wi)`` in ``[0, 1]``; ``Hi / H`` and ``Wi / W`` must be the same whole
            stride.
        feature: ``(1, C, H, W)``, the map the scales are measured on.
        scales: ``(h, w)`` pairs in feature-map cells, none larger than the map, none repeated.
            A scale that does not divide the map is drawn with its zero padding hatched.

    Returns:
        A matplotlib figure with two panels.
    """
    H, W, stride = _check_pair(image, feature)
    scales = check_scales("scales", scales)
    for s in scales:
        grid_size(H, W, s)                          # ValueError for a scale larger than the map
    fig, axes = new_figure(1, 2, figsize=figsize, layout="constrained")
    _draw_pair(axes[0], axes[1], image, feature_rgb(feature)[0], H, W, stride, scales, label=True)
    axes[0].set_title(f"photograph, {image.shape[1]} x {image.shape[2]} pixels", fontsize=12)
    axes[1].set_title(f"feature map, {H} x {W} cells ({feature.shape[1]} channels)", fontsize=12)
    axes[0].legend(loc="upper left", bbox_to_anchor=(0, -0.02), ncol=len(scales), frameon=False,
                   title="scale (h, w) in feature-map cells", fontsize=11, title_fontsize=11)
    fig.suptitle(describe_counts((H, W), scales).replace("\n", ";  "), fontsize=11)
    return fig


def regions_grid(image: torch.Tensor, feature: torch.Tensor,
                 scale_sets: Sequence[Sequence[tuple[int, int]]], panel: float = 2.6):
    """Small multiples: one column per set of scales, the photograph above its feature map."""
    H, W, stride = _check_pair(image, feature)
    sets = check_list("scale_sets", scale_sets, check_scales)
    for s in (s for ss in sets for s in ss):
        grid_size(H, W, s)
    rgb, _ = feature_rgb(feature)
    n = len(sets)
    fig, axes = new_figure(2, n, figsize=(panel * n, panel * 2.15), layout="constrained",
                           squeeze=False)
    for j, ss in enumerate(sets):
        _draw_pair(axes[0, j], axes[1, j], image, rgb, H, W, stride, ss)
        names = " + ".join(f"({h},{w})" for h, w in ss)
        axes[0, j].set_title(f"{names}\nN = {count_regions((H, W), ss)}", fontsize=12)
    axes[0, 0].set_ylabel("photograph", fontsize=12)
    axes[1, 0].set_ylabel(f"{H} x {W} map", fontsize=12)
    return fig


def layout_figure(H: int, W: int, scale: tuple[int, int], reading: str = "pad",
                  figsize: tuple[float, float] | None = None, ax=None):
    """Which cell goes where: each region coloured, each cell labelled with its index ``p``.

    Args:
        H, W: map size in cells, each in ``[1, 32]`` (so the labels stay legible).
        scale: ``(h, w)``, no larger than the map.
        reading: ``"pad"`` — the map is zero-padded bottom and right to a multiple of the scale
            and the padded cells (hatched) are masked out (:func:`regr_edu.regions.cell_mask`);
            every region has ``h*w`` slots. ``"unequal"`` — no padding: an edge region simply
            has fewer cells (:func:`regr_edu.reference.region_cells`); its count is printed.
        ax: a matplotlib axes to draw into (a new figure when ``None``).

    Returns:
        The matplotlib figure drawn into.
    """
    from matplotlib import colormaps
    from matplotlib.patches import Rectangle

    from ..reference.regions import region_cells

    H, W = check_int("H", H, 1, 32), check_int("W", W, 1, 32)
    h, w = check_scale("scale", scale)
    check_choice("reading", reading, ("pad", "unequal"))
    Gh, Gw = grid_size(H, W, (h, w))
    mask = cell_mask(H, W, (h, w))                                   # (Gh, Gw, P)
    cmap = colormaps["tab20"]
    Hp, Wp = (Gh * h, Gw * w) if reading == "pad" else (H, W)
    if ax is None:
        side = 0.32 * max(Hp, Wp) + 1.0
        fig, ax = new_figure(figsize=figsize or (side, side), layout="constrained")
    fs = max(4.0, min(9.0, 120.0 / max(Hp, Wp)))
    for gy in range(Gh):
        for gx in range(Gw):
            color = cmap(((gy * Gw + gx) * 2 + (gy % 2)) % 20)
            if reading == "pad":                     # every slot p of the region, real or not
                cells = [(gy * h + p // w, gx * w + p % w) for p in range(h * w)]
                real = mask[gy, gx].tolist()
            else:                                    # the real cells only, numbered among them
                cells = region_cells(gy, gx, (h, w), H, W)
                real = [True] * len(cells)
            for p, ((r, c), ok) in enumerate(zip(cells, real)):
                ax.add_patch(Rectangle((c, r), 1, 1, facecolor=color if ok else "0.88",
                                       edgecolor="white", hatch=None if ok else "//", lw=0.6))
                ax.text(c + 0.5, r + 0.5, str(p), ha="center", va="center", fontsize=fs,
                        color="black" if ok else "0.45")
            if reading == "unequal" and len(cells) < h * w:
                r0 = sum(r for r, _ in cells) / len(cells) + 0.5
                c0 = sum(c for _, c in cells) / len(cells) + 0.5
                ax.text(c0, r0, f"P={len(cells)}", ha="center", va="center", fontsize=fs + 2,
                        weight="bold", bbox=dict(facecolor="white", alpha=0.8, lw=0, pad=1.0))
            ax.add_patch(Rectangle((gx * w, gy * h), min(w, Wp - gx * w), min(h, Hp - gy * h),
                                   fill=False, edgecolor="black", lw=1.6))
    padded = Hp > H or Wp > W
    if padded:
        ax.plot([0, W, W], [H, H, 0], color="#e41a1c", lw=2.0, ls="--")
    ax.set_xlim(0, Wp)
    ax.set_ylim(Hp, 0)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    if padded:
        what = f"padded to {Hp} x {Wp}, padded cells masked"
    elif H % h or W % w:
        what = "edge regions have fewer cells"
    else:
        what = "the scale divides the map"
    ax.set_title(f"{H} x {W} map, scale ({h}, {w}): {Gh} x {Gw} regions; {what}", fontsize=9)
    return ax.figure


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
    check_shape("clip", clip, (3, None, None, None), "a clip (3, T, Hi, Wi)")
    T = clip.shape[1]
    check_shape("feature", feature, (1, None, T, None, None),
                f"the clip's map (1, C, T, H, W) with T={T} as the clip")
    cols = min(check_positive_int("cols", cols), T)
    H, W, stride = _check_pair(clip[:, 0], feature[:, :, 0])
    h, w = check_scale("scale", scale)
    Gh, Gw = grid_size(H, W, (h, w))
    rgb, _ = feature_rgb(feature)                                    # (T, H, W, 3)
    groups = -(-T // cols)
    fig, axes = new_figure(2 * groups, cols, figsize=(panel * cols, panel * 2.1 * groups),
                           layout="constrained", squeeze=False)
    for ax in axes.flat:
        ax.axis("off")                                               # on again where a frame is
    for t in range(T):
        top, bottom = axes[2 * (t // cols), t % cols], axes[2 * (t // cols) + 1, t % cols]
        top.axis("on")
        bottom.axis("on")
        _draw_pair(top, bottom, clip[:, t], rgb[t], H, W, stride, [(h, w)])
        top.set_title(f"frame t = {t}: {Gh * Gw} regions", fontsize=9)
    fig.suptitle(f"scale ({h}, {w}) on a {T} x {H} x {W} map: T x Gh x Gw = {T} x {Gh} x {Gw} "
                 f"= {T * Gh * Gw} regions", fontsize=10)
    return fig


# ----------------------------------------------------------------------------------------------
# the widget
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
    H, W, _ = _check_pair(image, feature)
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
