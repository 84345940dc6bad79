"""The unit's fast paths (issue 16) against plain PyTorch operators: the oneDNN 1x1 products
(CPU, float32), the tail x + BN(W Y + b) folded into one product (training), the residual's
gradient handed to the first layer, refine as one matrix product, and what autograd keeps."""
import copy

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

import regr_edu as rg
from regr_edu import regr as R
from regr_edu.costs import count_flops, saved_bytes
from regr_edu.refine import Refine

from conftest import randomize_


class _Plain(TorchDispatchMode):
    """Runs every operator as is; under a dispatch mode the unit takes its plain path."""

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        return func(*args, **(kwargs or {}))


def _unit(C=32, **kw):
    u = randomize_(rg.ReGr(C, scales=((2, 2), (3, 4)), **kw))
    with torch.no_grad():
        u.refine.eta.weight.mul_(0.1)           # offsets inside (-1, 1), away from the ends
        u.refine.eta.bias.copy_(torch.tensor([0.3, -0.4, 0.0]))
    return u.train()


def _step(u, x, plain=False):
    """Forward+backward in training mode: output, input and parameter gradients, BN buffers."""
    x = x.clone().requires_grad_()
    w = torch.randn(x.shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    if plain:
        with _Plain():
            y = u(x)
            (y * w.to(y.dtype)).sum().backward()
    else:
        y = u(x)
        (y * w.to(y.dtype)).sum().backward()
    out = {"y": y.detach(), "x.grad": x.grad}
    out.update({f"{n}.grad": p.grad for n, p in u.named_parameters()})
    out.update({n: b.clone() for n, b in u.named_buffers()})
    return out


@pytest.mark.parametrize("shape", [(2, 32, 6, 8), (2, 32, 2, 7, 9)])
def test_fused_tail_equals_batchnorm_in_float64(shape):
    """_LiftNormAdd (training) against conv + nn.BatchNorm2d + add, to rounding in float64."""
    u = _unit(refine_mode="add").double()
    twin = copy.deepcopy(u)
    x = torch.randn(*shape, dtype=torch.float64)
    plain, fast = _step(u, x, plain=True), _step(twin, x)
    for k in plain:
        # the BN removes out.bias: its gradient is zero (rounding noise on the plain path)
        atol = 1e-9 if k == "out.bias.grad" else 1e-11
        torch.testing.assert_close(fast[k], plain[k], rtol=1e-9, atol=atol, msg=k)


@pytest.mark.parametrize("momentum,C", [(0.1, 64), (None, 64), (0.1, 256)])
def test_fast_float32_cpu_matches_plain_float64(momentum, C):
    """The whole fast path in float32 (oneDNN products, fused tail, relayed residual gradient)
    against plain operators in float64: values, every gradient, the BN's running statistics
    and its batch count. At C = 256 the 1x1 products and the relation run on oneDNN's linear
    layer (at 64, below its width, on the batched GEMM)."""
    torch.manual_seed(0)
    u32 = _unit(C=C)
    u32.bn.momentum = momentum
    u64, plain32 = _unit(C=C).double(), _unit(C=C)
    u64.load_state_dict(u32.state_dict())
    plain32.load_state_dict(u32.state_dict())
    u64.bn.momentum = plain32.bn.momentum = momentum
    x = torch.randn(2, C, 12, 12)
    for _ in range(2):                              # twice: the running averages move on
        u32.zero_grad(), u64.zero_grad(), plain32.zero_grad()
        fast, plain = _step(u32, x), _step(u64, x.double(), plain=True)
        own = _step(plain32, x, plain=True)         # PyTorch's own float32 error, for scale
    assert int(u32.bn.num_batches_tracked) == 2
    for k in plain:
        if k in ("out.bias.grad", "nu.bias.grad", "relation.phi.bias.grad"):
            continue                                # zero in exact arithmetic: rounding only
        ref = plain[k]
        scale = float(ref.abs().max()) + 1e-12
        # within 2e-4 of the largest entry, or 4x plain float32's own error where the random
        # unit is ill-conditioned (its gradients reach 1e3-1e4 at C = 256)
        atol = max(2e-4 * scale, 4 * float((own[k].double() - ref).abs().max()))
        torch.testing.assert_close(fast[k].double(), ref.double(), rtol=0, atol=atol, msg=k)


def test_unit_gradcheck_in_training_mode():
    """Batch statistics (the fused tail) and the refine matrix, against finite differences."""
    u = rg.ReGr(4, scales=((2, 2), (2, 3)), mu_channels=2, nu_channels=2)
    randomize_(u, 0.2).double().train()
    with torch.no_grad():   # keep the refine offsets away from whole numbers (kinks of g)
        u.refine.eta.weight.mul_(0.05)
        u.refine.eta.bias.copy_(torch.tensor([0.5, -0.5, 0.0]))
    x = torch.randn(2, 4, 4, 6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(u, (x,), eps=1e-6, atol=1e-5)


@pytest.mark.parametrize("context,mode,detach", [(1, "replace", False), (3, "add", False),
                                                 (1, "replace", True), (1, "blend", False),
                                                 (3, "blend", False)])
def test_refine_on_cells_equals_refine_on_the_grid(context, mode, detach):
    layer = Refine(6, context, mode, detach_input=detach).double()
    with torch.no_grad():
        layer.eta.weight.normal_(0, 0.3)
        layer.eta.bias.normal_(0, 0.3)
    grid = torch.randn(2, 6, 4, 5, dtype=torch.float64, requires_grad=True)
    cells = grid.detach().flatten(2).transpose(1, 2).clone().requires_grad_()  # (B, L, M)
    out_grid = layer(grid)
    out_cells = layer.forward_cells(cells, 4, 5)
    torch.testing.assert_close(out_cells, out_grid.flatten(2).transpose(1, 2))
    w = torch.randn_like(out_grid)
    (out_grid * w).sum().backward()
    g_grid = [p.grad.clone() for p in layer.parameters()]
    layer.zero_grad()
    (out_cells * w.flatten(2).transpose(1, 2)).sum().backward()
    torch.testing.assert_close(cells.grad, grid.grad.flatten(2).transpose(1, 2))
    for a, b in zip(g_grid, layer.parameters()):
        torch.testing.assert_close(b.grad, a)


@pytest.mark.parametrize("size", [(28, 28), (2, 14, 14)])
def test_saved_activations_at_most_2_5x_the_input(size):
    u = rg.ReGr(128).train()
    torch.nn.init.ones_(u.bn.weight)
    x = torch.randn(2, 128, *size, requires_grad=True)
    ratio = saved_bytes(u, x) / (x.numel() * x.element_size())
    assert ratio <= 2.5, ratio


def test_flop_count_sees_the_onednn_products():
    u = rg.ReGr(64)
    x = torch.randn(2, 64, 8, 8)
    fast = count_flops(u, x)[0]
    plain = count_flops(u.double(), x.double())[0]     # float64: plain operators only
    assert fast == plain and fast > 0


@pytest.mark.parametrize("batch", [2, 6])
@pytest.mark.parametrize("O,K", [(5, 40), (40, 5), (9, 140), (140, 9)])
def test_products_agree_with_matmul(O, K, batch):
    """Each product in both shapes (narrowing, widening), below and above the oneDNN width, one
    sample at a time (batch 2) and batched (6), against float64."""
    g = torch.Generator().manual_seed(0)
    w = torch.randn(O, K, generator=g)
    x = torch.randn(batch, K, 33, generator=g)
    b = torch.randn(O, generator=g)
    add = torch.randn(batch, O, 33, generator=g)
    expected = add.double() + w.double() @ x.double() + b.double()[:, None]
    for got in (R._weight_times(w, x, b, add=add), R._weight_times(w, x, b) + add):
        torch.testing.assert_close(got.double(), expected, rtol=1e-5, atol=1e-4)
    gr = torch.randn(batch, O, 33, generator=g)
    torch.testing.assert_close(R._sum_outer(gr, x).double(),
                               torch.einsum("bol,bkl->ok", gr.double(), x.double()),
                               rtol=1e-5, atol=1e-4)


def test_linear_layer_reads_a_transposed_operand_or_copies_it(monkeypatch):
    """The second operand may be a transposed view (read in place where the build was checked
    to do so); were the check to fail, it is made row-major first: the same numbers."""
    from regr_edu import _products as P
    if not P._onednn(torch.zeros(1)):
        pytest.skip("oneDNN's linear layer is not in this build")
    g = torch.Generator().manual_seed(3)
    a, c = torch.randn(30, 150, generator=g), torch.randn(150, 70, generator=g)
    expected = a.double() @ c.double()
    assert P._reads_transposed() in (True, False)
    view = c.t()
    assert P._operand(view) is view or not P._reads_transposed()   # read in place, no copy
    torch.testing.assert_close(P._rows_times_rows(a, c.t()).double(), expected, rtol=1e-5,
                               atol=1e-4)
    monkeypatch.setattr(P, "_STRIDED", [False])                 # a build that fails the check
    assert P._operand(c.t()).is_contiguous()
    torch.testing.assert_close(P._rows_times_rows(a, c.t()).double(), expected, rtol=1e-5,
                               atol=1e-4)
    odd = c[:, ::2]                                             # neither layout: copied
    assert P._operand(odd.t()).is_contiguous()



def test_hooked_submodules_are_called_as_modules():
    """A hook on refine, the last conv or the BatchNorm (``training.RefineMonitor`` hooks
    refine) still fires: the unit then runs that part as a module, with the same result."""
    u = _unit()
    x = torch.randn(2, 32, 6, 8)
    for name in ("refine", "out", "bn"):
        twin = copy.deepcopy(u)
        seen = []
        getattr(twin, name).register_forward_hook(lambda m, i, o: seen.append(o.shape))
        plain, fast = _step(twin, x), _step(copy.deepcopy(u), x)
        assert seen, name
        for k in fast:
            torch.testing.assert_close(plain[k], fast[k], rtol=1e-4, atol=1e-4, msg=k)


def test_sync_batchnorm_keeps_the_module_path():
    """A SyncBatchNorm (convert_sync_batchnorm) gathers statistics across processes: the unit
    must call it, not fold a local BatchNorm into its tail."""
    u = torch.nn.SyncBatchNorm.convert_sync_batchnorm(_unit())
    assert not u._fused_tail(torch.randn(2, 32, 1, 4, 4))
    assert _unit()._fused_tail(torch.randn(2, 32, 1, 4, 4))


def _relation_step(rel, V, w):
    """Forward+backward of a relation: Z, V's gradient and the parameters' gradients."""
    V = V.detach().clone().requires_grad_()
    rel.zero_grad()
    Z = rel(V)
    (Z * w.to(Z.dtype)).sum().backward()
    grads = {n: p.grad for n, p in rel.named_parameters() if n != "phi.bias"}
    return {"Z": Z.detach(), "V.grad": V.grad, **grads}   # phi's bias: zero under the softmax


@pytest.mark.parametrize("normalize", ["softmax", "dot"])
def test_bilinear_relation_on_onednn_matches_float64(normalize):
    """M >= 128 in float32 on a CPU: theta, phi, theta phi^T and R V run on oneDNN's linear
    layer; they agree with float64 (plain operators) as closely as PyTorch's own float32 does,
    and the FLOP counter counts the same products."""
    g = torch.Generator().manual_seed(0)
    rel = rg.BilinearRelation(256, normalize=normalize)
    V = torch.randn(2, 70, 256, generator=g)
    w = torch.randn(2, 70, 256, generator=g)
    if not rel._fast(V):
        pytest.skip("this PyTorch has no oneDNN linear layer")
    fast = _relation_step(rel, V, w)
    twin = copy.deepcopy(rel)
    with _Plain():                                       # under a dispatch mode: plain operators
        plain = _relation_step(twin, V, w)
    ref = _relation_step(copy.deepcopy(rel).double(), V.double(), w)
    for k, r in ref.items():
        err = float((fast[k].double() - r).norm() / r.norm())
        err_plain = float((plain[k].double() - r).norm() / r.norm())
        assert err < max(4 * err_plain, 1e-6), (k, err, err_plain)
    assert count_flops(rel, V)[0] == count_flops(copy.deepcopy(rel).double(), V.double())[0]


def test_bilinear_relation_keeps_plain_operators_where_they_are_faster_or_watched():
    rel = rg.BilinearRelation(256)
    assert not rel._fast(torch.randn(2, 10, 256, dtype=torch.float64))
    assert not rg.BilinearRelation(64)._fast(torch.randn(2, 10, 64))        # M < 128
    seen = []
    rel.theta.register_forward_hook(lambda m, i, o: seen.append(o.shape))
    assert not rel._fast(torch.randn(2, 10, 256))
    rel(torch.randn(2, 10, 256))
    assert seen == [torch.Size([2, 10, 64])]


def test_refine_on_a_large_grid_runs_on_onednn_and_matches_float64():
    """A 14 x 14 grid of M = 128: Eq. 4's product on oneDNN's linear layer, as close to float64
    as the plain float32 product."""
    layer = Refine(128, 1, "add")
    with torch.no_grad():
        layer.eta.weight.normal_(0, 0.05)
    g = torch.Generator().manual_seed(0)
    cells = torch.randn(2, 196, 128, generator=g)
    w = torch.randn(2, 196, 128, generator=g)

    def run(module, c, plain=False):
        c = c.detach().clone().requires_grad_()
        module.zero_grad()
        if plain:
            with _Plain():
                out = module.forward_cells(c, 14, 14)
                (out * w.to(out.dtype)).sum().backward()
        else:
            out = module.forward_cells(c, 14, 14)
            (out * w.to(out.dtype)).sum().backward()
        return [out.detach(), c.grad] + [p.grad for p in module.parameters()]

    fast = run(layer, cells)
    plain = run(copy.deepcopy(layer), cells, plain=True)
    ref = run(copy.deepcopy(layer).double(), cells.double())
    for a, b, r in zip(fast, plain, ref):
        err = float((a.double() - r).norm() / r.norm())
        err_plain = float((b.double() - r).norm() / r.norm())
        assert err < max(4 * err_plain, 1e-6), (err, err_plain)


@pytest.mark.parametrize("n,k,m", [(64, 16, 8), (8, 64, 16), (16, 8, 8), (4, 16, 8)])
def test_region_product_matches_matmul_forward_and_backward(n, k, m):
    """Eq. 2 and 13's many small products, turned round where that is faster: the same values
    and gradients as torch.matmul (float64 as the reference); small units keep matmul."""
    from regr_edu import _products as P
    g = torch.Generator().manual_seed(4)
    a = torch.randn(2, 3, n, k, generator=g, requires_grad=True)
    b = torch.randn(2, 3, k, m, generator=g, requires_grad=True)
    w = torch.randn(2, 3, n, m, generator=g, dtype=torch.float64)
    out = P.region_product(a, b)
    (out * w).sum().backward()
    a64, b64 = a.detach().double().requires_grad_(), b.detach().double().requires_grad_()
    ref = a64 @ b64
    (ref * w).sum().backward()
    torch.testing.assert_close(out.double(), ref, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(a.grad.double(), a64.grad, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(b.grad.double(), b64.grad, rtol=1e-5, atol=1e-5)
    assert P.use_oriented(a, n * m) == (n * m >= P.ONEDNN_MIN)
    assert out.grad_fn is not None
    turned = type(out.grad_fn).__name__.startswith("_RegionProduct")
    assert turned == (n * m >= P.ONEDNN_MIN)            # 4 x 8 = 32 (a small unit): matmul


def test_the_transposed_operand_check_is_not_counted_as_flops(monkeypatch):
    """The once-per-process check of oneDNN's strides runs outside any dispatch mode: a FLOP
    count made first in a process equals the next one."""
    from regr_edu import _products as P
    monkeypatch.setattr(P, "_STRIDED", [])                     # as in a fresh process
    u, x = rg.ReGr(256), torch.randn(2, 256, 8, 8)
    first = count_flops(u, x)[0]
    assert P._STRIDED or not P._onednn(x)                       # the check ran inside the count
    assert first == count_flops(u, x)[0]
