"""The whole unit: fast against literal, the (1,1) case against a plain non-local block,
identity at initialisation, gradients, dtypes, devices and bad input."""
import pytest
import torch

import regr_edu as rg

from conftest import randomize_

SCALES = ((2, 2), (3, 4))
CASES = [  # (relation, shape, extra options)
    ("bilinear", (2, 8, 6, 8), {}),                                      # divisible by (2,2) only
    ("bilinear", (2, 8, 2, 7, 9), {"relation_norm": "dot", "refine_mode": "add"}),
    ("bilinear", (1, 8, 8, 8), {"refine": False, "nu_softmax": False}),
    ("bilinear", (2, 8, 2, 7, 9), {"refine_mode": "blend"}),
    ("gcn", (2, 8, 2, 7, 9), {}),
    ("gcn", (2, 8, 6, 8), {"gcn_scale": False, "refine_context": 3}),
    ("attention", (2, 8, 2, 7, 9), {}),
    ("attention", (2, 8, 6, 8), {"attention_mode": "letter"}),
]


def _unit(relation, shape, **kw):
    if relation == "gcn":
        kw["input_size"] = shape[2:]
    u = rg.ReGr(shape[1], SCALES, relation, mu_channels=2, nu_channels=3,
                attention_reduction=2, **kw)
    return randomize_(u).double()


@pytest.mark.parametrize("relation,shape,kw", CASES)
@pytest.mark.parametrize("training", [False, True])
def test_fast_matches_literal_reference(relation, shape, kw, training, device):
    u = _unit(relation, shape, **kw).to(device).train(training)
    x = torch.randn(*shape, dtype=torch.float64, device=device)
    if relation == "bilinear" and len(shape) == 5:
        x = x.transpose(-1, -2).contiguous().transpose(-1, -2)   # same values, other strides
    expected = rg.reference.regr_forward(x, u.state_dict(), training=training, **u.config)
    torch.testing.assert_close(u(x), expected)


def test_non_contiguous_input_matches_reference():
    u = _unit("bilinear", (2, 8, 7, 9)).eval()
    base = torch.randn(2, 8, 9, 7, dtype=torch.float64)
    x = base.transpose(-1, -2)
    assert not x.is_contiguous()
    torch.testing.assert_close(u(x), rg.reference.regr_forward(x, u.state_dict(), **u.config))


def test_paper_video_scales_on_a_14x14_map():
    u = randomize_(rg.ReGr(16, scales=((3, 3), (5, 5)), mu_channels=2, nu_channels=2)).double().eval()
    x = torch.randn(1, 16, 2, 14, 14, dtype=torch.float64)
    info = u.explain(x)
    assert info.grids == [(2, 5, 5), (2, 3, 3)] and info.V.shape == (1, 2 * 25 + 2 * 9, 4)
    torch.testing.assert_close(info.output, rg.reference.regr_forward(x, u.state_dict(), **u.config))


