r"""Eq. 13, literally: region ``i`` hands :math:`z_i` to each of its cells through :math:`\xi`."""
from __future__ import annotations

import torch


def distribute_region(z: torch.Tensor, xi_cells: torch.Tensor) -> torch.Tensor:
    r""":math:`Y_i[:, p] = \sum_n z_i[:, n]\, \xi(X_i)[n, p]` for each cell ``p``.

    ``z`` ``(c_mu, c_nu)``, ``xi_cells`` ``(c_nu, P)`` (normalised over ``c_nu``) -> ``(c_mu, P)``.
    """
    c_mu, c_nu = z.shape
    P = xi_cells.shape[1]
    Y = torch.zeros(c_mu, P, dtype=z.dtype, device=z.device)
    for p in range(P):
        for n in range(c_nu):
            Y[:, p] = Y[:, p] + z[:, n] * xi_cells[n, p]
    return Y
