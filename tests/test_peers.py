"""Peer units (non-local, CGNL, GloRe) and the unit registry: identity at init, shapes, gradients,
gradcheck, the compact forms against their literal definitions, and errors that teach."""
from __future__ import annotations

import pytest
import torch

import regr_edu as rg
from regr_edu.peers import CGNL, GloRe, NonLocal
from regr_edu.units import UNIT_CLASSES, create_unit, needs_input_size

from conftest import randomize_

# (id, factory for in_channels) for every peer configuration under test
PEERS = [
    ("nl", lambda c: NonLocal(c)),
    ("nl-dot", lambda c: NonLocal(c, mode="dot_product")),
    ("nl-full", lambda c: NonLocal(c, sub_sample=False, scale=False)),
    ("cgnl", lambda c: CGNL(c, groups=2)),
    ("cgnl-gauss", lambda c: CGNL(c, groups=2, kernel="gaussian")),
    ("glore", lambda c: GloRe(c)),
]
IDS = [p[0] for p in PEERS]
SHAPES = [(2, 8, 4, 4), (2, 8, 2, 4, 4)]          # an image map and a clip map


@pytest.mark.parametrize("make", [p[1] for p in PEERS], ids=IDS)
@pytest.mark.parametrize("shape", SHAPES, ids=["4d", "5d"])
@pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])
def test_fresh_unit_is_identity(make, shape, train, device):
    unit = make(shape[1]).to(device).train(train)
    x = torch.randn(shape, device=device)
    y = unit(x)
    assert y.shape == x.shape and y.device == x.device
    torch.testing.assert_close(y, x, rtol=0, atol=0, msg="a fresh unit must be the identity")


@pytest.mark.parametrize("make", [p[1] for p in PEERS], ids=IDS)
@pytest.mark.parametrize("shape", SHAPES, ids=["4d", "5d"])
def test_gradients_reach_every_parameter(make, shape):
    unit = make(shape[1])
    unit.zero_init_last()
    with torch.no_grad():                                   # the last norm's weight non-zero
        for m in unit.modules():
            if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.GroupNorm)):
                m.weight.fill_(1.0)
    x = torch.randn(shape, requires_grad=True)
    y = unit(x)
    assert y.shape == x.shape
    # a random weighting: sum(BN(y)) has zero gradient by construction
    (y * torch.randn_like(y)).sum().backward()
    assert torch.isfinite(x.grad).all()
    for name, p in unit.named_parameters():
        assert p.grad is not None, f"no gradient reached {name}"
        assert torch.isfinite(p.grad).all(), f"non-finite gradient in {name}"


def test_softmax_makes_phi_bias_gradient_vanish():
    """Embedded Gaussian: theta_i . (phi_j + b) = theta_i . phi_j + theta_i . b, the same for
    every j, so the row softmax cancels phi's bias — its gradient is zero (not a bug)."""
    unit = randomize_(NonLocal(8)).double()
    x = torch.randn(2, 8, 4, 4, dtype=torch.float64)
    (unit(x) * torch.randn(2, 8, 4, 4, dtype=torch.float64)).sum().backward()
    assert unit.phi.bias.grad.abs().max() < 1e-10
    assert unit.theta.bias.grad.abs().max() > 1e-6


@pytest.mark.parametrize("make", [p[1] for p in PEERS], ids=IDS)
@pytest.mark.parametrize("shape", [(2, 8, 4, 4), (1, 8, 2, 4, 4)], ids=["4d", "5d"])
def test_gradcheck(make, shape):
    unit = randomize_(make(shape[1]), 0.4).double()
    x = torch.randn(shape, dtype=torch.float64, requires_grad=True)
    params = [p for p in unit.parameters()]
    # fast mode checks a random projection of the Jacobian: every input and parameter, cheaply
    assert torch.autograd.gradcheck(lambda x, *ps: unit(x), (x, *params), eps=1e-6, atol=1e-5,
                                    fast_mode=True)


