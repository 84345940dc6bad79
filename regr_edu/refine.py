r"""Eq. 3–4 — *refine*: move each aggregated region a fraction of a cell toward its neighbours.

.. math::  \delta_x, \delta_y, m = \eta(R(x, y); W_\eta)

.. math::  R(x+\delta_x, y+\delta_y) = m \sum_{q \in \mathcal{C}(x, y)} g(q_x, x+\delta_x)\,
           g(q_y, y+\delta_y)\, R(q), \qquad g(a, b) = \max(0, 1 - |a - b|)

:math:`\mathcal{C}(x, y)` is the 3x3 neighbourhood of region ``(x, y)`` on its scale's grid; cells
outside the grid are zero. ``x`` runs along the width (last axis), ``y`` along the height, so
``dx > 0`` samples from the right. With :math:`|\delta| < 1` the sum is exactly bilinear
interpolation with zero padding, i.e. a modulated deformable 1x1 convolution whose weight is the
identity (offsets ``(dy, dx)``, mask ``m``) — ``torchvision.ops.deform_conv2d`` checks it in the
tests. :math:`\eta` gives :math:`\delta = \tanh(\cdot) \in (-1, 1)` and
:math:`m = \mathrm{sigmoid}(\cdot) \in (0, 1)`; its weights start at zero, so a fresh refine
samples in place with ``m = 0.5``.

:math:`g` has a kink at whole-number offsets, :math:`\delta = 0` among them. The fast path takes
the right-hand slope there, like ``deform_conv2d`` (see :func:`_weights`): with the tent's own
slope (zero) a zero-initialised :math:`\eta` would never move its offsets.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ._checks import (check_choice, check_float, check_in_range, check_number,
                      check_positive_int, check_rank, refuse_jit_script)
from ._products import product, use_onednn

_NEIGHBOURS = (-1, 0, 1)
#: How the moved grid meets the aggregated one: Eq. 4 as printed, added to it, or weighed by m
MODES = ("replace", "add", "blend")
_NORM_EPS = 1e-6           # normalize_input: the least norm a region vector is divided by


def _weights(d: torch.Tensor) -> dict[int, torch.Tensor]:
    r"""Bilinear weights :math:`g(x + a, x + d) = \max(0, 1 - |a - d|)` for ``a`` in -1, 0, 1.

    For :math:`|d| \le 1` they are the same numbers as the tent, but written from
    :math:`f = \lfloor d \rfloor` (kept in {-1, 0}) and :math:`t = d - f`, as
    ``deform_conv2d`` and ``grid_sample`` do, so that at a whole-number offset autograd takes
    the one-sided (right-hand) slope instead of 0. The tent's slope at ``d = 0`` would be 0, and
    a freshly initialised :math:`\eta` puts every offset exactly there: the offsets would never
    receive a gradient and never learn.
    """
    neg = (d < 0).to(d.dtype)                 # f = -1 where d < 0, else f = 0
    w_left = -d * neg                         # weight of x - 1: (1 - t) when f = -1, else 0
    w_right = d * (1 - neg)                   # weight of x + 1: t when f = 0, else 0
    return {-1: w_left, 0: 1 - w_left - w_right, 1: w_right}


_BANDS: dict = {}


def _band(n: int, like: torch.Tensor) -> torch.Tensor:
    """``(n, 3, n)`` zeros and ones: ``[x, i, x']`` is 1 where ``x' = x + a_i``, ``a`` in -1, 0, 1
    (a neighbour outside the axis has no column: zero padding)."""
    def build():
        pos = torch.arange(n, device=like.device)
        step = pos[None, :] - pos[:, None]                              # (n, n): x' - x
        a = torch.tensor(_NEIGHBOURS, device=like.device)
        return (step[:, None, :] == a[None, :, None]).to(like.dtype)    # (n, 3, n)

    if torch.compiler.is_compiling():
        return build()
    key = (n, like.dtype, like.device)
    if key not in _BANDS:
        with torch.inference_mode(False):       # a plain tensor even if first built there
            _BANDS[key] = build()
    return _BANDS[key]


def _axis_matrix(d: torch.Tensor, n: int, axis: int) -> torch.Tensor:
    """``(B, Hg, Wg, n)``: the weight :math:`g(q, p + d)` of every position ``q`` along one axis
    (``axis`` -1: the width, ``-2``: the height) for the offset ``d`` of every cell ``p``."""
    w = _weights(d)                                                 # 3 x (B, 1, Hg, Wg)
    w3 = torch.stack([w[a] for a in _NEIGHBOURS], dim=-1)[:, 0]     # (B, Hg, Wg, 3)
    band = _band(n, d)                                              # (n, 3, n)
    if axis == -1:                                                  # cell x: band row x
        return (w3.unsqueeze(-1) * band).sum(-2)                    # (B, Hg, Wg, n)
    return (w3.unsqueeze(-1) * band.unsqueeze(1)).sum(-2)           # row y: (B, Hg, Wg, n)


def shift_matrix(dx: torch.Tensor, dy: torch.Tensor,
                 m: torch.Tensor | None = None) -> torch.Tensor:
    r"""Eq. 4 as a matrix: ``S`` (``B x L x L``, ``L = Hg*Wg``) with ``out = S @ cells``.

    ``S[b, (y, x), (q_y, q_x)] = m * g(q_x, x + dx) g(q_y, y + dy)``: row ``(y, x)`` holds the
    weights of the (at most four nonzero) neighbours the cell reads. Eq. 4 is linear in the grid,
    so moving every region at once is one batched matrix product, whatever the layout of the
    region vectors; the weights come from :func:`_weights` (the right-hand slope at whole
    numbers). ``dx``, ``dy``, ``m``: ``(B, 1, Hg, Wg)``; ``m`` None means 1.
    """
    B, _, Hg, Wg = dx.shape
    wx = _axis_matrix(dx, Wg, -1)                                   # (B, Hg, Wg, Wg): g(q_x, ..)
    wy = _axis_matrix(dy, Hg, -2)                                   # (B, Hg, Wg, Hg): g(q_y, ..)
    if m is not None:
        wy = wy * m.reshape(B, Hg, Wg, 1)
    S = wy.unsqueeze(-1) * wx.unsqueeze(-2)                         # (B, Hg, Wg, Hg, Wg)
    return S.reshape(B, Hg * Wg, Hg * Wg)                           # (B, L, L)


def shift_unchecked(grid: torch.Tensor, dx: torch.Tensor, dy: torch.Tensor,
                    m: torch.Tensor | None = None) -> torch.Tensor:
    """Eq. 4 without input checks (the unit's fast path); ``|d| <= 1``; ``m`` None means 1.

    The nine-neighbour sum of every region at once, as one matrix product with
    :func:`shift_matrix`: ``(B, M, L) x (B, L, L)^T``.
    """
    B, M, Hg, Wg = grid.shape
    S = shift_matrix(dx, dy, m)                                     # (B, L, L)
    out = torch.matmul(grid.reshape(B, M, Hg * Wg), S.transpose(1, 2))  # (B, M, L)
    return out.reshape(B, M, Hg, Wg)


def bilinear_shift(grid: torch.Tensor, dx: torch.Tensor, dy: torch.Tensor,
                   m: torch.Tensor | float = 1.0) -> torch.Tensor:
    r"""The bare Eq. 4: move every cell of ``grid`` by ``(dx, dy)`` and scale it by ``m``.

    Args:
        grid: ``(B, M, Hg, Wg)``, one aggregated vector per region of one scale.
        dx, dy: ``(B, 1, Hg, Wg)`` offsets in cells, each in ``[-1, 1]`` (the 3x3 neighbourhood).
        m: ``(B, 1, Hg, Wg)`` amplitudes in ``[0, 1]``, or a number.

    Returns:
        ``(B, M, Hg, Wg)``: ``out[.., y, x] = m * sum_q g(q_x, x+dx) g(q_y, y+dy) grid[.., q_y, q_x]``.
    """
    check_float("grid", grid)
    check_rank("grid", grid, (4,), "(B, M, Hg, Wg)")
    B, _, Hg, Wg = grid.shape
    if not isinstance(m, torch.Tensor):
        m = torch.full((B, 1, Hg, Wg), float(m), dtype=grid.dtype, device=grid.device)
    for name, t in (("dx", dx), ("dy", dy), ("m", m)):
        check_float(name, t)
        if tuple(t.shape) != (B, 1, Hg, Wg):
            raise ValueError(f"{name} must have shape (B, 1, Hg, Wg)={(B, 1, Hg, Wg)} to match "
                             f"grid {tuple(grid.shape)}, got {tuple(t.shape)}")
    check_in_range("dx", dx, -1.0, 1.0)
    check_in_range("dy", dy, -1.0, 1.0)
    check_in_range("m", m, 0.0, 1.0)
    return shift_unchecked(grid, dx, dy, m)


class Refine(nn.Module):
    r"""The learned refine of Eq. 3–4 on one scale's grid of aggregated regions.

    Args:
        channels: ``M``, the length of each aggregated vector.
        context: ``1`` — :math:`\eta` reads :math:`R(x, y)` alone (a 1x1 conv, Eq. 3 as written,
            default); ``3`` — it reads the 3x3 neighbourhood.
        mode: ``"replace"`` — the result replaces ``G`` (Eq. 4 as written, default);
            ``"add"`` — it is added to ``G``; ``"blend"`` — :math:`m` weighs the moved region
            against the unmoved one, :math:`(1 - m)\,G + m\,B(G, \delta)` with
            :math:`B` Eq. 4's bilinear sum (the paper's "weight of the region when the
            information is exchanged"): a fresh refine (``δ = 0``) is the identity.
        max_offset: the bound of the offsets, :math:`\delta = \text{max\_offset}\cdot\tanh(\cdot)`
            (``1``: the whole 3x3 neighbourhood, Eq. 3 as written; in ``(0, 1]``).
        mask_init: :math:`m` of a fresh refine, in ``(0, 1)`` (``0.5``: :math:`\eta`'s bias starts
            at zero, as written); :math:`\eta`'s third bias starts at ``logit(mask_init)``.
        lr_scale: the factor on the learning rate of :math:`\eta`'s parameters, read by
            :func:`regr_edu.training.param_groups` (``1``: trained like the rest). It changes no
            forward value: an optimizer built from ``model.parameters()`` ignores it.
        detach_input: :math:`\eta` reads ``G`` without passing its gradient back (the offsets
            and amplitudes still learn; the regions' gradient comes only through Eq. 4's sum).
        normalize_input: :math:`\eta` reads each region's direction,
            :math:`R / \max(\lVert R \rVert_2, 10^{-6})`, instead of ``R`` (``False``: Eq. 3 as
            written). The offsets then no longer grow with the regions' norm, which grows
            about tenfold while the unit trains (the refine chapter's monitor).
    """

    def __init__(self, channels: int, context: int = 1, mode: str = "replace", *,
                 max_offset: float = 1.0, mask_init: float = 0.5, lr_scale: float = 1.0,
                 detach_input: bool = False, normalize_input: bool = False) -> None:
        super().__init__()
        check_positive_int("channels", channels)
        check_choice("context", context, (1, 3))
        check_choice("mode", mode, MODES)
        self.mode = mode
        self.max_offset = check_number("max_offset", max_offset, 0.0, 1.0, low_open=True)
        self.mask_init = check_number("mask_init", mask_init, 0.0, 1.0, low_open=True,
                                      high_open=True)
        self.lr_scale = check_number("lr_scale", lr_scale, 0.0, math.inf, low_open=True)
        check_choice("detach_input", detach_input, (True, False))
        self.detach_input = bool(detach_input)
        check_choice("normalize_input", normalize_input, (True, False))
        self.normalize_input = bool(normalize_input)
        # eta: M -> (delta_x, delta_y, m); weights zero: delta = 0, m = mask_init everywhere
        self.eta = nn.Conv2d(channels, 3, kernel_size=context, padding=context // 2)
        nn.init.zeros_(self.eta.weight)
        nn.init.zeros_(self.eta.bias)
        with torch.no_grad():
            self.eta.bias[2] = math.log(self.mask_init / (1 - self.mask_init))

    def __prepare_scriptable__(self):
        refuse_jit_script(self)                 # torch.jit.script: our message, not its compiler's

    def eta_parameters(self) -> list[nn.Parameter]:
        r""":math:`\eta`'s parameters (those :attr:`lr_scale` applies to)."""
        return list(self.eta.parameters())

    def _eta_input(self, regions: torch.Tensor, dim: int) -> torch.Tensor:
        r"""What :math:`\eta` reads: the regions (vectors along ``dim``), detached and divided by
        their norm where the options say so."""
        g = regions.detach() if self.detach_input else regions
        if self.normalize_input:                                    # each region's direction
            g = g / g.norm(dim=dim, keepdim=True).clamp_min(_NORM_EPS)
        return g

    def offsets(self, grid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Eq. 3: ``(dx, dy, m)``, each ``(B, 1, Hg, Wg)``, from a ``(B, M, Hg, Wg)`` grid."""
        g = self._eta_input(grid, dim=1)
        if torch.compiler.is_compiling():
            # the same conv as a conv3d over one frame: Inductor fails on conv2d's backward with
            # symbolic sizes (torch.compile(dynamic=True)); eager keeps the conv2d, bit for bit
            p = self.eta.padding[0]
            out = F.conv3d(g.unsqueeze(2), self.eta.weight.unsqueeze(2), self.eta.bias,
                           padding=(0, p, p)).squeeze(2)                 # (B, 3, Hg, Wg)
        else:
            out = self.eta(g)                                           # (B, 3, Hg, Wg)
        dx = self.max_offset * torch.tanh(out[:, 0:1])                  # (B, 1, Hg, Wg)
        dy = self.max_offset * torch.tanh(out[:, 1:2])                  # in (-max_offset, ..)
        m = torch.sigmoid(out[:, 2:3])                                  # (B, 1, Hg, Wg) in (0, 1)
        return dx, dy, m

    def _combine(self, regions: torch.Tensor, moved: torch.Tensor,
                 m: torch.Tensor) -> torch.Tensor:
        """The refined regions from the unmoved ones and Eq. 4's ``m B(G, δ)`` (``moved``), by
        :attr:`mode`; ``m`` broadcasts against ``regions``."""
        if self.mode == "replace":
            return moved
        if self.mode == "add":
            return regions + moved
        return regions - m * regions + moved                        # (1 - m) G + m B(G, delta)

    def forward(self, grid: torch.Tensor) -> torch.Tensor:
        dx, dy, m = self.offsets(grid)
        moved = shift_unchecked(grid, dx, dy, m)                    # Eq. 4: (B, M, Hg, Wg)
        return self._combine(grid, moved, m)

    def forward_cells(self, cells: torch.Tensor, Hg: int, Wg: int) -> torch.Tensor:
        """:meth:`forward` on the regions in the unit's layout, ``(B, Hg*Wg, M)`` (row-major
        cells), without turning them into a ``(B, M, Hg, Wg)`` grid and back."""
        B, L, M = cells.shape
        if self.eta.kernel_size[0] == 1:                            # eta is per cell: a linear map
            g = self._eta_input(cells, dim=2)
            out = F.linear(g, self.eta.weight.reshape(3, M), self.eta.bias)   # (B, L, 3)
            out = out.transpose(1, 2).reshape(B, 3, Hg, Wg)         # (B, 3, Hg, Wg)
            dx = self.max_offset * torch.tanh(out[:, 0:1])          # (B, 1, Hg, Wg)
            dy = self.max_offset * torch.tanh(out[:, 1:2])
            m = torch.sigmoid(out[:, 2:3])
        else:                                                       # 3x3 context: on the grid
            dx, dy, m = self.offsets(cells.transpose(1, 2).reshape(B, M, Hg, Wg))
        S = shift_matrix(dx, dy, m)                                 # (B, L, L)
        if use_onednn(cells, min(L, M)):                            # a large grid, on oneDNN
            moved = product(S, cells)                               # Eq. 4: (B, L, M)
        else:
            moved = torch.matmul(S, cells)                          # Eq. 4: (B, L, M)
        return self._combine(cells, moved, m.reshape(B, L, 1) if self.mode == "blend" else m)
