r"""The ReGr unit: Eq. 1–13 in one residual block.

::

    x (B, C, T, H, W)
    ├─ mu, nu, xi: 1x1 convs C -> c_mu, c_nu, c_nu           (computed once, shared by all scales)
    ├─ for each scale (h, w):  pad, split into regions (Eq. 1)
    │     A_i = mu(X_i) softmax_P(nu(X_i))^T   -> (c_mu x c_nu) = M numbers     (Eq. 2)
    │     refine on the scale's region grid (Eq. 3-4)
    ├─ V = all regions of all scales and frames   (B, N, M)
    ├─ Z = relation(V)                            (B, N, M)                    (Eq. 5-12)
    ├─ for each scale: Y_i = z_i xi(X_i), merged back and cropped            (Eq. 13)
    └─ x + BN(W_out(sum over scales of Y))        BN weight starts at 0 -> identity at init

The forward is those steps, one method each: :meth:`ReGr.project`, :meth:`ReGr.aggregate`,
:meth:`ReGr.refine_regions`, :meth:`ReGr.relate`, :meth:`ReGr.distribute`, :meth:`ReGr.residual`;
:meth:`ReGr.explain` runs the same steps and returns a :class:`~regr_edu.trace.UnitTrace`.

A fresh unit is the identity map; it runs on its input's device and dtype and gives back the
rank it was given.
"""
from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import nn

from ._checks import (as_5d, check_choice, check_positive_int, check_scales,
                      refuse_jit_script)
from ._products import (_LINEAR, ONEDNN_MIN as _ONEDNN_MIN, _autocast, _hooked, _onednn,
                        _plain_autograd, _rows_times_rows)
from .aggregation import AGGREGATIONS, aggregate, pool_bins, pool_regions
from .distribution import distribute
from .refine import MODES as REFINE_MODES, Refine
from .regions import RegionLayout, cell_mask, grid_size, pad_to_scale, split_regions
from .relations import RELATION_CLASSES
from .trace import UnitTrace


def count_regions(input_size: Sequence[int], scales: Sequence[tuple[int, int]]) -> int:
    """``N`` for a map of ``input_size`` ``(T, H, W)`` or ``(H, W)``: all regions, all scales."""
    size = tuple(input_size)
    if len(size) == 2:
        size = (1, *size)
    if len(size) != 3 or not all(isinstance(v, int) and v >= 1 for v in size):
        raise ValueError(f"input_size must be (H, W) or (T, H, W) of positive integers, "
                         f"got {tuple(input_size)!r}")
    T, H, W = size
    return sum(T * Gh * Gw for Gh, Gw in (grid_size(H, W, s) for s in scales))


def _check_finite_for_batchnorm(x5: torch.Tensor, f: torch.Tensor | None = None) -> None:
    """In training mode one NaN or inf cell would enter the BatchNorm's running statistics and
    poison every later output: refuse it, naming where it is.

    ``f``: the first layer's output (``W x + b``, finite weights), read instead of ``x`` for the
    quick test (a few channels instead of ``C``): a NaN or inf in ``x`` makes every output
    channel of its cell NaN or inf (``0 * inf`` is NaN), so a finite sum of ``f`` means a finite
    ``x``; otherwise ``x`` itself is searched."""
    total = (x5 if f is None else f).detach().sum()  # NaN or inf in any cell makes the sum so
    if bool(torch.isfinite(total)):              # (a finite sum: every cell is finite)
        return
    bad = ~torch.isfinite(x5.detach())           # an overflowing sum of finite cells passes here
    if bool(bad.any()):
        idx = tuple(int(i) for i in bad.nonzero()[0])
        raise ValueError(f"x must hold finite values in training mode (a NaN or inf would enter "
                         f"the BatchNorm's running statistics of every later batch), got "
                         f"{int(bad.sum())} non-finite value(s), the first at index {idx} "
                         f"(of the (B, C, T, H, W) view): {float(x5.detach()[idx])}")


# oneDNN's linear layer runs one sample at a time: above this batch size the products that
# would loop over the samples use the batched GEMM instead (as they do below _ONEDNN_MIN
# channels on both sides of a product, where the batched GEMM is the faster one)
_LOOP_MAX = 4


def _mkldnn_1x1(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None):
    """oneDNN's 1x1 convolution: ``weight`` ``(O, K)`` on ``x`` ``(N, K, L)`` -> ``(N, O, L)``."""
    N, K, L = x.shape
    O = weight.shape[0]
    out = torch.mkldnn_convolution(x.reshape(N, K, L, 1), weight.reshape(O, K, 1, 1), bias,
                                   (0, 0), (1, 1), (1, 1), 1)          # (N, O, L, 1)
    return out.reshape(N, O, L)


