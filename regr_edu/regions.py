r"""Eq. 1 — split a feature map into regions, :math:`\rho`.

.. math::  X^{K_i} = \rho(X, K_i) \in \mathbb{R}^{T \times \frac{H}{H_i} \times \frac{W}{W_i}
           \times C \times H_i W_i}

A *scale* ``(h, w)`` is the size of one region in feature-map cells. On a ``(B, C, T, H, W)`` map
it gives ``T * (H // h) * (W // w)`` regions, each a ``C x (h*w)`` matrix whose columns are the
region's cells in row-major order. :func:`split_regions` is strict (the scale must divide the map);
the unit handles other sizes with :func:`pad_to_scale` and :func:`cell_mask` (pad bottom and right,
mask the padded cells out of every softmax and sum).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ._checks import check_float, check_rank, check_scale


def _check_divides(H: int, W: int, h: int, w: int) -> None:
    if h > H or w > W:
        raise ValueError(f"scale (h, w)=({h}, {w}) must not be larger than the map "
                         f"(H, W)=({H}, {W})")
    if H % h or W % w:
        raise ValueError(f"scale (h, w)=({h}, {w}) must divide the map size (H, W)=({H}, {W}); "
                         f"pad it first (regr_edu.regions.pad_to_scale) or choose another scale")


def split_regions(x: torch.Tensor, scale: tuple[int, int]) -> torch.Tensor:
    r"""Split a map into non-overlapping ``h x w`` regions (Eq. 1, :math:`\rho`).

    Args:
        x: ``(B, C, T, H, W)`` or ``(B, C, H, W)``.
        scale: ``(h, w)``, which must divide ``(H, W)``.

    Returns:
        ``(B, T, H//h, W//w, C, h*w)`` for a 5-D input, ``(B, H//h, W//w, C, h*w)`` for 4-D.
        Entry ``[..., gy, gx, c, p]`` is cell ``(gy*h + p // w, gx*w + p % w)`` of channel ``c``.
    """
    check_float("x", x)
    check_rank("x", x, (4, 5), "(B, C, H, W) or (B, C, T, H, W)")
    h, w = check_scale("scale", scale)
    was_4d = x.dim() == 4
    x5 = x.unsqueeze(2) if was_4d else x                     # (B, C, T, H, W)
    B, C, T, H, W = x5.shape
    _check_divides(H, W, h, w)
    Gh, Gw = H // h, W // w
    r = x5.reshape(B, C, T, Gh, h, Gw, w)                    # (B, C, T, Gh, h, Gw, w)
    r = r.permute(0, 2, 3, 5, 1, 4, 6)                       # (B, T, Gh, Gw, C, h, w)
    r = r.reshape(B, T, Gh, Gw, C, h * w)                    # (B, T, Gh, Gw, C, P)
    out = r.squeeze(1) if was_4d else r
    if not torch.jit.is_scripting() and not torch.compiler.is_compiling():
        out._regr_scale = (h, w)  # lets merge_regions refuse another scale with the same h*w
    return out


def merge_regions(regions: torch.Tensor, scale: tuple[int, int]) -> torch.Tensor:
    r"""Exact inverse of :func:`split_regions` (:math:`\rho^{-1}`); the rank is inferred.

    Args:
        regions: ``(B, T, Gh, Gw, C, h*w)`` (gives a 5-D map) or ``(B, Gh, Gw, C, h*w)`` (4-D).
        scale: ``(h, w)``.

    Returns:
        ``(B, C, T, Gh*h, Gw*w)`` or ``(B, C, Gh*h, Gw*w)``.

    Regions straight from :func:`split_regions` remember their scale, and another ``scale``
    (even one with the same ``h*w``, which would give a wrongly shaped map) is a ``ValueError``.
    """
    check_float("regions", regions)
    check_rank("regions", regions, (5, 6), "(B, Gh, Gw, C, h*w) or (B, T, Gh, Gw, C, h*w)")
    h, w = check_scale("scale", scale)
    if not torch.jit.is_scripting() and not torch.compiler.is_compiling():
        split_with = getattr(regions, "_regr_scale", None)
        if split_with is not None and tuple(split_with) != (h, w):
            raise ValueError(f"scale must be the scale the regions were split with, "
                             f"{tuple(split_with)}, got ({h}, {w}): the same h*w={h * w} cells "
                             f"per region, but merged with another (h, w) the map comes out "
                             f"with the wrong shape")
    if regions.shape[-1] != h * w:
        raise ValueError(f"regions' last dimension must be h*w={h * w} for scale ({h}, {w}), "
                         f"got shape {tuple(regions.shape)}")
    was_4d = regions.dim() == 5
    r = regions.unsqueeze(1) if was_4d else regions          # (B, T, Gh, Gw, C, P)
    B, T, Gh, Gw, C, _ = r.shape
    x = r.reshape(B, T, Gh, Gw, C, h, w)                     # (B, T, Gh, Gw, C, h, w)
    x = x.permute(0, 4, 1, 2, 5, 3, 6)                       # (B, C, T, Gh, h, Gw, w)
    x = x.reshape(B, C, T, Gh * h, Gw * w)                   # (B, C, T, H, W)
    return x.squeeze(2) if was_4d else x


def grid_size(H: int, W: int, scale: tuple[int, int]) -> tuple[int, int]:
    """Number of regions ``(Gh, Gw)`` along each axis once ``(H, W)`` is padded up to ``scale``."""
    h, w = check_scale("scale", scale)
    if h > H or w > W:
        raise ValueError(f"scale (h, w)=({h}, {w}) must not be larger than the map "
                         f"(H, W)=({H}, {W})")
    return -(-H // h), -(-W // w)


def pad_to_scale(x: torch.Tensor, scale: tuple[int, int]) -> torch.Tensor:
    """Zero-pad the last two axes (bottom and right) up to the next multiple of ``scale``."""
    H, W = x.shape[-2:]
    Gh, Gw = grid_size(H, W, scale)
    pad_h, pad_w = Gh * scale[0] - H, Gw * scale[1] - W
    if pad_h == 0 and pad_w == 0:
        return x
    return F.pad(x, (0, pad_w, 0, pad_h))


def cell_mask(H: int, W: int, scale: tuple[int, int], device=None) -> torch.Tensor:
    """Which cells of each padded region are real: a bool ``(Gh, Gw, h*w)`` tensor."""
    h, w = check_scale("scale", scale)
    Gh, Gw = grid_size(H, W, scale)
    ys = torch.arange(Gh * h, device=device) < H                        # (Hp,)
    xs = torch.arange(Gw * w, device=device) < W                        # (Wp,)
    m = ys[:, None] & xs[None, :]                                       # (Hp, Wp)
    m = m.reshape(Gh, h, Gw, w).permute(0, 2, 1, 3)                     # (Gh, Gw, h, w)
    return m.reshape(Gh, Gw, h * w)


class RegionLayout:
    r"""Where each region of a unit's list ``V`` (``(B, N, M)``) comes from.

    The unit lists the regions scale by scale; within a scale, frame by frame, then row-major over
    the ``(Gh, Gw)`` grid. ``RegionLayout(scales, grids)`` (``grids[s] = (T, Gh, Gw)``) turns that
    list back into grids and an index back into ``(scale, frame, gy, gx)``; it is the one walk over
    the list that the package's figures and widgets use.
    """

    def __init__(self, scales, grids) -> None:
        self.scales = tuple(tuple(int(v) for v in s) for s in scales)
        self.grids = [tuple(int(v) for v in g) for g in grids]
        if len(self.scales) != len(self.grids):
            raise ValueError(f"scales and grids must have the same length, got "
                             f"{len(self.scales)} and {len(self.grids)}")
        self.sizes = [T * Gh * Gw for T, Gh, Gw in self.grids]
        self.starts = [sum(self.sizes[:i]) for i in range(len(self.sizes))]
        self.num_regions = sum(self.sizes)

    def __repr__(self) -> str:
        return f"RegionLayout(scales={self.scales}, grids={self.grids})"

    def slices(self) -> list[slice]:
        """The slice of ``V``'s region axis that holds each scale."""
        return [slice(a, a + n) for a, n in zip(self.starts, self.sizes)]

    def split(self, V: torch.Tensor) -> list[torch.Tensor]:
        """``V`` ``(B, N, ...)`` -> one ``(B, T, Gh, Gw, ...)`` view per scale."""
        if V.dim() < 2 or V.shape[1] != self.num_regions:
            raise ValueError(f"V must be (B, N, ...) with N={self.num_regions} regions, got shape "
                             f"{tuple(V.shape)}")
        return [V[:, sl].reshape(V.shape[0], *g, *V.shape[2:])
                for sl, g in zip(self.slices(), self.grids)]

    def locate(self, index: int) -> tuple[int, int, int, int]:
        """Region ``index`` of the list -> ``(scale_index, t, gy, gx)``."""
        if not isinstance(index, int) or isinstance(index, bool) or \
                not 0 <= index < self.num_regions:
            raise ValueError(f"index must be an integer in [0, {self.num_regions - 1}], "
                             f"got {index!r}")
        for s, (start, n) in enumerate(zip(self.starts, self.sizes)):
            if index < start + n:
                T, Gh, Gw = self.grids[s]
                t, rest = divmod(index - start, Gh * Gw)
                return s, t, *divmod(rest, Gw)
        raise AssertionError("unreachable")

    def index(self, scale_index: int, t: int, gy: int, gx: int) -> int:
        """The inverse of :meth:`locate`."""
        T, Gh, Gw = self.grids[scale_index]
        for name, v, n in (("t", t, T), ("gy", gy, Gh), ("gx", gx, Gw)):
            if not 0 <= v < n:
                raise ValueError(f"{name} must lie in [0, {n - 1}] at scale {scale_index}, "
                                 f"got {v}")
        return self.starts[scale_index] + (t * Gh + gy) * Gw + gx

    def cells(self, index: int) -> tuple[int, int, int, int, int]:
        """Region ``index`` on the map: ``(t, y0, x0, h, w)`` (its top-left cell and size; the
        last row or column of regions may extend past the map into the padding)."""
        s, t, gy, gx = self.locate(index)
        h, w = self.scales[s]
        return t, gy * h, gx * w, h, w
