r"""Eq. 3–4, literally: each region gathers from its 3x3 neighbours with bilinear weights."""
from __future__ import annotations

import torch


def g(a, b) -> torch.Tensor:
    r""":math:`g(a, b) = \max(0, 1 - |a - b|)`."""
    return torch.clamp(1 - torch.abs(torch.as_tensor(a) - b), min=0)


def bilinear_shift(grid: torch.Tensor, dx: torch.Tensor, dy: torch.Tensor, m) -> torch.Tensor:
    r"""Eq. 4: ``out[b, :, y, x] = m * sum_{q in C(x, y)} g(q_x, x+dx) g(q_y, y+dy) grid[b, :, q]``.

    ``grid`` ``(B, M, Hg, Wg)``; ``dx``, ``dy``, ``m`` ``(B, 1, Hg, Wg)`` (``m`` may be a number).
    """
    B, M, Hg, Wg = grid.shape
    out = torch.zeros_like(grid)
    for b in range(B):
        for y in range(Hg):
            for x in range(Wg):
                mb = m if not torch.is_tensor(m) else m[b, 0, y, x]
                acc = torch.zeros(M, dtype=grid.dtype, device=grid.device)
                for qy in (y - 1, y, y + 1):
                    for qx in (x - 1, x, x + 1):
                        if 0 <= qy < Hg and 0 <= qx < Wg:          # outside the grid: zero
                            B_q = g(qx, x + dx[b, 0, y, x]) * g(qy, y + dy[b, 0, y, x])
                            acc = acc + B_q * grid[b, :, qy, qx]
                out[b, :, y, x] = mb * acc
    return out


def refine(grid: torch.Tensor, eta_weight: torch.Tensor, eta_bias: torch.Tensor,
           mode: str = "replace", max_offset: float = 1.0,
           normalize: bool = False) -> torch.Tensor:
    r"""Eq. 3 then Eq. 4. :math:`\eta` is a ``k x k`` conv ``M -> 3`` (``k`` = 1 or 3, zero
    padding): ``(dx, dy, m) = (max_offset tanh, max_offset tanh, sigmoid)`` of its three outputs
    at each region (``max_offset = 1``: Eq. 3 as written). ``normalize``: :math:`\eta` reads each
    region vector divided by its L2 norm (at least ``1e-6``). ``mode``: ``"replace"`` (Eq. 4
    as printed), ``"add"`` (``G`` plus Eq. 4) or ``"blend"`` (``(1 - m) G`` plus Eq. 4)."""
    B, M, Hg, Wg = grid.shape
    k = eta_weight.shape[-1]
    dx = torch.zeros(B, 1, Hg, Wg, dtype=grid.dtype, device=grid.device)
    dy, m = torch.zeros_like(dx), torch.zeros_like(dx)
    for b in range(B):
        for y in range(Hg):
            for x in range(Wg):
                o = eta_bias.clone()
                for ky in range(k):
                    for kx in range(k):
                        qy, qx = y + ky - k // 2, x + kx - k // 2
                        if 0 <= qy < Hg and 0 <= qx < Wg:
                            r = grid[b, :, qy, qx]
                            if normalize:
                                r = r / torch.clamp(torch.sqrt((r * r).sum()), min=1e-6)
                            o = o + eta_weight[:, :, ky, kx] @ r
                dx[b, 0, y, x] = max_offset * torch.tanh(o[0])
                dy[b, 0, y, x] = max_offset * torch.tanh(o[1])
                m[b, 0, y, x] = torch.sigmoid(o[2])
    moved = bilinear_shift(grid, dx, dy, m)
    if mode == "replace":
        return moved
    if mode == "add":
        return grid + moved
    return (1 - m) * grid + moved                       # blend: m weighs the moved region
