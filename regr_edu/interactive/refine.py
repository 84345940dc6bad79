r"""Figures and the widget of the refine chapter (Eq. 3–4): moving a region with ``δx, δy, m``.

Plain functions first — they validate their arguments (a ``ValueError`` naming the parameter, the
rule and the value) and return arrays or matplotlib figures — then :func:`refine_widget`, whose
sliders have exactly the bounds the functions accept. All the arithmetic is the package's own
:func:`regr_edu.bilinear_shift`; this module only draws it.

Conventions (as in :mod:`regr_edu.refine`): a grid is ``(1, M, Hg, Wg)``; ``x`` runs along the
width and ``y`` along the height, so ``dx > 0`` makes a region *read from the right*: its window
moves right and, in the output grid, the picture appears to move left.
"""
from __future__ import annotations

import io
import math
from typing import Sequence

import ipywidgets as widgets
import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from .._checks import check_number as _check_number
from ..refine import bilinear_shift

DELTA_RANGE = (-1.0, 1.0)      # tanh(.) in Eq. 3; the sliders' bounds
M_RANGE = (0.0, 1.0)           # sigmoid(.) in Eq. 3
SLIDER_STEP = 0.05


# ----------------------------------------------------------------------------- validation
def check_number(name: str, value: object, low: float, high: float) -> float:
    """``value`` as a float in ``[low, high]``, or a ``TypeError``/``ValueError`` that says why."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        if isinstance(value, torch.Tensor) and value.numel() == 1:
            value = float(value)
        else:
            raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    return _check_number(name, float(value), low, high)


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


# ----------------------------------------------------------------------------- arrays
def toy_grid(height: int = 6, width: int = 6) -> torch.Tensor:
    """A grid of "aggregated regions" that is easy to look at: ``(1, 3, height, width)`` RGB in
    ``[0, 1]`` — a dark blue-to-teal background and a 2x2 yellow object a little off centre."""
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
    dx = check_number("dx", dx, *DELTA_RANGE)
    dy = check_number("dy", dy, *DELTA_RANGE)
    one_hot = torch.eye(9, dtype=torch.float64).reshape(1, 9, 3, 3)        # channel k: cell k
    d = torch.ones(1, 1, 3, 3, dtype=torch.float64)
    out = bilinear_shift(one_hot, dx * d, dy * d, 1.0)                    # (1, 9, 3, 3)
    return out[0, :, 1, 1].reshape(3, 3).numpy()                          # centre's 9 weights


def shift_grid(grid: torch.Tensor, dx: float, dy: float, m: float) -> torch.Tensor:
    """Eq. 4 with one ``(dx, dy, m)`` for every region: ``(1, M, Hg, Wg)`` in, same out."""
    grid = _check_grid(grid, channels=None)
    dx = check_number("dx", dx, *DELTA_RANGE)
    dy = check_number("dy", dy, *DELTA_RANGE)
    m = check_number("m", m, *M_RANGE)
    _, _, Hg, Wg = grid.shape
    ones = torch.ones(1, 1, Hg, Wg, dtype=grid.dtype)
    return bilinear_shift(grid, dx * ones, dy * ones, m * ones)


# ----------------------------------------------------------------------------- drawing
def _draw_grid(ax, grid: torch.Tensor, title: str) -> None:
    """``grid`` (1, 3, Hg, Wg) as an RGB image with one pixel per region, cell borders drawn."""
    _, _, Hg, Wg = grid.shape
    ax.imshow(grid[0].permute(1, 2, 0).clamp(0, 1).numpy(), interpolation="nearest",
              extent=(-0.5, Wg - 0.5, Hg - 0.5, -0.5))
    for k in range(Wg + 1):
        ax.axvline(k - 0.5, color="white", lw=0.5, alpha=0.35)
    for k in range(Hg + 1):
        ax.axhline(k - 0.5, color="white", lw=0.5, alpha=0.35)
    ax.set_xticks(range(Wg))
    ax.set_yticks(range(Hg))
    ax.set_xlabel("x (region column)")
    ax.set_ylabel("y (region row)")
    ax.set_title(title, fontsize=10)


def _draw_move(ax, r: int, c: int, dx: float, dy: float, color: str = "red",
               lw: float = 2.0) -> None:
    """The highlighted region, its 3x3 neighbourhood, and an arrow to where it samples."""
    ax.add_patch(Rectangle((c - 1.5, r - 1.5), 3, 3, fill=False, ls="--", lw=1.0, color="white"))
    ax.add_patch(Rectangle((c - 0.5, r - 0.5), 1, 1, fill=False, lw=1.5, color="white"))
    if dx or dy:
        ax.annotate("", xy=(c + dx, r + dy), xytext=(c, r),
                    arrowprops=dict(arrowstyle="-|>", color=color, lw=lw, shrinkA=0, shrinkB=0))
    ax.plot([c + dx], [r + dy], "o", color=color, ms=6, mec="white", mew=1.0)


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
    dx = check_number("dx", dx, *DELTA_RANGE)
    dy = check_number("dy", dy, *DELTA_RANGE)
    m = check_number("m", m, *M_RANGE)
    _, _, Hg, Wg = grid.shape
    r, c = _check_cell(cell, Hg, Wg)
    moved = shift_grid(grid, dx, dy, m)

    fig = Figure(figsize=(11.5, 3.9), layout="constrained")
    ax0, ax1, ax2 = fig.subplots(1, 3, width_ratios=[1, 0.8, 1])
    _draw_grid(ax0, grid, f"before: region ({r}, {c}) samples at\n(x + δx, y + δy) = "
                          f"({c + dx:.2f}, {r + dy:.2f})")
    _draw_move(ax0, r, c, dx, dy)
    _draw_weights(ax1, neighbour_weights(dx, dy), m)
    _draw_grid(ax2, moved, f"after: m · Σ B(q, δ) R(q)\nδx = {dx:+.2f}, δy = {dy:+.2f}, m = {m:.2f}")
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
    if not isinstance(cols, int) or cols < 1:
        raise ValueError(f"cols must be a positive integer, got {cols!r}")
    _, _, Hg, Wg = grid.shape
    r, c = _check_cell(cell, Hg, Wg)
    rows = math.ceil(len(settings) / cols)
    fig = Figure(figsize=(3.3 * cols, 3.3 * rows), layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, cols)).ravel()
    for k, ax in enumerate(axes):
        if k >= len(settings):
            ax.axis("off")
            continue
        try:
            dx, dy, m = settings[k]
        except (TypeError, ValueError):
            raise ValueError(f"settings[{k}] must be a triple (dx, dy, m), "
                             f"got {settings[k]!r}") from None
        moved = shift_grid(grid, dx, dy, m)
        _draw_grid(ax, moved, f"δx={float(dx):+.2f}  δy={float(dy):+.2f}  m={float(m):.2f}")
        if outline:
            r0, c0, h, w = outline
            ax.add_patch(Rectangle((c0 - 0.5, r0 - 0.5), w, h, fill=False, ls="--", lw=1.2,
                                   color="gold"))
        ax.add_patch(Rectangle((c - 0.5, r - 0.5), 1, 1, fill=False, lw=1.5, color="white"))
        if dx or dy:
            ax.annotate("", xy=(c + float(dx), r + float(dy)), xytext=(c, r),
                        arrowprops=dict(arrowstyle="-|>", color="red", lw=2, shrinkA=0,
                                        shrinkB=0))
        ax.plot([c + float(dx)], [r + float(dy)], "o", color="red", ms=5, mec="white", mew=1)
        ax.set_xlabel("")
        ax.set_ylabel("")
    return fig


def sampling_figure(dx: torch.Tensor, dy: torch.Tensor, m: torch.Tensor,
                    background: torch.Tensor | None = None, title: str = "",
                    ax=None) -> Figure:
    """Where every region of a grid samples from: an arrow from each region's centre to
    ``(x + δx, y + δy)``, coloured by its amplitude ``m``.

    ``dx``, ``dy``, ``m``: ``(Hg, Wg)`` or ``(1, 1, Hg, Wg)`` with ``δ`` in ``[-1, 1]`` and ``m`` in
    ``[0, 1]`` (e.g. :meth:`regr_edu.Refine.offsets` or ``ReGr.explain(x).offsets``).
    ``background``: an optional ``(3, S, S')`` image the grid covers (a photograph).
    Draws into ``ax`` when given (returns its figure), else into a new figure.
    """
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
        if t.numel() and (t.min() < lo or t.max() > hi):
            bad = float(t.min()) if t.min() < lo else float(t.max())
            raise ValueError(f"{name} must lie in [{lo:g}, {hi:g}], got a value of {bad:.6g}")
        maps.append(t.numpy())
    dx_, dy_, m_ = maps
    if not dx_.shape == dy_.shape == m_.shape:
        raise ValueError(f"dx, dy and m must have the same shape, got {dx_.shape}, {dy_.shape}, "
                         f"{m_.shape}")
    Hg, Wg = dx_.shape
    if ax is None:
        fig = Figure(figsize=(5.2, 4.6), layout="constrained")
        ax = fig.subplots()
    else:
        fig = ax.figure
    if background is not None:
        if background.dim() != 3 or background.shape[0] != 3:
            raise ValueError(f"background must be an RGB image (3, H, W), "
                             f"got {tuple(background.shape)}")
        ax.imshow(background.permute(1, 2, 0).clamp(0, 1).numpy(), alpha=0.75,
                  extent=(-0.5, Wg - 0.5, Hg - 0.5, -0.5))
    for k in range(Wg + 1):
        ax.axvline(k - 0.5, color="white", lw=0.6)
    for k in range(Hg + 1):
        ax.axhline(k - 0.5, color="white", lw=0.6)
    ys, xs = np.mgrid[0:Hg, 0:Wg]
    ax.plot(xs.ravel(), ys.ravel(), ".", color="white", ms=4)
    q = ax.quiver(xs, ys, dx_, dy_, m_, cmap="plasma", clim=(0, 1), angles="xy",
                  scale_units="xy", scale=1, width=0.007, headwidth=4, headlength=4.5,
                  headaxislength=4, minlength=0)
    fig.colorbar(q, ax=ax, shrink=0.8, label="amplitude m")
    ax.set_xlim(-0.5, Wg - 0.5)
    ax.set_ylim(Hg - 0.5, -0.5)
    ax.set_xticks(range(Wg))
    ax.set_yticks(range(Hg))
    ax.set_title(title or "each region samples at (x + δx, y + δy)", fontsize=10)
    return fig


# ----------------------------------------------------------------------------- the widget
def figure_png(fig: Figure, dpi: int = 80) -> bytes:
    """A figure as PNG bytes (for an ``ipywidgets.Image``)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


class ShiftWidget(widgets.VBox):
    """Sliders ``dx``, ``dy``, ``m`` and an image of :func:`shift_figure`, redrawn on every
    change. ``result`` holds the refined grid last drawn and ``weights`` its 3x3 weights."""

    def __init__(self, grid: torch.Tensor | None = None, cell: Sequence[int] | None = None,
                 dx: float = 0.5, dy: float = 0.0, m: float = 1.0) -> None:
        self.grid = toy_grid() if grid is None else _check_grid(grid)
        self.cell = _check_cell(cell, *self.grid.shape[-2:])
        check_number("dx", dx, *DELTA_RANGE)
        check_number("dy", dy, *DELTA_RANGE)
        check_number("m", m, *M_RANGE)
        style = dict(continuous_update=False, step=SLIDER_STEP, readout_format=".2f")
        self.dx = widgets.FloatSlider(value=dx, min=DELTA_RANGE[0], max=DELTA_RANGE[1],
                                      description="δx", **style)
        self.dy = widgets.FloatSlider(value=dy, min=DELTA_RANGE[0], max=DELTA_RANGE[1],
                                      description="δy", **style)
        self.m = widgets.FloatSlider(value=m, min=M_RANGE[0], max=M_RANGE[1],
                                     description="m", **style)
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
    from ._display import with_static_fallback
    return with_static_fallback(ShiftWidget(grid, cell, dx, dy, m))


# ----------------------------------------------------------------------------- learning a move
def tent_shift(grid: torch.Tensor, dx: torch.Tensor, dy: torch.Tensor) -> torch.Tensor:
    r"""Eq. 4 without ``m``, with the weights written as the tent itself,
    :math:`g(a, b) = \max(0, 1 - |a - b|)` (:func:`regr_edu.reference.g`), summed over the nine
    neighbours. Same values as the package's fast path; a different *slope* at whole-number
    offsets, where autograd differentiates the tent's corners as zero."""
    from ..reference import g

    Hg, Wg = grid.shape[-2:]
    padded = torch.nn.functional.pad(grid, (1, 1, 1, 1))          # (B, M, Hg+2, Wg+2)
    out = torch.zeros_like(grid)
    for b in (-1, 0, 1):                                           # q_y = y + b
        for a in (-1, 0, 1):                                       # q_x = x + a
            window = padded[..., 1 + b:1 + b + Hg, 1 + a:1 + a + Wg]   # R(x + a, y + b)
            out = out + g(a, dx) * g(b, dy) * window
    return out


def fit_move(grid: torch.Tensor, target: torch.Tensor, steps: int = 150, lr: float = 0.05,
             eta_std: float = 0.0, context: int = 1, seed: int = 0,
             weights: str = "package") -> dict:
    r"""Train a fresh :class:`regr_edu.Refine` so that ``refine(grid)`` matches ``target``
    (mean squared error, Adam) and record, step by step, the loss and the mean ``δx, δy, m``.

    ``eta_std = 0`` keeps the package's zero initialisation of :math:`\eta`; ``eta_std > 0``
    draws :math:`\eta`'s weights and bias from :math:`\mathcal{N}(0, \text{eta\_std}^2)` instead.
    ``weights="package"`` trains through the layer's own forward pass; ``weights="tent"``
    computes the same Eq. 4 with :func:`tent_shift` (the weights written as the tent).
    Returns ``dict(loss, dx, dy, m, grad_dx)`` (lists, one entry per step; ``grad_dx`` is the
    size of the gradient reaching :math:`\eta`'s ``δx`` row) and the trained ``layer``.
    """
    from ..refine import Refine

    if weights not in ("package", "tent"):
        raise ValueError(f"weights must be one of ['package', 'tent'], got {weights!r}")

    grid = _check_grid(grid, channels=None)
    if tuple(target.shape) != tuple(grid.shape):
        raise ValueError(f"target must have the grid's shape {tuple(grid.shape)}, "
                         f"got {tuple(target.shape)}")
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
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
            hist["dx"].append(dx.mean().item())
            hist["dy"].append(dy.mean().item())
            hist["m"].append(m.mean().item())
            g = layer.eta.weight.grad
            hist["grad_dx"].append((g[0].norm() + layer.eta.bias.grad[0].abs()).item())
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
    from matplotlib.lines import Line2D

    fig = Figure(figsize=(11, 3.6), layout="constrained")
    ax_l, ax_p = fig.subplots(1, 2)
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
    for ax in (ax_l, ax_p):
        ax.set_xlabel("training step")
    ax_l.set_ylabel("mean squared error")
    ax_p.set_ylabel("mean over the regions")
    ax_l.set_title("loss", fontsize=10)
    ax_p.set_title("δx (red), δy (blue), m (green); thin lines: the target's", fontsize=10)
    fig.legend(handles=handles, loc="outside right center", fontsize=9)
    return fig


# ----------------------------------------------------------------------------- does it learn?
# Read the record of ``benchmarks/refine_study.py`` (a dict loaded from its JSON file): every run
# has ``arm``, ``task``, ``opt``, ``seed``, ``final_test_acc1``, a ``history`` of epochs and the
# ``monitor`` rows of :class:`regr_edu.training.RefineMonitor`.
STUDY_STATS = (("delta_abs_mean", r"mean $|\delta|$"), ("m_mean", "mean $m$"),
               ("grad_ratio", r"$\|\nabla \eta\| \,/\, \|\nabla \mu\|$"),
               ("norm_ratio", "region norm after / before refine"))


def study_runs(record: dict, task: str, opt: str, arm: str,
               seeds: Sequence[int] | None = None) -> list[dict]:
    """The runs of one arm under one condition, by seed (``seeds``: only these)."""
    runs = [r for r in record["runs"] if (r["task"], r["opt"], r["arm"]) == (task, opt, arm)
            and (seeds is None or r["seed"] in seeds)]
    if not runs:
        have = sorted({(r["task"], r["opt"], r["arm"]) for r in record["runs"]})
        raise ValueError(f"no run of arm {arm!r} on task {task!r} with optimizer {opt!r} in the "
                         f"record; it holds {have}")
    return sorted(runs, key=lambda r: r["seed"])


def study_rows(record: dict, task: str, opt: str, arms: Sequence[str],
               seeds: Sequence[int] | None = None) -> list[dict]:
    """Per arm: its label, the final top-1 of each seed (``seeds``: only these), their mean and
    how many took off."""
    from ..stats import took_off
    chance = record["tasks"][task]["chance"]
    rows = []
    for arm in arms:
        values = [r["final_test_acc1"] for r in study_runs(record, task, opt, arm, seeds)]
        rows.append({"arm": arm, "label": record["arms"][arm]["label"], "values": values,
                     "mean": sum(values) / len(values),
                     "took_off": sum(took_off(v, chance) for v in values), "n": len(values)})
    return rows


def _monitor_series(run: dict, stat: str) -> tuple[np.ndarray, np.ndarray]:
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
    """Test top-1 per epoch of every seed (left), then refine's monitor numbers over the steps
    (median over seeds) for each arm: the failing form beside the others (``seeds``: only
    these)."""
    colors = ["#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]
    fig = Figure(figsize=(11, 5.6), layout="constrained")
    axes = fig.subplots(2, 3)
    ax_acc = axes[0, 0]
    for k, arm in enumerate(arms):
        c = colors[k % len(colors)]
        for i, run in enumerate(study_runs(record, task, opt, arm, seeds)):
            acc = [h["test_acc1"] for h in run["history"] if "test_acc1" in h]
            ax_acc.plot(range(1, len(acc) + 1), acc, color=c, alpha=0.7, lw=1.2,
                        label=arm if i == 0 else None)
    ax_acc.axhline(record["tasks"][task]["chance"], color="grey", ls=":", lw=1)
    ax_acc.set(xlabel="epoch", ylabel="test top-1 (%)", title="every seed")
    ax_acc.legend(fontsize=8)
    for ax, (stat, title) in zip(axes.flat[1:], STUDY_STATS + (("delta_sign_flip", ""),)):
        title = title or r"offsets whose sign flipped since the last record"
        for k, arm in enumerate(arms):
            runs = [r for r in study_runs(record, task, opt, arm, seeds)
                    if any("delta_abs_mean" in row for row in r["monitor"])]
            if not runs:
                continue
            series = [_monitor_series(r, stat) for r in runs]
            n = min(len(s[0]) for s in series)
            steps = series[0][0][:n]
            stacked = np.stack([s[1][:n] for s in series])          # (seeds, records)
            keep = ~np.isnan(stacked).all(0)                         # the first has no flips
            values = np.median(np.where(np.isnan(stacked), 0.0, stacked), axis=0)
            steps, values = steps[keep], values[keep]
            ax.plot(steps, values, color=colors[k % len(colors)], lw=1.4, label=arm)
        ax.set(xlabel="step", title=title)
        if stat == "grad_ratio":
            ax.set_yscale("log")
    n = len(study_runs(record, task, opt, arms[0], seeds))
    fig.suptitle(f"{task} task, {opt}: refine's arms over {n} seeds", fontsize=11)
    return fig
