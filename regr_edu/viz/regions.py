r"""High-related regions (the paper's Fig. 5a/c): for a region :math:`i`, the regions :math:`j`
with the largest relation weights :math:`r_{ij}`, drawn as arrows on the input.

Row :math:`i` of the relation matrix :math:`\mathbf{R}` (``N x N``: a sample of the field ``R``
of :class:`regr_edu.trace.UnitTrace`, what ``ReGr.explain`` returns) is the
descriptor :math:`\mathbf{r}_i` of Eq. 12, :math:`\mathbf{z}_i = \sum_j r_{ij} \mathbf{v}_j`: how
much each region :math:`j` contributes to region :math:`i`. So "the regions related to
:math:`i`" are the largest entries of row :math:`i`, and the arrow goes from :math:`i` to each of
them, as in Fig. 5.

Region index -> place on the input. ``ReGr`` concatenates its regions scale by scale, in the
order of ``scales``; within a scale frame by frame, then row by row of the region grid
(``(T, Gh, Gw)`` flattened, as the trace's ``grids`` list them): the walk of
:class:`regr_edu.regions.RegionLayout`, which :func:`region_boxes` uses. Region ``(gy, gx)`` of
scale ``(h, w)`` covers feature-map rows ``gy*h ... min((gy+1)*h, H)`` and columns
``gx*w ... min((gx+1)*w, W)`` (the last row/column of regions is cut where the unit padded the
map). A feature-map cell stands for ``input / map`` pixels along each axis, so the box on the
input is that range times the stride. That is the region's *footprint*, the part of the input
its cells sit on; each cell's receptive field is larger.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .._checks import check_scales, check_size
from ..regions import RegionLayout, grid_size
from ._common import as_numpy, check_index, panels, to_display

SCALE_COLOURS = ("#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#17becf")
SOURCE_COLOUR = "#d62728"


@dataclass(frozen=True)
class RegionBoxes:
    """Where each of the ``N`` regions of a unit lies, in the order of ``R``'s rows.

    Attributes:
        scale: ``(N,)`` index into ``scales`` of each region's scale.
        frame: ``(N,)`` frame ``t`` of the unit's map (0 for an image).
        cell: ``(N, 2)`` the region's ``(gy, gx)`` on its scale's grid.
        box: ``(N, 4)`` ``(x0, y0, x1, y1)`` on the input, in pixels (``x`` along the width).
        scales: the unit's scales, ``(h, w)`` each.
        map_size: ``(T, H, W)`` of the unit's map.
        input_size: ``(T, H, W)`` of the input (``T = 1`` for an image).
    """

    scale: np.ndarray
    frame: np.ndarray
    cell: np.ndarray
    box: np.ndarray
    scales: tuple[tuple[int, int], ...]
    map_size: tuple[int, int, int]
    input_size: tuple[int, int, int]

    def __len__(self) -> int:
        return len(self.scale)

    def centre(self, j: int) -> tuple[float, float]:
        """Centre ``(x, y)`` of region ``j``'s box, in input pixels."""
        x0, y0, x1, y1 = self.box[j]
        return (x0 + x1) / 2.0, (y0 + y1) / 2.0

    def of_scale(self, s: int) -> np.ndarray:
        """Indices of the regions of scale ``s`` (an index into ``scales``)."""
        return np.flatnonzero(self.scale == s)

    def regions_at(self, x: float, y: float, frame: int = 0) -> np.ndarray:
        """The regions whose box holds input pixel ``(x, y)`` in map frame ``frame``: one per
        scale, in the order of ``scales``."""
        x0, y0, x1, y1 = self.box.T
        inside = (x0 <= x) & (x < x1) & (y0 <= y) & (y < y1) & (self.frame == frame)
        return np.flatnonzero(inside)

    def input_frame(self, t: int) -> int:
        """The input frame shown for frame ``t`` of the map (the map may have fewer frames)."""
        return min(self.input_size[0] - 1, t * self.input_size[0] // self.map_size[0])

    def describe(self, j: int) -> str:
        """``"region 5: scale (4, 4), cell (1, 1)"`` (with the frame for clips)."""
        h, w = self.scales[self.scale[j]]
        gy, gx = self.cell[j]
        frame = f", frame {self.frame[j]}" if self.map_size[0] > 1 else ""
        return f"region {j}: scale ({h}, {w}){frame}, cell ({gy}, {gx})"


def region_boxes(grids: Sequence[Sequence[int]], scales: Sequence[tuple[int, int]],
                 map_size: Sequence[int], input_size: Sequence[int]) -> RegionBoxes:
    r"""Map every region index of a unit to its scale, frame, grid cell and box on the input.

    Args:
        grids: ``(T, Gh, Gw)`` per scale, in the order the regions are concatenated (a trace's
            ``grids``).
        scales: the unit's scales ``(h, w)``, same order (the trace's ``scales``).
        map_size: ``(H, W)`` or ``(T, H, W)`` of the map the unit sees (``map_size``).
        input_size: ``(H, W)`` or ``(T, H, W)`` of the network's input, in pixels (the
            ``image_size`` of a trace from :func:`.explain_units`).

    Returns:
        :class:`RegionBoxes`; entry ``j`` describes row/column ``j`` of ``R``.
    """
    scales = check_scales("scales", scales)
    msize = check_size("map_size", map_size, (2, 3))
    isize = check_size("input_size", input_size, (2, 3))
    try:
        grids = [tuple(int(v) for v in g) for g in grids]
    except (TypeError, ValueError):
        raise ValueError(f"grids must be a sequence of (T, Gh, Gw) triples, "
                         f"got {grids!r}") from None
    if len(grids) != len(scales) or any(len(g) != 3 for g in grids):
        raise ValueError(f"grids must hold one (T, Gh, Gw) triple per scale ({len(scales)} "
                         f"scales), got {grids!r}")
    T = grids[0][0]
    if len(msize) == 2:
        msize = (T, *msize)
    if len(isize) == 2:
        isize = (1, *isize)
    Tm, H, W = msize
    for s, g in zip(scales, grids):
        expected = (Tm, *grid_size(H, W, s))
        if g != expected:
            raise ValueError(f"grids must match scales and map_size: scale {s} on a map of "
                             f"(T, H, W)={msize} gives a grid {expected}, got {g}")
    sy, sx = isize[1] / H, isize[2] / W                       # input pixels per map cell
    layout = RegionLayout(scales, grids)                      # region j -> (scale, t, gy, gx)
    where = np.array([layout.locate(j) for j in range(layout.num_regions)],
                     dtype=np.int64).reshape(-1, 4)           # (N, 4) in R's order
    size = np.array(scales, dtype=np.int64)[where[:, 0]]      # (N, 2): (h, w) of each region
    gy, gx = where[:, 2], where[:, 3]
    y0, y1 = gy * size[:, 0], np.minimum((gy + 1) * size[:, 0], H)   # map rows, cut at padding
    x0, x1 = gx * size[:, 1], np.minimum((gx + 1) * size[:, 1], W)
    box = np.stack([x0 * sx, y0 * sy, x1 * sx, y1 * sy], axis=1).astype(np.float64)
    return RegionBoxes(where[:, 0], where[:, 1], where[:, 2:].copy(), box, scales, msize, isize)


def top_related(R: object, i: int, k: int, *, candidates: Sequence[int] | None = None,
                exclude_self: bool = True, by: str = "value") -> tuple[np.ndarray, np.ndarray]:
    r"""The ``k`` regions most related to region ``i``: the largest entries of row ``i`` of ``R``.

    Args:
        R: ``(N, N)`` relation matrix of one sample (a tensor or array); ``R[i, j]`` is the weight
            of region ``j`` in :math:`\mathbf{z}_i` (Eq. 12).
        i: the region, in ``[0, N)``.
        k: how many, at least 1 and at most the number of candidates.
        candidates: region indices to choose from (e.g. one scale's, from
            :meth:`RegionBoxes.of_scale`); default all.
        exclude_self: leave ``i`` itself out (default), as the paper's arrows do.
        by: ``"value"`` ranks by the weight (the softmax relation is non-negative) or ``"abs"`` by
            its magnitude (the GCN relation has signed weights).

    Returns:
        ``(indices, weights)``, each ``(k,)``, strongest first; equal weights keep index order.
    """
    R = as_numpy("R", R)
    if R.ndim != 2 or R.shape[0] != R.shape[1]:
        raise ValueError(f"R must be a square (N, N) matrix of one sample (index the batch "
                         f"first, e.g. R[0]), got shape {R.shape}")
    N = R.shape[0]
    i = check_index("i", i, 0, N - 1)
    if by not in ("value", "abs"):
        raise ValueError(f"by must be one of ['value', 'abs'], got {by!r}")
    if candidates is None:
        cand = np.arange(N)
    else:
        cand = np.unique(np.asarray(candidates, dtype=np.int64).ravel())
        if cand.size and (cand.min() < 0 or cand.max() >= N):
            raise ValueError(f"candidates must be region indices in [0, {N - 1}], got values "
                             f"from {cand.min()} to {cand.max()}")
    if exclude_self:
        cand = cand[cand != i]
    if cand.size == 0:
        raise ValueError(f"candidates must leave at least one region besides i={i}, got none")
    k = check_index("k", k, 1, cand.size)
    row = R[i, cand]
    score = np.abs(row) if by == "abs" else row
    order = np.argsort(-score, kind="stable")[:k]              # strongest first, ties by index
    return cand[order], row[order]


def _draw_box(ax, box, colour, lw=1.5, ls="-", label=None):
    from matplotlib.patches import Rectangle

    x0, y0, x1, y1 = box
    # imshow puts pixel p's centre at p, so pixel edges sit at -0.5 and W - 0.5
    ax.add_patch(Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0, y1 - y0, fill=False,
                           edgecolor=colour, linewidth=lw, linestyle=ls))
    if label is not None:
        ax.text(x0 + 0.5, y0 + 0.5, label, color="white", fontsize=7, va="top", ha="left",
                bbox=dict(facecolor=colour, edgecolor="none", pad=1.0, alpha=0.85))