def _weight_times(weight: torch.Tensor, x: torch.Tensor, bias: torch.Tensor | None = None,
                  add: torch.Tensor | None = None, wide: bool = False) -> torch.Tensor:
    """``add + weight @ x[b] + bias`` for every ``b``: ``(O, K)`` on ``(B, K, L)`` ->
    ``(B, O, L)`` (``add`` ``(B, O, L)`` and ``bias`` ``(O,)`` optional).

    On a CPU in float32 by oneDNN's linear layer, one sample at a time, with the weight as its
    input and ``x_b^T`` as its weight (read in place: the transpose of the row-major ``x_b``),
    about twice the speed of PyTorch's GEMM fallback on the benchmark machine. A batch above
    :data:`_LOOP_MAX` uses oneDNN's 1x1 convolution for a product that narrows (``K >= O``) and
    the batched matrix product otherwise, as do products below :data:`ONEDNN_MIN` channels
    (``wide``: a small product of a wide unit, :func:`_wide`, on oneDNN all the same)."""
    B, K, L = x.shape
    O = weight.shape[0]
    if not _onednn(x) or (max(K, O) < _ONEDNN_MIN and not (wide and B <= _LOOP_MAX)) or (
            K < O and B > _LOOP_MAX):
        w = weight.unsqueeze(0).expand(B, O, K)                         # (B, O, K)
        # baddbmm runs about 4x slower on an expanded (stride-0) batch than on a dense one,
        # bmm does not; the dense copy is B*O*K numbers and gives the same bits
        out = torch.bmm(w, x) if add is None else torch.baddbmm(add, w.contiguous(), x)
        return out if bias is None else out + bias.reshape(1, O, 1)
    if B > _LOOP_MAX:
        out = _mkldnn_1x1(x.contiguous(), weight.contiguous(), bias)    # (B, O, L)
        return out if add is None else out.add_(add)
    w = weight.contiguous()
    out = torch.empty(B, O, L, dtype=x.dtype, device=x.device)
    for b in range(B):
        part = _rows_times_rows(w, x[b].t())         # (O, L): W x_b, x_b read in place if dense
        if add is None:
            out[b].copy_(part)
        else:
            torch.add(add[b], part, out=out[b])
    return out if bias is None else out.add_(bias.reshape(1, O, 1))


def _sum_outer(g: torch.Tensor, x: torch.Tensor, wide: bool = False) -> torch.Tensor:
    r""":math:`\sum_b g_b x_b^\top`: ``(B, O, L)`` and ``(B, K, L)`` -> ``(O, K)`` (a 1x1
    layer's weight gradient); on a CPU in float32 each term is oneDNN's linear layer, which
    reads both factors in place (``wide``: also below :data:`ONEDNN_MIN`, see
    :func:`_weight_times`)."""
    B, O, L = g.shape
    K = x.shape[1]
    if not _onednn(g) or B > _LOOP_MAX or (max(O, K) < _ONEDNN_MIN and not wide):
        if O <= K:      # the GEMM makes the transposed factor contiguous: the smaller one
            return torch.bmm(x, g.transpose(1, 2)).sum(0).t()           # (O, K)
        return torch.bmm(g, x.transpose(1, 2)).sum(0)                   # (O, K)
    g, x = g.contiguous(), x.contiguous()
    out = _rows_times_rows(g[0], x[0])                                  # (O, K)
    for b in range(1, B):
        out = out + _rows_times_rows(g[b], x[b])
    return out


class _Conv1x1(torch.autograd.Function):
    r"""A 1x1 convolution ``(B, K, L) -> (B, O, L)`` whose three matrix products each run where
    they are fastest on a CPU in float32 (:func:`_weight_times`, :func:`_sum_outer`).

    PyTorch's CPU convolution sends a 1x1 kernel on one thread with a batch under 16 to its GEMM
    fallback, forward and backward; oneDNN runs the narrowing products about twice as fast.

    ``relay``: a dict through which the unit's tail (:class:`_LiftNormAdd`) hands over the
    residual's gradient, so that the input's gradient is ``g_residual + W^T g`` in one pass
    instead of autograd adding two full-size gradients."""

    @staticmethod
    def forward(ctx, x, weight, bias, relay=None):
        ctx.save_for_backward(x, weight)
        ctx.relay = relay
        return _weight_times(weight, x, bias)                           # (B, O, L)

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        grad = grad.contiguous()                                        # (B, O, L)
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            extra = None if ctx.relay is None else ctx.relay.pop("grad", None)
            grad_x = _weight_times(weight.t(), grad, add=extra)         # W^T g: (B, K, L)
        if ctx.needs_input_grad[1]:
            grad_w = _sum_outer(grad, x)                                # (O, K)
        if ctx.needs_input_grad[2]:
            grad_b = grad.sum((0, 2))                                   # (O,)
        return grad_x, grad_w, grad_b, None


