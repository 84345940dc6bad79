"""The Eq. 2 checkers: pass the reference and correct rewrites, fail the usual slips by name."""
import pytest
import torch

import regr_edu as rg
from regr_edu.exercises import grade_aggregate, grade_recover_region
from regr_edu.exercises.aggregation import AGGREGATE_CASES, reference_aggregate


# ----------------------------------------------------------------------------- aggregate
def _fast(mu, nu, nu_softmax=True):
    return rg.aggregate(mu, nu, nu_softmax=nu_softmax)


def _einsum(mu, nu, nu_softmax=True):
    w = torch.softmax(nu, dim=-1) if nu_softmax else nu
    return torch.einsum("...mp,...np->...mn", mu, w)


def _stable_by_hand(mu, nu, nu_softmax=True):
    if nu_softmax:
        e = torch.exp(nu - nu.amax(dim=-1, keepdim=True))
        nu = e / e.sum(dim=-1, keepdim=True)
    return mu @ nu.transpose(-1, -2)


def test_reference_aggregate_is_the_package_aggregate():
    for case in __import__("regr_edu.exercises.aggregation", fromlist=["x"]).aggregate_cases(3):
        torch.testing.assert_close(reference_aggregate(*case.args, **case.kwargs),
                                   rg.aggregate(*case.args, **case.kwargs))


@pytest.mark.parametrize("fn", [_fast, _einsum, _stable_by_hand, reference_aggregate])
def test_check_aggregate_passes_correct_versions(fn):
    result = grade_aggregate(fn, verbose=False)
    assert result and result.cases_run == len(AGGREGATE_CASES), str(result)


def _no_softmax(mu, nu, nu_softmax=True):
    return mu @ nu.transpose(-1, -2)


def _softmax_over_channels(mu, nu, nu_softmax=True):
    w = torch.softmax(nu, dim=-2) if nu_softmax else nu
    return mu @ w.transpose(-1, -2)


def _transposed_result(mu, nu, nu_softmax=True):
    return _fast(mu, nu, nu_softmax).transpose(-1, -2)


def _softmax_always(mu, nu, nu_softmax=True):
    return _fast(mu, nu, True)


def _naive_softmax(mu, nu, nu_softmax=True):
    if nu_softmax:
        nu = torch.exp(nu) / torch.exp(nu).sum(dim=-1, keepdim=True)
    return mu @ nu.transpose(-1, -2)


def _mean_not_softmax(mu, nu, nu_softmax=True):
    return mu @ nu.transpose(-1, -2) / mu.shape[-1]


@pytest.mark.parametrize("wrong, case, detail", [
    (_no_softmax, "one region, softmax on nu", "first mismatch at index (0, 0)"),
    (_softmax_over_channels, "one region, softmax on nu", "first mismatch"),
    (_transposed_result, "one region, softmax on nu", "expected shape (3, 2), got shape (2, 3)"),
    (_softmax_always, "one region, no softmax (nu_softmax=False)", "first mismatch"),
    (_naive_softmax, "large logits (a softmax must subtract the max)", "got nan"),
    (_mean_not_softmax, "one region, softmax on nu", "first mismatch"),
])
def test_check_aggregate_fails_wrong_versions(wrong, case, detail):
    result = grade_aggregate(wrong, verbose=False)
    assert not result
    message = str(result)
    assert f"'{case}'" in message, message
    assert detail in message, message
    assert "nu_softmax=" in message and "tensor of shape" in message


def test_transposed_result_is_caught_by_values_when_the_shape_cannot_tell():
    """With c_mu = c_nu a transposed A keeps its shape: only the values can tell."""
    cases = [c for c in AGGREGATE_CASES if c[1] == c[2]]
    assert cases, "need a case with c_mu = c_nu"
    result = grade_aggregate(lambda mu, nu, nu_softmax=True: _fast(mu, nu, nu_softmax).mT
                             if mu.shape[-2] == nu.shape[-2] else _fast(mu, nu, nu_softmax),
                             verbose=False)
    assert not result and "c_mu = c_nu" in str(result) and "first mismatch" in str(result)


# ----------------------------------------------------------------------------- recover_region
def _pinv(A, nu):
    return A @ torch.linalg.pinv(nu.transpose(-1, -2))


def _lstsq(A, nu):
    # solve nu^T mu_k^T = A_k^T for every row k at once: nu (c_nu, P) acts as the "A" of lstsq
    return torch.linalg.lstsq(nu, A.transpose(-1, -2)).solution.transpose(-1, -2)


@pytest.mark.parametrize("fn", [rg.recover_region, rg.reference.recover_region, _pinv, _lstsq])
def test_check_recover_passes_correct_versions(fn):
    assert grade_recover_region(fn, verbose=False)


@pytest.mark.parametrize("wrong, case, detail", [
    # the transpose instead of the pseudo-inverse
    (lambda A, nu: A @ nu, "one region, c_nu > P: exact", "first mismatch"),
    # pinv of nu, not of nu^T: the shapes do not even fit
    (lambda A, nu: A @ torch.linalg.pinv(nu), "one region, c_nu > P: exact", "raised RuntimeError"),
    # normal equations: right when c_nu <= P, but nu nu^T is singular when c_nu > P
    (lambda A, nu: A @ torch.linalg.inv(nu @ nu.transpose(-1, -2)) @ nu,
     "one region, c_nu > P: exact", "one region"),
    # normalised by the number of cells, as if A were an average
    (lambda A, nu: _pinv(A, nu) / nu.shape[-1], "one region, c_nu > P: exact", "first mismatch"),
])
def test_check_recover_fails_wrong_versions(wrong, case, detail):
    result = grade_recover_region(wrong, verbose=False)
    assert not result
    assert f"'{case}'" in str(result) and detail in str(result), str(result)


def test_check_recover_covers_every_regime():
    from regr_edu.exercises.aggregation import recover_cases
    regimes = set()
    for case in recover_cases():
        A, nu = case.args
        c_nu, P = nu.shape[-2:]
        regimes.add("more" if c_nu > P else "equal" if c_nu == P else "fewer")
    assert regimes == {"more", "equal", "fewer"}


def test_exact_cases_give_mu_back():
    """Where c_nu >= P the expected answer is mu itself (the paper's recoverability)."""
    g = torch.Generator().manual_seed(0)
    mu = torch.randn(3, 4, generator=g, dtype=torch.float64)
    nu = torch.randn(6, 4, generator=g, dtype=torch.float64)
    torch.testing.assert_close(rg.reference.recover_region(mu @ nu.T, nu), mu)