def _arrow(fig, ax_from, ax_to, start, end, colour, lw):
    """An arrow from ``start`` on ``ax_from`` to ``end`` on ``ax_to`` (data coordinates)."""
    from matplotlib.patches import ConnectionPatch, FancyArrowPatch

    style = dict(arrowstyle="-|>", mutation_scale=10, color=colour, linewidth=lw, alpha=0.9)
    if ax_from is ax_to:
        ax_from.add_patch(FancyArrowPatch((start[0] - 0.5, start[1] - 0.5),
                                          (end[0] - 0.5, end[1] - 0.5), **style))
    else:
        fig.add_artist(ConnectionPatch((start[0] - 0.5, start[1] - 0.5),
                                       (end[0] - 0.5, end[1] - 0.5), coordsA="data",
                                       coordsB="data", axesA=ax_from, axesB=ax_to, **style))


def _check_R_boxes(R: object, boxes: RegionBoxes) -> np.ndarray:
    R = as_numpy("R", R)
    if R.ndim == 3 and R.shape[0] == 1:
        R = R[0]
    if R.ndim != 2 or R.shape != (len(boxes), len(boxes)):
        raise ValueError(f"R must be (N, N) with N={len(boxes)} regions as in boxes, got shape "
                         f"{R.shape}")
    return R


