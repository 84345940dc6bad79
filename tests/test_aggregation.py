"""Eq. 2: mu nu^T against the literal reference; recovery as the paper claims it, stated precisely."""
import pytest
import torch

import regr_edu as rg
from regr_edu.aggregation import aggregate


def _reference_grid(cells_fn, mu_w, mu_b, nu_w, nu_b, softmax, shape):
    out = torch.zeros(*shape, dtype=torch.float64)
    for idx in torch.cartesian_prod(*[torch.arange(s) for s in shape[:-2]]).reshape(-1, len(shape) - 2):
        idx = tuple(idx.tolist())
        out[idx] = rg.reference.aggregate_region(cells_fn(idx), mu_w, mu_b, nu_w, nu_b, softmax)
    return out


@pytest.mark.parametrize("nu_softmax", [True, False])
@pytest.mark.parametrize("H,W,scale", [(8, 6, (2, 3)), (7, 9, (3, 4))])
def test_aggregate_matches_reference_with_padding(nu_softmax, H, W, scale):
    C, c_mu, c_nu, T = 5, 3, 4, 2
    x = torch.randn(1, C, T, H, W, dtype=torch.float64)
    mu_conv = torch.nn.Conv2d(C, c_mu, 1).double()
    nu_conv = torch.nn.Conv2d(C, c_nu, 1).double()
    flat = x.reshape(1, C, T * H, W)
    mu = mu_conv(flat).reshape(1, c_mu, T, H, W)
    nu = nu_conv(flat).reshape(1, c_nu, T, H, W)
    from regr_edu.regions import cell_mask, pad_to_scale
    mask = cell_mask(H, W, scale)
    A = aggregate(rg.split_regions(pad_to_scale(mu, scale), scale),
                  rg.split_regions(pad_to_scale(nu, scale), scale), mask, nu_softmax)
    Gh, Gw = mask.shape[:2]

    def cells(idx):
        b, t, gy, gx = idx
        rc = rg.reference.region_cells(gy, gx, scale, H, W)
        return torch.stack([x[b, :, t, r, c] for r, c in rc], dim=1)

    with torch.no_grad():
        ref = _reference_grid(cells, mu_conv.weight, mu_conv.bias, nu_conv.weight, nu_conv.bias,
                              nu_softmax, (1, T, Gh, Gw, c_mu, c_nu))
    torch.testing.assert_close(A.detach(), ref)


def test_one_length_for_every_region_size():
    x = torch.randn(2, 16, 12, 12)
    conv_mu, conv_nu = torch.nn.Conv2d(16, 4, 1), torch.nn.Conv2d(16, 8, 1)
    for scale in [(1, 1), (2, 3), (4, 4), (6, 12)]:
        A = aggregate(rg.split_regions(conv_mu(x), scale), rg.split_regions(conv_nu(x), scale))
        assert A.shape[-2:] == (4, 8)              # M = 32 whatever P is


def test_softmax_weights_are_attention_maps():
    mu = torch.ones(3, 2, 5)
    A = aggregate(mu, torch.randn(3, 4, 5))
    torch.testing.assert_close(A, torch.ones(3, 2, 4))   # each softmax row sums to one


def test_recovery_exact_when_nu_has_rank_P(device):
    P, c_mu = 6, 3
    for c_nu in (6, 9):
        mu = torch.randn(4, c_mu, P, dtype=torch.float64, device=device)
        nu = torch.randn(4, c_nu, P, dtype=torch.float64, device=device)
        A = mu @ nu.transpose(-1, -2)
        torch.testing.assert_close(rg.recover_region(A, nu), mu)
    # with mu the identity the region itself comes back (the paper's statement)
    X = torch.randn(5, P, dtype=torch.float64, device=device)
    nu = torch.randn(8, P, dtype=torch.float64, device=device)
    torch.testing.assert_close(rg.recover_region(X @ nu.T, nu), X)


def test_recovery_matches_literal_least_squares():
    mu, nu = torch.randn(3, 4, 9, dtype=torch.float64), torch.randn(3, 5, 9, dtype=torch.float64)
    A = mu @ nu.transpose(-1, -2)
    torch.testing.assert_close(rg.recover_region(A, nu), rg.reference.recover_region(A, nu))


def test_recovery_error_grows_as_rows_of_nu_are_removed():
    torch.manual_seed(1)
    P = 16
    X = torch.randn(32, P, dtype=torch.float64)
    nu_full = torch.randn(P, P, dtype=torch.float64)
    errors = []
    for c_nu in range(P, 0, -1):                      # nested: nu keeps its first c_nu rows
        nu = nu_full[:c_nu]
        rec = rg.recover_region(X @ nu.T, nu)
        errors.append(float((rec - X).norm() / X.norm()))
    assert errors[0] < 1e-10                           # rank P: exact
    assert all(b >= a - 1e-12 for a, b in zip(errors, errors[1:])), errors
    assert errors[-1] > 0.5 and all(e > 1e-6 for e in errors[1:])


def test_recovery_with_pooling_is_worse_than_best_nu():
    """At equal length, a fixed average pooling keeps less than the top singular vectors."""
    P, c_nu = 16, 4
    X = torch.randn(8, P, dtype=torch.float64) @ torch.randn(P, P, dtype=torch.float64)
    pool = torch.zeros(c_nu, P, dtype=torch.float64)
    for k in range(c_nu):
        pool[k, 4 * k:4 * k + 4] = 0.25               # average over 4 cells
    best = torch.linalg.svd(X, full_matrices=False).Vh[:c_nu]
    err = lambda nu: float((rg.recover_region(X @ nu.T, nu) - X).norm())
    assert err(best) < err(pool)


def test_aggregate_and_recover_bad_input():
    with pytest.raises(ValueError, match=r"same number of cells P .* mu \(2, 3, 4\) and nu \(2, 3, 5\)"):
        aggregate(torch.randn(2, 3, 4), torch.randn(2, 3, 5))
    with pytest.raises(TypeError, match=r"mu must have a floating-point dtype"):
        aggregate(torch.ones(2, 3, 4, dtype=torch.int32), torch.randn(2, 3, 4))
    with pytest.raises(ValueError, match=r"A's last dim \(c_nu\) must equal"):
        rg.recover_region(torch.randn(3, 4), torch.randn(5, 6))


def test_aggregate_gradcheck():
    mu = torch.randn(2, 3, 5, dtype=torch.float64, requires_grad=True)
    nu = torch.randn(2, 4, 5, dtype=torch.float64, requires_grad=True)
    mask = torch.tensor([True, True, False, True, True])
    assert torch.autograd.gradcheck(lambda a, b: aggregate(a, b, mask), (mu, nu))
    assert torch.autograd.gradcheck(lambda a, b: aggregate(a, b, None, False), (mu, nu))
