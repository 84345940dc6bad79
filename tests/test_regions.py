"""Eq. 1: split/merge against the literal reference and an einops pattern; bad input."""
import pytest
import torch
from einops import rearrange

import regr_edu as rg
from regr_edu.regions import cell_mask, grid_size, pad_to_scale

CASES = [((2, 3, 8, 12), (4, 3)), ((1, 5, 6, 6), (1, 1)), ((2, 3, 3, 8, 6), (2, 3)),
         ((1, 2, 1, 7, 7), (7, 7)), ((3, 4, 2, 4, 4), (4, 2))]


@pytest.mark.parametrize("shape,scale", CASES)
def test_split_matches_reference_and_einops(shape, scale, device):
    x = torch.randn(*shape, dtype=torch.float64, device=device)
    fast = rg.split_regions(x, scale)
    torch.testing.assert_close(fast, rg.reference.split_regions(x, scale), rtol=0, atol=0)
    h, w = scale
    pattern = ("b c (gh h) (gw w) -> b gh gw c (h w)" if x.dim() == 4
               else "b c t (gh h) (gw w) -> b t gh gw c (h w)")
    torch.testing.assert_close(fast, rearrange(x, pattern, h=h, w=w), rtol=0, atol=0)


@pytest.mark.parametrize("shape,scale", CASES)
def test_merge_is_exact_inverse(shape, scale, device):
    x = torch.randn(*shape, device=device)
    regions = rg.split_regions(x, scale)
    back = rg.merge_regions(regions, scale)
    assert back.dim() == x.dim()
    torch.testing.assert_close(back, x, rtol=0, atol=0)
    torch.testing.assert_close(back, rg.reference.merge_regions(regions, scale), rtol=0, atol=0)


def test_split_shapes_follow_eq1():
    x = torch.randn(2, 16, 3, 28, 28)
    assert rg.split_regions(x, (4, 4)).shape == (2, 3, 7, 7, 16, 16)
    assert rg.split_regions(x[:, :, 0], (7, 4)).shape == (2, 4, 7, 16, 28)


def test_split_non_contiguous_input():
    base = torch.randn(2, 3, 12, 8)
    x = base.transpose(-1, -2)                      # (2, 3, 8, 12), not contiguous
    assert not x.is_contiguous()
    torch.testing.assert_close(rg.split_regions(x, (4, 3)),
                               rg.split_regions(x.contiguous(), (4, 3)), rtol=0, atol=0)


def test_cell_order_is_row_major():
    x = torch.arange(16.0).reshape(1, 1, 4, 4)
    r = rg.split_regions(x, (2, 2))
    assert r[0, 0, 1, 0].tolist() == [2.0, 3.0, 6.0, 7.0]


@pytest.mark.parametrize("bad,match", [
    ((4, 5), r"scale \(h, w\)=\(4, 5\) must divide the map size \(H, W\)=\(8, 12\)"),
    ((16, 4), r"must not be larger than the map \(H, W\)=\(8, 12\)"),
    ((0, 2), r"scale must be a pair \(h, w\) of positive integers, got \(0, 2\)"),
    ((2,), r"scale must be a pair"),
    ("22", r"scale must be a pair"),
])
def test_split_bad_scale(bad, match):
    with pytest.raises(ValueError, match=match):
        rg.split_regions(torch.randn(1, 2, 8, 12), bad)


def test_split_bad_rank_and_dtype():
    with pytest.raises(ValueError, match=r"x must be a 4 or 5-D tensor .* got shape \(8, 12\)"):
        rg.split_regions(torch.randn(8, 12), (2, 2))
    with pytest.raises(TypeError, match=r"x must have a floating-point dtype, got dtype=torch.int64"):
        rg.split_regions(torch.ones(1, 2, 8, 8, dtype=torch.long), (2, 2))


def test_merge_bad_input():
    with pytest.raises(ValueError, match=r"last dimension must be h\*w=4 for scale \(2, 2\)"):
        rg.merge_regions(torch.randn(1, 2, 2, 3, 6), (2, 2))
    with pytest.raises(ValueError, match=r"regions must be a 5 or 6-D tensor"):
        rg.merge_regions(torch.randn(2, 3, 4), (2, 2))


def test_padding_and_mask():
    x = torch.randn(1, 2, 14, 14)
    assert grid_size(14, 14, (3, 3)) == (5, 5) and grid_size(14, 14, (5, 5)) == (3, 3)
    p = pad_to_scale(x, (3, 5))
    assert p.shape == (1, 2, 15, 15)
    torch.testing.assert_close(p[..., :14, :14], x)
    assert p[..., 14:, :].abs().sum() == 0 and p[..., :, 14:].abs().sum() == 0
    mask = cell_mask(14, 14, (3, 5))
    assert mask.shape == (5, 3, 15) and int(mask.sum()) == 14 * 14
    # the mask marks exactly the cells that came from the map
    ones = rg.split_regions(pad_to_scale(torch.ones(1, 1, 14, 14), (3, 5)), (3, 5))[0, :, :, 0]
    assert torch.equal(ones.bool(), mask)
    with pytest.raises(ValueError, match=r"must not be larger than the map"):
        grid_size(14, 14, (15, 3))
