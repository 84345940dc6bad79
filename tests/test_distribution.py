"""Eq. 13: every cell receives its region's z through xi; padded maps are cropped back."""
import pytest
import torch

import regr_edu as rg


@pytest.mark.parametrize("H,W,scale", [(6, 6, (2, 3)), (7, 9, (3, 4)), (5, 5, (5, 5))])
def test_distribute_matches_reference(H, W, scale, device):
    B, T, c_mu, c_nu = 2, 2, 3, 4
    Gh, Gw = -(-H // scale[0]), -(-W // scale[1])
    z = torch.randn(B, T, Gh, Gw, c_mu, c_nu, dtype=torch.float64, device=device)
    xi = torch.softmax(torch.randn(B, c_nu, T, H, W, dtype=torch.float64, device=device), dim=1)
    Y = rg.distribute(z, xi, scale)
    assert Y.shape == (B, c_mu, T, H, W)
    expected = torch.zeros_like(Y)
    for b in range(B):
        for t in range(T):
            for gy in range(Gh):
                for gx in range(Gw):
                    cells = rg.reference.region_cells(gy, gx, scale, H, W)
                    xi_cells = torch.stack([xi[b, :, t, r, c] for r, c in cells], dim=1)
                    Y_i = rg.reference.distribute_region(z[b, t, gy, gx], xi_cells)
                    for p, (r, c) in enumerate(cells):
                        expected[b, :, t, r, c] = Y_i[:, p]
    torch.testing.assert_close(Y, expected)


def test_distribute_bad_input():
    xi = torch.randn(1, 4, 1, 6, 6)
    with pytest.raises(ValueError, match=r"z must have shape .* matching xi's regions \(1, 1, 3, 3\) "
                                         r"and c_nu=4, got \(1, 1, 2, 2, 3, 4\)"):
        rg.distribute(torch.randn(1, 1, 2, 2, 3, 4), xi, (2, 2))
    with pytest.raises(ValueError, match=r"z must be a 6-D tensor"):
        rg.distribute(torch.randn(1, 3, 3, 3, 4), xi, (2, 2))
