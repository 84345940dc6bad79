r"""Eq. 2 — aggregate a region of any size into one vector of length :math:`M`.

.. math::  A_i = \mu(X_i^K; W_\mu) \odot \nu(X_i^K; W_\nu)^\top

:math:`\mu` and :math:`\nu` are 1x1 convolutions (``C -> c_mu`` and ``C -> c_nu``), so for a
region of ``P`` cells :math:`\mu(X_i)` is ``c_mu x P``, :math:`\nu(X_i)` is ``c_nu x P`` and
:math:`A_i` is ``c_mu x c_nu`` whatever ``P`` is: regions of every scale share one length
``M = c_mu * c_nu`` and one pair of weights.

Open choice (SPEC.md): by default each of the ``c_nu`` rows of :math:`\nu(X_i)` goes through a
softmax over the region's ``P`` cells, so each row is an attention map over the region (A²-Nets'
gather step) and :math:`A_i` does not grow with the region's size; ``nu_softmax=False`` uses the
raw product.
"""
from __future__ import annotations

import torch

from ._checks import check_float


def aggregate(mu: torch.Tensor, nu: torch.Tensor, mask: torch.Tensor | None = None,
              nu_softmax: bool = True) -> torch.Tensor:
    r"""Eq. 2 on many regions at once: :math:`A = \mu\,\mathrm{softmax}_P(\nu)^\top`.

    Args:
        mu: ``(..., c_mu, P)`` — :math:`\mu(X_i)` of each region.
        nu: ``(..., c_nu, P)`` — :math:`\nu(X_i)` of each region (before the softmax).
        mask: optional bool ``(..., P)`` (broadcast against the regions), ``True`` on real cells;
            padded cells get zero weight.
        nu_softmax: apply the softmax over the ``P`` cells to :math:`\nu` (default).

    Returns:
        ``(..., c_mu, c_nu)``; flatten the last two axes for the vector of length ``M``.
    """
    check_float("mu", mu)
    check_float("nu", nu)
    if mu.shape[-1] != nu.shape[-1]:
        raise ValueError(f"mu and nu must have the same number of cells P (last dim), got "
                         f"mu {tuple(mu.shape)} and nu {tuple(nu.shape)}")
    if mask is not None:
        mask = mask.unsqueeze(-2)                                   # (..., 1, P)
    if nu_softmax:
        if mask is not None:
            nu = nu.masked_fill(~mask, float("-inf"))
        # the softmax runs in at least float32 (half-precision inputs under autocast)
        work = torch.promote_types(nu.dtype, torch.float32)
        weights = torch.softmax(nu.to(work), dim=-1).to(nu.dtype)   # (..., c_nu, P)
    else:
        weights = nu if mask is None else nu.masked_fill(~mask, 0.0)
    # (..., c_mu, P) x (..., c_nu, P)^T --> (..., c_mu, c_nu)
    return torch.matmul(mu, weights.transpose(-1, -2))


def recover_region(A: torch.Tensor, nu_features: torch.Tensor) -> torch.Tensor:
    r"""Least-squares inverse of Eq. 2: :math:`A\,(\nu^\top)^{+}`.

    Args:
        A: ``(..., c_mu, c_nu)``, the aggregated region :math:`\mu\nu^\top`.
        nu_features: ``(..., c_nu, P)``, the :math:`\nu(X_i)` that made ``A`` (exactly as used in
            the product, i.e. after any softmax).

    Returns:
        ``(..., c_mu, P)``: equal to :math:`\mu(X_i)` when :math:`\nu(X_i)` has rank ``P``
        (which needs ``c_nu >= P``); otherwise the least-squares estimate
        :math:`\mu\,\Pi`, where :math:`\Pi` projects onto the row space of :math:`\nu`.
        Note that the recovery reads :math:`\nu(X_i)`, which is computed from the region itself.
    """
    check_float("A", A)
    check_float("nu_features", nu_features)
    if A.shape[-1] != nu_features.shape[-2]:
        raise ValueError(f"A's last dim (c_nu) must equal nu_features' second-to-last dim, got "
                         f"A {tuple(A.shape)} and nu_features {tuple(nu_features.shape)}")
    # pinv(nu^T): (..., P, c_nu)^+ --> (..., c_nu, P)
    nu_t_pinv = torch.linalg.pinv(nu_features.transpose(-1, -2))
    # (..., c_mu, c_nu) x (..., c_nu, P) --> (..., c_mu, P)
    return torch.matmul(A, nu_t_pinv)
