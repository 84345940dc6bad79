r"""Non-local block (Wang, Girshick, Gupta, He, "Non-local Neural Networks", CVPR 2018).

Every position :math:`i` of the map gathers from every position :math:`j`:

.. math::

    y_i = \frac{1}{\mathcal{C}(x)} \sum_j f(x_i, x_j)\, g(x_j), \qquad
    z_i = W_z\, y_i + x_i,

with :math:`\theta, \phi, g` 1x1(x1) convolutions ``C -> C/2`` and :math:`W_z` a 1x1(x1)
convolution ``C/2 -> C`` followed by BatchNorm whose weight starts at zero (the block starts as
the identity, as the paper does). Two pairwise functions:

- embedded Gaussian (default): :math:`f = e^{\theta(x_i)^\top \phi(x_j)}`,
  :math:`\mathcal{C} = \sum_j f`, i.e. a softmax over :math:`j`;
- dot product: :math:`f = \theta(x_i)^\top \phi(x_j)`, :math:`\mathcal{C} = N_\phi`, the number
  of positions :math:`j`.

Positions run over ``T * H * W`` (space-time for a clip). The defaults are the block as the
official video-nonlocal-net code builds it (``lib/models/nonlocal_helper.py`` with
``lib/core/config.py``: ``USE_MAXPOOL``, ``USE_SOFTMAX`` and ``USE_SCALE`` all on): embedded
Gaussian, inner width ``C // 2``, the *input* max-pooled by 2 over ``H`` and ``W`` (not ``T``)
before :math:`\phi` and :math:`g`, so both convolutions run on a quarter of the positions and the
pairwise matrix is ``(THW) x (THW/4)``; and :math:`\theta^\top\phi` scaled by
:math:`1/\sqrt{C/2}` before the softmax. ``sub_sample=False`` (every position) and
``scale=False`` (no scaling, as the non-local paper's equations) are the options reported beside.
Pooling the input rather than :math:`\phi(x), g(x)` is both the official order and the cheaper one
(the two convolutions see a quarter of the positions); the two differ in value, because the max
does not commute with a convolution. Cost: the pairwise matrix makes the block quadratic in the
number of positions.

Deliberate difference from the official code: the 1x1 convolutions keep PyTorch's default
initialisation (the official code draws them from :math:`\mathcal{N}(0, 0.01^2)`); the block is
still the identity when built, through the last BatchNorm's zero weight, as in the official code
(``BN_INIT_GAMMA = 0``).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .._checks import as_5d, check_choice, check_positive_int, refuse_jit_script

MODES = ("embedded_gaussian", "dot_product")


class NonLocal(nn.Module):
    r"""Non-local block on ``(B, C, H, W)`` or ``(B, C, T, H, W)``; gives back the rank it got.

    Args:
        in_channels: ``C``.
        inner_channels: width of :math:`\theta, \phi, g` (default ``max(1, C // 2)``).
        mode: ``"embedded_gaussian"`` (default) or ``"dot_product"``.
        sub_sample: max-pool the input by 2 over ``H, W`` before :math:`\phi` and :math:`g`
            (default True, the official code's ``USE_MAXPOOL``); False: every position.
        scale: divide :math:`\theta^\top\phi` by :math:`\sqrt{c}` (``c`` the inner width) before
            the softmax. Default ``None``: on for the embedded Gaussian, off for the dot product,
            as the official code (its ``USE_SCALE`` applies only inside the softmax branch).
        bias: biases in the 1x1 convolutions (default True, as the non-local paper's code).
    """

    def __init__(self, in_channels: int, inner_channels: int | None = None,
                 mode: str = "embedded_gaussian", sub_sample: bool = True,
                 scale: bool | None = None, bias: bool = True) -> None:
        super().__init__()
        check_positive_int("in_channels", in_channels)
        check_choice("mode", mode, MODES)
        inner = max(1, in_channels // 2) if inner_channels is None else inner_channels
        check_positive_int("inner_channels", inner)
        self.in_channels, self.inner_channels = in_channels, inner
        check_choice("sub_sample", sub_sample, (True, False))
        if scale is None:
            scale = mode == "embedded_gaussian"
        check_choice("scale", scale, (True, False))
        self.mode, self.sub_sample, self.scale = mode, bool(sub_sample), bool(scale)
        # 1x1(x1) convolutions over flattened positions: a Conv1d of kernel 1 on (B, C, THW) is
        # the same product over channels at every position, whatever the map's rank.
        self.theta = nn.Conv1d(in_channels, inner, kernel_size=1, bias=bias)
        self.phi = nn.Conv1d(in_channels, inner, kernel_size=1, bias=bias)
        self.g = nn.Conv1d(in_channels, inner, kernel_size=1, bias=bias)
        self.w_z = nn.Conv1d(inner, in_channels, kernel_size=1, bias=bias)
        self.bn = nn.BatchNorm1d(in_channels)
        self.zero_init_last()

    def zero_init_last(self) -> None:
        """Zero the last BatchNorm's weight and bias: the block becomes the identity map."""
        nn.init.zeros_(self.bn.weight)
        nn.init.zeros_(self.bn.bias)

    def extra_repr(self) -> str:
        return (f"in_channels={self.in_channels}, inner_channels={self.inner_channels}, "
                f"mode={self.mode!r}, sub_sample={self.sub_sample}, scale={self.scale}")

    def _pooled(self, x5: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
        r"""The positions :math:`\phi` and :math:`g` read: ``(B, C, L')``, the input max-pooled by 2
        over ``H, W`` when ``sub_sample`` (``L' = T * (H//2) * (W//2)``), else ``L' = L``; ``shape``
        is the caller's input shape, for the error message."""
        B, C, T, H, W = x5.shape
        if not self.sub_sample:
            return x5.reshape(B, C, T * H * W)               # (B, C, L)
        if H < 2 or W < 2:
            raise ValueError(f"sub_sample=True max-pools H and W by 2 and needs H >= 2 and W >= 2, "
                             f"got a map of shape {tuple(shape)}")
        # kernel (1, 2, 2), stride (1, 2, 2): T is kept, as the official code's MaxPool
        pooled = F.max_pool3d(x5, kernel_size=(1, 2, 2))     # (B, C, T, H//2, W//2)
        return pooled.reshape(B, C, -1)                      # (B, C, L')

    def attention(self, x: torch.Tensor) -> torch.Tensor:
        r"""The normalised pairwise matrix :math:`f / \mathcal{C}`: ``(B, THW, L')``."""
        x5, _ = as_5d("x", x, self.in_channels)
        B, C, T, H, W = x5.shape
        x_flat = x5.reshape(B, C, T * H * W)                 # (B, C, L), L = THW
        return self._attention(x_flat, self._pooled(x5, x.shape))

    def _attention(self, x_flat: torch.Tensor, x_pooled: torch.Tensor) -> torch.Tensor:
        theta = self.theta(x_flat)                           # (B, c, L)
        phi = self.phi(x_pooled)                             # (B, c, L')
        # (B, c, L)T x (B, c, L') --> (B, L, L'): theta(x_i)^T phi(x_j)
        f = torch.matmul(theta.transpose(1, 2), phi)
        if self.scale:
            f = f / self.inner_channels ** 0.5               # (B, L, L'): / sqrt(c)
        if self.mode == "embedded_gaussian":
            return torch.softmax(f, dim=-1)                  # (B, L, L'): e^f / sum_j e^f
        return f / phi.shape[-1]                             # (B, L, L'): f / N_phi

    def __prepare_scriptable__(self):
        refuse_jit_script(self)                 # torch.jit.script: our message, not its compiler's

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x5, was_4d = as_5d("x", x, self.in_channels, dtype=self.theta.weight.dtype)
        B, C, T, H, W = x5.shape
        if B == 0:
            return x.clone()                                 # an empty batch: nothing to do
        x_flat = x5.reshape(B, C, T * H * W)                 # (B, C, L)
        x_pooled = self._pooled(x5, x.shape)                 # (B, C, L')
        attn = self._attention(x_flat, x_pooled)             # (B, L, L')
        g = self.g(x_pooled)                                 # (B, c, L')
        # (B, c, L') x (B, L, L')T --> (B, c, L): y_i = sum_j f_ij g_j
        y = torch.matmul(g, attn.transpose(1, 2))
        z = self.bn(self.w_z(y))                             # (B, C, L)
        out = x5 + z.reshape(B, C, T, H, W)                  # (B, C, T, H, W)
        return out.squeeze(2) if was_4d else out