def _frames(image: object, boxes: RegionBoxes, mean, std) -> np.ndarray:
    """The input as ``(T, H, W, 3)`` display frames, checked against ``boxes.input_size``."""
    disp = to_display(image, mean, std)
    frames = disp[None] if disp.ndim == 3 else disp           # (T, H, W, 3)
    if frames.shape[:3] != boxes.input_size:
        raise ValueError(f"image must match boxes.input_size (T, H, W)={boxes.input_size}, got "
                         f"frames of shape {frames.shape[:3]}")
    return frames


def related_regions_figure(image: object, R: object, boxes: RegionBoxes, region: int,
                           k: int = 3, *, per_scale: bool = True, by: str = "value",
                           mean: Sequence[float] | None = None, std: Sequence[float] | None = None,
                           title: str | None = None):
    r"""Fig. 5a/c: region ``region`` (red) and its top-``k`` related regions, arrows on the input.

    Args:
        image: the input, ``(3, H, W)`` or a clip ``(3, T, H, W)`` (see :func:`.to_display`).
        R: ``(N, N)`` relation matrix of this input (the trace's ``R[b]``).
        boxes: :func:`region_boxes` of the unit.
        region: the source region ``i``.
        k: regions per panel. With ``per_scale`` each scale gets its own panel and its own top-k
            among that scale's regions (fewer if the scale has fewer, as the title says);
            otherwise one panel with the top-k over all scales.
        by: ``"value"`` or ``"abs"``, see :func:`top_related`.
        mean, std: the input's normalisation, undone for display.

    Returns:
        A ``matplotlib.figure.Figure``. For a clip the panels hold one frame each (columns) and an
        arrow may cross from one frame to another. Arrow width grows with the weight.
    """
    R = _check_R_boxes(R, boxes)
    region = check_index("region", region, 0, len(boxes) - 1)
    k = check_index("k", k, 1, max(1, len(boxes) - 1))
    frames = _frames(image, boxes, mean, std)
    groups = list(range(len(boxes.scales))) if per_scale else [None]
    Tm = boxes.map_size[0]
    if Tm == 1:
        fig, axes = panels(1, len(groups))                 # (1, n_groups)
        axes = axes.T                                          # (n_groups, 1): [group, frame]
    else:
        fig, axes = panels(len(groups), Tm)                # (n_groups, T)
    src_t = int(boxes.frame[region])
    for g, group in enumerate(groups):
        cand = boxes.of_scale(group) if group is not None else np.arange(len(boxes))
        n_avail = int((cand != region).sum())
        kk = min(k, n_avail)
        for t in range(Tm):
            ax = axes[g, t]
            ax.imshow(frames[boxes.input_frame(t)], interpolation="nearest")
            if t == src_t:
                _draw_box(ax, boxes.box[region], SOURCE_COLOUR, lw=2.5, label="i")
        name = "all scales" if group is None else "scale {}x{}".format(*boxes.scales[group])
        note = "" if kk == k else f" (only {kk})"
        axes[g, 0].set_title(f"{name}: top-{k}{note}", fontsize=9)
        if kk == 0:
            continue
        idx, wts = top_related(R, region, kk, candidates=cand, by=by)
        wmax = float(np.abs(wts).max()) or 1.0
        for rank, (j, wt) in enumerate(zip(idx, wts), start=1):
            colour = SCALE_COLOURS[boxes.scale[j] % len(SCALE_COLOURS)]
            ax_to = axes[g, int(boxes.frame[j])]
            _draw_box(ax_to, boxes.box[j], colour, label=str(rank))
            _arrow(fig, axes[g, src_t], ax_to, boxes.centre(region), boxes.centre(j), colour,
                   lw=0.8 + 2.2 * abs(float(wt)) / wmax)
    fig.suptitle(title or boxes.describe(region), fontsize=10)
    return fig


