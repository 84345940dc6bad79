r"""Eq. 9–10 — channel and regional attention over the regions (SENet/CBAM style).

.. math::  Z = L_s\big((L_c(V^\top) \otimes V)^\top\big) \otimes V

.. math::  L(V)_{c/s} = \mathrm{Conv1D}(\mathrm{Conv1D}(\mathrm{Pooling}(V)))

:math:`L_c` (``1 x M``): max-pool ``V`` over the regions, two 1-D convs ``M -> M/r -> M`` with a
ReLU between, a sigmoid. :math:`L_s` (``N x 1``): on each scale's region grid, max-pool over the
``M`` features, two small 3x3 convolutions over neighbouring regions, a sigmoid — it works for any
``N``. For clips the regional convolutions run frame by frame. Open choice (book: Readings):
``mode="sequential"`` (default) gives :math:`Z = L_s(V') \otimes V'` with
:math:`V' = L_c \otimes V`, as CBAM and the paper's "sequentially infers"; ``mode="letter"``
follows Eq. 9 to the letter, :math:`Z = L_s(V') \otimes V`, where :math:`L_c` only steers
:math:`L_s`. Eq. 11 is skipped: ``Z`` goes straight to the distribution.

Our reading of Eq. 10's "Conv1D" for :math:`L_s` (the book's relations chapter argues it): the
pooled input is one number per region, so a 1-D convolution would run along the *sequence* of
regions, where a region's neighbours are what the flattening puts next to it — the end of one
grid row beside the start of the next, the last region of one scale beside the first of the
other — while the regions above and below are ``Gw`` steps away. A kernel of 1 would see no
neighbour at all. We take "Conv1D" as the paper's one formula for both maps and run
:math:`L_s`'s two convolutions in 2-D (3x3, zero padding) on each scale's grid, where the
neighbours are spatial, as CBAM's spatial map. The hidden width (``hidden=4``) is ours; the paper
gives none.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .._checks import check_choice, check_positive_int


class AttentionRelation(nn.Module):
    r"""Channel attention :math:`L_c` and regional attention :math:`L_s` (Eq. 9–10).

    There is no relation matrix: ``Z`` is ``V`` reweighted by the two maps, and Eq. 11 is
    skipped, as the paper says.

    Args:
        channels: ``M``, the length of each region's vector in ``V``.
        reduction: ``r`` of :math:`L_c`'s bottleneck ``M -> M/r -> M`` (default 16).
        hidden: channels between :math:`L_s`'s two 3x3 convolutions (default 4; the paper
            gives none).
        mode: ``"sequential"`` (default): :math:`Z = L_s(V') \otimes V'` with
            :math:`V' = L_c \otimes V`; ``"letter"``: Eq. 9 as printed,
            :math:`Z = L_s(V') \otimes V`.

    ``maps(V, grids)`` gives ``(L_c, L_s)``, shapes ``(B, 1, M)`` and ``(B, N, 1)``;
    ``forward(V, grids)`` gives ``Z`` (``B x N x M``). ``grids`` lists each scale's region grid
    ``(T, Gh, Gw)`` in the order the regions of ``V`` were concatenated; it is required.

    >>> import torch, regr_edu as rg
    >>> rel = rg.AttentionRelation(16)
    >>> rel(torch.randn(2, 4 * 4 + 2 * 2, 16), grids=[(1, 4, 4), (1, 2, 2)]).shape
    torch.Size([2, 20, 16])
    """

    def __init__(self, channels: int, reduction: int = 16, hidden: int = 4,
                 mode: str = "sequential") -> None:
        super().__init__()
        check_positive_int("channels", channels)
        check_positive_int("reduction", reduction)
        check_positive_int("hidden", hidden)
        check_choice("mode", mode, ("sequential", "letter"))
        self.mode = mode
        mid = max(1, channels // reduction)
        self.channel_conv1 = nn.Conv1d(channels, mid, kernel_size=1)   # L_c: M -> M/r
        self.channel_conv2 = nn.Conv1d(mid, channels, kernel_size=1)   # L_c: M/r -> M
        self.region_conv1 = nn.Conv2d(1, hidden, kernel_size=3, padding=1)   # L_s over the grid
        self.region_conv2 = nn.Conv2d(hidden, 1, kernel_size=3, padding=1)

    def maps(self, V: torch.Tensor, grids) -> tuple[torch.Tensor, torch.Tensor]:
        """``(L_c, L_s)``: ``(B, 1, M)`` channel map and ``(B, N, 1)`` regional map."""
        B, N, M = V.shape
        pooled = V.amax(dim=1).unsqueeze(-1)                    # max over regions: (B, M, 1)
        Lc = torch.sigmoid(self.channel_conv2(F.relu(self.channel_conv1(pooled))))  # (B, M, 1)
        Lc = Lc.transpose(1, 2)                                 # (B, 1, M)
        Vc = Lc * V                                             # V' = L_c (x) V: (B, N, M)
        per_region = Vc.amax(dim=2)                             # max over features: (B, N)
        logits, start = [], 0
        for T, Gh, Gw in grids:
            n = T * Gh * Gw
            g = per_region[:, start:start + n].reshape(B * T, 1, Gh, Gw)  # (B*T, 1, Gh, Gw)
            g = self.region_conv2(F.relu(self.region_conv1(g)))          # (B*T, 1, Gh, Gw)
            logits.append(g.reshape(B, n))
            start += n
        if start != N:
            raise ValueError(f"grids must account for all N={N} regions of V, "
                             f"got {list(grids)} ({start} regions)")
        Ls = torch.sigmoid(torch.cat(logits, dim=1)).unsqueeze(-1)       # (B, N, 1)
        return Lc, Ls

    def forward(self, V: torch.Tensor, grids) -> torch.Tensor:
        """``Z`` (``B x N x M``): ``V`` weighted by the channel and regional maps."""
        Lc, Ls = self.maps(V, grids)
        if self.mode == "sequential":
            return Ls * (Lc * V)                                # (B, N, M)
        return Ls * V