def _register_flops() -> None:
    """``torch.utils.flop_counter`` counts ``aten.convolution`` but not the oneDNN convolution
    the fast path calls directly: give it the same formula."""
    try:
        from torch.utils import flop_counter as fc
        op = torch.ops.aten.mkldnn_convolution
        if op in fc.flop_registry or op.default in fc.flop_registry:
            return

        @fc.register_flop_formula(op)
        def _mkldnn_conv_flop(x_shape, w_shape, bias, padding, stride, dilation, groups, *args,
                              out_shape=None, **kwargs) -> int:
            return fc.conv_flop_count(x_shape, w_shape, out_shape, transposed=False)

        if _LINEAR is not None and _LINEAR not in fc.flop_registry:
            @fc.register_flop_formula(_LINEAR)
            def _mkldnn_linear_flop(a_shape, b_shape, *args, out_shape=None, **kwargs) -> int:
                return 2 * a_shape[0] * a_shape[1] * b_shape[0]
    except Exception:                           # an older or newer torch: FLOPs undercounted
        pass


_register_flops()


def _fast_conv(x: torch.Tensor) -> bool:
    """:func:`conv1x1` runs :class:`_Conv1x1` on this input (not under autocast, which picks
    the precision of each plain operator)."""
    return _onednn(x) and x.numel() > 0 and not _plain_autograd() and not _autocast(x)


def conv1x1(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor,
            relay: dict | None = None) -> torch.Tensor:
    """A 1x1 convolution over the channels of ``x`` ``(B, K, L)``, ``weight`` ``(O, K)``:
    ``(B, O, L)``. On a CPU in float32 through :class:`_Conv1x1`, elsewhere a batched matrix
    product (``relay`` is then not used)."""
    B, K, L = x.shape
    if _fast_conv(x):
        return _Conv1x1.apply(x.contiguous(), weight, bias, relay)
    return torch.baddbmm(bias.reshape(1, -1, 1), weight.unsqueeze(0).expand(B, -1, K), x)


def _wide(t: torch.Tensor, B: int, weight: torch.Tensor) -> bool:
    """The fused tail of a wide unit on oneDNN (``C >= 128``, a batch of at most
    :data:`_LOOP_MAX`): its covariance and backward products run on oneDNN's linear layer. A
    small unit keeps the batched GEMM and the order of its sums (the chapters replay recorded
    runs of small units bit for bit)."""
    return _onednn(t) and B <= _LOOP_MAX and weight.shape[0] >= _ONEDNN_MIN