def test_scale_one_without_refine_is_an_embedded_gaussian_non_local_block():
    C, c_mu, c_nu, H, W = 12, 3, 4, 5, 6
    u = randomize_(rg.ReGr(C, scales=((1, 1),), refine=False, mu_channels=c_mu,
                           nu_channels=c_nu)).double().eval()
    x = torch.randn(2, C, H, W, dtype=torch.float64)
    # Map the unit's weights onto a plain non-local block: g = mu; theta and phi act on mu(x)
    # repeated c_nu times, i.e. on E mu(x) with E the (M x c_mu) repetition matrix.
    E = torch.zeros(c_mu * c_nu, c_mu, dtype=torch.float64)
    for m in range(c_mu):
        E[m * c_nu:(m + 1) * c_nu, m] = 1.0
    Wmu, bmu = u.mu.weight[:, :, 0, 0], u.mu.bias
    rel = u.relation
    Wt, bt = rel.theta.weight @ E @ Wmu, rel.theta.weight @ E @ bmu + rel.theta.bias
    Wp, bp = rel.phi.weight @ E @ Wmu, rel.phi.bias + rel.phi.weight @ E @ bmu
    with torch.no_grad():
        X = x.flatten(2)                                         # (B, C, HW)
        theta = torch.einsum("kc,bcn->bnk", Wt, X) + bt          # (B, HW, M')
        phi = torch.einsum("kc,bcn->bnk", Wp, X) + bp            # (B, HW, M')
        g = torch.einsum("kc,bcn->bnk", Wmu, X) + bmu            # (B, HW, c_mu)
        f = torch.softmax(theta @ phi.transpose(1, 2), dim=-1)   # (B, HW, HW)
        y = f @ g                                                # (B, HW, c_mu)
        z = torch.einsum("ck,bnk->bcn", u.out.weight[:, :, 0, 0], y) + u.out.bias[None, :, None]
        bn = u.bn
        z = (z - bn.running_mean[None, :, None]) / torch.sqrt(bn.running_var[None, :, None] + bn.eps)
        z = z * bn.weight[None, :, None] + bn.bias[None, :, None]
        expected = x + z.reshape(2, C, H, W)
        torch.testing.assert_close(u(x), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("relation", ["bilinear", "gcn", "attention"])
@pytest.mark.parametrize("shape", [(2, 16, 9, 10), (2, 16, 3, 7, 7)])
def test_fresh_unit_is_identity(relation, shape, device):
    kw = {"input_size": shape[2:]} if relation == "gcn" else {}
    u = rg.ReGr(16, scales=((2, 2), (3, 3)), relation=relation, **kw).to(device)
    x = torch.randn(*shape, device=device)
    for mode in (True, False):
        u.train(mode)
        y = u(x)
        assert y.shape == x.shape
        torch.testing.assert_close(y, x, rtol=0, atol=0)


@pytest.mark.parametrize("relation", ["bilinear", "gcn", "attention"])
def test_every_parameter_gets_a_finite_gradient(relation, device):
    kw = {"input_size": (9, 10)} if relation == "gcn" else {}
    u = rg.ReGr(16, scales=((2, 2), (3, 4)), relation=relation, **kw).to(device)
    torch.nn.init.ones_(u.bn.weight)
    u(torch.randn(2, 16, 9, 10, device=device)).square().mean().backward()
    for name, p in u.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name
    assert u.mu.weight.grad.abs().sum() > 0 and u.refine.eta.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("relation", ["bilinear", "gcn", "attention"])
def test_tiny_unit_gradcheck(relation):
    kw = {"input_size": (2, 4, 5)} if relation == "gcn" else {}
    u = rg.ReGr(4, scales=((2, 2), (2, 3)), relation=relation, mu_channels=2, nu_channels=2,
                attention_reduction=2, refine_context=3, **kw)
    randomize_(u, 0.2).double().eval()
    with torch.no_grad():   # keep the refine offsets away from whole numbers (kinks of g)
        u.refine.eta.weight.mul_(0.05)
        u.refine.eta.bias.copy_(torch.tensor([0.5, -0.5, 0.0]))
    x = torch.randn(1, 4, 2, 4, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(u, (x,), eps=1e-6, atol=1e-5)


def test_dtypes_float64_and_autocast():
    u = rg.ReGr(32, scales=((2, 2), (4, 4)))
    torch.nn.init.ones_(u.bn.weight)
    u.eval()
    x = torch.randn(2, 32, 8, 8)
    ref = u(x)
    assert u.double()(x.double()).dtype == torch.float64
    u.float()
    for dt in (torch.bfloat16, torch.float16):
        with torch.autocast("cpu", dtype=dt):
            y = u(x)
        assert y.shape == x.shape and torch.isfinite(y).all()
        torch.testing.assert_close(y.float(), ref, rtol=0.1, atol=0.1)


@pytest.mark.cuda
def test_cuda_autocast_half(device):
    if device != "cuda":
        pytest.skip("CUDA only")
    u = rg.ReGr(32, scales=((2, 2), (4, 4))).to(device)
    torch.nn.init.ones_(u.bn.weight)
    x = torch.randn(2, 32, 2, 8, 8, device=device)
    with torch.autocast("cuda", dtype=torch.float16):
        y = u(x)
    assert torch.isfinite(y).all()


def test_explain_returns_the_intermediates():
    u = rg.ReGr(16, scales=((2, 2), (4, 4)))
    info = u.explain(torch.randn(1, 16, 8, 8))
    N = 16 + 4
    assert info.V.shape == (1, N, u.M) and info.R.shape == (1, N, N)
    assert len(info.offsets) == 2 and info.offsets[0][0].shape == (1, 1, 4, 4)
    att = rg.ReGr(16, scales=((2, 2),), relation="attention").explain(torch.randn(1, 16, 8, 8))
    assert att.Ls.shape == (1, 16, 1) and att.Lc.shape == (1, 1, att.V.shape[-1])


def test_defaults_follow_spec():
    u = rg.ReGr(1024)
    assert (u.mu_channels, u.nu_channels, u.M) == (128, 8, 1024)
    assert u.scales == ((4, 4), (7, 7)) and u.relation_name == "bilinear"
    assert u.relation.theta.out_features == 256 and u.refine is not None
    assert rg.ReGr(32).mu_channels == 4 and rg.ReGr(4).mu_channels == 1
    # refine: the unit adds the moved grid (the form that learns, chosen in the refine chapter's
    # study); the Refine module keeps Eq. 4 as printed
    assert u.config["refine_mode"] == "add" and u.refine.mode == "add"
    assert rg.Refine(8).mode == "replace"


def test_bad_input_errors():
    u = rg.ReGr(16, scales=((2, 2),))
    with pytest.raises(ValueError, match=r"x must be a 4 or 5-D tensor .* got shape \(16, 8, 8\)"):
        u(torch.randn(16, 8, 8))
    with pytest.raises(ValueError, match=r"x must have 16 channels .* got shape \(1, 8, 8, 8\)"):
        u(torch.randn(1, 8, 8, 8))
    with pytest.raises(TypeError, match=r"x must have a floating-point dtype, got dtype=torch.int64"):
        u(torch.ones(1, 16, 8, 8, dtype=torch.long))
    with pytest.raises(ValueError, match=r"scale \(h, w\)=\(7, 7\) must not be larger than the map "
                                         r"\(H, W\)=\(5, 5\)"):
        rg.ReGr(16)(torch.randn(1, 16, 5, 5))
    with pytest.raises(ValueError, match=r"relation='gcn' needs input_size.*got input_size=None"):
        rg.ReGr(16, relation="gcn")
    g = rg.ReGr(16, scales=((2, 2),), relation="gcn", input_size=(8, 8))
    with pytest.raises(ValueError, match=r"num_regions=16 regions .* gives N=25 regions"):
        g(torch.randn(1, 16, 10, 10))
    with pytest.raises(ValueError, match=r"relation must be one of \['bilinear', 'gcn', 'attention'\], "
                                         r"got 'graph'"):
        rg.ReGr(16, relation="graph")
    with pytest.raises(ValueError, match=r"scales\[1\] must be a pair \(h, w\) of positive integers"):
        rg.ReGr(16, scales=((2, 2), (0, 3)))
    with pytest.raises(ValueError, match=r"relation_norm must be one of \['softmax', 'dot'\], got 'l2'"):
        rg.ReGr(16, relation_norm="l2")
    with pytest.raises(ValueError, match=r"attention_mode must be one of .* got 'both'"):
        rg.ReGr(16, relation="attention", attention_mode="both")
    with pytest.raises(ValueError, match=r"refine_context must be one of \[1, 3\], got 5"):
        rg.ReGr(16, refine_context=5)
    with pytest.raises(ValueError, match=r"in_channels must be a positive integer, got 0"):
        rg.ReGr(0)
    with pytest.raises(ValueError, match=r"input_size must be \(H, W\) or \(T, H, W\)"):
        rg.ReGr(16, relation="gcn", input_size=(8,))
    with pytest.raises(ValueError, match=r"must not be larger than the map \(H, W\)=\(5, 5\)"):
        rg.ReGr(16, relation="gcn", input_size=(5, 5))
