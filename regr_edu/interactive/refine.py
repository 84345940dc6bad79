r"""Figures and the widget of the refine chapter (Eq. 3–4): moving a region with ``δx, δy, m``;
training a refine to reproduce a known move (:func:`fit_move`); reading the record of
``benchmarks/refine_study.py``. Functions validate their arguments (a ``ValueError`` naming the
parameter, the rule and the value); the sliders of :func:`refine_widget` have exactly the bounds
they accept. The arithmetic is the package's own :func:`regr_edu.bilinear_shift`.

A grid is ``(1, M, Hg, Wg)``; ``x`` runs along the width, ``y`` along the height, so ``dx > 0``
makes a region *read from the right* (in the output the picture appears to move left).
"""
from __future__ import annotations

import math
from typing import Sequence

import ipywidgets as widgets
import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle

from .._checks import check_choice, check_in_range, check_number, check_positive_int
from ..reference import g as tent
from ..refine import Refine, bilinear_shift
from ._display import figure_png, new_figure, with_static_fallback
from ._records import (first_epoch_rows, replay_verdict, study_rows,  # noqa: F401
                       study_runs)          # (the chapter reads the record here)

DELTA_RANGE = (-1.0, 1.0)      # tanh(.) in Eq. 3; the sliders' bounds
M_RANGE = (0.0, 1.0)           # sigmoid(.) in Eq. 3
SLIDER_STEP = 0.05


def _check_move(dx: object, dy: object, m: object) -> tuple[float, float, float]:
    return (check_number("dx", dx, *DELTA_RANGE), check_number("dy", dy, *DELTA_RANGE),
            check_number("m", m, *M_RANGE))


def _check_grid(grid: torch.Tensor, channels: int | None = 3) -> torch.Tensor:
    if not isinstance(grid, torch.Tensor) or not grid.is_floating_point():
        raise TypeError(f"grid must be a floating-point torch.Tensor, got {type(grid).__name__}")
    if grid.dim() != 4 or grid.shape[0] != 1:
        raise ValueError(f"grid must have shape (1, M, Hg, Wg), got {tuple(grid.shape)}")
    if channels is not None and grid.shape[1] != channels:
        raise ValueError(f"grid must have M={channels} channels (drawn as RGB), "
                         f"got shape {tuple(grid.shape)}")
    return grid


def _check_cell(cell, Hg: int, Wg: int) -> tuple[int, int]:
    if cell is None:
        return Hg // 2, Wg // 2
    try:
        r, c = (int(v) for v in cell)
    except (TypeError, ValueError):
        raise ValueError(f"cell must be a pair (row, col), got {cell!r}") from None
    if not (0 <= r < Hg and 0 <= c < Wg):
        raise ValueError(f"cell must lie on the {Hg}x{Wg} grid (0 <= row < {Hg}, "
                         f"0 <= col < {Wg}), got {cell!r}")
    return r, c


# ----------------------------------------------------------------------------- the weights
def tent_figure(limit: float = 1.6) -> Figure:
    r"""The three weights :math:`g(q_x, x + \delta_x)` of one row of neighbours
    (:func:`regr_edu.reference.g`) and their sum, for :math:`\delta_x` in ``[-limit, limit]``;
    shaded, the range ``(-1, 1)`` that :math:`\tanh` allows."""
    limit = check_number("limit", limit, 1.0, 10.0)
    delta = torch.linspace(-limit, limit, 321, dtype=torch.float64)
    fig, ax = new_figure(figsize=(8, 3.2), layout="constrained")
    for a, color, label in ((-1, "tab:blue", "left neighbour, $q_x = x - 1$"),
                            (0, "black", "the region, $q_x = x$"),
                            (1, "tab:red", "right neighbour, $q_x = x + 1$")):
        ax.plot(delta, tent(a, delta), color=color, label=label)  # g(x + a, x + delta), x = 0
    total = sum(tent(a, delta) for a in (-1, 0, 1))
    ax.plot(delta, total, ":", color="gray", lw=2, label="sum of the three")
    ax.axvspan(-1, 1, color="gold", alpha=0.12, lw=0)
    ax.set(xlabel=r"offset $\delta_x$ (cells)", ylabel=r"$g(q_x,\ x + \delta_x)$",
           title=r"shaded: the range $(-1, 1)$ that $\tanh$ allows")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return fig


