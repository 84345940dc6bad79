r"""Eq. 11–13 — distribute the reasoned regions back to their cells.

.. math::  Z = \mathbf{R} \odot V, \qquad \mathbf{z}_i = \mathbf{r}_i V = \sum_j r_{ij} \mathbf{v}_j

.. math::  Y_i = \mathbf{z}_i \cdot \xi(X_i^K; W_\xi)

As printed Eq. 13 does not fit together (``z_i`` has ``M`` numbers; ``X_i`` is called
``M x H_k x W_k`` there and ``C x ...`` elsewhere). Our reading (book: Readings) follows A²-Nets'
distribute step: ``z_i`` is read back as a ``c_mu x c_nu`` matrix; :math:`\xi` is a 1x1 conv
``C -> c_nu`` with a softmax over the ``c_nu`` channels at each cell, so
:math:`Y_i = z_i\,\xi(X_i)` is ``c_mu x P``. The unit then merges the ``Y_i`` of one scale back into
the map, sums the scales, lifts ``c_mu -> C`` with one shared 1x1 conv, applies a BatchNorm whose
weight starts at zero, and adds the input.
"""
from __future__ import annotations

import torch

from ._checks import check_float, check_rank, check_scale
from ._products import region_product
from .regions import merge_regions, pad_to_scale, split_regions


def distribute(z: torch.Tensor, xi: torch.Tensor, scale: tuple[int, int]) -> torch.Tensor:
    r"""Eq. 13 for every region of one scale.

    Args:
        z: ``(B, T, Gh, Gw, c_mu, c_nu)``: each region's :math:`\mathbf{z}_i` as a matrix.
        xi: ``(B, c_nu, T, H, W)``: the descriptors :math:`\xi(X)` on the map (already
            normalised over ``c_nu``); padded bottom/right here if ``scale`` does not divide it.
        scale: ``(h, w)``.

    Returns:
        ``(B, c_mu, T, H, W)``: every cell gets :math:`z_i \xi(x)` of the region it lies in.
    """
    check_float("z", z)
    check_float("xi", xi)
    check_rank("z", z, (6,), "(B, T, Gh, Gw, c_mu, c_nu)")
    check_rank("xi", xi, (5,), "(B, c_nu, T, H, W)")
    h, w = check_scale("scale", scale)
    B, c_nu, T, H, W = xi.shape
    xi_r = split_regions(pad_to_scale(xi, (h, w)), (h, w))     # (B, T, Gh, Gw, c_nu, P)
    if z.shape[:4] != xi_r.shape[:4] or z.shape[-1] != c_nu:
        raise ValueError(f"z must have shape (B, T, Gh, Gw, c_mu, c_nu) matching xi's regions "
                         f"{tuple(xi_r.shape[:4])} and c_nu={c_nu}, got {tuple(z.shape)}")
    Y = region_product(z, xi_r)                                # (.., c_mu, c_nu) x (.., c_nu, P)
    Y = merge_regions(Y, (h, w))                               # (B, c_mu, T, Hp, Wp)
    return Y[..., :H, :W]                                      # crop the padding: (B, c_mu, T, H, W)