# ---- the compact forms against their literal definitions --------------------------------------
def _max_pool_hw_literal(x: torch.Tensor) -> torch.Tensor:
    """(B, C, T, H, W) -> (B, C, T*(H//2)*(W//2)): the max of each 2x2 window, one at a time."""
    B, C, T, H, W = x.shape
    cols = []
    for t in range(T):
        for i in range(H // 2):
            for j in range(W // 2):
                win = x[:, :, t, 2 * i:2 * i + 2, 2 * j:2 * j + 2]              # (B, C, 2, 2)
                cols.append(win.reshape(B, C, 4).max(-1).values)
    return torch.stack(cols, -1)


def _nl_literal(unit: NonLocal, x: torch.Tensor) -> torch.Tensor:
    """y_i = 1/C(x) sum_j f(x_i, x_j) g(x_j), one position pair at a time; j runs over the input
    max-pooled 2x2 in H, W when unit.sub_sample (the official code), f scaled by 1/sqrt(c)
    when unit.scale."""
    B, C = x.shape[:2]
    x5 = x if x.dim() == 5 else x.unsqueeze(2)
    xf = x.reshape(B, C, -1)
    xj = _max_pool_hw_literal(x5) if unit.sub_sample else xf
    L, Lj = xf.shape[-1], xj.shape[-1]
    theta, phi, g = unit.theta(xf), unit.phi(xj), unit.g(xj)      # (B, c, L), (B, c, Lj)
    s = unit.inner_channels ** -0.5 if unit.scale else 1.0
    y = torch.zeros_like(theta)
    for b in range(B):
        for i in range(L):
            f = torch.stack([s * (theta[b, :, i] @ phi[b, :, j]) for j in range(Lj)])  # (Lj,)
            w = torch.softmax(f, 0) if unit.mode == "embedded_gaussian" else f / Lj
            y[b, :, i] = sum(w[j] * g[b, :, j] for j in range(Lj))
    return (xf + unit.bn(unit.w_z(y))).reshape(x.shape)


@pytest.mark.parametrize("mode", ["embedded_gaussian", "dot_product"])
@pytest.mark.parametrize("sub_sample", [True, False])
@pytest.mark.parametrize("scale", [None, True, False])
def test_nonlocal_matches_literal_sum(mode, sub_sample, scale):
    unit = randomize_(NonLocal(6, mode=mode, sub_sample=sub_sample, scale=scale)).double().eval()
    x = torch.randn(2, 6, 2, 4, 5, dtype=torch.float64)
    torch.testing.assert_close(unit(x), _nl_literal(unit, x))
    x4 = torch.randn(2, 6, 4, 4, dtype=torch.float64)
    torch.testing.assert_close(unit(x4), _nl_literal(unit, x4))


def test_nonlocal_defaults_are_the_official_code():
    """video-nonlocal-net (lib/core/config.py): USE_MAXPOOL, USE_SOFTMAX, USE_SCALE on; inner
    width C/2; the input pooled before phi and g (so phi and g see a quarter of the positions)."""
    unit = NonLocal(16)
    assert (unit.mode, unit.sub_sample, unit.scale, unit.inner_channels) == (
        "embedded_gaussian", True, True, 8)
    assert NonLocal(16, mode="dot_product").scale is False
    # phi and g read the pooled input: a 2x2 window's non-maximal cells do not matter to them
    unit = randomize_(NonLocal(4)).double().eval()
    x = torch.randn(1, 4, 4, 4, dtype=torch.float64)
    seen = []
    unit.phi.register_forward_hook(lambda m, i, o: seen.append(i[0].shape))
    unit(x)
    assert seen == [(1, 4, 4)]                           # (B, C, (H/2)(W/2)): the input, pooled
    # scaling by 1/sqrt(c) is the same as theta's weights and bias divided by sqrt(c)
    plain = randomize_(NonLocal(8, scale=False)).double().eval()
    scaled = NonLocal(8).double().eval()
    scaled.load_state_dict(plain.state_dict())
    with torch.no_grad():
        plain.theta.weight.div_(2.0)
        plain.theta.bias.div_(2.0)                       # sqrt(c) = sqrt(4) = 2
    x = torch.randn(2, 8, 4, 6, dtype=torch.float64)
    torch.testing.assert_close(scaled(x), plain(x))


def test_nonlocal_attention_rows_and_subsampling():
    unit = randomize_(NonLocal(8))
    x = torch.randn(2, 8, 3, 6, 4)
    a = unit.attention(x)
    assert a.shape == (2, 3 * 6 * 4, 3 * 3 * 2)         # input pooled by 2 in H and W, not T
    torch.testing.assert_close(a.sum(-1), torch.ones(2, 72))
    assert NonLocal(8)(torch.randn(2, 8, 5, 5)).shape == (2, 8, 5, 5)
    assert NonLocal(8, sub_sample=False).attention(x).shape == (2, 72, 72)


def _cgnl_matrix(unit: CGNL, x: torch.Tensor) -> torch.Tensor:
    """The generalized non-local y = f(theta, phi) g with the (cL x cL) kernel matrix formed
    explicitly per group, f(a, b) = a b (dot) or exp(-2 gamma) exp(2 gamma a b) (Gaussian)."""
    B, C = x.shape[:2]
    xf = x.reshape(B, C, -1)
    G = unit.groups
    t = unit.theta(xf).reshape(B, G, -1)                 # (B, G, n)
    p = unit.phi(xf).reshape(B, G, -1)
    g = unit.g(xf).reshape(B, G, -1, 1)
    ab = t.unsqueeze(-1) * p.unsqueeze(-2)               # (B, G, n, n): theta_a phi_b
    if unit.kernel == "dot":
        K = ab
    else:
        K = torch.exp(torch.tensor(-2 * unit.gamma, dtype=x.dtype)) * torch.exp(2 * unit.gamma * ab)
    y = (K @ g).reshape(B, unit.inner_channels, -1)      # (B, c, L)
    return (xf + unit.gn(unit.w_z(y))).reshape(x.shape)


@pytest.mark.parametrize("kernel,order", [("dot", 3), ("gaussian", 6)])
def test_cgnl_compact_form_equals_kernel_matrix(kernel, order):
    """The compact (linear-in-L) form equals the full kernel matrix; for the Gaussian kernel the
    Taylor expansion of order 6 with a large gamma matches exp to double precision."""
    unit = randomize_(CGNL(8, groups=2, kernel=kernel, order=order, gamma=0.05)).double().eval()
    x = torch.randn(2, 8, 2, 3, 3, dtype=torch.float64)
    torch.testing.assert_close(unit(x), _cgnl_matrix(unit, x), rtol=1e-7, atol=1e-7)


def test_glore_sizes_and_projection():
    unit = randomize_(GloRe(64)).double().eval()
    assert (unit.num_node, unit.num_state) == (16, 32)          # GloRe's num_mid = C // 4
    x = torch.randn(2, 64, 5, 5, dtype=torch.float64)
    xf = x.reshape(2, 64, 25)
    states, proj = unit.reduce(xf), unit.project(xf)            # (B, S, L), (B, N, L)
    # node n's state s is the projection-weighted sum over positions
    v = torch.stack([torch.stack([(states[:, s] * proj[:, n]).sum(-1) for n in range(16)], -1)
                     for s in range(32)], 1)                    # (B, S, N)
    y = unit.gcn(v) @ proj                                      # (B, S, L)
    torch.testing.assert_close(unit(x), (xf + unit.bn(unit.extend(y))).reshape(x.shape))


# ---- errors ------------------------------------------------------------------------------------
@pytest.mark.parametrize("cls", [NonLocal, CGNL, GloRe])
def test_bad_input_errors(cls):
    unit = cls(16)
    with pytest.raises(ValueError, match=r"4 or 5-D tensor .*got shape \(2, 16, 8\)"):
        unit(torch.randn(2, 16, 8))
    with pytest.raises(ValueError, match=r"16 channels .*in_channels=16.*\(2, 8, 4, 4\)"):
        unit(torch.randn(2, 8, 4, 4))
    with pytest.raises(TypeError, match=r"floating-point dtype, got dtype=torch.int64"):
        unit(torch.ones(2, 16, 4, 4, dtype=torch.int64))
    with pytest.raises(ValueError, match=r"in_channels must be a positive integer, got 0"):
        cls(0)


def test_bad_options_errors():
    with pytest.raises(ValueError, match=r"mode must be one of .*'gaussian'"):
        NonLocal(8, mode="gaussian")
    with pytest.raises(ValueError, match=r"sub_sample=True .*H >= 2 .*\(1, 8, 1, 4\)"):
        NonLocal(8, sub_sample=True)(torch.randn(1, 8, 1, 4))
    with pytest.raises(ValueError, match=r"sub_sample must be one of \[True, False\], got 'yes'"):
        NonLocal(8, sub_sample="yes")
    with pytest.raises(ValueError, match=r"scale must be one of \[True, False\], got 2"):
        NonLocal(8, scale=2)
    with pytest.raises(ValueError, match=r"inner_channels must be divisible by groups=8.*=4"):
        CGNL(8)
    with pytest.raises(ValueError, match=r"in_channels must be divisible by groups=4.*=6"):
        CGNL(6, inner_channels=4, groups=4)
    with pytest.raises(ValueError, match=r"kernel must be one of \['dot', 'gaussian'\]"):
        CGNL(16, kernel="rbf")
    with pytest.raises(ValueError, match=r"order must be a non-negative integer, got -1"):
        CGNL(16, kernel="gaussian", order=-1)
    with pytest.raises(ValueError, match=r"num_mid must be a positive integer, got 0"):
        GloRe(16, num_mid=0)


# ---- registry ----------------------------------------------------------------------------------
@pytest.mark.parametrize("name,cls", [("nl", NonLocal), ("cgnl", CGNL), ("glore", GloRe)])
def test_create_unit_resolves_names(name, cls):
    unit = create_unit(name, 32)
    assert type(unit) is cls and unit.in_channels == 32
    assert rg.create_unit is create_unit and getattr(rg, cls.__name__) is cls


def test_create_unit_regr_and_options():
    regr = pytest.importorskip("regr_edu.regr")
    unit = create_unit("regr", 64, relation="gcn", input_size=(8, 8))
    assert isinstance(unit, regr.ReGr)
    assert needs_input_size("regr", {"relation": "gcn"})
    assert not needs_input_size("regr", {}) and not needs_input_size("nl", {"relation": "gcn"})
    assert create_unit("nl", 32, mode="dot_product").mode == "dot_product"


def test_create_unit_unknown_name_lists_names():
    with pytest.raises(ValueError, match=r"unit must be one of \['cgnl', 'glore', 'nl', 'regr'\], "
                                         r"got 'attention'"):
        create_unit("attention", 8)
    assert sorted(UNIT_CLASSES) == ["cgnl", "glore", "nl", "regr"]


def test_units_follow_input_dtype():
    for name in ("nl", "cgnl", "glore"):
        unit = create_unit(name, 16).double()
        x = torch.randn(1, 16, 4, 4, dtype=torch.float64)
        assert unit(x).dtype == torch.float64
