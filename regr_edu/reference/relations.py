r"""Eq. 5–12, literally: relation weights region by region, then :math:`z_i = \sum_j r_{ij} v_j`."""
from __future__ import annotations

import torch

from .aggregation import softmax


def _linear(v: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    return weight.reshape(weight.shape[0], -1) @ v + bias


def reason(R: torch.Tensor, V: torch.Tensor) -> torch.Tensor:
    """Eq. 12 for every region: ``z_i = sum_j R[i, j] v_j``."""
    N = V.shape[0]
    Z = torch.zeros_like(V)
    for i in range(N):
        for j in range(N):
            Z[i] = Z[i] + R[i, j] * V[j]
    return Z


def bilinear_relation(V: torch.Tensor, theta_weight, theta_bias, phi_weight, phi_bias,
                      normalize: str = "softmax"):
    r"""Eq. 6 and 11 on one sample ``V`` ``(N, M)``: returns ``(Z, R)``.

    :math:`R_{ij} = \theta(v_i) \cdot \phi(v_j)`, then a softmax along each row (or ``/ N``).
    """
    N = V.shape[0]
    theta = [_linear(V[i], theta_weight, theta_bias) for i in range(N)]
    phi = [_linear(V[j], phi_weight, phi_bias) for j in range(N)]
    R = torch.zeros(N, N, dtype=V.dtype, device=V.device)
    for i in range(N):
        for j in range(N):
            R[i, j] = (theta[i] * phi[j]).sum()
    if normalize == "softmax":
        R = torch.stack([softmax(R[i]) for i in range(N)])
    else:
        R = R / N
    return reason(R, V), R


def gcn_relation(V: torch.Tensor, node_weight, node_bias, relation_weight, relation_bias,
                 scale_by_n: bool = True, orientation: str = "row"):
    r"""Eq. 7–8 and 11 on one sample ``V`` ``(N, M)``: returns ``(Z, R)``.

    :math:`U_i = \mathrm{ReLU}(v_i + \sum_k (A_g)_{ik} v_k + b_i)` (node-wise conv plus its
    input, as GloRe), then the channel-wise conv ``M -> N`` expands region ``i``'s features into
    row ``i``, :math:`R_{ij} = w_j \cdot U_i + c_j` (``orientation="row"``), or into column
    ``i``, :math:`R_{ji} = w_j \cdot U_i + c_j` (``"column"``).
    """
    N, M = V.shape
    Ag = node_weight.reshape(N, N)
    U = torch.zeros_like(V)
    for i in range(N):
        acc = V[i] + node_bias[i]
        for k in range(N):
            acc = acc + Ag[i, k] * V[k]
        U[i] = torch.relu(acc)
    Wr = relation_weight.reshape(N, M)
    R = torch.zeros(N, N, dtype=V.dtype, device=V.device)
    for i in range(N):
        for j in range(N):
            r = (Wr[j] * U[i]).sum() + relation_bias[j]     # region i's features, weight j
            if orientation == "row":
                R[i, j] = r
            else:
                R[j, i] = r
    if scale_by_n:
        R = R / N
    return reason(R, V), R


def _conv3x3(grid: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """``(C_in, Hg, Wg) -> (C_out, Hg, Wg)``, zero padding, cell by cell."""
    C_in, Hg, Wg = grid.shape
    C_out = weight.shape[0]
    out = torch.zeros(C_out, Hg, Wg, dtype=grid.dtype, device=grid.device)
    for o in range(C_out):
        for y in range(Hg):
            for x in range(Wg):
                acc = bias[o]
                for ky in range(3):
                    for kx in range(3):
                        qy, qx = y + ky - 1, x + kx - 1
                        if 0 <= qy < Hg and 0 <= qx < Wg:
                            acc = acc + (weight[o, :, ky, kx] * grid[:, qy, qx]).sum()
                out[o, y, x] = acc
    return out


def attention_relation(V: torch.Tensor, grids, state: dict, mode: str = "sequential"):
    r"""Eq. 9–10 on one sample ``V`` ``(N, M)``: returns ``(Z, (L_c, L_s))``.

    ``state`` holds ``channel_conv1/2`` and ``region_conv1/2`` weights and biases (the keys of
    :class:`regr_edu.relations.AttentionRelation`'s ``state_dict``).
    """
    N, M = V.shape
    pooled = torch.stack([V[:, m].max() for m in range(M)])            # max over regions: (M,)
    hidden = torch.relu(_linear(pooled, state["channel_conv1.weight"], state["channel_conv1.bias"]))
    Lc = torch.sigmoid(_linear(hidden, state["channel_conv2.weight"], state["channel_conv2.bias"]))
    Vc = torch.stack([Lc * V[i] for i in range(N)])                   # V' = L_c (x) V
    Ls = torch.zeros(N, dtype=V.dtype, device=V.device)
    start = 0
    for T, Gh, Gw in grids:
        for t in range(T):
            s = torch.zeros(1, Gh, Gw, dtype=V.dtype, device=V.device)
            for gy in range(Gh):
                for gx in range(Gw):
                    s[0, gy, gx] = Vc[start + (t * Gh + gy) * Gw + gx].max()  # max over M
            h = torch.relu(_conv3x3(s, state["region_conv1.weight"], state["region_conv1.bias"]))
            a = torch.sigmoid(_conv3x3(h, state["region_conv2.weight"], state["region_conv2.bias"]))
            for gy in range(Gh):
                for gx in range(Gw):
                    Ls[start + (t * Gh + gy) * Gw + gx] = a[0, gy, gx]
        start += T * Gh * Gw
    base = Vc if mode == "sequential" else V
    Z = torch.stack([Ls[i] * base[i] for i in range(N)])
    return Z, (Lc, Ls)
