"""The Eq. 11-13 and residual checkers: pass the reference and correct rewrites, fail the usual
slips with a message that names the case, the shapes and the values."""
import pytest
import torch
import torch.nn.functional as F

import regr_edu as rg
from regr_edu.exercises import grade_distribute, grade_gather, grade_residual_identity
from regr_edu.exercises.distribution import distribute_literal
from regr_edu.regions import merge_regions, pad_to_scale, split_regions


# ----------------------------------------------------------------------------- Eq. 11-12
def test_check_gather_passes_matmul_and_einsum():
    assert grade_gather(lambda R, V: R @ V, verbose=False)
    assert grade_gather(lambda R, V: torch.einsum("bij,bjm->bim", R, V), verbose=False)


@pytest.mark.parametrize("wrong, case", [
    (lambda R, V: R.transpose(1, 2) @ V, "one sample, N=3 regions, M=2, R not symmetric"),
    (lambda R, V: (R @ V).float(), "one sample, N=3 regions, M=2, R not symmetric"),
    (lambda R, V: R.sum(-1, keepdim=True) * V, "one sample, N=3 regions, M=2, R not symmetric"),
])
def test_check_gather_fails_wrong_versions(wrong, case):
    result = grade_gather(wrong, verbose=False)
    assert not result
    msg = str(result)
    assert f"case 1 '{case}'" in msg and "(1, 3, 3)" in msg, msg


# ----------------------------------------------------------------------------- Eq. 13
def _distribute_einsum(z, xi_logits, scale, softmax_dim=1, transpose=False, crop=True):
    """A correct vectorised Eq. 13 with switches for the usual slips."""
    xi = torch.softmax(xi_logits, dim=softmax_dim)              # over c_nu
    H, W = xi.shape[-2:]
    xi_r = split_regions(pad_to_scale(xi, scale), scale)         # (B, T, Gh, Gw, c_nu, P)
    if transpose:
        z = z.transpose(-1, -2)
    Y = torch.einsum("btyxmn,btyxnp->btyxmp", z, xi_r)           # (B, T, Gh, Gw, c_mu, P)
    Y = merge_regions(Y, scale)                                  # (B, c_mu, T, Hp, Wp)
    return Y[..., :H, :W] if crop else Y


def test_check_distribute_passes_the_package_and_a_rewrite():
    assert grade_distribute(lambda z, xi, s: rg.distribute(z, torch.softmax(xi, 1), s),
                            verbose=False)
    assert grade_distribute(_distribute_einsum, verbose=False)


def test_literal_distribute_agrees_with_the_package_on_a_padded_map():
    z = torch.randn(2, 3, 3, 3, 2, 4, dtype=torch.float64)
    xi = torch.randn(2, 4, 3, 7, 5, dtype=torch.float64)
    torch.testing.assert_close(distribute_literal(z, xi, (3, 2)),
                               rg.distribute(z, torch.softmax(xi, 1), (3, 2)))


def test_check_distribute_fails_a_softmax_over_the_wrong_axis():
    result = grade_distribute(lambda z, xi, s: _distribute_einsum(z, xi, s, softmax_dim=2),
                              verbose=False)
    msg = str(result)
    assert not result
    assert "case 1 'one region, one frame (c_mu=2, c_nu=3)'" in msg, msg
    assert "(1, 1, 1, 1, 2, 3)" in msg and "(1, 3, 1, 2, 2)" in msg, msg
    assert "got" in msg and "expected" in msg, msg


def test_check_distribute_fails_a_transposed_z():
    result = grade_distribute(lambda z, xi, s: _distribute_einsum(z, xi, s, transpose=True),
                              verbose=False)
    msg = str(result)
    assert not result and "case 1" in msg and "raised" in msg, msg   # c_mu != c_nu: no fit

    def transpose_when_square(z, xi, s):     # slips through case 1, caught where c_mu == c_nu
        return _distribute_einsum(z, xi, s, transpose=z.shape[-1] == z.shape[-2])
    result = grade_distribute(transpose_when_square, verbose=False)
    msg = str(result)
    assert not result and "case 2 'c_mu = c_nu = 3" in msg and "first mismatch" in msg, msg


def test_check_distribute_fails_a_missing_crop_and_an_unstable_softmax():
    result = grade_distribute(lambda z, xi, s: _distribute_einsum(z, xi, s, crop=False),
                              verbose=False)
    msg = str(result)
    assert not result and "case 5 'scale (3, 2) on a 7x5 map" in msg, msg
    assert "expected shape (1, 2, 2, 7, 5), got shape (1, 2, 2, 9, 6)" in msg, msg

    def naive_softmax(z, xi, s):
        e = torch.exp(xi)
        return rg.distribute(z, e / e.sum(1, keepdim=True), s)
    result = grade_distribute(naive_softmax, verbose=False)
    assert not result and "case 6 'large logits" in str(result) and "nan" in str(result)


def test_check_distribute_reports_an_exception_and_rejects_a_non_callable():
    def broken(z, xi, s):
        raise RuntimeError("not yet")
    result = grade_distribute(broken, verbose=False)
    assert not result and "raised RuntimeError: not yet" in str(result)
    with pytest.raises(TypeError, match="student_fn must be callable"):
        grade_distribute(42)


# ----------------------------------------------------------------------------- residual
def test_check_residual_identity_passes_zero_init_last_and_a_rewrite():
    assert grade_residual_identity(lambda u: u.zero_init_last(), verbose=False)

    def by_hand(unit):
        with torch.no_grad():
            unit.bn.weight.zero_()
            unit.bn.bias.zero_()
    assert grade_residual_identity(by_hand, verbose=False)


def test_check_residual_identity_fails_weight_only():
    result = grade_residual_identity(lambda u: torch.nn.init.zeros_(u.bn.weight), verbose=False)
    msg = str(result)
    assert not result and "image (2, 8, 6, 7), train mode" in msg and "largest |y - x|" in msg, msg


def test_check_residual_identity_fails_zeroing_another_layer():
    def zero_out(unit):
        torch.nn.init.zeros_(unit.out.weight)
        torch.nn.init.zeros_(unit.out.bias)
        torch.nn.init.zeros_(unit.bn.bias)
    result = grade_residual_identity(zero_out, verbose=False)
    msg = str(result)
    assert not result and "'out.weight'" in msg and "only the last BatchNorm" in msg, msg


def test_check_residual_identity_fails_doing_nothing_and_reports_exceptions():
    assert not grade_residual_identity(lambda u: None, verbose=False)
    result = grade_residual_identity(lambda u: u.missing(), verbose=False)
    assert not result and "raised AttributeError" in str(result)


def test_checkers_are_exported():
    import regr_edu.exercises as ex
    for name in ("grade_gather", "grade_distribute", "grade_residual_identity"):
        assert name in ex.__all__ and callable(getattr(ex, name))