def toy_grid(height: int = 6, width: int = 6) -> torch.Tensor:
    """Toy "aggregated regions", ``(1, 3, height, width)`` RGB in ``[0, 1]``: a blue-to-teal
    background and a 2x2 yellow object at :func:`toy_object`."""
    for name, v in (("height", height), ("width", width)):
        if not isinstance(v, int) or isinstance(v, bool) or v < 3:
            raise ValueError(f"{name} must be an integer >= 3, got {v!r}")
    ys = torch.linspace(0, 1, height).reshape(height, 1)
    xs = torch.linspace(0, 1, width).reshape(1, width)
    grid = torch.stack([0.10 + 0.10 * xs + 0 * ys,                 # R
                        0.15 + 0.35 * ys + 0 * xs,                 # G
                        0.45 + 0.25 * xs + 0 * ys])                # B: (3, H, W)
    r0, c0, h, w = toy_object(height, width)                       # the object's cells
    grid[:, r0:r0 + h, c0:c0 + w] = torch.tensor([1.0, 0.85, 0.2]).reshape(3, 1, 1)
    return grid[None]                                              # (1, 3, H, W)


def toy_object(height: int = 6, width: int = 6) -> tuple[int, int, int, int]:
    """Where :func:`toy_grid` puts its yellow object: ``(row, col, rows, cols)``."""
    return (height - 1) // 2, (width - 1) // 2, 2, 2


def neighbour_weights(dx: float, dy: float) -> np.ndarray:
    r"""The nine weights :math:`B(q, \delta) = g(q_x, x+\delta_x)\,g(q_y, y+\delta_y)` of one
    region's 3x3 neighbourhood, as a ``(3, 3)`` array: row ``q_y - y + 1``, column ``q_x - x + 1``.

    Computed with :func:`regr_edu.bilinear_shift` itself: shifting nine one-hot 3x3 grids and
    reading the centre cell gives the weight each neighbour receives.
    """
    dx, dy, _ = _check_move(dx, dy, 1.0)
    one_hot = torch.eye(9, dtype=torch.float64).reshape(1, 9, 3, 3)        # channel k: cell k
    d = torch.ones(1, 1, 3, 3, dtype=torch.float64)
    out = bilinear_shift(one_hot, dx * d, dy * d, 1.0)                    # (1, 9, 3, 3)
    return out[0, :, 1, 1].reshape(3, 3).numpy()                          # centre's 9 weights


def shift_grid(grid: torch.Tensor, dx: float, dy: float, m: float) -> torch.Tensor:
    """Eq. 4 with one ``(dx, dy, m)`` for every region: ``(1, M, Hg, Wg)`` in, same out."""
    grid = _check_grid(grid, channels=None)
    dx, dy, m = _check_move(dx, dy, m)
    ones = torch.ones(1, 1, *grid.shape[-2:], dtype=grid.dtype)
    return bilinear_shift(grid, dx * ones, dy * ones, m * ones)


# ----------------------------------------------------------------------------- drawing
def _cell_borders(ax, Hg: int, Wg: int, **style) -> None:
    for k in range(Wg + 1):
        ax.axvline(k - 0.5, color="white", **style)
    for k in range(Hg + 1):
        ax.axhline(k - 0.5, color="white", **style)
    ax.set(xlim=(-0.5, Wg - 0.5), ylim=(Hg - 0.5, -0.5), xticks=range(Wg), yticks=range(Hg))


def _draw_grid(ax, grid: torch.Tensor, title: str, labels: bool = True) -> None:
    """``grid`` (1, 3, Hg, Wg) as an RGB image with one pixel per region, cell borders drawn."""
    _, _, Hg, Wg = grid.shape
    ax.imshow(grid[0].permute(1, 2, 0).clamp(0, 1).numpy(), interpolation="nearest",
              extent=(-0.5, Wg - 0.5, Hg - 0.5, -0.5))
    _cell_borders(ax, Hg, Wg, lw=0.5, alpha=0.35)
    if labels:
        ax.set(xlabel="x (region column)", ylabel="y (region row)")
    ax.set_title(title, fontsize=10)


