r"""Eq. 5–6 — bilinear pooling between regions, as in the non-local block.

.. math::  \mathbf{R} = \mathrm{Conv}(V) \odot \mathrm{Conv}(V)^\top \in \mathbb{R}^{N \times N}

The two "convolutions" act on each region's vector alone (1-D convs of kernel 1), i.e. linear maps
:math:`\theta, \phi: M \to M'` with ``M' = M // 4`` by default. Open choice (book: Readings): each
row of ``R`` goes through a softmax (embedded-Gaussian non-local, default, ``normalize="softmax"``)
or ``R`` is divided by ``N`` (dot product, ``normalize="dot"``). Then Eq. 11: :math:`Z = R V`.
"""
from __future__ import annotations

import torch
from torch import nn

from .._checks import check_choice, check_positive_int
from .._products import _hooked, linear, product, product_t, use_onednn


class BilinearRelation(nn.Module):
    r"""Bilinear pooling between regions (Eq. 5–6), then :math:`Z = R V` (Eq. 11–12).

    Args:
        channels: ``M``, the length of each region's vector in ``V``.
        inner_channels: ``M'``, the width of :math:`\theta` and :math:`\phi`
            (default ``M // 4``, at least 1).
        normalize: ``"softmax"`` (default): each row of :math:`\theta(V)\phi(V)^\top` goes
            through a softmax, as the embedded-Gaussian non-local block; ``"dot"``: divided by
            ``N``. The paper leaves this open (the book's *Readings of the paper* page).

    ``matrix(V)`` gives ``R`` (``B x N x N``); ``forward(V, grids=None)`` gives ``Z = R V``
    (``B x N x M``), the same as :func:`regr_edu.reason` ``(self.matrix(V), V)``.

    >>> import torch, regr_edu as rg
    >>> rel = rg.BilinearRelation(16)
    >>> V = torch.randn(2, 10, 16)
    >>> rel.matrix(V).shape, rel(V).shape
    (torch.Size([2, 10, 10]), torch.Size([2, 10, 16]))
    """

    def __init__(self, channels: int, inner_channels: int | None = None,
                 normalize: str = "softmax") -> None:
        super().__init__()
        check_positive_int("channels", channels)
        inner = max(1, channels // 4) if inner_channels is None else inner_channels
        check_positive_int("inner_channels", inner)
        check_choice("normalize", normalize, ("softmax", "dot"))
        self.normalize = normalize
        self.theta = nn.Linear(channels, inner)    # 1-D conv of kernel 1: M -> M'
        self.phi = nn.Linear(channels, inner)      # 1-D conv of kernel 1: M -> M'

    def _fast(self, V: torch.Tensor) -> bool:
        """The products run on oneDNN (:mod:`regr_edu._products`): a batched ``V`` on a CPU in
        float32, ``M >= 128``, eager, and no one watching ``theta`` or ``phi`` with a hook."""
        return (V.dim() == 3 and use_onednn(V, V.shape[-1])
                and not _hooked(self.theta) and not _hooked(self.phi))

    def matrix(self, V: torch.Tensor, grids=None) -> torch.Tensor:
        """``R`` (``B x N x N``); row ``i`` weighs every region's influence on region ``i``."""
        N = V.shape[1]
        if self._fast(V):
            theta = linear(V, self.theta.weight, self.theta.bias)  # (B, N, M')
            phi = linear(V, self.phi.weight, self.phi.bias)        # (B, N, M')
            logits = product_t(theta, phi)                         # (B, N, N)
        else:
            theta = self.theta(V)                               # (B, N, M')
            phi = self.phi(V)                                   # (B, N, M')
            logits = torch.matmul(theta, phi.transpose(1, 2))   # (B, N, M') x (B, M', N) -> (B, N, N)
        if self.normalize == "softmax":
            return torch.softmax(logits, dim=-1)
        return logits / N

    def forward(self, V: torch.Tensor, grids=None) -> torch.Tensor:
        """``Z = R V`` (``B x N x M``) for ``V`` (``B x N x M``); ``grids`` is not used."""
        R = self.matrix(V, grids)
        if self._fast(V):
            return product(R, V)                                # Eq. 11 on oneDNN
        # Eq. 11: (B, N, N) x (B, N, M) --> (B, N, M)
        return torch.matmul(R, V)
