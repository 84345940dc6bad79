r"""Matrix products on oneDNN's linear layer, for the unit's fast paths on a CPU in float32.

On one CPU thread PyTorch's ``bmm``, ``mm`` and ``linear`` run at about half of oneDNN's speed on
the benchmark machine (about 100 against 200 GFLOP/s for the bilinear relation's products at
``N = 260`` regions of ``M = 512``). oneDNN's linear layer computes ``a @ b^T`` for two row-major
matrices; the functions here write each product, forward and backward, in that form (making a
small operand's transpose contiguous where needed) and check nothing: callers decide with
:func:`use_onednn` and keep the plain operator elsewhere (GPU, float64, autocast, ``torch.compile``,
small widths, where the plain operator is as fast or faster).

The results equal the plain products up to the order of float32 sums (the tests compare both
with float64).
"""
from __future__ import annotations

import torch
from torch.utils._python_dispatch import _get_current_dispatch_mode

try:
    from torch.utils._python_dispatch import _disable_current_modes as _no_modes
except ImportError:                             # an older or newer torch: no such helper
    from contextlib import nullcontext as _no_modes

#: below this width (the larger side of a product) the plain operator is the faster one
ONEDNN_MIN = 128


def _find_linear():
    try:
        return torch.ops.mkldnn._linear_pointwise
    except (AttributeError, RuntimeError):      # a build without oneDNN's linear
        return None


_LINEAR = _find_linear()


def _onednn(t: torch.Tensor) -> bool:
    """oneDNN runs this tensor's products: a CPU float32 tensor, oneDNN built in."""
    return (t.device.type == "cpu" and t.dtype == torch.float32
            and torch.backends.mkldnn.is_available() and _LINEAR is not None)


def _plain_autograd() -> bool:
    """Inside ``torch.compile``/``export`` or under a dispatch mode other than the FLOP counter
    (fake tensors, say) the unit uses plain operators, which those tools know."""
    mode = _get_current_dispatch_mode()
    return torch.compiler.is_compiling() or (
        mode is not None and type(mode).__name__ != "_FlopCounterMode")


def _autocast(x: torch.Tensor) -> bool:
    """Autocast is on for ``x``'s device."""
    try:
        return torch.is_autocast_enabled(x.device.type)
    except TypeError:                           # torch < 2.4: no device argument
        return torch.is_autocast_enabled() or torch.is_autocast_cpu_enabled()


def _hooked(module: torch.nn.Module) -> bool:
    """Someone watches this submodule's forward (a hook, e.g. ``training.RefineMonitor``): the
    fast paths then call it as a module instead of running around it."""
    from torch.nn.modules import module as mod
    return bool(module._forward_hooks or module._forward_pre_hooks
                or mod._global_forward_hooks or mod._global_forward_pre_hooks)


def _eager_cpu32(x: torch.Tensor, width: int) -> bool:
    """A fast path of this module may run: a non-empty CPU float32 tensor, eager autograd, no
    autocast, and ``width`` at least :data:`ONEDNN_MIN`."""
    return (width >= ONEDNN_MIN and x.device.type == "cpu" and x.dtype == torch.float32
            and x.numel() > 0 and not _plain_autograd() and not _autocast(x))


def use_onednn(x: torch.Tensor, width: int) -> bool:
    """The products of ``x`` go through this module: oneDNN runs them (:func:`_onednn`), eager
    autograd, no autocast, and ``width`` (the larger side) at least :data:`ONEDNN_MIN`."""
    return _eager_cpu32(x, width) and _onednn(x)


_STRIDED: list[bool] = []


def _reads_transposed() -> bool:
    """oneDNN's linear layer reads a transposed (column-major) second operand in place, at full
    speed, in this build: checked once on a small product against float64 (a build that got the
    strides wrong would give other numbers; then the operand is made row-major first)."""
    if not _STRIDED:
        # outside any dispatch mode (a FLOP counter would count the check)
        with _no_modes(), torch.no_grad(), torch.inference_mode(False):
            gen = torch.Generator().manual_seed(0)
            a = torch.randn(24, 40, generator=gen)
            b = torch.randn(40, 56, generator=gen)                  # b.t(): (56, 40), column-major
            try:
                got = _LINEAR(a, b.t(), None, "none", [], "")
                ok = bool(torch.allclose(got.double(), a.double() @ b.double(), atol=1e-4))
            except RuntimeError:
                ok = False
        _STRIDED.append(ok)
    return _STRIDED[0]


def _operand(b: torch.Tensor) -> torch.Tensor:
    """The linear layer's second operand: row-major, or the transpose of a row-major matrix
    where this build reads that in place (:func:`_reads_transposed`)."""
    if b.is_contiguous() or (b.t().is_contiguous() and _reads_transposed()):
        return b
    return b.contiguous()