def _draw_move(ax, r: int, c: int, dx: float, dy: float, neighbourhood: bool = True) -> None:
    """The highlighted region, its 3x3 neighbourhood (dashed), and an arrow to where it reads."""
    if neighbourhood:
        ax.add_patch(Rectangle((c - 1.5, r - 1.5), 3, 3, fill=False, ls="--", lw=1.0,
                               color="white"))
    ax.add_patch(Rectangle((c - 0.5, r - 0.5), 1, 1, fill=False, lw=1.5, color="white"))
    if dx or dy:
        ax.annotate("", xy=(c + dx, r + dy), xytext=(c, r),
                    arrowprops=dict(arrowstyle="-|>", color="red", lw=2, shrinkA=0, shrinkB=0))
    ax.plot([c + dx], [r + dy], "o", color="red", ms=6, mec="white", mew=1.0)


def _draw_weights(ax, weights: np.ndarray, m: float) -> None:
    ax.imshow(weights, cmap="Reds", vmin=0, vmax=1)
    for (i, j), w in np.ndenumerate(weights):
        ax.text(j, i, f"{w:.2f}", ha="center", va="center", fontsize=9,
                color="white" if w > 0.55 else "black")
    ax.set_xticks(range(3), ["x−1", "x", "x+1"])
    ax.set_yticks(range(3), ["y−1", "y", "y+1"])
    ax.set_title(f"B(q, δ) over the 3×3 neighbours\n(sum {weights.sum():.2f}, then × m = {m:.2f})",
                 fontsize=10)


def shift_figure(grid: torch.Tensor | None = None, dx: float = 0.5, dy: float = 0.0,
                 m: float = 1.0, cell: Sequence[int] | None = None) -> Figure:
    """Three panels for one ``(dx, dy, m)`` applied to every region: the grid with the arrow of
    one highlighted region (``cell`` = ``(row, col)``, default the centre), that region's nine
    bilinear weights, and the refined grid ``m * sum_q B(q, δ) R(q)``."""
    grid = toy_grid() if grid is None else _check_grid(grid)
    dx, dy, m = _check_move(dx, dy, m)
    r, c = _check_cell(cell, *grid.shape[-2:])
    fig, (ax0, ax1, ax2) = new_figure(1, 3, figsize=(11.5, 3.9), layout="constrained",
                                      width_ratios=[1, 0.8, 1])
    _draw_grid(ax0, grid, f"before: region ({r}, {c}) samples at\n(x + δx, y + δy) = "
                          f"({c + dx:.2f}, {r + dy:.2f})")
    _draw_move(ax0, r, c, dx, dy)
    _draw_weights(ax1, neighbour_weights(dx, dy), m)
    _draw_grid(ax2, shift_grid(grid, dx, dy, m),
               f"after: m · Σ B(q, δ) R(q)\nδx = {dx:+.2f}, δy = {dy:+.2f}, m = {m:.2f}")
    ax2.add_patch(Rectangle((c - 0.5, r - 0.5), 1, 1, fill=False, lw=1.5, color="white"))
    return fig


