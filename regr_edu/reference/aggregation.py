r"""Eq. 2, literally, one region at a time: :math:`A_i = \mu(X_i)\,\nu(X_i)^\top`."""
from __future__ import annotations

import torch


def conv1x1(cells: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """A 1x1 convolution on a region's cells: ``(C, P) -> (C_out, P)``, ``W x + b`` per cell."""
    out = weight.reshape(weight.shape[0], -1) @ cells
    return out if bias is None else out + bias[:, None]


def softmax(row: torch.Tensor) -> torch.Tensor:
    r""":math:`e^{a_p} / \sum_q e^{a_q}` over a 1-D tensor (shifted by its max for stability)."""
    e = torch.exp(row - row.max())
    return e / e.sum()


def aggregate_region(cells: torch.Tensor, mu_weight, mu_bias, nu_weight, nu_bias,
                     nu_softmax: bool = True) -> torch.Tensor:
    r"""Eq. 2 on one region.

    Args:
        cells: ``(C, P)``, the region's real cells (an edge region of a map the scale does not
            divide simply has fewer cells).

    Returns:
        ``(c_mu, c_nu)``.
    """
    mu = conv1x1(cells, mu_weight, mu_bias)                        # (c_mu, P)
    nu = conv1x1(cells, nu_weight, nu_bias)                        # (c_nu, P)
    if nu_softmax:
        nu = torch.stack([softmax(nu[n]) for n in range(nu.shape[0])])  # each row sums to 1
    A = torch.zeros(mu.shape[0], nu.shape[0], dtype=cells.dtype, device=cells.device)
    for i in range(mu.shape[0]):
        for j in range(nu.shape[0]):
            A[i, j] = (mu[i] * nu[j]).sum()                        # sum over the P cells
    return A


def recover_region(A: torch.Tensor, nu_features: torch.Tensor) -> torch.Tensor:
    r"""Least squares, row by row: find :math:`\mu_k` with :math:`\nu \mu_k^\top \approx A_k^\top`.

    ``A`` ``(..., c_mu, c_nu)``, ``nu_features`` ``(..., c_nu, P)`` -> ``(..., c_mu, P)``; the
    minimum-norm solution (SVD-based ``gelsd``), which is :math:`A (\nu^\top)^+`.
    """
    lead = A.shape[:-2]
    A2 = A.reshape(-1, *A.shape[-2:]).cpu()
    nu2 = nu_features.reshape(-1, *nu_features.shape[-2:]).cpu()
    out = torch.zeros(A2.shape[0], A2.shape[1], nu2.shape[-1], dtype=A.dtype)
    for r in range(A2.shape[0]):                                   # region by region
        for k in range(A2.shape[1]):                               # row k of mu
            sol = torch.linalg.lstsq(nu2[r], A2[r, k].unsqueeze(-1), driver="gelsd").solution
            out[r, k] = sol[:, 0]
    return out.reshape(*lead, A.shape[-2], nu_features.shape[-1]).to(A.device)


def pool_region(cells, local, scale, bins, mu_weight, mu_bias, mode: str = "avg"):
    r"""The aggregation study on one region: :math:`\mu(X_i)` average- or max-pooled per channel
    onto ``bh x bw`` sub-cells, in place of Eq. 2.

    Args:
        cells: ``(C, P)``, the region's real cells.
        local: their ``(row, col)`` inside the region, ``0 <= row < h``, ``0 <= col < w``.
        scale: ``(h, w)``; bins: ``(bh, bw)``.

    Bin ``(a, b)`` covers rows ``floor(a h / bh) .. ceil((a+1) h / bh) - 1`` and the same for
    columns (adaptive pooling); a bin with no real cell gives 0.

    Returns:
        ``(c_mu, bh * bw)``, the bins in row-major order.
    """
    h, w = scale
    bh, bw = bins
    mu = conv1x1(cells, mu_weight, mu_bias)                        # (c_mu, P)
    A = torch.zeros(mu.shape[0], bh * bw, dtype=cells.dtype, device=cells.device)
    for a in range(bh):
        r0, r1 = (a * h) // bh, -(-((a + 1) * h) // bh)
        for b in range(bw):
            c0, c1 = (b * w) // bw, -(-((b + 1) * w) // bw)
            inside = [p for p, (r, c) in enumerate(local) if r0 <= r < r1 and c0 <= c < c1]
            for k in range(mu.shape[0]):
                values = [mu[k, p] for p in inside]
                if not values:
                    continue
                if mode == "avg":
                    A[k, a * bw + b] = sum(values) / len(values)
                else:
                    A[k, a * bw + b] = max(values)
    return A