class _LiftNormAdd(torch.autograd.Function):
    r"""The unit's tail in training mode, ``x + BN(W Y + b)`` with batch statistics, without
    building ``W Y + b`` or its normalised copy.

    ``o = W Y + b`` is linear in ``Y`` (``c_mu`` channels, ``C / 8``), so its batch statistics
    follow from ``Y``'s: ``mean(o) = W mean(Y) + b`` and ``var(o) = diag(W Cov(Y) W^T)``. The
    BatchNorm folds into the weights, ``y = x + W' Y + b'`` with ``W' = diag(gamma / sigma) W``:
    one matrix product writes the output, and the backward pass needs only ``Y``, ``W`` and
    per-channel numbers (BatchNorm's gradient, written through ``W``). Nothing of size ``C``
    per cell is kept for the backward pass. With a ``relay`` (and ``x`` detached) the residual's
    gradient goes to the unit's first layer (:class:`_Conv1x1`), which adds it in place."""

    @staticmethod
    def forward(ctx, x, Y, weight, bias, gamma, beta, running_mean, running_var, factor, eps,
                relay=None):
        ctx.relay = relay
        B, k, L = Y.shape
        N = B * L
        mean_y = Y.mean((0, 2))                                         # (k,)
        Yc = Y - mean_y.reshape(1, k, 1)                                # (B, k, L)
        if _wide(Y, B, weight):
            cov = _sum_outer(Yc, Yc, wide=True)                         # (k, k): N Cov(Y)
        else:                                                           # (small units: as was)
            cov = torch.bmm(Yc, Yc.transpose(1, 2)).sum(0)              # (k, k): N Cov(Y)
        mean_o = weight @ mean_y + bias                                 # (C,)
        var_o = ((weight @ cov) * weight).sum(1).clamp_min(0) / N       # (C,) biased
        invstd = torch.rsqrt(var_o + eps)                               # (C,)
        if running_mean is not None:
            with torch.no_grad():
                running_mean.mul_(1 - factor).add_(factor * mean_o)
                running_var.mul_(1 - factor).add_(factor * var_o * (N / max(N - 1, 1)))
        scale = gamma * invstd                                          # (C,)
        w_out = scale.unsqueeze(1) * weight                             # (C, k)
        b_out = beta + scale * (bias - mean_o)                          # (C,)
        # y = x + W' Y + b' in one product: b' as the weight of a row of ones appended to Y
        ones = torch.ones(B, 1, L, dtype=Y.dtype, device=Y.device)
        Y1 = torch.cat([Y, ones], dim=1)                                # (B, k+1, L)
        w1 = torch.cat([w_out, b_out.unsqueeze(1)], dim=1)              # (C, k+1)
        # a wide unit's backward reads Y's row of ones too (see backward); a small one keeps Y
        ctx.save_for_backward(Y1 if _wide(Y, B, weight) else Y, weight, gamma, mean_y, invstd,
                              cov)
        return _weight_times(w1, Y1, add=x)                             # (B, C, L)

    @staticmethod
    def backward(ctx, g):
        Y1, weight, gamma, mean_y, invstd, cov = ctx.saved_tensors
        B, k, L = Y1.shape[0], weight.shape[1], Y1.shape[2]
        Y = Y1[:, :k]                                                   # (B, k, L), a view
        N = B * L
        g = g.contiguous()                                              # (B, C, L)
        wide = _wide(g, B, weight)                                      # Y1 is Y and its ones
        if wide:    # one pass over g for both: g Y^T and, by the row of ones, sum_g
            gY1 = _sum_outer(g, Y1, wide=True)                          # (C, k+1)
            sum_g = gY1[:, k]                                           # (C,): dL/dbeta
            P = gY1[:, :k] - sum_g.unsqueeze(1) * mean_y                # (C, k): g (Y - mean)^T
        else:
            sum_g = g.sum((0, 2))                                       # (C,): dL/dbeta
            P = _sum_outer(g, Y) - sum_g.unsqueeze(1) * mean_y          # (C, k): g (Y - mean)^T
        grad_gamma = invstd * (weight * P).sum(1)                       # (C,): sum g x_hat
        scale = gamma * invstd                                          # (C,)
        # BatchNorm's gradient g_o = scale (g - sum_g / N - x_hat grad_gamma / N), through W
        c = grad_gamma * invstd / N                                     # (C,)
        grad_w = scale.unsqueeze(1) * (P - c.unsqueeze(1) * (weight @ cov))   # (C, k)
        Q = weight.t() @ ((scale * c).unsqueeze(1) * weight)            # (k, k)
        const = weight.t() @ (scale * sum_g / N)                        # (k,)
        grad_Y = _weight_times((scale.unsqueeze(1) * weight).t(), g)    # (B, k, L)
        if wide:    # - Q (Y - mean) - const = - Q Y + (Q mean - const): no centred copy of Y
            shift = (Q @ mean_y - const).reshape(1, k, 1)               # (1, k, 1)
            grad_Y.sub_(_weight_times(Q, Y, wide=True)).add_(shift)     # (B, k, L)
        else:
            Yc = Y - mean_y.reshape(1, k, 1)                            # (B, k, L)
            grad_Y = grad_Y - torch.matmul(Q, Yc) - const.reshape(1, k, 1)
        grad_bias = torch.zeros_like(sum_g)                             # BN removes the bias
        grad_x = g
        if ctx.relay is not None:                   # the first layer adds it to its gradient
            ctx.relay["grad"], grad_x = g, None
        return (grad_x, grad_Y, grad_w, grad_bias, grad_gamma, sum_g, None, None, None, None,
                None)