def shift_small_multiples(settings: Sequence[tuple[float, float, float]],
                          grid: torch.Tensor | None = None, cols: int = 3,
                          cell: Sequence[int] | None = None,
                          outline: Sequence[int] | None = None) -> Figure:
    """One refined grid per ``(dx, dy, m)`` in ``settings`` (the same offsets for every region):
    the widget's key positions, for a page that cannot move a slider. Each panel shows the
    arrow of the highlighted region (where it read from, in the original grid's coordinates)
    and, dashed, ``outline`` = ``(row, col, rows, cols)``: where the toy grid's object was
    before the move (default for the toy grid; pass ``()`` for none)."""
    if grid is None:
        grid = toy_grid()
        outline = toy_object() if outline is None else outline
    grid = _check_grid(grid)
    settings = list(settings)
    if not settings:
        raise ValueError("settings must hold at least one (dx, dy, m) triple, got []")
    cols = check_positive_int("cols", cols)
    r, c = _check_cell(cell, *grid.shape[-2:])
    moves = []
    for k, setting in enumerate(settings):
        if not isinstance(setting, (tuple, list)) or len(setting) != 3:
            raise ValueError(f"settings[{k}] must be a triple (dx, dy, m), got {setting!r}")
        moves.append(_check_move(*setting))
    rows = math.ceil(len(moves) / cols)
    fig, axes = new_figure(rows, cols, figsize=(3.3 * cols, 3.3 * rows), layout="constrained",
                           squeeze=False)
    for ax in axes.flat[len(moves):]:
        ax.axis("off")
    for ax, (dx, dy, m) in zip(axes.flat, moves):
        _draw_grid(ax, shift_grid(grid, dx, dy, m), f"δx={dx:+.2f}  δy={dy:+.2f}  m={m:.2f}",
                   labels=False)
        if outline:
            r0, c0, h, w = outline
            ax.add_patch(Rectangle((c0 - 0.5, r0 - 0.5), w, h, fill=False, ls="--", lw=1.2,
                                   color="gold"))
        _draw_move(ax, r, c, dx, dy, neighbourhood=False)
    return fig


def sampling_figure(dx: torch.Tensor, dy: torch.Tensor, m: torch.Tensor,
                    background: torch.Tensor | None = None, title: str = "",
                    ax=None) -> Figure:
    """An arrow from each region's centre to where it samples, ``(x + δx, y + δy)``, coloured by
    its amplitude ``m``. ``dx``, ``dy``, ``m``: ``(Hg, Wg)`` or ``(1, 1, Hg, Wg)``, ``δ`` in
    ``[-1, 1]``, ``m`` in ``[0, 1]`` (e.g. one scale of ``ReGr.explain(x).offsets``);
    ``background``: an optional ``(3, S, S')`` image under the grid; ``ax``: draw there."""
    maps = []
    for name, t, (lo, hi) in (("dx", dx, DELTA_RANGE), ("dy", dy, DELTA_RANGE), ("m", m, M_RANGE)):
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
        t = t.detach().to(torch.float64).cpu()
        if t.dim() == 4 and t.shape[:2] == (1, 1):
            t = t[0, 0]
        if t.dim() != 2:
            raise ValueError(f"{name} must have shape (Hg, Wg) or (1, 1, Hg, Wg), "
                             f"got {tuple(t.shape)}")
        check_in_range(name, t, lo, hi)
        maps.append(t.numpy())
    dx_, dy_, m_ = maps
    if not dx_.shape == dy_.shape == m_.shape:
        raise ValueError(f"dx, dy and m must have the same shape, got {dx_.shape}, {dy_.shape}, "
                         f"{m_.shape}")
    Hg, Wg = dx_.shape
    fig, ax = new_figure(figsize=(5.2, 4.6), layout="constrained") if ax is None \
        else (ax.figure, ax)
    if background is not None:
        if background.dim() != 3 or background.shape[0] != 3:
            raise ValueError(f"background must be an RGB image (3, H, W), "
                             f"got {tuple(background.shape)}")
        ax.imshow(background.permute(1, 2, 0).clamp(0, 1).numpy(), alpha=0.75,
                  extent=(-0.5, Wg - 0.5, Hg - 0.5, -0.5))
    _cell_borders(ax, Hg, Wg, lw=0.6)
    ys, xs = np.mgrid[0:Hg, 0:Wg]
    ax.plot(xs.ravel(), ys.ravel(), ".", color="white", ms=4)
    q = ax.quiver(xs, ys, dx_, dy_, m_, cmap="plasma", clim=(0, 1), angles="xy",
                  scale_units="xy", scale=1, width=0.007, headwidth=4, headlength=4.5,
                  headaxislength=4, minlength=0)
    fig.colorbar(q, ax=ax, shrink=0.8, label="amplitude m")
    ax.set(xlim=(-0.5, Wg - 0.5), ylim=(Hg - 0.5, -0.5))
    ax.set_title(title or "each region samples at (x + δx, y + δy)", fontsize=10)
    return fig


