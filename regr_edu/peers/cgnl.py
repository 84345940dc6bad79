r"""Compact generalized non-local block (Yue, Sun, Yuan, Zhou, Ding, Xu, "Compact Generalized
Non-local Network", NeurIPS 2018).

The non-local block relates positions; CGNL relates every (channel, position) *element*. Flatten
:math:`\theta, \phi, g` (each ``c x THW``) into vectors of length ``c * THW``; the generalized
non-local operation :math:`y = f(\theta, \phi)\, g` has a ``(cTHW) x (cTHW)`` kernel matrix. With
a kernel that factorises, the matrix is never formed ("compact"): for the dot product,

.. math::

    y = \theta \,(\phi^\top g), \qquad \phi^\top g = \sum_{k, j} \phi_{kj}\, g_{kj}
    \;\text{(one number per group)},

so the cost is linear in ``THW``. Channels are split into ``G`` groups (default 8), one number
:math:`\phi^\top g` per group. The Gaussian RBF kernel
:math:`e^{-\gamma (\theta_a - \phi_b)^2} = e^{-\gamma\theta_a^2} e^{-\gamma\phi_b^2}
e^{2\gamma\theta_a\phi_b}` is approximated by its Taylor expansion of order ``P``:

.. math::

    y = \sum_{p=0}^{P} \alpha_p^2\, \theta^{p}\, \bigl((\phi^{p})^\top g\bigr), \qquad
    \alpha_p^2 = \beta\, \frac{(2\gamma)^p}{p!},

(powers elementwise). CGNL's authors replace :math:`\beta = e^{-\gamma(\theta^2 + \phi^2)}` by
the constant :math:`e^{-2\gamma}` ("training becomes very difficult" otherwise); we follow them,
with :math:`\gamma = 10^{-4}` and ``P = 3`` as their experiments.
Output: a grouped 1x1 convolution ``c -> C`` (``G`` groups), GroupNorm with ``G`` groups whose
weight starts at zero, plus the input.

Deliberate difference from the official code (cgnl-network.pytorch): its 1x1 convolutions start
from :math:`\mathcal{N}(0, 0.01^2)`; ours keep PyTorch's default initialisation (CONTRIBUTING.md
lists every such difference).
"""
from __future__ import annotations

import math

import torch
from torch import nn

from .._checks import (as_5d, check_choice, check_nonnegative_int, check_positive_int,
                       refuse_jit_script)

KERNELS = ("dot", "gaussian")


def _powers(t: torch.Tensor, order: int) -> torch.Tensor:
    """``(..., n) -> (..., order + 1, n)``: ``t**0, t**1, ..., t**order`` by repeated products
    (``t ** 0`` through ``pow`` would give a NaN gradient at ``t = 0``)."""
    out = [torch.ones_like(t)]
    for _ in range(order):
        out.append(out[-1] * t)
    return torch.stack(out, dim=-2)


