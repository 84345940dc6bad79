r"""What one forward pass of :class:`~regr_edu.ReGr` computed, one field per equation.

``unit.explain(x)`` returns a :class:`UnitTrace`; every figure, widget and chapter of the book
reads it. Shapes: ``B`` batch, ``C`` channels, ``T`` frames (1 for an image), ``H x W`` the map,
``c_mu``, ``c_nu`` the unit's widths, ``M = c_mu * c_nu``, ``N`` the regions of every scale and
frame, ``grids[s] = (T, Gh, Gw)`` scale ``s``'s region grid.
"""
from __future__ import annotations

import dataclasses
from typing import Optional

import torch

from .regions import RegionLayout

__all__ = ["UnitTrace"]


@dataclasses.dataclass(frozen=True)
class UnitTrace:
    """One forward pass of a ReGr unit, step by step (the unit's steps, in the paper's order)."""

    x: torch.Tensor
    """the input as ``(B, C, T, H, W)``"""
    scales: tuple
    """the unit's scales ``(h, w)``"""
    grids: list
    """per scale, the region grid ``(T, Gh, Gw)``"""
    regions: list
    """Eq. 1, per scale: :math:`X^{K_i}`, the padded input split into regions,
    ``(B, T, Gh, Gw, C, h*w)``"""
    mu: torch.Tensor
    """Eq. 2: :math:`\\mu(X)` at every cell, ``(B, c_mu, T, H, W)``"""
    nu: torch.Tensor
    """Eq. 2: :math:`\\nu(X)` at every cell (before the softmax over a region's cells),
    ``(B, c_nu, T, H, W)``"""
    xi: torch.Tensor
    """Eq. 13: :math:`\\xi(X)`, softmax over ``c_nu`` at every cell, ``(B, c_nu, T, H, W)``"""
    A: list
    """Eq. 2, per scale: the aggregated regions before refine, ``(B, T, Gh, Gw, c_mu, c_nu)``"""
    offsets: Optional[list]
    """Eq. 3, per scale: ``(dx, dy, m)``, each ``(B*T, 1, Gh, Gw)``; ``None`` without refine"""
    V: torch.Tensor
    """Eq. 4: the regions after refine, every scale in one list, ``(B, N, M)``"""
    R: Optional[torch.Tensor]
    """Eq. 5-8: the relation matrix ``(B, N, N)`` (bilinear, GCN); ``None`` for attention"""
    Lc: Optional[torch.Tensor]
    """Eq. 9: channel attention ``(B, 1, M)`` (attention only, else ``None``)"""
    Ls: Optional[torch.Tensor]
    """Eq. 10: region attention ``(B, N, 1)`` (attention only, else ``None``)"""
    Z: torch.Tensor
    """Eq. 11-12: the related regions, ``(B, N, M)``"""
    Y: list
    """Eq. 13, per scale: the regions handed back to their cells, ``(B, c_mu, T, H, W)``"""
    added: torch.Tensor
    """the residual branch ``BN(W_out sum_s Y_s)``: output minus input, ``(B, C, T, H, W)``"""
    output: torch.Tensor
    """the unit's output, the rank of the input"""
    image_size: Optional[tuple] = None
    """``(T, H, W)`` of the network input the unit's map came from (set by
    :func:`regr_edu.viz.explain_units`; ``None`` when the unit was called directly)"""

    @property
    def map_size(self) -> tuple:
        """``(T, H, W)`` of the map the unit saw."""
        return tuple(self.x.shape[2:])

    @property
    def layout(self) -> RegionLayout:
        """Where each of the ``N`` regions comes from (scale, frame, row, column)."""
        return RegionLayout(self.scales, self.grids)

    @property
    def Y_sum(self) -> torch.Tensor:
        """Eq. 13 summed over the scales, ``(B, c_mu, T, H, W)``: what the lift reads."""
        return sum(self.Y[1:], self.Y[0])

    def by_scale(self, name: str) -> list:
        """``"V"`` or ``"Z"`` (or any ``(B, N, ...)`` field) as one ``(B, T, Gh, Gw, ...)``
        tensor per scale."""
        value = getattr(self, name, None)
        if not isinstance(value, torch.Tensor) or value.dim() < 2:
            raise ValueError(f"name must be a (B, N, ...) field such as 'V' or 'Z', got {name!r}")
        return self.layout.split(value)

    def shapes(self) -> dict:
        """Every field's shape (lists: one shape per scale), for a table."""
        out = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if isinstance(v, torch.Tensor):
                out[f.name] = tuple(v.shape)
            elif isinstance(v, list) and v and isinstance(v[0], torch.Tensor):
                out[f.name] = [tuple(t.shape) for t in v]
            elif isinstance(v, list) and v and isinstance(v[0], tuple) and \
                    isinstance(v[0][0], torch.Tensor):
                out[f.name] = [tuple(tuple(t.shape) for t in group) for group in v]
        return out