def kink_figure(row: Sequence[float] = (1.0, 3.0, 2.0)) -> Figure:
    r"""The refined value of the middle region of a row of three regions as :math:`\delta_x`
    runs over ``[-1, 1]`` (:func:`regr_edu.bilinear_shift`): two straight pieces, slope
    ``row[1] - row[0]`` left of 0 and ``row[2] - row[1]`` right of it."""
    if not isinstance(row, (tuple, list)) or len(row) != 3:
        raise ValueError(f"row must hold three numbers R(x-1), R(x), R(x+1), got {row!r}")
    grid = torch.tensor([float(v) for v in row], dtype=torch.float64).reshape(1, 1, 1, 3)
    ds = torch.linspace(-1, 1, 201, dtype=torch.float64)
    d = ds.reshape(-1, 1, 1, 1).expand(-1, 1, 1, 3)                 # every offset in one batch
    values = bilinear_shift(grid.expand(len(ds), -1, -1, -1), d, torch.zeros_like(d), 1.0)
    fig, ax = new_figure(figsize=(6.5, 3.0), layout="constrained")
    ax.plot(ds, values[:, 0, 0, 1], color="black")
    ax.set(xlabel=r"$\delta_x$", ylabel="refined value of the middle region")
    ax.set_title(f"row {list(row)}: slope {row[1] - row[0]:+g} left of 0, "
                 f"{row[2] - row[1]:+g} right of it", fontsize=10)
    return fig


# ----------------------------------------------------------------------------- the widget
class ShiftWidget(widgets.VBox):
    """Sliders ``dx``, ``dy``, ``m`` over :func:`shift_figure`, redrawn on every change;
    ``result``: the refined grid drawn, ``weights``: its 3x3 weights."""

    def __init__(self, grid: torch.Tensor | None = None, cell: Sequence[int] | None = None,
                 dx: float = 0.5, dy: float = 0.0, m: float = 1.0) -> None:
        self.grid = toy_grid() if grid is None else _check_grid(grid)
        self.cell = _check_cell(cell, *self.grid.shape[-2:])
        dx, dy, m = _check_move(dx, dy, m)
        style = dict(continuous_update=False, step=SLIDER_STEP, readout_format=".2f")
        self.dx, self.dy, self.m = (
            widgets.FloatSlider(value=v, min=lo, max=hi, description=name, **style)
            for v, (lo, hi), name in ((dx, DELTA_RANGE, "δx"), (dy, DELTA_RANGE, "δy"),
                                      (m, M_RANGE, "m")))
        self.image = widgets.Image(format="png")
        self.result: torch.Tensor | None = None
        self.weights: np.ndarray | None = None
        super().__init__([widgets.HBox([self.dx, self.dy, self.m]), self.image])
        for s in (self.dx, self.dy, self.m):
            s.observe(self._redraw, names="value")
        self._redraw()

    def _redraw(self, change=None) -> None:
        dx, dy, m = self.dx.value, self.dy.value, self.m.value
        self.result = shift_grid(self.grid, dx, dy, m)
        self.weights = neighbour_weights(dx, dy)
        self.image.value = figure_png(shift_figure(self.grid, dx, dy, m, self.cell))


def refine_widget(grid: torch.Tensor | None = None, cell: Sequence[int] | None = None,
                  dx: float = 0.5, dy: float = 0.0, m: float = 1.0) -> ShiftWidget:
    """Move a region with ``δx, δy`` in ``[-1, 1]`` and ``m`` in ``[0, 1]`` (the ranges Eq. 3's
    tanh and sigmoid give) and watch Eq. 4 redraw the grid. On a static page (the HTML book) it
    shows a picture of its current state (:func:`regr_edu.interactive.with_static_fallback`)."""
    return with_static_fallback(ShiftWidget(grid, cell, dx, dy, m))


