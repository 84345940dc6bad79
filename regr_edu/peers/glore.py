r"""Global reasoning unit (Chen, Rohrbach, Yan, Yan, Feng, Kalantidis, "Graph-Based Global
Reasoning Networks", CVPR 2019).

Three steps, with ``S`` states and ``N`` nodes (defaults ``S = C // 2``, ``N = C // 4``, i.e.
GloRe's ``num_mid = C // 4``):

1. projection to an interaction space: a 1x1 conv reduces ``X`` to states
   :math:`\varphi(X)` (``S x L``, ``L = THW``), another gives projection weights
   :math:`B` (``N x L``); node features :math:`V = \varphi(X) B^\top` (``S x N``);
2. reasoning with a one-layer graph convolution :math:`Z = ((I - A_g) V) W_g`, written as
   GloRe's code does: a 1-D conv across nodes (``N -> N``) plus the input, a ReLU, then a 1-D conv
   across states (``S -> S``) — the sign of :math:`A_g` is learned, so ``V + A_g V`` is the same
   family as ``(I - A_g) V``;
3. reverse projection :math:`Y = Z B` (``S x L``), a 1x1 conv ``S -> C`` and BatchNorm (weight
   starting at zero), added to the input.

Cost is linear in ``L``: the graph has ``N`` nodes whatever the map's size.

Deliberate difference from the official code (facebookresearch/GloRe): its networks initialise
convolutions with Xavier-uniform before loading pretrained weights; ours keep PyTorch's default
initialisation (CONTRIBUTING.md lists every such difference).
"""
from __future__ import annotations

import torch
from torch import nn

from .._checks import as_5d, check_positive_int, refuse_jit_script


class GraphConv(nn.Module):
    r"""GloRe's GCN on node features ``(B, S, N)``: ``conv_S(relu(V + conv_N(V)))``."""

    def __init__(self, num_state: int, num_node: int) -> None:
        super().__init__()
        self.node_conv = nn.Conv1d(num_node, num_node, kernel_size=1)               # A_g
        self.relu = nn.ReLU()
        self.state_conv = nn.Conv1d(num_state, num_state, kernel_size=1, bias=False)  # W_g

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        # node-wise: (B, S, N) -> (B, N, S) -> conv over nodes -> (B, S, N)
        h = self.node_conv(v.transpose(1, 2)).transpose(1, 2)
        h = self.relu(h + v)                                 # (B, S, N): (I + A_g) V, ReLU
        return self.state_conv(h)                            # (B, S, N): W_g over states


class GloRe(nn.Module):
    r"""GloRe unit on ``(B, C, H, W)`` or ``(B, C, T, H, W)``; gives back the rank it got.

    Args:
        in_channels: ``C``.
        num_mid: GloRe's ``num_mid`` (default ``max(1, C // 4)``): ``N = num_mid`` nodes and
            ``S = 2 * num_mid`` states.
        normalize: divide :math:`V` by ``L`` (GloRe's ``normalize`` option, default False).
    """

    def __init__(self, in_channels: int, num_mid: int | None = None,
                 normalize: bool = False) -> None:
        super().__init__()
        check_positive_int("in_channels", in_channels)
        mid = max(1, in_channels // 4) if num_mid is None else num_mid
        check_positive_int("num_mid", mid)
        self.in_channels, self.num_node, self.num_state = in_channels, mid, 2 * mid
        self.normalize = bool(normalize)
        # 1x1(x1) convolutions over flattened positions (Conv1d of kernel 1 on (B, C, THW))
        self.reduce = nn.Conv1d(in_channels, self.num_state, kernel_size=1)   # phi(X)
        self.project = nn.Conv1d(in_channels, self.num_node, kernel_size=1)   # B
        self.gcn = GraphConv(self.num_state, self.num_node)
        self.extend = nn.Conv1d(self.num_state, in_channels, kernel_size=1, bias=False)
        self.bn = nn.BatchNorm1d(in_channels, eps=1e-4)
        self.zero_init_last()

    def zero_init_last(self) -> None:
        """Zero the last BatchNorm's weight and bias: the unit becomes the identity map."""
        nn.init.zeros_(self.bn.weight)
        nn.init.zeros_(self.bn.bias)

    def extra_repr(self) -> str:
        return (f"in_channels={self.in_channels}, nodes={self.num_node}, "
                f"states={self.num_state}")

    def __prepare_scriptable__(self):
        refuse_jit_script(self)                 # torch.jit.script: our message, not its compiler's

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x5, was_4d = as_5d("x", x, self.in_channels, dtype=self.reduce.weight.dtype)
        B, C, T, H, W = x5.shape
        L = T * H * W
        x_flat = x5.reshape(B, C, L)                         # (B, C, L)
        states = self.reduce(x_flat)                         # (B, S, L)
        proj = self.project(x_flat)                          # (B, N, L)
        # projection: (B, S, L) x (B, N, L)T --> (B, S, N)
        v = torch.matmul(states, proj.transpose(1, 2))
        if self.normalize:
            v = v / L
        z = self.gcn(v)                                      # (B, S, N)
        # reverse projection: (B, S, N) x (B, N, L) --> (B, S, L)
        y = torch.matmul(z, proj)
        out = self.bn(self.extend(y))                        # (B, C, L)
        out = x5 + out.reshape(B, C, T, H, W)                # (B, C, T, H, W)
        return out.squeeze(2) if was_4d else out