class ReGr(nn.Module):
    r"""Region-based global reasoning unit (Wang et al., AAAI 2020), as read in the book's
    Readings page.

    Args:
        in_channels: ``C``.
        scales: region sizes ``(h, w)`` in feature-map cells; all regions form one set.
        relation: ``"bilinear"`` (Eq. 5–6, default), ``"gcn"`` (Eq. 7–8) or ``"attention"``
            (Eq. 9–10).
        refine: apply the refine of Eq. 3–4 to each scale's region grid.
        input_size: ``(T, H, W)`` or ``(H, W)`` of the map the unit sees; required for ``"gcn"``,
            whose relation matrix has a fixed size ``N``.
        mu_channels: ``c_mu`` (default ``max(1, in_channels // 8)``).
        nu_channels: ``c_nu`` (default 8). ``M = c_mu * c_nu``.
        nu_softmax: softmax over each region's cells on :math:`\nu` (Eq. 2, default True).
        refine_context: 1 (:math:`\eta` reads one region, default) or 3 (its 3x3 neighbours).
        refine_mode: ``"add"`` — the moved grid is added to the aggregated one (default:
            the form that learns, chosen over seeds in the refine chapter) — or ``"replace"``
            (Eq. 4 as printed; trained as printed it stops the unit from learning) — or
            ``"blend"`` (``(1 - m) G + m B(G, δ)``: :math:`m` weighs the moved region against
            the unmoved one, so a fresh unit's refine is the identity).
        refine_max_offset: bound of the offsets, in ``(0, 1]`` (default 1, Eq. 3 as written).
        refine_mask_init: :math:`m` of a fresh refine, in ``(0, 1)`` (default 0.5).
        refine_lr_scale: factor on :math:`\eta`'s learning rate, applied by
            :func:`regr_edu.training.param_groups` (default 1).
        refine_detach: :math:`\eta` reads the regions without passing a gradient back to them
            (default False).
        refine_normalize: :math:`\eta` reads each region vector divided by its L2 norm
            (default False: Eq. 3 as written).
        relation_norm: bilinear only, ``"softmax"`` (default) or ``"dot"``.
        inner_channels: bilinear only, ``M'`` (default ``M // 4``).
        gcn_scale: GCN only, scale ``R`` by ``1/N`` (default True).
        gcn_orientation: GCN only, ``"row"`` (default, book's Readings: region ``i``'s features give
            row ``i`` of ``R``, :math:`R_{ij} = w_j \cdot U_i + b_j`, so region ``i`` decides
            whom it reads) or ``"column"`` (the transpose: region ``i``'s features give column
            ``i``, and output region ``j`` weighs every region by a learned query :math:`w_j`).
        aggregation: ``"bilinear"`` (Eq. 2, :math:`\mu\nu^\top`, default), or ``"avg"`` /
            ``"max"``: each region's :math:`\mu` average- or max-pooled onto ``c_nu`` fixed
            sub-cells, the same ``M`` numbers (the paper's aggregation study; :math:`\nu` is
            then unused and frozen).
        attention_mode: attention only, ``"sequential"`` (default) or ``"letter"``.
        attention_reduction: attention only, ``r`` in ``M -> M/r -> M`` (default 16).
    """

    def __init__(self, in_channels: int, scales: Sequence[tuple[int, int]] = ((4, 4), (7, 7)),
                 relation: str = "bilinear", refine: bool = True,
                 input_size: Sequence[int] | None = None, mu_channels: int | None = None,
                 nu_channels: int | None = None, *, nu_softmax: bool = True,
                 refine_context: int = 1, refine_mode: str = "add",
                 refine_max_offset: float = 1.0, refine_mask_init: float = 0.5,
                 refine_lr_scale: float = 1.0, refine_detach: bool = False,
                 refine_normalize: bool = False, relation_norm: str = "softmax",
                 inner_channels: int | None = None,
                 gcn_scale: bool = True, gcn_orientation: str = "row",
                 attention_mode: str = "sequential", attention_reduction: int = 16,
                 aggregation: str = "bilinear") -> None:
        super().__init__()
        check_positive_int("in_channels", in_channels)
        self.scales = check_scales("scales", scales)
        check_choice("relation", relation, tuple(RELATION_CLASSES))
        c_mu = max(1, in_channels // 8) if mu_channels is None else mu_channels
        c_nu = 8 if nu_channels is None else nu_channels
        check_positive_int("mu_channels", c_mu)
        check_positive_int("nu_channels", c_nu)
        # the unit's own option names in the messages, before the parts check theirs
        check_choice("refine_context", refine_context, (1, 3))
        check_choice("refine_mode", refine_mode, REFINE_MODES)
        check_choice("relation_norm", relation_norm, ("softmax", "dot"))
        check_choice("attention_mode", attention_mode, ("sequential", "letter"))
        check_choice("gcn_orientation", gcn_orientation, ("row", "column"))
        check_choice("aggregation", aggregation, AGGREGATIONS)
        check_choice("refine", refine, (True, False))
        check_choice("refine_normalize", refine_normalize, (True, False))
        check_choice("nu_softmax", nu_softmax, (True, False))
        check_choice("gcn_scale", gcn_scale, (True, False))
        # a reading of another relation than the one built would be silently ignored (the sizes
        # inner_channels and attention_reduction may be passed to any relation)
        for option, value, default, owner in (
                ("relation_norm", relation_norm, "softmax", "bilinear"),
                ("gcn_scale", gcn_scale, True, "gcn"),
                ("gcn_orientation", gcn_orientation, "row", "gcn"),
                ("attention_mode", attention_mode, "sequential", "attention")):
            if relation != owner and value != default:
                raise ValueError(f"{option} applies to relation={owner!r} only and would be "
                                 f"ignored with relation={relation!r}; got {option}={value!r}")
        self.aggregation = aggregation
        self.in_channels, self.mu_channels, self.nu_channels = in_channels, c_mu, c_nu
        self.M = c_mu * c_nu
        self.relation_name = relation
        self.nu_softmax = bool(nu_softmax)
        self.input_size = None if input_size is None else tuple(input_size)
        self.num_regions = None
        if self.input_size is not None:
            self.num_regions = count_regions(self.input_size, self.scales)

        # Eq. 2 and Eq. 13: per-cell 1x1 convs, shared by every scale
        self.mu = nn.Conv2d(in_channels, c_mu, kernel_size=1)
        self.nu = nn.Conv2d(in_channels, c_nu, kernel_size=1)
        self.xi = nn.Conv2d(in_channels, c_nu, kernel_size=1)
        if aggregation != "bilinear":
            self.nu.requires_grad_(False)                        # pooling replaces Eq. 2's nu
        # Eq. 3-4: one eta shared by every scale. The paper says "all the scales have the same
        # amount of parameters" (its scale ablation); sharing one set of weights (mu, nu, xi, eta,
        # the relation) across scales is our reading of it, which gives that (book: Readings)
        refine_options = dict(max_offset=refine_max_offset, mask_init=refine_mask_init,
                              lr_scale=refine_lr_scale, detach_input=refine_detach,
                              normalize_input=refine_normalize)
        self.refine = Refine(self.M, refine_context, refine_mode, **refine_options) \
            if refine else None
        # Eq. 5-10
        if relation == "bilinear":
            self.relation = RELATION_CLASSES[relation](self.M, inner_channels, relation_norm)
        elif relation == "gcn":
            if self.num_regions is None:
                raise ValueError("relation='gcn' needs input_size=(T, H, W) or (H, W) of the map "
                                 "the unit sees, since its relation matrix is N x N with N fixed; "
                                 "got input_size=None")
            self.relation = RELATION_CLASSES[relation](self.M, self.num_regions, gcn_scale,
                                                orientation=gcn_orientation)
        else:
            self.relation = RELATION_CLASSES[relation](self.M, attention_reduction, mode=attention_mode)
        # Eq. 13 and the residual: lift c_mu -> C, BatchNorm starting at zero
        self.out = nn.Conv2d(c_mu, in_channels, kernel_size=1)
        self.bn = nn.BatchNorm2d(in_channels)
        self.zero_init_last()

        self.config: dict[str, Any] = dict(
            in_channels=in_channels, scales=self.scales, relation=relation, refine=bool(refine),
            input_size=self.input_size, mu_channels=c_mu, nu_channels=c_nu,
            nu_softmax=self.nu_softmax, refine_context=refine_context, refine_mode=refine_mode,
            refine_max_offset=refine_max_offset, refine_mask_init=refine_mask_init,
            refine_lr_scale=refine_lr_scale, refine_detach=refine_detach,
            refine_normalize=refine_normalize, relation_norm=relation_norm, gcn_scale=gcn_scale,
            attention_mode=attention_mode,
            gcn_orientation=gcn_orientation, aggregation=aggregation)

    def __prepare_scriptable__(self):
        refuse_jit_script(self)                 # torch.jit.script: our message, not its compiler's

    def zero_init_last(self) -> None:
        """Set the last BatchNorm's weight (and bias) to zero: the unit becomes the identity."""
        nn.init.zeros_(self.bn.weight)
        nn.init.zeros_(self.bn.bias)

    def extra_repr(self) -> str:
        return (f"in_channels={self.in_channels}, scales={self.scales}, "
                f"relation={self.relation_name!r}, M={self.mu_channels}x{self.nu_channels}")

    # ------------------------------------------------------------------------------------------
    # ---------------------------------------------------------------- the steps, in the paper's order
    def project(self, x5: torch.Tensor, relay: dict | None = None):
        """Eq. 2 and 13's per-cell maps: mu, nu, xi of every cell with one matrix product (the
        three 1x1 convs stacked). Returns ``(B, c_mu+c_nu, T, H, W)`` (mu and nu, split into
        regions together) and ``(B, c_nu, T, H, W)`` (xi, softmax over ``c_nu`` at each cell)."""
        B, C, T, H, W = x5.shape
        weight = torch.cat([self.mu.weight, self.nu.weight, self.xi.weight])   # (c_mu+2c_nu, C, 1, 1)
        bias = torch.cat([self.mu.bias, self.nu.bias, self.xi.bias])           # (c_mu+2c_nu,)
        # a 1x1 conv is a matrix product over the channels: (c, C) x (B, C, T*H*W)
        f = conv1x1(x5.reshape(B, C, T * H * W), weight.reshape(-1, C), bias,
                    relay)                                       # (B, c_mu+2c_nu, T*H*W)
        f = f.reshape(B, -1, T, H, W)                            # (B, c_mu+2c_nu, T, H, W)
        mu_nu, xi = f.split([self.mu_channels + self.nu_channels, self.nu_channels], dim=1)
        return mu_nu, torch.softmax(xi, dim=1)                   # xi normalised over c_nu

    def aggregate(self, mu_nu: torch.Tensor, scale: tuple[int, int]) -> torch.Tensor:
        """Eq. 1–2 for one scale: ``A`` as ``(B, T, Gh, Gw, c_mu, c_nu)``; ``mu_nu`` is
        ``(B, c_mu+c_nu, T, H, W)`` (from :meth:`project`), split into regions in one pass."""
        H, W = mu_nu.shape[-2:]
        padded = (H % scale[0]) or (W % scale[1])
        mask = cell_mask(H, W, scale, device=mu_nu.device) if padded else None  # (Gh, Gw, P)
        grid = pad_to_scale(mu_nu, scale)                        # zeros bottom and right
        if padded and self.nu_softmax and self.aggregation == "bilinear":
            # the padded cells of nu at -inf: the softmax gives them weight 0, the same numbers
            # as masking each region's cells, without a mask broadcast over every region
            grid[:, self.mu_channels:, :, H:] = float("-inf")
            grid[:, self.mu_channels:, :, :, W:] = float("-inf")
            mask = None
        r = split_regions(grid, scale)                           # (B, T, Gh, Gw, c_mu+c_nu, P)
        # views; split (not two slices) so that the backward writes one gradient, not two
        # zero-filled full-size ones that are then added
        mu_r, nu_r = r.split([self.mu_channels, self.nu_channels], dim=-2)
        if self.aggregation != "bilinear":                       # the aggregation study
            return pool_regions(mu_r, scale, pool_bins(self.nu_channels), self.aggregation,
                                mask)                            # (B, T, Gh, Gw, c_mu, c_nu)
        return aggregate(mu_r, nu_r, mask, self.nu_softmax)      # (B, T, Gh, Gw, c_mu, c_nu)

    def _fused_tail(self, x5: torch.Tensor) -> bool:
        """The tail runs as :class:`_LiftNormAdd`: training with gradients, eager, a plain
        ``BatchNorm2d`` (not a ``SyncBatchNorm``, whose statistics span processes), float32 or
        float64, no autocast (where BatchNorm keeps float32 and the products do not)."""
        bn = self.bn
        return (self.training and type(bn) is nn.BatchNorm2d and bn.affine
                and bn.track_running_stats and x5.dtype in (torch.float32, torch.float64)
                and torch.is_grad_enabled() and not _plain_autograd() and not _autocast(x5)
                and not _hooked(bn) and not _hooked(self.out))

    def refine_regions(self, A: list[torch.Tensor], keep: bool = False):
        """Eq. 3–4 on each scale's grid, then every region of every scale in one list.

        ``A``: per scale ``(B, T, Gh, Gw, c_mu, c_nu)``. Returns ``V`` ``(B, N, M)``, the grids
        ``[(T, Gh, Gw), ...]`` and (with ``keep``) per scale the offsets ``(dx, dy, m)``.
        Without refine, ``V`` is the aggregated regions themselves."""
        vectors, grids, offsets = [], [], []
        for A_s in A:
            B, T, Gh, Gw, _, _ = A_s.shape
            cells = A_s.reshape(B * T, Gh * Gw, self.M)          # (B*T, Gh*Gw, M)
            if self.refine is not None:
                if keep or _hooked(self.refine):                 # on the grid, as a module
                    G = cells.transpose(1, 2).reshape(B * T, self.M, Gh, Gw)  # (B*T, M, Gh, Gw)
                    if keep:
                        offsets.append(self.refine.offsets(G))
                    cells = self.refine(G).flatten(2).transpose(1, 2)   # (B*T, Gh*Gw, M)
                else:
                    cells = self.refine.forward_cells(cells, Gh, Gw)    # (B*T, Gh*Gw, M)
            vectors.append(cells.reshape(B, T * Gh * Gw, self.M))       # (B, n_s, M)
            grids.append((T, Gh, Gw))
        return torch.cat(vectors, dim=1), grids, offsets         # V: (B, N, M)

    def relate(self, V: torch.Tensor, grids: list) -> torch.Tensor:
        """Eq. 5–12: ``Z = R V`` (or the attention's ``Z``), ``(B, N, M)``."""
        return self.relation(V, grids)

    def distribute(self, Z: torch.Tensor, xi: torch.Tensor, grids: list) -> list[torch.Tensor]:
        """Eq. 13 per scale: each region's ``z_i`` (as ``c_mu x c_nu``) times its cells' ``xi``,
        merged back and cropped; one ``(B, c_mu, T, H, W)`` per scale."""
        layout = RegionLayout(self.scales, grids)
        return [distribute(z.unflatten(-1, (self.mu_channels, self.nu_channels)), xi, s)
                for z, s in zip(layout.split(Z), self.scales)]

    def residual(self, x5: torch.Tensor, Y: torch.Tensor,
                 relay: dict | None = None) -> torch.Tensor:
        """``x + BN(W_out Y)``: the lift ``c_mu -> C`` (a 1x1 conv, as a matrix product), the
        BatchNorm and the residual; ``Y`` ``(B, c_mu, T, H, W)``, the sum over the scales."""
        B, C, T, H, W = x5.shape
        bn = self.bn
        weight = self.out.weight.reshape(C, self.mu_channels)   # (C, c_mu)
        Y3 = Y.reshape(B, self.mu_channels, T * H * W)           # (B, c_mu, T*H*W)
        if self._fused_tail(x5):
            factor = 0.0 if bn.momentum is None else bn.momentum  # nn.BatchNorm's bookkeeping
            if bn.num_batches_tracked is not None:
                bn.num_batches_tracked.add_(1)
                if bn.momentum is None:
                    factor = 1.0 / float(bn.num_batches_tracked)
            x3 = x5.reshape(B, C, T * H * W)                     # (B, C, T*H*W)
            y = _LiftNormAdd.apply(x3 if relay is None else x3.detach(), Y3, weight,
                                   self.out.bias, bn.weight, bn.bias, bn.running_mean,
                                   bn.running_var, factor, bn.eps, relay)  # (B, C, T*H*W)
            return y.reshape(B, C, T, H, W)
        if _hooked(self.out):                                    # watched: call the module
            out = self.out(Y3.reshape(B, self.mu_channels, T * H, W))  # (B, C, T*H, W)
        else:
            out = conv1x1(Y3, weight, self.out.bias)             # (B, C, T*H*W)
        out = bn(out.reshape(B, C, T * H, W))                    # (B, C, T*H, W)
        return x5 + out.reshape(B, C, T, H, W)                   # (B, C, T, H, W)

    # ---------------------------------------------------------------- the forward
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._run(x, trace=False)

    def explain(self, x: torch.Tensor) -> UnitTrace:
        """Run the unit and keep what each step computed: a :class:`~regr_edu.trace.UnitTrace`
        (a field per equation, with its shape). Gradients flow as in :meth:`forward`; wrap the
        call in ``torch.no_grad()`` to keep none."""
        return self._run(x, trace=True)

    def _run(self, x: torch.Tensor, trace: bool):
        x5, was_4d = as_5d("x", x, self.in_channels, dtype=self.mu.weight.dtype)
        B, C, T, H, W = x5.shape
        for s in self.scales:
            grid_size(H, W, s)                                   # a scale larger than the map
        if B == 0 and not trace:
            return x.clone()                                     # an empty batch: nothing to do
        if self.training and B * T * H * W == 1:
            raise ValueError(f"x must give the unit's BatchNorm more than one value per channel "
                             f"in training mode (B*T*H*W > 1), got shape {tuple(x.shape)}; "
                             "use a larger batch or map, or unit.eval()")
        # the residual's gradient reaches x through the first layer's backward (one pass)
        relay = {} if self._fused_tail(x5) and _fast_conv(x5) else None

        mu_nu, xi = self.project(x5, relay)                      # Eq. 2, 13: per-cell maps
        if self.training and not torch.compiler.is_compiling():
            _check_finite_for_batchnorm(x5, mu_nu)               # before the BatchNorm's update
        A = [self.aggregate(mu_nu, s) for s in self.scales]      # Eq. 1-2: per scale
        V, grids, offsets = self.refine_regions(A, keep=trace)   # Eq. 3-4: (B, N, M)
        Z = self.relate(V, grids)                                # Eq. 5-12: (B, N, M)
        Y = self.distribute(Z, xi, grids)                        # Eq. 13: per scale
        y = self.residual(x5, sum(Y[1:], Y[0]), relay)           # x + BN(W sum_s Y_s)
        out = y.squeeze(2) if was_4d else y
        if not trace:
            return out

        mu, nu = mu_nu.split([self.mu_channels, self.nu_channels], dim=1)
        matrix = getattr(self.relation, "matrix", None)
        Lc = Ls = None
        if matrix is None:
            Lc, Ls = self.relation.maps(V, grids)
        return UnitTrace(
            x=x5, scales=self.scales, grids=grids,
            regions=[split_regions(pad_to_scale(x5, s), s) for s in self.scales],
            mu=mu, nu=nu, xi=xi, A=A, offsets=offsets if self.refine is not None else None,
            V=V, R=None if matrix is None else matrix(V, grids), Lc=Lc, Ls=Ls, Z=Z, Y=Y,
            added=y - x5, output=out)