# ----------------------------------------------------------------------------- learning a move
def tent_shift(grid: torch.Tensor, dx: torch.Tensor, dy: torch.Tensor) -> torch.Tensor:
    r"""Eq. 4 without ``m``, with the weights written as the tent itself,
    :math:`g(a, b) = \max(0, 1 - |a - b|)` (:func:`regr_edu.reference.g`), summed over the nine
    neighbours. Same values as the package's fast path; a different *slope* at whole-number
    offsets, where autograd differentiates the tent's corners as zero."""
    Hg, Wg = grid.shape[-2:]
    padded = torch.nn.functional.pad(grid, (1, 1, 1, 1))          # (B, M, Hg+2, Wg+2)
    out = torch.zeros_like(grid)
    for b in (-1, 0, 1):                                           # q_y = y + b
        for a in (-1, 0, 1):                                       # q_x = x + a
            window = padded[..., 1 + b:1 + b + Hg, 1 + a:1 + a + Wg]   # R(x + a, y + b)
            out = out + tent(a, dx) * tent(b, dy) * window
    return out


def fit_move(grid: torch.Tensor, target: torch.Tensor, steps: int = 150, lr: float = 0.05,
             eta_std: float = 0.0, context: int = 1, seed: int = 0,
             weights: str = "package") -> dict:
    r"""Train a fresh :class:`regr_edu.Refine` (Adam) so that ``refine(grid)`` matches ``target``
    in mean squared error. ``eta_std > 0`` draws :math:`\eta`'s weights and bias from
    :math:`\mathcal{N}(0, \text{eta\_std}^2)` instead of the zero initialisation;
    ``weights="tent"`` computes Eq. 4 with :func:`tent_shift` instead of the layer's forward.
    Returns per step ``loss``, the mean ``dx``, ``dy``, ``m`` and ``grad_dx`` (the size of the
    gradient reaching :math:`\eta`'s ``δx`` row), and the trained ``layer``."""
    check_choice("weights", weights, ("package", "tent"))
    grid = _check_grid(grid, channels=None)
    if tuple(target.shape) != tuple(grid.shape):
        raise ValueError(f"target must have the grid's shape {tuple(grid.shape)}, "
                         f"got {tuple(target.shape)}")
    steps = check_positive_int("steps", steps)
    eta_std = check_number("eta_std", eta_std, 0.0, 10.0)
    torch.manual_seed(seed)
    layer = Refine(grid.shape[1], context=context).to(grid.dtype)
    if eta_std > 0:
        with torch.no_grad():
            layer.eta.weight.normal_(0.0, eta_std)
            layer.eta.bias.normal_(0.0, eta_std)
    opt = torch.optim.Adam(layer.parameters(), lr=lr)
    hist: dict = dict(loss=[], dx=[], dy=[], m=[], grad_dx=[])
    threads = torch.get_num_threads()
    torch.set_num_threads(1)              # tiny tensors: one thread is several times faster
    try:
        for _ in range(steps):
            dx, dy, m = layer.offsets(grid)
            out = layer(grid) if weights == "package" else m * tent_shift(grid, dx, dy)
            loss = torch.mean((out - target) ** 2)
            opt.zero_grad()
            loss.backward()
            hist["loss"].append(loss.item())
            for key, value in (("dx", dx), ("dy", dy), ("m", m)):
                hist[key].append(value.mean().item())
            grad = layer.eta.weight.grad
            hist["grad_dx"].append((grad[0].norm() + layer.eta.bias.grad[0].abs()).item())
            opt.step()
    finally:
        torch.set_num_threads(threads)
    hist["layer"] = layer
    return hist


def fit_figure(histories: dict, target: tuple[float, float, float] | None = None) -> Figure:
    """Loss and mean ``δx, δy, m`` against the training step, one line style per run of
    :func:`fit_move` (``histories`` maps a label to its result); ``target`` marks the move the
    target was made with."""
    if not histories:
        raise ValueError("histories must hold at least one run of fit_move, got {}")
    fig, (ax_l, ax_p) = new_figure(1, 2, figsize=(11, 3.6), layout="constrained")
    styles = ("-", "--", ":", "-.")
    handles = []
    for k, (label, h) in enumerate(histories.items()):
        ls = styles[k % len(styles)]
        ax_l.semilogy(h["loss"], ls, color="black")
        for key, color in (("dx", "tab:red"), ("dy", "tab:blue"), ("m", "tab:green")):
            ax_p.plot(h[key], ls, color=color)
        handles.append(Line2D([], [], color="black", ls=ls, label=label))
    if target is not None:
        for value, color in zip(target, ("tab:red", "tab:blue", "tab:green")):
            ax_p.axhline(value, color=color, lw=0.8, alpha=0.5)
    ax_l.set(xlabel="training step", ylabel="mean squared error", title="loss")
    ax_p.set(xlabel="training step", ylabel="mean over the regions")
    ax_p.set_title("δx (red), δy (blue), m (green); thin lines: the target's", fontsize=10)
    fig.legend(handles=handles, loc="outside right center", fontsize=9)
    return fig


