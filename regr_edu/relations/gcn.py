r"""Eq. 7–8 — a graph convolution over the regions, after GloRe.

.. math::  \mathbf{R} = \mathrm{Conv1D}\big(\mathrm{Conv1D}(V^\top)^\top\big) \in \mathbb{R}^{N\times N}

The first 1-D conv is *node-wise*: it mixes the ``N`` regions (channels = regions), and as in
GloRe's code it is added to its input, :math:`U = V + A_g V` (Eq. 7 writes :math:`(I - A_g)`,
the same family with the sign of :math:`A_g` learned), followed by a ReLU. The second is
*channel-wise*: it maps each region's ``M`` features to ``N`` relation weights, so ``R`` is
``N x N`` and the number of regions ``N`` is fixed when the layer is built. Open choice
(book: Readings): ``R`` is scaled by ``1/N`` (default, so :math:`Z = RV` does not grow with ``N``).

Orientation (book: Readings). The paper expands *each node's* feature from ``M`` to ``N`` "to
present the relation with other nodes", so region ``i``'s features give row ``i`` of ``R``:

.. math::  R_{ij} = w_j \cdot U_i + b_j, \qquad z_i = \sum_j R_{ij} v_j

— region ``i`` decides whom it reads (``orientation="row"``, the default). The transpose,
``orientation="column"``, gives column ``i`` from region ``i``'s features,
:math:`R_{ji} = w_j \cdot U_i + b_j`: output region ``j`` owns a learned query :math:`w_j` and
weighs every region ``i`` by it (this package's form before issue 12).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .._checks import check_choice, check_positive_int

ORIENTATIONS = ("row", "column")


class GCNRelation(nn.Module):
    r"""A graph convolution over the regions, after GloRe (Eq. 7–8), then :math:`Z = R V`.

    Args:
        channels: ``M``, the length of each region's vector in ``V``.
        num_regions: ``N``, fixed when the layer is built (the channel-wise conv maps ``M``
            features to ``N`` weights); ``ReGr`` works it out from its ``input_size``. An input
            with another ``N`` is a ``ValueError`` naming both counts.
        scale_by_n: divide ``R`` by ``N`` (default ``True``, so ``Z`` does not grow with ``N``).
        orientation: ``"row"`` (default): row ``i`` of ``R`` comes from region ``i``'s own
            features (region ``i`` decides whom it reads); ``"column"``: the transpose (output
            region ``j`` owns a learned query). Both are readings of the paper (see the module
            docstring and the book's *Readings of the paper* page).

    ``matrix(V)`` gives ``R`` (``B x N x N``); ``forward(V, grids=None)`` gives ``Z = R V``.

    >>> import torch, regr_edu as rg
    >>> rel = rg.GCNRelation(16, num_regions=10)
    >>> rel(torch.randn(2, 10, 16)).shape
    torch.Size([2, 10, 16])
    """

    def __init__(self, channels: int, num_regions: int, scale_by_n: bool = True,
                 orientation: str = "row") -> None:
        super().__init__()
        check_positive_int("channels", channels)
        check_positive_int("num_regions", num_regions)
        check_choice("gcn_orientation", orientation, ORIENTATIONS)
        self.num_regions = num_regions
        self.scale_by_n = scale_by_n
        self.orientation = orientation
        self.node_conv = nn.Conv1d(num_regions, num_regions, kernel_size=1)   # A_g: mixes regions
        self.relation_conv = nn.Conv1d(channels, num_regions, kernel_size=1)  # M -> N per region

    def matrix(self, V: torch.Tensor, grids=None) -> torch.Tensor:
        """``R`` (``B x N x N``): ``R[b, i, j]`` is the weight of region ``j`` for region ``i``;
        row ``i`` comes from region ``i``'s features (``"row"``) or column ``i`` does
        (``"column"``)."""
        B, N, M = V.shape
        if N != self.num_regions:
            raise ValueError(f"the GCN relation was built for num_regions={self.num_regions} "
                             f"regions (from input_size), but the input gives N={N} regions; "
                             f"build the unit with the input_size of this map")
        U = F.relu(V + self.node_conv(V))                       # (B, N, M): nodes as channels
        R = self.relation_conv(U.transpose(1, 2))               # (B, M, N) --> (B, N_j, N_i)
        if self.orientation == "row":
            R = R.transpose(1, 2)                               # (B, N_i, N_j): row i from U_i
        return R / N if self.scale_by_n else R

    def forward(self, V: torch.Tensor, grids=None) -> torch.Tensor:
        """``Z = R V`` (``B x N x M``) for ``V`` (``B x N x M``); ``grids`` is not used."""
        # Eq. 11: (B, N, N) x (B, N, M) --> (B, N, M)
        return torch.matmul(self.matrix(V, grids), V)
