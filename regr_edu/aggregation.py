r"""Eq. 2 — aggregate a region of any size into one vector of length :math:`M`.

.. math::  A_i = \mu(X_i^K; W_\mu) \odot \nu(X_i^K; W_\nu)^\top

:math:`\mu` and :math:`\nu` are 1x1 convolutions (``C -> c_mu`` and ``C -> c_nu``), so for a
region of ``P`` cells :math:`\mu(X_i)` is ``c_mu x P``, :math:`\nu(X_i)` is ``c_nu x P`` and
:math:`A_i` is ``c_mu x c_nu`` whatever ``P`` is: regions of every scale share one length
``M = c_mu * c_nu`` and one pair of weights.

Open choice (book: Readings): by default each of the ``c_nu`` rows of :math:`\nu(X_i)` goes through
a softmax over the region's ``P`` cells, so each row is an attention map over the region (A²-Nets'
gather step) and :math:`A_i` does not grow with the region's size; ``nu_softmax=False`` uses the
raw product.
"""
from __future__ import annotations

import torch

from ._checks import check_float
from ._products import region_product


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
    return region_product(mu, weights.transpose(-1, -2))


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


AGGREGATIONS = ("bilinear", "avg", "max")


def pool_bins(c_nu: int) -> tuple[int, int]:
    """``(bh, bw)`` with ``bh * bw = c_nu`` and ``bh <= bw`` as close as possible (8 -> (2, 4))."""
    bh = max(d for d in range(1, int(c_nu ** 0.5) + 1) if c_nu % d == 0)
    return bh, c_nu // bh


def pool_regions(mu: torch.Tensor, scale: tuple[int, int], bins: tuple[int, int],
                 mode: str = "avg", mask: torch.Tensor | None = None) -> torch.Tensor:
    r"""The paper's aggregation study: fixed pooling in place of Eq. 2, at the same length ``M``.

    Each channel of :math:`\mu(X_i)` (the region's ``h x w`` cells) is average- or max-pooled onto
    a fixed ``bh x bw = c_nu`` grid of sub-cells (adaptive pooling: bins of nearly equal size, a
    region with fewer cells than bins repeats cells), so :math:`A_i` is ``c_mu x c_nu`` as with
    Eq. 2. Where Eq. 2 weighs the cells by ``c_nu`` softmax maps learned from the input, pooling
    uses fixed ones; :math:`\nu` is not used.

    Args:
        mu: ``(..., c_mu, P)`` with ``P = h * w`` (cells in row-major order).
        scale: ``(h, w)``.
        bins: ``(bh, bw)``, the sub-cell grid (:func:`pool_bins` of ``c_nu``).
        mode: ``"avg"`` or ``"max"``.
        mask: optional bool ``(..., P)``, ``True`` on real cells: padded cells are left out of
            every bin (a bin with no real cell gives 0).

    Returns:
        ``(..., c_mu, bh * bw)``, the sub-cells in row-major order.
    """
    import torch.nn.functional as F

    check_float("mu", mu)
    h, w = scale
    bh, bw = bins
    lead, (c_mu, P) = mu.shape[:-2], mu.shape[-2:]
    if P != h * w:
        raise ValueError(f"mu's last dim must be the region's h*w={h * w} cells for "
                         f"scale={tuple(scale)}, got mu {tuple(mu.shape)}")
    if mode not in ("avg", "max"):
        raise ValueError(f"mode must be one of ['avg', 'max'], got {mode!r}")
    r = mu.reshape(-1, 1, h, w)                                  # (R*c_mu, 1, h, w)
    if mask is None:
        pool = F.adaptive_avg_pool2d if mode == "avg" else F.adaptive_max_pool2d
        A = pool(r, (bh, bw))                                    # (R*c_mu, 1, bh, bw)
    else:
        m = mask.unsqueeze(-2).expand(*lead, c_mu, P).reshape(-1, 1, h, w)  # (R*c_mu, 1, h, w)
        if mode == "avg":
            # mean over the real cells of each bin: pooled sum over pooled count
            num = F.adaptive_avg_pool2d(r * m, (bh, bw))         # (R*c_mu, 1, bh, bw)
            den = F.adaptive_avg_pool2d(m.to(r.dtype), (bh, bw))
            A = torch.where(den > 0, num / den.clamp_min(1e-12), torch.zeros_like(num))
        else:
            A = F.adaptive_max_pool2d(r.masked_fill(~m, float("-inf")), (bh, bw))
            A = torch.where(torch.isinf(A), torch.zeros_like(A), A)   # a bin of padding only
    return A.reshape(*lead, c_mu, bh * bw)                       # (..., c_mu, c_nu)