class CGNL(nn.Module):
    r"""CGNL block on ``(B, C, H, W)`` or ``(B, C, T, H, W)``; gives back the rank it got.

    Args:
        in_channels: ``C``; must be divisible by ``groups``.
        inner_channels: width ``c`` of :math:`\theta, \phi, g` (default ``max(1, C // 2)``); must
            be divisible by ``groups``.
        groups: ``G`` (default 8).
        kernel: ``"dot"`` (default) or ``"gaussian"`` (Taylor expansion).
        order: ``P`` for the Gaussian kernel (default 3).
        gamma: :math:`\gamma` for the Gaussian kernel (default 1e-4).
        scale: divide :math:`\phi^\top g` by :math:`\sqrt{c_G \cdot THW}`, ``c_G`` the channels
            of one group (default False, as CGNL's code).
    """

    def __init__(self, in_channels: int, inner_channels: int | None = None, groups: int = 8,
                 kernel: str = "dot", order: int = 3, gamma: float = 1e-4,
                 scale: bool = False) -> None:
        super().__init__()
        check_positive_int("in_channels", in_channels)
        check_positive_int("groups", groups)
        check_choice("kernel", kernel, KERNELS)
        inner = max(1, in_channels // 2) if inner_channels is None else inner_channels
        check_positive_int("inner_channels", inner)
        for name, value in (("in_channels", in_channels), ("inner_channels", inner)):
            if value % groups:
                raise ValueError(f"{name} must be divisible by groups={groups} (grouped conv and "
                                 f"GroupNorm), got {name}={value}")
        if kernel == "gaussian":
            check_nonnegative_int("order", order)
            if not gamma > 0:
                raise ValueError(f"gamma must be positive, got {gamma!r}")
        self.in_channels, self.inner_channels, self.groups = in_channels, inner, groups
        self.kernel, self.order, self.gamma, self.scale = kernel, order, float(gamma), bool(scale)
        # 1x1(x1) convolutions over flattened positions (Conv1d of kernel 1 on (B, C, THW))
        self.theta = nn.Conv1d(in_channels, inner, kernel_size=1, bias=False)
        self.phi = nn.Conv1d(in_channels, inner, kernel_size=1, bias=False)
        self.g = nn.Conv1d(in_channels, inner, kernel_size=1, bias=False)
        self.w_z = nn.Conv1d(inner, in_channels, kernel_size=1, groups=groups, bias=False)
        self.gn = nn.GroupNorm(groups, in_channels)
        # Gaussian kernel: alpha_p^2 = exp(-2 gamma) (2 gamma)^p / p!, p = 0..P
        self.taylor = [math.exp(-2 * gamma) * (2 * gamma) ** p / math.factorial(p)
                       for p in range(order + 1)] if kernel == "gaussian" else []
        self.zero_init_last()

    def zero_init_last(self) -> None:
        """Zero the GroupNorm's weight and bias: the block becomes the identity map."""
        nn.init.zeros_(self.gn.weight)
        nn.init.zeros_(self.gn.bias)

    def extra_repr(self) -> str:
        extra = f", order={self.order}, gamma={self.gamma}" if self.kernel == "gaussian" else ""
        return (f"in_channels={self.in_channels}, inner_channels={self.inner_channels}, "
                f"groups={self.groups}, kernel={self.kernel!r}{extra}")

    def __prepare_scriptable__(self):
        refuse_jit_script(self)                 # torch.jit.script: our message, not its compiler's

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x5, was_4d = as_5d("x", x, self.in_channels, dtype=self.theta.weight.dtype)
        B, C, T, H, W = x5.shape
        G, L = self.groups, T * H * W
        n = self.inner_channels // G * L                     # elements of one group
        x_flat = x5.reshape(B, C, L)                         # (B, C, L)
        theta = self.theta(x_flat).reshape(B, G, n)          # (B, G, c/G * L)
        phi = self.phi(x_flat).reshape(B, G, n)              # (B, G, c/G * L)
        g = self.g(x_flat).reshape(B, G, n, 1)               # (B, G, c/G * L, 1)
        if self.kernel == "dot":
            # (B, G, 1, n) x (B, G, n, 1) --> (B, G, 1, 1): phi^T g, one number per group
            att = torch.matmul(phi.unsqueeze(2), g)
            if self.scale:
                att = att / n ** 0.5
            y = att.squeeze(-1) * theta                      # (B, G, n): theta (phi^T g)
        else:
            coef = torch.tensor(self.taylor, dtype=x.dtype, device=x.device)  # (P+1,)
            phi_p = _powers(phi, self.order)                 # (B, G, P+1, n): phi^p, p = 0..P
            # (B, G, P+1, n) x (B, G, n, 1) --> (B, G, P+1, 1): (phi^p)^T g per order
            att = torch.matmul(phi_p, g)
            if self.scale:
                att = att / n ** 0.5
            att = att.squeeze(-1) * coef                     # (B, G, P+1): alpha_p^2 (phi^p)^T g
            theta_p = _powers(theta, self.order)             # (B, G, P+1, n)
            # (B, G, 1, P+1) x (B, G, P+1, n) --> (B, G, 1, n): sum over orders
            y = torch.matmul(att.unsqueeze(2), theta_p).squeeze(2)   # (B, G, n)
        y = y.reshape(B, self.inner_channels, L)             # (B, c, L)
        z = self.gn(self.w_z(y))                             # (B, C, L)
        out = x5 + z.reshape(B, C, T, H, W)                  # (B, C, T, H, W)
        return out.squeeze(2) if was_4d else out
