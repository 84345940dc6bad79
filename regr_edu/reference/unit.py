r"""The whole ReGr unit, literally: Eq. 1–13 region by region, with the weights of a state dict.

``regr_forward(x, unit.state_dict(), **unit.config)`` must equal ``unit(x)`` — the tests check
it. Maps that a scale does not divide need no padding here: an edge region simply has fewer cells,
which is exactly what the fast path's padding plus masking computes.
"""
from __future__ import annotations

import torch

from .aggregation import aggregate_region, conv1x1, pool_region, softmax
from .distribution import distribute_region
from .refine import refine as refine_grid
from .regions import region_cells
from .relations import attention_relation, bilinear_relation, gcn_relation


def _sub(state: dict, prefix: str) -> dict:
    return {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}


def regr_forward(x: torch.Tensor, state: dict, *, scales, relation="bilinear", refine=True,
                 mu_channels, nu_channels, nu_softmax=True, refine_mode="add",
                 refine_max_offset=1.0, refine_normalize=False,
                 relation_norm="softmax", gcn_scale=True, gcn_orientation="row",
                 attention_mode="sequential", aggregation="bilinear",
                 training=False, bn_eps=1e-5, return_intermediates=False, **_ignored):
    """Literal forward pass. ``training`` picks batch statistics for the BatchNorm (else running).

    Returns ``y`` (same shape as ``x``), or ``(y, {"V": ..., "R": ...})`` per sample when
    ``return_intermediates``.
    """
    was_4d = x.dim() == 4
    x5 = x.unsqueeze(2) if was_4d else x
    B, C, T, H, W = x5.shape
    c_mu, c_nu = mu_channels, nu_channels
    # the aggregation study's sub-cell grid: bh x bw = c_nu, bh <= bw as close as possible
    bh = max(d for d in range(1, c_nu + 1) if c_nu % d == 0 and d * d <= c_nu)
    bins = (bh, c_nu // bh)
    ys, inter = [], []
    for b in range(B):
        V_rows, grids, regions = [], [], []                       # regions: (scale, t, gy, gx)
        for s in scales:
            Gh, Gw = -(-H // s[0]), -(-W // s[1])
            A_grid = torch.zeros(T, c_mu * c_nu, Gh, Gw, dtype=x.dtype, device=x.device)
            for t in range(T):
                for gy in range(Gh):
                    for gx in range(Gw):
                        cells = region_cells(gy, gx, s, H, W)
                        X_i = torch.stack([x5[b, :, t, r, c] for r, c in cells], dim=1)  # (C, P)
                        if aggregation == "bilinear":
                            A = aggregate_region(X_i, state["mu.weight"], state["mu.bias"],
                                                 state["nu.weight"], state["nu.bias"], nu_softmax)
                        else:                                      # "avg" or "max" pooling
                            local = [(r - gy * s[0], c - gx * s[1]) for r, c in cells]
                            A = pool_region(X_i, local, s, bins, state["mu.weight"],
                                            state["mu.bias"], aggregation)
                        A_grid[t, :, gy, gx] = A.reshape(-1)       # row-major: m * c_nu + n
            if refine:
                A_grid = refine_grid(A_grid, state["refine.eta.weight"], state["refine.eta.bias"],
                                     refine_mode, refine_max_offset, refine_normalize)
            for t in range(T):
                for gy in range(Gh):
                    for gx in range(Gw):
                        V_rows.append(A_grid[t, :, gy, gx])
                        regions.append((s, t, gy, gx))
            grids.append((T, Gh, Gw))
        V = torch.stack(V_rows)                                    # (N, M)

        rel = _sub(state, "relation.")
        if relation == "bilinear":
            Z, R = bilinear_relation(V, rel["theta.weight"], rel["theta.bias"], rel["phi.weight"],
                                     rel["phi.bias"], relation_norm)
        elif relation == "gcn":
            Z, R = gcn_relation(V, rel["node_conv.weight"], rel["node_conv.bias"],
                                rel["relation_conv.weight"], rel["relation_conv.bias"], gcn_scale,
                                gcn_orientation)
        else:
            Z, R = attention_relation(V, grids, rel, attention_mode)

        Y = torch.zeros(c_mu, T, H, W, dtype=x.dtype, device=x.device)
        for i, (s, t, gy, gx) in enumerate(regions):
            cells = region_cells(gy, gx, s, H, W)
            X_i = torch.stack([x5[b, :, t, r, c] for r, c in cells], dim=1)   # (C, P)
            xi = conv1x1(X_i, state["xi.weight"], state["xi.bias"])          # (c_nu, P)
            xi = torch.stack([softmax(xi[:, p]) for p in range(xi.shape[1])], dim=1)  # over c_nu
            Y_i = distribute_region(Z[i].reshape(c_mu, c_nu), xi)            # (c_mu, P)
            for p, (r, c) in enumerate(cells):
                Y[:, t, r, c] = Y[:, t, r, c] + Y_i[:, p]                    # sum over scales
        out = torch.zeros(C, T, H, W, dtype=x.dtype, device=x.device)
        for t in range(T):
            for r in range(H):
                for c in range(W):
                    out[:, t, r, c] = conv1x1(Y[:, t, r, c:c + 1], state["out.weight"],
                                              state["out.bias"])[:, 0]
        ys.append(out)
        inter.append({"V": V, "R": R})
    out = torch.stack(ys)                                          # (B, C, T, H, W)
    if training:
        mean = out.mean(dim=(0, 2, 3, 4))
        var = out.var(dim=(0, 2, 3, 4), unbiased=False)
    else:
        mean, var = state["bn.running_mean"], state["bn.running_var"]
    shape = (1, C, 1, 1, 1)
    out = (out - mean.reshape(shape)) / torch.sqrt(var.reshape(shape) + bn_eps)
    out = out * state["bn.weight"].reshape(shape) + state["bn.bias"].reshape(shape)
    y = x5 + out
    y = y[:, :, 0] if was_4d else y
    return (y, inter) if return_intermediates else y
