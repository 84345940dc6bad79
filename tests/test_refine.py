"""Eq. 3-4: the bare shift against the literal loop and torchvision's deformable convolution."""
import pytest
import torch
from torchvision.ops import deform_conv2d

import regr_edu as rg
from regr_edu.refine import Refine


def _offsets(B, Hg, Wg, dtype=torch.float64, device="cpu", away_from_integers=False):
    dx = torch.rand(B, 1, Hg, Wg, dtype=dtype, device=device) * 2 - 1
    dy = torch.rand(B, 1, Hg, Wg, dtype=dtype, device=device) * 2 - 1
    if away_from_integers:                       # the interpolation has kinks at whole numbers
        dx = torch.sign(dx) * (0.1 + 0.8 * dx.abs())
        dy = torch.sign(dy) * (0.1 + 0.8 * dy.abs())
    m = torch.rand(B, 1, Hg, Wg, dtype=dtype, device=device)
    return dx, dy, m


@pytest.mark.parametrize("B,M,Hg,Wg", [(2, 3, 4, 5), (1, 6, 1, 3), (1, 2, 7, 7)])
def test_shift_matches_reference(B, M, Hg, Wg, device):
    grid = torch.randn(B, M, Hg, Wg, dtype=torch.float64, device=device)
    dx, dy, m = _offsets(B, Hg, Wg, device=device)
    torch.testing.assert_close(rg.bilinear_shift(grid, dx, dy, m),
                               rg.reference.bilinear_shift(grid, dx, dy, m))


@pytest.mark.parametrize("B,M,Hg,Wg", [(2, 3, 4, 5), (1, 4, 7, 7), (3, 2, 2, 1)])
def test_shift_equals_modulated_deformable_1x1_conv(B, M, Hg, Wg, device):
    grid = torch.randn(B, M, Hg, Wg, dtype=torch.float64, device=device)
    dx, dy, m = _offsets(B, Hg, Wg, device=device)
    identity = torch.eye(M, dtype=torch.float64, device=device).reshape(M, M, 1, 1)
    expected = deform_conv2d(grid, torch.cat([dy, dx], dim=1), identity, mask=m)
    torch.testing.assert_close(rg.bilinear_shift(grid, dx, dy, m), expected)


def test_whole_cell_shifts_move_the_grid():
    grid = torch.arange(12.0).reshape(1, 1, 3, 4)
    ones = torch.ones(1, 1, 3, 4)
    right = rg.bilinear_shift(grid, ones, 0 * ones, ones)          # dx = +1: read from the right
    torch.testing.assert_close(right[..., :3], grid[..., 1:])
    assert right[..., 3].abs().sum() == 0                           # outside the grid is zero
    down = rg.bilinear_shift(grid, 0 * ones, ones, ones)            # dy = +1: read from below
    torch.testing.assert_close(down[..., :2, :], grid[..., 1:, :])
    torch.testing.assert_close(rg.bilinear_shift(grid, 0 * ones, 0 * ones, 0.5), 0.5 * grid)
    half = rg.bilinear_shift(grid, 0.5 * ones, 0 * ones, 1.0)
    torch.testing.assert_close(half[..., 0, 0], (grid[..., 0, 0] + grid[..., 0, 1]) / 2)


def test_shift_gradcheck():
    grid = torch.randn(1, 2, 3, 4, dtype=torch.float64, requires_grad=True)
    dx, dy, m = (t.requires_grad_() for t in _offsets(1, 3, 4, away_from_integers=True))
    assert torch.autograd.gradcheck(rg.bilinear_shift, (grid, dx, dy, m))


@pytest.mark.parametrize("context", [1, 3])
@pytest.mark.parametrize("mode", ["replace", "add", "blend"])
def test_refine_matches_reference(context, mode, device):
    M = 5
    layer = Refine(M, context, mode).double().to(device)
    with torch.no_grad():
        layer.eta.weight.normal_(0, 0.5)
        layer.eta.bias.normal_(0, 0.5)
    grid = torch.randn(2, M, 4, 3, dtype=torch.float64, device=device)
    expected = rg.reference.refine(grid, layer.eta.weight, layer.eta.bias, mode)
    torch.testing.assert_close(layer(grid), expected)


def test_fresh_refine_samples_in_place_at_half_amplitude():
    layer = Refine(4)
    grid = torch.randn(2, 4, 5, 5)
    dx, dy, m = layer.offsets(grid)
    assert dx.abs().max() == 0 and dy.abs().max() == 0
    torch.testing.assert_close(m, torch.full_like(m, 0.5))
    torch.testing.assert_close(layer(grid), 0.5 * grid)


