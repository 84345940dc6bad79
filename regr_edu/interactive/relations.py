r"""Figures, costs and the widget of the relations chapter (Eq. 5–10).

Plain functions validate their arguments (a ``ValueError`` naming the parameter, the rule and the
value) and return arrays, numbers or matplotlib figures; :func:`relation_widget` wraps them in
ipywidgets whose choices and bounds are exactly what the functions accept. Every relation matrix
drawn here is computed by the package's own :class:`regr_edu.ReGr` (``ReGr.explain``) and every
cost is measured with the package's one FLOP counter (:func:`regr_edu.costs.count_flops`) on
its relation modules; the closed-form counts in :func:`cost_formula` are checked against those
measurements.

Region order (as in :class:`regr_edu.ReGr`): the regions of the first scale row by row, then those
of the next scale; :class:`regr_edu.regions.RegionLayout` (``result["layout"]``) walks that list.
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import ipywidgets as widgets
import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from .._checks import check_choice
from ..regions import RegionLayout
from ..regr import ReGr
from ..relations import RELATION_CLASSES
from ..costs import count_flops
from ._display import figure_png, new_figure, with_static_fallback
from ._photo import photo, photo_features

RELATION_NAMES = tuple(RELATION_CLASSES)                  # ("bilinear", "gcn", "attention")
DEFAULT_SCALES = ((4, 4), (7, 7))

# The variants compared in the chapter: a label and the ReGr options that select it.
RELATION_VARIANTS: dict[str, tuple[str, dict]] = {
    "bilinear, softmax": ("bilinear", {"relation_norm": "softmax"}),
    "bilinear, dot / N": ("bilinear", {"relation_norm": "dot"}),
    "GCN, R / N": ("gcn", {"gcn_scale": True}),
    "attention, sequential": ("attention", {"attention_mode": "sequential"}),
}


def _check_map(x: torch.Tensor) -> torch.Tensor:
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise TypeError(f"x must be a floating-point torch.Tensor, got {type(x).__name__}")
    if x.dim() != 4 or x.shape[0] != 1:
        raise ValueError(f"x must be one feature map (1, C, H, W), got {tuple(x.shape)}")
    return x


def _check_count(name: str, value: object, low: int = 1) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    return value


# ----------------------------------------------------------------------------- inputs
def example_input(name: str = "chelsea", size: int = 224, cells: int = 28,
                  channels: int = 64, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """``(image, x)``: a photograph ``(3, size, size)`` and its ``(1, channels, cells, cells)``
    stand-in feature map (see :mod:`regr_edu.interactive._photo`)."""
    image = photo(name, size)
    return image, photo_features(image, cells, channels, seed)


# ----------------------------------------------------------------------------- matrices
def relation_matrix(relation: str, x: torch.Tensor,
                    scales: Sequence[tuple[int, int]] = DEFAULT_SCALES, seed: int = 0,
                    **options: Any) -> dict[str, Any]:
    """Build a :class:`regr_edu.ReGr` with ``relation`` and seeded random weights (the default
    initialisation; ``options`` go to the unit, e.g. ``relation_norm="dot"``), run it on the map
    ``x`` ``(1, C, H, W)`` and return what the relation computed, batch dimension dropped:

    ``R`` ``(N, N)`` (bilinear, GCN; ``None`` for attention), ``Lc`` ``(M,)`` and ``Ls`` ``(N,)``
    (attention; ``None`` otherwise), ``V`` ``(N, M)``, ``Z`` ``(N, M)``, ``grids``, ``scales``,
    ``layout`` (a :class:`~regr_edu.regions.RegionLayout`: where region ``i`` lies), ``N``,
    ``M``, ``relation``, ``options``, the ``unit`` itself and its ``trace``
    (:meth:`regr_edu.ReGr.explain`).
    """
    check_choice("relation", relation, RELATION_NAMES)
    x = _check_map(x)
    _, C, H, W = x.shape
    torch.manual_seed(seed)
    unit = ReGr(C, scales=scales, relation=relation, input_size=(H, W), **options)
    unit.eval()
    with torch.no_grad():
        info = unit.explain(x)
    out: dict[str, Any] = dict(relation=relation, options=dict(options), unit=unit, trace=info,
                               scales=unit.scales, layout=info.layout,
                               grids=info.grids, V=info.V[0], Z=info.Z[0],
                               N=info.V.shape[1], M=info.V.shape[2], R=None, Lc=None, Ls=None)
    if info.R is not None:
        out["R"] = info.R[0]                                  # (N, N)
    else:
        out["Lc"] = info.Lc[0, 0]                             # (M,)
        out["Ls"] = info.Ls[0, :, 0]                          # (N,)
    return out


def on_grids(values: torch.Tensor, layout: RegionLayout) -> list[np.ndarray]:
    """Put ``N`` numbers (a row of ``R``, or ``Ls``) on the region grids: one ``(Gh, Gw)`` array
    per scale (first frame), by :meth:`RegionLayout.split <regr_edu.regions.RegionLayout.split>`."""
    values = values.detach().cpu().reshape(1, -1)
    if values.shape[1] != layout.num_regions:
        raise ValueError(f"values must hold N={layout.num_regions} numbers for {layout}, "
                         f"got {values.shape[1]}")
    return [g[0, 0].numpy() for g in layout.split(values)]     # (1, T, Gh, Gw) -> (Gh, Gw)


def row_similarity(R: torch.Tensor) -> float:
    """Mean correlation between two different rows of ``R`` ``(N, N)``: near 1 when every
    region gathers from the others in the same proportions, near 0 when each row is its own."""
    if (not isinstance(R, torch.Tensor) or R.dim() != 2 or R.shape[0] != R.shape[1]
            or R.shape[0] < 2):
        raise ValueError(f"R must be a square (N, N) tensor with N >= 2, "
                         f"got {tuple(R.shape) if isinstance(R, torch.Tensor) else R!r}")
    C = torch.corrcoef(R.detach().to(torch.float64))               # (N, N) row correlations
    off = ~torch.eye(R.shape[0], dtype=torch.bool, device=R.device)
    return float(C[off].mean())


def _check_region(region: int | None, layout: RegionLayout) -> int:
    """``region`` checked against the layout; ``None``: the centre of the first scale's grid."""
    if region is None:
        _, Gh, Gw = layout.grids[0]
        return layout.index(0, 0, Gh // 2, Gw // 2)
    if not isinstance(region, int) or isinstance(region, bool) or \
            not 0 <= region < layout.num_regions:
        raise ValueError(f"region must be an integer in [0, {layout.num_regions - 1}] "
                         f"(N={layout.num_regions} regions), got {region!r}")
    return region


# ----------------------------------------------------------------------------- drawing
def _cmap(result) -> tuple[str, float | None, float | None]:
    R = result["R"]
    if result["relation"] == "bilinear" and result["options"].get("relation_norm",
                                                                   "softmax") == "softmax":
        return "viridis", None, None                                # auto range: rows sum to 1
    lim = float(R.abs().max()) or 1.0
    return "RdBu_r", -lim, lim


def _draw_matrix(ax, result, region: int | None, title: str = "") -> None:
    R = result["R"].cpu().numpy()
    cmap, vmin, vmax = _cmap(result)
    im = ax.imshow(R, cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
    ax.figure.colorbar(im, ax=ax, shrink=0.75)
    for start in result["layout"].starts[1:]:                     # scale boundaries
        ax.axhline(start - 0.5, color="white", lw=0.8)
        ax.axvline(start - 0.5, color="white", lw=0.8)
    if region is not None:
        ax.add_patch(Rectangle((-0.5, region - 0.5), R.shape[1], 1, fill=False, color="red",
                               lw=1.2))
    ax.set_xlabel("j (region that informs)")
    ax.set_ylabel("i (region informed)")
    ax.set_title(title or f"R, {R.shape[0]}×{R.shape[1]}", fontsize=10)


def _draw_on_image(ax, values: np.ndarray, image: torch.Tensor | None, cmap: str,
                   vmin=None, vmax=None, title: str = "", mark: tuple[int, int] | None = None):
    Gh, Gw = values.shape
    extent = (-0.5, Gw - 0.5, Gh - 0.5, -0.5)
    if image is not None:
        ax.imshow(image.permute(1, 2, 0).clamp(0, 1).numpy(), extent=extent)
        im = ax.imshow(values, cmap=cmap, vmin=vmin, vmax=vmax, alpha=0.6, extent=extent,
                       interpolation="nearest")
    else:
        im = ax.imshow(values, cmap=cmap, vmin=vmin, vmax=vmax, extent=extent,
                       interpolation="nearest")
    ax.figure.colorbar(im, ax=ax, shrink=0.75)
    if mark is not None:
        r, c = mark
        ax.add_patch(Rectangle((c - 0.5, r - 0.5), 1, 1, fill=False, color="red", lw=2))
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title, fontsize=10)


def _scale_label(scale) -> str:
    return f"scale ({scale[0]},{scale[1]})"


def _draw_result(top, grid_axes, result, image, region: int | None, title: str) -> None:
    """``R`` (or ``L_c``) into ``top``; row ``region`` of ``R`` (or ``L_s``) on the first
    ``len(grid_axes)`` scales' grids over ``image``, the region itself boxed."""
    layout, scales = result["layout"], result["scales"]
    if result["R"] is not None:
        region = _check_region(region, layout)
        k0, _, r0, c0 = layout.locate(region)
        _draw_matrix(top, result, region, title or f"{result['relation']}: R ({result['N']}×"
                                                   f"{result['N']}), row {region} boxed")
        cmap, vmin, vmax = _cmap(result)
        for k, (ax, vals) in enumerate(zip(grid_axes, on_grids(result["R"][region], layout))):
            _draw_on_image(ax, vals, image, cmap, vmin, vmax,
                           f"row {region} of R on {_scale_label(scales[k])}",
                           (r0, c0) if k == k0 else None)
        return
    Lc = result["Lc"].cpu().numpy()
    top.bar(np.arange(Lc.size), Lc, width=1.0, color="tab:purple")
    top.set(ylim=(0, 1), xlabel="feature m of M")
    top.set_title(title or f"attention: channel map L_c (1×{Lc.size})", fontsize=10)
    for k, (ax, vals) in enumerate(zip(grid_axes, on_grids(result["Ls"], layout))):
        _draw_on_image(ax, vals, image, "magma", None, None,
                       f"regional map L_s on {_scale_label(scales[k])}")


def relation_figure(result: dict[str, Any], image: torch.Tensor | None = None,
                    region: int | None = None) -> Figure:
    """Draw a :func:`relation_matrix` result.

    Bilinear and GCN: ``R`` as an ``N x N`` heatmap (white lines separate the scales) and row
    ``region`` of ``R`` — how much every region informs that one — on each scale's region grid
    over ``image``. Attention: the channel map ``L_c`` and the regional map ``L_s`` on each
    scale's grid.
    """
    n_scales = len(result["grids"])
    fig, axes = new_figure(1, n_scales + 1, figsize=(4.3 * (n_scales + 1), 3.9),
                           layout="constrained")
    _draw_result(axes[0], axes[1:], result, image, region, "")
    return fig


def relation_small_multiples(x: torch.Tensor, image: torch.Tensor | None = None,
                             variants: Sequence[str] = tuple(RELATION_VARIANTS),
                             region: int | None = None,
                             scales: Sequence[tuple[int, int]] = DEFAULT_SCALES,
                             seed: int = 0) -> Figure:
    """One column per variant of :data:`RELATION_VARIANTS`: on top ``R`` (or ``L_c``), below the
    row ``region`` of ``R`` (or ``L_s``) on the first scale's grid over ``image``."""
    variants = list(variants)
    for v in variants:
        check_choice("variants[...]", v, tuple(RELATION_VARIANTS))
    if not variants:
        raise ValueError("variants must name at least one variant, got []")
    fig, axes = new_figure(2, len(variants), figsize=(3.6 * len(variants), 6.6),
                           layout="constrained", squeeze=False)
    for col, label in enumerate(variants):
        relation, options = RELATION_VARIANTS[label]
        result = relation_matrix(relation, x, scales, seed, **options)
        _draw_result(axes[0, col], [axes[1, col]], result, image, region, label)
    return fig


def matrices_figure(matrices: dict[str, torch.Tensor]) -> Figure:
    """Relation matrices side by side (``label -> R`` ``(N, N)``), each on a symmetric
    blue-red scale: rows are the reading region ``i``, columns the region ``j`` it reads."""
    if not matrices:
        raise ValueError("matrices must hold at least one (N, N) matrix, got {}")
    fig, axes = new_figure(1, len(matrices), figsize=(4 * len(matrices), 3.6),
                           layout="constrained", squeeze=False)
    for ax, (label, R) in zip(axes[0], matrices.items()):
        if not isinstance(R, torch.Tensor) or R.dim() != 2 or R.shape[0] != R.shape[1]:
            raise ValueError(f"matrices[{label!r}] must be a square (N, N) tensor, "
                             f"got {getattr(R, 'shape', R)!r}")
        R = R.detach().cpu().to(torch.float64)
        lim = float(R.abs().max()) or 1.0
        ax.figure.colorbar(ax.imshow(R.numpy(), cmap="RdBu_r", vmin=-lim, vmax=lim), ax=ax,
                           shrink=0.75)
        ax.set(xlabel="j (read)", ylabel="i (reader)")
        ax.set_title(label, fontsize=9)
    return fig


# ----------------------------------------------------------------------------- costs
def cost_formula(relation: str, N: int, M: int, inner_channels: int | None = None,
                 reduction: int = 16, hidden: int = 4) -> dict[str, int]:
    r"""Closed-form FLOPs (a multiply-add counts 2, as :class:`FlopCounterMode` counts) of the
    matrix products and convolutions of one relation on ``V`` ``(1, N, M)``, with its parameter
    count. Element-wise work (softmax, ReLU, sigmoid, max-pooling) is not counted.

    * bilinear, ``M' = M // 4``: :math:`\theta, \phi`: ``4 N M M'``; ``R = θφᵀ``: ``2 N² M'``;
      ``Z = R V``: ``2 N² M``. Parameters ``2 (M M' + M')``.
    * GCN: node-wise conv ``2 N² M``, channel-wise conv ``2 N² M``, ``Z = R V`` ``2 N² M``:
      ``6 N² M``. Parameters ``N² + N`` (``A_g``) plus ``N M + N``: ``N (N + M + 2)``.
    * attention, ``r = M // reduction``: ``L_c`` ``4 M r``; ``L_s``, two 3x3 convs
      ``1 -> hidden -> 1`` on every region: ``36 hidden N``. Parameters
      ``2 M r + r + M + 19 hidden + 1``.
    """
    check_choice("relation", relation, RELATION_NAMES)
    N, M = _check_count("N", N), _check_count("M", M)
    if relation == "bilinear":
        Mp = max(1, M // 4) if inner_channels is None else _check_count("inner_channels",
                                                                         inner_channels)
        return dict(flops=4 * N * M * Mp + 2 * N * N * Mp + 2 * N * N * M,
                    params=2 * (M * Mp + Mp))
    if relation == "gcn":
        return dict(flops=6 * N * N * M, params=N * (N + M + 2))
    r = max(1, M // _check_count("reduction", reduction))
    h = _check_count("hidden", hidden)
    return dict(flops=4 * M * r + 36 * h * N, params=2 * M * r + r + M + 19 * h + 1)


def _relation_module(relation: str, N: int, M: int, options: dict) -> torch.nn.Module:
    """One relation module for ``N`` regions of ``M`` numbers (only the GCN needs ``N``)."""
    if relation == "gcn":
        return RELATION_CLASSES[relation](M, N, **options)
    return RELATION_CLASSES[relation](M, **options)


def relation_costs(relation: str, N: int, M: int, **options: Any) -> dict[str, int]:
    """Measure one relation module on ``V`` ``(1, N, M)``: ``flops`` counted by
    the package's one counter (:func:`regr_edu.costs.count_flops`) and ``params`` by summing its
    parameters.
    ``options`` go to the relation's constructor (``inner_channels``, ``reduction`` ...).

    Module and input live on PyTorch's ``meta`` device: every operation runs with shapes only,
    no numbers, so counting a large ``N`` takes no time and no memory."""
    check_choice("relation", relation, RELATION_NAMES)
    N, M = _check_count("N", N), _check_count("M", M)
    with torch.device("meta"):
        module = _relation_module(relation, N, M, options)
        V = torch.randn(1, N, M)                                 # shapes only
    flops, _ = count_flops(module, V, [(1, 1, N)])              # the regions as a 1 x N strip
    return dict(flops=flops, params=sum(p.numel() for p in module.parameters()))


def cost_figure(Ns: Sequence[int], M: int = 64, marks: dict[str, int] | None = None) -> Figure:
    """FLOPs and parameters of the three relations against ``N`` (log-log), measured with
    :func:`relation_costs`; ``marks`` labels some values of ``N`` with vertical lines."""
    Ns = [_check_count("N", n) for n in Ns]
    if len(Ns) < 2:
        raise ValueError(f"Ns must hold at least two region counts, got {Ns!r}")
    fig, (ax_f, ax_p) = new_figure(1, 2, figsize=(11, 3.9), layout="constrained")
    for relation, color in zip(RELATION_NAMES, ("tab:blue", "tab:orange", "tab:purple")):
        costs = [relation_costs(relation, n, M) for n in Ns]
        ax_f.loglog(Ns, [c["flops"] for c in costs], "o-", color=color, label=relation, ms=3)
        ax_p.loglog(Ns, [c["params"] for c in costs], "o-", color=color, label=relation, ms=3)
    for ax, what in ((ax_f, "FLOPs (multiply-add = 2)"), (ax_p, "parameters")):
        for label, n in (marks or {}).items():
            ax.axvline(n, color="gray", ls=":", lw=1)
            ax.text(n, 0.97, f"{label} ", rotation=90, va="top", ha="right", fontsize=8,
                    color="gray", transform=ax.get_xaxis_transform())
        ax.set_xlabel("N, number of regions")
        ax.set_ylabel(what)
        ax.grid(True, which="major", alpha=0.3)
    ax_f.legend(fontsize=9, loc="lower right")
    ax_p.legend(fontsize=9, loc="center right")
    ax_f.set_title(f"cost of one relation, M = {M}", fontsize=10)
    ax_p.set_title("parameters of one relation", fontsize=10)
    return fig


def output_growth(relation: str, N: int, M: int = 16, seed: int = 0,
                  **options: Any) -> float:
    """``|Z| / |V|`` (Frobenius norms) of one relation module with seeded default weights on a
    standard-normal ``V`` ``(1, N, M)``: how the size of ``Z = R V`` depends on ``N``."""
    check_choice("relation", relation, RELATION_NAMES)
    N, M = _check_count("N", N), _check_count("M", M)
    torch.manual_seed(seed)
    module = _relation_module(relation, N, M, options)
    V = torch.randn(1, N, M)
    with torch.no_grad():
        Z = module(V, [(1, 1, N)])
    return float(Z.norm() / V.norm())


# ----------------------------------------------------------------------------- the widget
class RelationWidget(widgets.VBox):
    """A relation chooser and a region slider over an image of :func:`relation_figure`, redrawn
    on every change. ``result`` holds the last :func:`relation_matrix` result drawn."""

    def __init__(self, x: torch.Tensor | None = None, image: torch.Tensor | None = None,
                 relation: str = "bilinear", region: int | None = None,
                 scales: Sequence[tuple[int, int]] = DEFAULT_SCALES, seed: int = 0) -> None:
        if x is None:
            image, x = example_input()
        self.x, self.photo, self.scales, self.seed = _check_map(x), image, scales, seed
        check_choice("relation", relation, RELATION_NAMES)
        self._cache: dict[str, dict[str, Any]] = {}
        first = self._result(relation)
        N = first["N"]
        region = _check_region(region, first["layout"])
        self.relation = widgets.Dropdown(options=list(RELATION_NAMES), value=relation,
                                         description="relation")
        self.region = widgets.IntSlider(value=region, min=0, max=N - 1, step=1,
                                        description="region i", continuous_update=False)
        self.image = widgets.Image(format="png")
        self.result: dict[str, Any] | None = None
        super().__init__([widgets.HBox([self.relation, self.region]), self.image])
        self.relation.observe(self._redraw, names="value")
        self.region.observe(self._redraw, names="value")
        self._redraw()

    def _result(self, relation: str) -> dict[str, Any]:
        if relation not in self._cache:
            self._cache[relation] = relation_matrix(relation, self.x, self.scales, self.seed)
        return self._cache[relation]

    def _redraw(self, change=None) -> None:
        self.result = self._result(self.relation.value)
        self.region.disabled = self.result["R"] is None           # attention has no rows
        fig = relation_figure(self.result, self.photo, self.region.value)
        self.image.value = figure_png(fig, dpi=72)


def relation_widget(x: torch.Tensor | None = None, image: torch.Tensor | None = None,
                    relation: str = "bilinear", region: int | None = None,
                    scales: Sequence[tuple[int, int]] = DEFAULT_SCALES,
                    seed: int = 0) -> RelationWidget:
    """Choose the relation type and the region ``i`` whose row of ``R`` is drawn over the photo;
    the region slider runs over ``0 .. N-1``. Defaults to the chapter's photograph. On a static
    page it shows a picture of its current state
    (:func:`~regr_edu.interactive.with_static_fallback`)."""
    return with_static_fallback(RelationWidget(x, image, relation, region, scales, seed))