# ----------------------------------------------------------------------------- does it learn?
# The record of benchmarks/refine_study.py: runs with arm, task, opt, seed, final_test_acc1,
# a history of epochs and the monitor rows of regr_edu.training.RefineMonitor.
STUDY_STATS = (("delta_abs_mean", r"mean $|\delta|$"), ("m_mean", "mean $m$"),
               ("grad_ratio", r"$\|\nabla \eta\| \,/\, \|\nabla \mu\|$"),
               ("norm_ratio", "region norm after / before refine"),
               ("delta_sign_flip", "sign flips since the last record"))


def study_monitor(run: dict, stat: str) -> tuple[np.ndarray, np.ndarray]:
    """``(steps, values)`` of one monitor number of one run: a key of :data:`STUDY_STATS`
    (``grad_ratio`` and ``norm_ratio`` are computed from the recorded norms)."""
    check_choice("stat", stat, [s for s, _ in STUDY_STATS])
    rows = [r for r in run["monitor"] if "delta_abs_mean" in r]
    steps = np.array([r["step"] for r in rows], float)
    if stat == "grad_ratio":
        values = [r["grad_eta"] / max(r["grad_mu"], 1e-12) for r in rows]
    elif stat == "norm_ratio":
        values = [r["norm_out"] / max(r["norm_in"], 1e-12) for r in rows]
    else:
        values = [r[stat] for r in rows]
    return steps, np.array(values, float)


def study_figure(record: dict, task: str, opt: str, arms: Sequence[str],
                 seeds: Sequence[int] | None = None) -> Figure:
    """Test top-1 per epoch of every seed (top left), then refine's monitor numbers over the
    steps (median over ``seeds``) for each arm: the failing forms beside the others."""
    colors = ["#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]
    fig, axes = new_figure(2, 3, figsize=(11, 5.6), layout="constrained")
    ax_acc = axes[0, 0]
    for k, arm in enumerate(arms):
        for i, run in enumerate(study_runs(record, task, opt, arm, seeds)):
            acc = [h["test_acc1"] for h in run["history"] if "test_acc1" in h]
            ax_acc.plot(range(1, len(acc) + 1), acc, color=colors[k % len(colors)], alpha=0.7,
                        lw=1.2, label=arm if i == 0 else None)
    ax_acc.axhline(record["tasks"][task]["chance"], color="grey", ls=":", lw=1)
    ax_acc.set(xlabel="epoch", ylabel="test top-1 (%)", title="every seed")
    ax_acc.legend(fontsize=8)
    for ax, (stat, title) in zip(axes.flat[1:], STUDY_STATS):
        for k, arm in enumerate(arms):
            runs = [r for r in study_runs(record, task, opt, arm, seeds)
                    if any("delta_abs_mean" in row for row in r["monitor"])]
            if not runs:
                continue
            series = [study_monitor(r, stat) for r in runs]
            n = min(len(s[0]) for s in series)
            stacked = np.stack([s[1][:n] for s in series])          # (seeds, records)
            keep = ~np.isnan(stacked).all(0)                         # the first has no flips
            values = np.median(np.where(np.isnan(stacked), 0.0, stacked), axis=0)
            ax.plot(series[0][0][:n][keep], values[keep], color=colors[k % len(colors)],
                    lw=1.4, label=arm)
        ax.set(xlabel="step", title=title)
        if stat == "grad_ratio":
            ax.set_yscale("log")
    n = len(study_runs(record, task, opt, arms[0], seeds))
    fig.suptitle(f"{task} task, {opt}: refine's arms over {n} seeds", fontsize=11)
    return fig
