r"""Eq. 11–12 — reasoning: every region reads the others through the relation matrix.

.. math::  Z = \mathbf{R} V, \qquad \mathbf{z}_i = \sum_j R_{ij}\, \mathbf{v}_j

``R`` (``B x N x N``) comes from a relation's :meth:`matrix` (bilinear pooling, Eq. 6, or the GCN,
Eq. 7–8); ``V`` (``B x N x M``) holds the aggregated regions. Row ``i`` of ``R`` says how much
region ``i`` takes from every region ``j``. The attention relation (Eq. 9–10) has no ``R`` and
skips this step, as the paper says. The literal, loop-by-region twin is
:func:`regr_edu.reference.reason`.
"""
from __future__ import annotations

import torch

from .._checks import check_float, check_rank


def reason(R: torch.Tensor, V: torch.Tensor) -> torch.Tensor:
    r"""Eq. 11–12: :math:`Z = R V`, i.e. :math:`z_i = \sum_j R_{ij} v_j` for every region ``i``.

    Args:
        R: ``(B, N, N)`` or ``(N, N)``: ``R[..., i, j]`` is the weight of region ``j`` for region
            ``i`` (as :meth:`BilinearRelation.matrix` and :meth:`GCNRelation.matrix` give it).
        V: ``(B, N, M)`` or ``(N, M)``: one ``M``-vector per region.

    Returns:
        ``Z`` with ``V``'s shape: ``Z[..., i, :]`` is region ``i``'s reasoned vector.

    >>> import torch, regr_edu as rg
    >>> R = torch.eye(3).expand(2, 3, 3); V = torch.randn(2, 3, 5)
    >>> torch.equal(rg.reason(R, V), V)          # the identity relation changes nothing
    True
    """
    check_float("R", R)
    check_float("V", V)
    check_rank("R", R, (2, 3), "(B, N, N) or (N, N)")
    check_rank("V", V, (2, 3), "(B, N, M) or (N, M)")
    if R.dim() != V.dim():
        raise ValueError(f"R and V must both be batched (3-D) or both single (2-D), got R of "
                         f"shape {tuple(R.shape)} and V of shape {tuple(V.shape)}")
    N = V.shape[-2]
    if R.shape[-2:] != (N, N) or R.shape[:-2] != V.shape[:-2]:
        raise ValueError(f"R must have shape (B, N, N) with V's B and N: V has shape "
                         f"{tuple(V.shape)} (N={N}), got R of shape {tuple(R.shape)}")
    if R.dtype != V.dtype:
        raise TypeError(f"R and V must have one dtype, got R {R.dtype} and V {V.dtype}")
    return torch.matmul(R, V)            # (B, N, N) x (B, N, M) -> (B, N, M)