def _rows_times_rows(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``a @ b^T`` by oneDNN's linear layer: ``(N, K)`` and ``(O, K)``; ``a`` is made row-major
    (oneDNN would copy it), ``b`` may also be the transpose of a row-major ``(K, O)`` matrix,
    which is read in place: a product ``a @ c`` is ``_rows_times_rows(a, c.t())`` with no
    copy of ``c``."""
    return _LINEAR(a.contiguous(), _operand(b), None, "none", [], "")


def _each(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``a[i] @ b[i]^T`` for every ``i``: ``(B, n, k)`` and ``(B, m, k)`` (``b`` row-major or
    the transpose of a row-major batch) -> ``(B, n, m)``."""
    return torch.stack([_rows_times_rows(a[i], b[i]) for i in range(a.shape[0])])


def _t(x: torch.Tensor) -> torch.Tensor:
    """The last two axes swapped, row-major (a copy: for a first operand)."""
    return x.transpose(-1, -2).contiguous()


def _tv(x: torch.Tensor) -> torch.Tensor:
    """The last two axes swapped, as a view of row-major ``x`` (for a second operand)."""
    return x.contiguous().transpose(-1, -2)


class _Linear(torch.autograd.Function):
    """``x @ W^T + b`` for ``x`` ``(n, k)``, ``W`` ``(o, k)``."""

    @staticmethod
    def forward(ctx, x, weight, bias):
        x = x.contiguous()
        ctx.save_for_backward(x, weight)
        ctx.has_bias = bias is not None
        return _LINEAR(x, weight, bias, "none", [], "")                     # (n, o)

    @staticmethod
    def backward(ctx, g):
        x, weight = ctx.saved_tensors
        g = g.contiguous()
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_x = _rows_times_rows(g, _tv(weight))                           # g W: (n, k)
        if ctx.needs_input_grad[1]:
            grad_w = _rows_times_rows(_t(g), _tv(x))                           # g^T x: (o, k)
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_b = g.sum(0)
        return grad_x, grad_w, grad_b


class _Product(torch.autograd.Function):
    """``a @ b`` for ``a`` ``(B, n, k)``, ``b`` ``(B, k, m)``."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return _each(a.contiguous(), _tv(b))                                  # (B, n, m)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        g = g.contiguous()
        grad_a = _each(g, b.contiguous()) if ctx.needs_input_grad[0] else None   # g b^T
        grad_b = _each(_t(a), _tv(g)) if ctx.needs_input_grad[1] else None      # a^T g
        return grad_a, grad_b


class _ProductT(torch.autograd.Function):
    """``a @ b^T`` for ``a`` ``(B, n, k)``, ``b`` ``(B, m, k)``."""

    @staticmethod
    def forward(ctx, a, b):
        a, b = a.contiguous(), b.contiguous()
        ctx.save_for_backward(a, b)
        return _each(a, b)                                                     # (B, n, m)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        g = g.contiguous()
        grad_a = _each(g, _tv(b)) if ctx.needs_input_grad[0] else None        # g b: (B, n, k)
        grad_b = _each(_t(g), _tv(a)) if ctx.needs_input_grad[1] else None    # g^T a: (B, m, k)
        return grad_a, grad_b


def linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """``F.linear(x, weight, bias)`` for ``x`` ``(..., k)`` on oneDNN (see :func:`use_onednn`)."""
    out = _Linear.apply(x.reshape(-1, x.shape[-1]), weight, bias)
    return out.reshape(*x.shape[:-1], weight.shape[0])


def product(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``torch.bmm(a, b)`` on oneDNN: ``(B, n, k)`` x ``(B, k, m)``."""
    return _Product.apply(a, b)


def product_t(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``torch.bmm(a, b.transpose(1, 2))`` on oneDNN: ``(B, n, k)`` x ``(B, m, k)``."""
    return _ProductT.apply(a, b)


# ------------------------------------------------------------------ many small matrices (Eq. 2, 13)
def _oriented(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``a @ b`` for batches of small matrices, computed as ``(b^T a^T)^T`` (a view) when the
    result has fewer than 16 columns and more rows than columns: on the benchmark machine
    PyTorch's batched GEMM runs such products about three times faster with the wide side as
    the columns (0.31 against 0.10 ms for 392 products of 64 x 16 by 16 x 8)."""
    rows, cols = a.shape[-2], b.shape[-1]
    if cols < rows and cols < 16:
        return torch.matmul(b.transpose(-1, -2), a.transpose(-1, -2)).transpose(-1, -2)
    return torch.matmul(a, b)


class _RegionProduct(torch.autograd.Function):
    """``a @ b`` for ``(..., n, k)`` and ``(..., k, m)``; forward and backward by
    :func:`_oriented`."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return _oriented(a, b)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        grad_a = _oriented(g, b.transpose(-1, -2)) if ctx.needs_input_grad[0] else None
        grad_b = _oriented(a.transpose(-1, -2), g) if ctx.needs_input_grad[1] else None
        return grad_a, grad_b


def region_product(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``torch.matmul(a, b)`` over the regions of a wide unit (Eq. 2's ``mu softmax(nu)^T``,
    Eq. 13's ``z xi``): each product, forward and backward, in its faster orientation
    (:func:`_oriented`) where :func:`use_oriented` says so; elsewhere ``torch.matmul``."""
    if a.dim() == b.dim() and a.shape[:-2] == b.shape[:-2] and use_oriented(
            a, a.shape[-2] * b.shape[-1]):
        return _RegionProduct.apply(a, b)
    return torch.matmul(a, b)


def use_oriented(x: torch.Tensor, width: int) -> bool:
    """:func:`region_product` reorients: a CPU float32 tensor, eager autograd, no autocast and
    ``width`` (the product's ``n * m``, a region vector's length ``M``) at least
    :data:`ONEDNN_MIN`. Small units (``M`` below it) keep ``torch.matmul`` and its sums, which
    the chapters' replays of recorded runs reproduce bit for bit."""
    return _eager_cpu32(x, width)