def test_fresh_blend_is_the_identity_and_learns_its_offsets_first():
    """``(1 - m) G + m B(G, 0) = G``: a fresh blending refine changes nothing, whatever m, and
    at that start only the offsets get a gradient (m's is ``B(G, 0) - G = 0``)."""
    torch.manual_seed(0)
    layer = Refine(4, mode="blend").double()
    grid = torch.randn(2, 4, 3, 5, dtype=torch.float64)
    torch.testing.assert_close(layer(grid), grid, rtol=0, atol=1e-15)
    cells = grid.flatten(2).transpose(1, 2)
    torch.testing.assert_close(layer.forward_cells(cells, 3, 5), cells, rtol=0, atol=1e-15)
    layer(grid).pow(2).mul(torch.randn_like(grid)).sum().backward()
    g = layer.eta.weight.grad.reshape(3, -1)
    assert g[:2].abs().sum() > 0                                # the offsets learn
    assert g[2].abs().max() < 1e-12                             # m has nothing to weigh yet


def test_refine_gradcheck_with_offsets_away_from_zero():
    layer = Refine(3, context=3).double()
    with torch.no_grad():
        layer.eta.weight.normal_(0, 0.05)
        layer.eta.bias.copy_(torch.tensor([0.6, -0.4, 0.2]))   # offsets sit near +-0.5, not 0
    grid = torch.randn(1, 3, 3, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(layer, (grid,))


def test_shift_bad_input():
    grid = torch.randn(1, 2, 3, 4)
    z = torch.zeros(1, 1, 3, 4)
    with pytest.raises(ValueError, match=r"dx must lie in \[-1.0, 1.0\], got a value of 1.5"):
        rg.bilinear_shift(grid, z + 1.5, z, z)
    with pytest.raises(ValueError, match=r"m must lie in \[0.0, 1.0\], got a value of -0.2"):
        rg.bilinear_shift(grid, z, z, z - 0.2)
    with pytest.raises(ValueError, match=r"dy must have shape \(B, 1, Hg, Wg\)=\(1, 1, 3, 4\)"):
        rg.bilinear_shift(grid, z, torch.zeros(1, 1, 4, 3), z)
    with pytest.raises(ValueError, match=r"grid must be a 4-D tensor"):
        rg.bilinear_shift(torch.randn(2, 3, 4), z, z, z)
    with pytest.raises(TypeError, match=r"dx must have a floating-point dtype"):
        rg.bilinear_shift(grid, z.long(), z, z)
    with pytest.raises(ValueError, match=r"context must be one of \[1, 3\], got 2"):
        Refine(4, context=2)
    with pytest.raises(ValueError, match=r"mode must be one of \['replace', 'add', 'blend'\], got 'sum'"):
        Refine(4, mode="sum")


@pytest.mark.parametrize("where", ["zero", "whole", "random"])
def test_shift_gradients_match_deform_conv2d(where, device):
    """Also at the whole-number offsets 0 and -1, where g has a kink: both take the right-hand
    slope. (At +1 the right-hand slope would read the cell two steps away, outside Eq. 4's 3x3
    neighbourhood; there the package takes the left-hand one and deform_conv2d does not.)"""
    B, M, Hg, Wg = 2, 3, 4, 5
    grid = torch.randn(B, M, Hg, Wg, dtype=torch.float64, device=device)
    dx, dy, m = _offsets(B, Hg, Wg, device=device)
    if where == "zero":
        dx, dy = torch.zeros_like(dx), torch.zeros_like(dy)
    elif where == "whole":
        dx, dy = -torch.ones_like(dx), torch.zeros_like(dy)  # offsets of exactly -1 and 0
    identity = torch.eye(M, dtype=torch.float64, device=device).reshape(M, M, 1, 1)
    weights = torch.randn(B, M, Hg, Wg, dtype=torch.float64, device=device)
    grads = []
    for use_dcn in (False, True):
        leaves = [t.clone().requires_grad_() for t in (grid, dx, dy, m)]
        g, x_, y_, m_ = leaves
        out = (deform_conv2d(g, torch.cat([y_, x_], 1), identity, mask=m_) if use_dcn
               else rg.bilinear_shift(g, x_, y_, m_))
        (out * weights).sum().backward()
        grads.append([t.grad for t in leaves])
    for name, ours, theirs in zip(("grid", "dx", "dy", "m"), *grads):
        torch.testing.assert_close(ours, theirs, msg=lambda s: f"d/d{name}: {s}")


def test_fresh_refine_offsets_receive_a_gradient():
    layer = Refine(4)
    layer(torch.randn(2, 4, 5, 5)).square().sum().backward()
    grad = layer.eta.weight.grad[:, :, 0, 0]            # rows: dx, dy, m
    assert grad[0].abs().sum() > 0 and grad[1].abs().sum() > 0 and grad[2].abs().sum() > 0


@pytest.mark.parametrize("max_offset", [0.25, 1.0])
def test_bounded_refine_matches_reference(max_offset, device):
    M = 4
    layer = Refine(M, 3, max_offset=max_offset).double().to(device)
    with torch.no_grad():
        layer.eta.weight.normal_(0, 2.0)                     # large: tanh near its bounds
        layer.eta.bias.normal_(0, 2.0)
    grid = torch.randn(2, M, 3, 4, dtype=torch.float64, device=device)
    dx, dy, _ = layer.offsets(grid)
    assert float(torch.cat([dx, dy]).abs().max().detach()) <= max_offset
    assert float(torch.cat([dx, dy]).abs().max().detach()) > 0.9 * max_offset
    expected = rg.reference.refine(grid, layer.eta.weight, layer.eta.bias, "replace", max_offset)
    torch.testing.assert_close(layer(grid), expected)


def test_mask_init_sets_the_fresh_amplitude():
    layer = Refine(4, mask_init=0.9)
    grid = torch.randn(2, 4, 3, 3)
    dx, dy, m = layer.offsets(grid)
    assert dx.abs().max() == 0 and dy.abs().max() == 0
    torch.testing.assert_close(m, torch.full_like(m, 0.9))
    torch.testing.assert_close(layer(grid), 0.9 * grid)


def test_detached_input_stops_the_gradient_through_eta_only():
    torch.manual_seed(0)
    grid = torch.randn(1, 3, 4, 4, dtype=torch.float64)
    grads = {}
    for detach in (False, True):
        layer = Refine(3, detach_input=detach).double()
        with torch.no_grad():
            layer.eta.weight.normal_(0, 0.5)
            layer.eta.bias.normal_(0, 0.5)
        g = grid.clone().requires_grad_()
        layer(g).pow(2).sum().backward()
        grads[detach] = g.grad
        assert layer.eta.weight.grad.abs().sum() > 0             # eta still learns
    # the same forward values, but the detached one lacks the path through eta's input
    assert not torch.allclose(grads[False], grads[True])


@pytest.mark.parametrize("context", [1, 3])
@pytest.mark.parametrize("mode", ["replace", "add", "blend"])
def test_normalized_input_matches_the_reference_in_both_layouts(context, mode):
    torch.manual_seed(0)
    layer = Refine(5, context, mode, normalize_input=True).double()
    with torch.no_grad():
        layer.eta.weight.normal_(0, 0.5)
        layer.eta.bias.normal_(0, 0.5)
    grid = torch.randn(2, 5, 3, 4, dtype=torch.float64)
    grid[0, :, 1, 2] = 0                                    # a zero region: divided by 1e-6
    expected = rg.reference.refine(grid, layer.eta.weight, layer.eta.bias, mode, normalize=True)
    torch.testing.assert_close(layer(grid), expected)
    cells = grid.flatten(2).transpose(1, 2)                 # the unit's layout (B, L, M)
    got = layer.forward_cells(cells, 3, 4).transpose(1, 2).reshape(grid.shape)
    torch.testing.assert_close(got, expected)


def test_normalized_input_makes_the_offsets_blind_to_the_regions_scale():
    torch.manual_seed(0)
    grid = torch.rand(2, 4, 3, 3) + 0.1
    for normalize in (False, True):
        layer = Refine(4, normalize_input=normalize)
        with torch.no_grad():
            layer.eta.weight.normal_(0, 0.3)
        small, large = layer.offsets(grid), layer.offsets(10 * grid)
        same = all(torch.allclose(a, b, atol=1e-6) for a, b in zip(small, large))
        assert same == normalize                           # as written, offsets grow with |R|


@pytest.mark.parametrize("kwargs,message", [
    ({"max_offset": 0}, "max_offset"), ({"max_offset": 1.5}, "max_offset"),
    ({"mask_init": 1.0}, "mask_init"), ({"mask_init": float("nan")}, "mask_init"),
    ({"lr_scale": 0}, "lr_scale"), ({"lr_scale": True}, "lr_scale"),
    ({"detach_input": "yes"}, "detach_input"), ({"normalize_input": "yes"}, "normalize_input"),
])
def test_refine_option_errors_name_the_option(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Refine(4, **kwargs)


def test_unit_passes_refine_options_and_matches_the_reference():
    u = rg.ReGr(8, ((2, 2),), mu_channels=2, nu_channels=2, refine_max_offset=0.5,
                refine_mask_init=0.8, refine_lr_scale=0.1, refine_detach=True,
                refine_normalize=True).double().eval()
    assert u.refine.max_offset == 0.5 and u.refine.lr_scale == 0.1 and u.refine.detach_input
    assert u.refine.normalize_input
    with torch.no_grad():
        for p in u.parameters():
            p.normal_(0, 0.5)
    x = torch.randn(2, 8, 4, 6, dtype=torch.float64)
    expected = rg.reference.regr_forward(x, u.state_dict(), **u.config)
    torch.testing.assert_close(u(x), expected)


def test_unit_refine_normalize_error_names_the_option():
    with pytest.raises(ValueError, match="refine_normalize"):
        rg.ReGr(8, ((2, 2),), mu_channels=2, nu_channels=2, refine_normalize="yes")
