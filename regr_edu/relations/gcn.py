r"""Eq. 7–8 — a graph convolution over the regions, after GloRe.

.. math::  \mathbf{R} = \mathrm{Conv1D}\big(\mathrm{Conv1D}(V^\top)^\top\big) \in \mathbb{R}^{N\times N}

The first 1-D conv is *node-wise*: it mixes the ``N`` regions (channels = regions), and as in
GloRe's code it is added to its input, :math:`U = V + A_g V` (Eq. 7 writes :math:`(I - A_g)`,
the same family with the sign of :math:`A_g` learned), followed by a ReLU. The second is
*channel-wise*: it maps each region's ``M`` features to ``N`` relation weights, so ``R`` is
``N x N`` and the number of regions ``N`` is fixed when the layer is built. Open choice
(SPEC.md): ``R`` is scaled by ``1/N`` (default, so :math:`Z = RV` does not grow with ``N``).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .._checks import check_positive_int


class GCNRelation(nn.Module):
    def __init__(self, channels: int, num_regions: int, scale_by_n: bool = True) -> None:
        super().__init__()
        check_positive_int("channels", channels)
        check_positive_int("num_regions", num_regions)
        self.num_regions = num_regions
        self.scale_by_n = scale_by_n
        self.node_conv = nn.Conv1d(num_regions, num_regions, kernel_size=1)   # A_g: mixes regions
        self.relation_conv = nn.Conv1d(channels, num_regions, kernel_size=1)  # M -> N per region

    def matrix(self, V: torch.Tensor, grids=None) -> torch.Tensor:
        """``R`` (``B x N x N``): ``R[b, j, i]`` is the weight of region ``i`` for region ``j``."""
        B, N, M = V.shape
        if N != self.num_regions:
            raise ValueError(f"the GCN relation was built for num_regions={self.num_regions} "
                             f"regions (from input_size), but the input gives N={N} regions; "
                             f"build the unit with the input_size of this map")
        U = F.relu(V + self.node_conv(V))                       # (B, N, M): nodes as channels
        R = self.relation_conv(U.transpose(1, 2))               # (B, M, N) --> (B, N_out, N)
        return R / N if self.scale_by_n else R

    def forward(self, V: torch.Tensor, grids=None) -> torch.Tensor:
        # Eq. 11: (B, N, N) x (B, N, M) --> (B, N, M)
        return torch.matmul(self.matrix(V, grids), V)