def related_regions_grid(image: object, R: object, boxes: RegionBoxes,
                         regions: Sequence[int], k: int = 3, *, ncols: int = 4, by: str = "value",
                         mean: Sequence[float] | None = None, std: Sequence[float] | None = None,
                         title: str | None = None):
    """Small multiples for a static page: one panel per source region, its top-``k`` over all
    scales. For a clip each panel shows the source's frame; targets in another frame are drawn
    dashed (their box, on this frame) and labelled with their frame.

    Returns:
        A ``matplotlib.figure.Figure`` with ``len(regions)`` panels, ``ncols`` per row.
    """
    R = _check_R_boxes(R, boxes)
    regions = list(regions)
    if not regions:
        raise ValueError("regions must list at least one region index, got an empty sequence")
    for n, r in enumerate(regions):
        check_index(f"regions[{n}]", r, 0, len(boxes) - 1)
    k = check_index("k", k, 1, max(1, len(boxes) - 1))
    ncols = check_index("ncols", ncols, 1, 64)
    frames = _frames(image, boxes, mean, std)
    ncols = min(ncols, len(regions))
    nrows = -(-len(regions) // ncols)
    fig, axes = panels(nrows, ncols, panel=2.2)
    for ax in axes.ravel()[len(regions):]:
        ax.set_visible(False)
    for ax, i in zip(axes.ravel(), regions):
        t = int(boxes.frame[i])
        ax.imshow(frames[boxes.input_frame(t)], interpolation="nearest")
        _draw_box(ax, boxes.box[i], SOURCE_COLOUR, lw=2.5, label="i")
        idx, wts = top_related(R, i, k, by=by)
        wmax = float(np.abs(wts).max()) or 1.0
        for rank, (j, wt) in enumerate(zip(idx, wts), start=1):
            colour = SCALE_COLOURS[boxes.scale[j] % len(SCALE_COLOURS)]
            other = int(boxes.frame[j]) != t
            label = f"{rank} (t={boxes.frame[j]})" if other else str(rank)
            _draw_box(ax, boxes.box[j], colour, ls="--" if other else "-", label=label)
            _arrow(fig, ax, ax, boxes.centre(i), boxes.centre(j), colour,
                   lw=0.8 + 2.2 * abs(float(wt)) / wmax)
        h, w = boxes.scales[boxes.scale[i]]
        ax.set_title(f"i={i} ({h}x{w}, cell {tuple(int(v) for v in boxes.cell[i])})", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig
