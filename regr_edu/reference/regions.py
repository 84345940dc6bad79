r"""Eq. 1, literally: :math:`\rho` copies each region's cells, one region at a time."""
from __future__ import annotations

import torch


def region_cells(gy: int, gx: int, scale, H: int, W: int) -> list[tuple[int, int]]:
    """The ``(row, col)`` cells of region ``(gy, gx)`` in row-major order, cut at the map's edge."""
    h, w = scale
    return [(gy * h + py, gx * w + px) for py in range(h) for px in range(w)
            if gy * h + py < H and gx * w + px < W]


def split_regions(x: torch.Tensor, scale) -> torch.Tensor:
    """``(B, C, T, H, W) -> (B, T, H//h, W//w, C, h*w)`` (or without ``T`` for 4-D input)."""
    h, w = scale
    was_4d = x.dim() == 4
    if was_4d:
        x = x.unsqueeze(2)
    B, C, T, H, W = x.shape
    if H % h or W % w or h > H or w > W:
        raise ValueError(f"scale ({h}, {w}) must divide the map size ({H}, {W})")
    out = x.new_zeros(B, T, H // h, W // w, C, h * w)
    for t in range(T):
        for gy in range(H // h):
            for gx in range(W // w):
                for p, (row, col) in enumerate(region_cells(gy, gx, scale, H, W)):
                    out[:, t, gy, gx, :, p] = x[:, :, t, row, col]
    return out[:, 0] if was_4d else out


def merge_regions(regions: torch.Tensor, scale) -> torch.Tensor:
    """The inverse of :func:`split_regions`: put every region's cells back in place."""
    h, w = scale
    was_4d = regions.dim() == 5
    if was_4d:
        regions = regions.unsqueeze(1)
    B, T, Gh, Gw, C, P = regions.shape
    x = regions.new_zeros(B, C, T, Gh * h, Gw * w)
    for t in range(T):
        for gy in range(Gh):
            for gx in range(Gw):
                for p, (row, col) in enumerate(region_cells(gy, gx, scale, Gh * h, Gw * w)):
                    x[:, :, t, row, col] = regions[:, t, gy, gx, :, p]
    return x[:, :, 0] if was_4d else x
