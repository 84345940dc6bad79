"""The relation checkers: pass the reference and the package, fail the usual slips by name."""
import re

import pytest
import torch

import regr_edu as rg
from regr_edu.exercises import (grade_bilinear_relation, grade_channel_attention,
                                grade_gcn_relation)
from regr_edu.relations import AttentionRelation, BilinearRelation, GCNRelation


# ----------------------------------------------------------------------------- bilinear
def _bilinear(V, tw, tb, pw, pb, axis=-1, swap=False, normalize="softmax", stable=True):
    theta, phi = V @ tw.T + tb, V @ pw.T + pb                       # (N, M') each
    if swap:
        theta, phi = phi, theta
    logits = theta @ phi.T                                          # (N, N)
    if normalize == "dot":
        return logits / V.shape[0]
    if normalize == "none":
        return logits
    if stable:
        return torch.softmax(logits, dim=axis)
    e = torch.exp(logits)
    return e / e.sum(dim=axis, keepdim=True)


def _bilinear_package(V, tw, tb, pw, pb, normalize="softmax"):
    rel = BilinearRelation(V.shape[1], tw.shape[0], normalize).double()
    with torch.no_grad():
        rel.theta.weight.copy_(tw), rel.theta.bias.copy_(tb)
        rel.phi.weight.copy_(pw), rel.phi.bias.copy_(pb)
    return rel.matrix(V[None])[0]


def test_bilinear_checker_passes_reference_package_and_rewrite():
    ref = lambda *a: rg.reference.bilinear_relation(*a)[1]          # noqa: E731
    assert grade_bilinear_relation(ref, verbose=False)
    assert grade_bilinear_relation(_bilinear_package, verbose=False)
    assert grade_bilinear_relation(_bilinear, verbose=False)
    assert grade_bilinear_relation(lambda *a: _bilinear(*a, normalize="dot"), normalize="dot",
                                   verbose=False)


@pytest.mark.parametrize("kwargs, case", [
    (dict(axis=0), "N=5 regions, M=4, M'=2"),                       # softmax over the wrong axis
    (dict(swap=True), "N=5 regions, M=4, M'=2"),                    # theta and phi swapped: R^T
    (dict(normalize="none"), "N=5 regions, M=4, M'=2"),             # softmax forgotten
    (dict(normalize="dot"), "N=5 regions, M=4, M'=2"),              # the other open choice
    (dict(stable=False), "large logits (a softmax must subtract each row's max)"),
])
def test_bilinear_checker_fails_wrong_versions(kwargs, case):
    result = grade_bilinear_relation(lambda *a: _bilinear(*a, **kwargs), verbose=False)
    assert not result
    msg = str(result)
    assert f"'{case}'" in msg, msg
    assert "tensor of shape" in msg
    assert re.search(r"got -?[\d.e+-]+|got nan", msg), msg


def test_bilinear_checker_dot_fails_without_division():
    result = grade_bilinear_relation(lambda *a: _bilinear(*a, normalize="none"), normalize="dot",
                                     verbose=False)
    assert not result and "bilinear relation (Eq. 6, dot)" in str(result)
    with pytest.raises(ValueError, match=r"normalize must be one of \['softmax', 'dot'\], got 'l2'"):
        grade_bilinear_relation(_bilinear, normalize="l2")


# ----------------------------------------------------------------------------- GCN
def _gcn(V, nw, nb, rw, rb, residual=True, relu=True, transpose=False, scale=True):
    N = V.shape[0]
    U = nw @ V + nb[:, None]                                        # (N, M)
    if residual:
        U = U + V
    if relu:
        U = torch.relu(U)
    R = U @ rw.T + rb[None, :]                                      # R[i, j] = w_j . U_i + c_j
    if transpose:
        R = R.T                                                     # R[j, i]: the column form
    return R / N if scale else R


def _gcn_package(V, nw, nb, rw, rb):
    N, M = V.shape
    rel = GCNRelation(M, N).double()
    with torch.no_grad():
        rel.node_conv.weight.copy_(nw[..., None]), rel.node_conv.bias.copy_(nb)
        rel.relation_conv.weight.copy_(rw[..., None]), rel.relation_conv.bias.copy_(rb)
    return rel.matrix(V[None])[0]


def test_gcn_checker_passes_reference_package_and_rewrite():
    ref = lambda *a: rg.reference.gcn_relation(*a)[1]               # noqa: E731
    assert grade_gcn_relation(ref, verbose=False)
    assert grade_gcn_relation(_gcn_package, verbose=False)
    assert grade_gcn_relation(_gcn, verbose=False)
    assert grade_gcn_relation(lambda *a: _gcn(*a, scale=False), scale_by_n=False, verbose=False)
    # the column reading is checked as such when asked for, and only then
    column = lambda *a: _gcn(*a, transpose=True)                    # noqa: E731
    assert grade_gcn_relation(column, orientation="column", verbose=False)
    assert not grade_gcn_relation(column, verbose=False)
    with pytest.raises(ValueError, match=r"orientation must be one of \['row', 'column'\], "
                                         r"got 'rows'"):
        grade_gcn_relation(column, orientation="rows")


@pytest.mark.parametrize("kwargs, case", [
    (dict(residual=False), "A_g = 0: only the residual V and the bias"),   # U = A V, no + V
    (dict(relu=False), "A_g = 0: only the residual V and the bias"),
    (dict(transpose=True), "A_g = 0: only the residual V and the bias"),   # R[i, j] vs R[j, i]
    (dict(scale=False), "A_g = 0: only the residual V and the bias"),      # 1/N forgotten
])
def test_gcn_checker_fails_wrong_versions(kwargs, case):
    result = grade_gcn_relation(lambda *a: _gcn(*a, **kwargs), verbose=False)
    assert not result
    msg = str(result)
    assert f"'{case}" in msg, msg
    assert "tensor of shape (4, 3)" in msg and "first mismatch at index" in msg


def test_gcn_checker_catches_a_minus_sign_residual():
    # (I - A_g) V, Eq. 7's sign, with the same A_g: a different function of the same weights
    result = grade_gcn_relation(lambda V, nw, nb, rw, rb: _gcn(V, -nw, nb, rw, rb), verbose=False)
    assert not result and "'N=5 regions, M=4'" in str(result)


# ----------------------------------------------------------------------------- attention
def _channel(V, w1, b1, w2, b2, pool="max", sigmoid=True):
    pooled = V.amax(0) if pool == "max" else V.mean(0)              # (M,)
    out = w2 @ torch.relu(w1 @ pooled + b1) + b2
    return torch.sigmoid(out) if sigmoid else out


def _channel_package(V, w1, b1, w2, b2):
    N, M = V.shape
    rel = AttentionRelation(M, reduction=M // w1.shape[0]).double()
    with torch.no_grad():
        rel.channel_conv1.weight.copy_(w1[..., None]), rel.channel_conv1.bias.copy_(b1)
        rel.channel_conv2.weight.copy_(w2[..., None]), rel.channel_conv2.bias.copy_(b2)
    Lc, _ = rel.maps(V[None], [(1, 1, N)])
    return Lc[0, 0]


def test_channel_checker_passes_package_and_rewrite():
    assert grade_channel_attention(_channel, verbose=False)
    assert grade_channel_attention(_channel_package, verbose=False)


@pytest.mark.parametrize("kwargs, case", [
    (dict(pool="mean"), "positive features, N=5, M=6, M/r=2"),      # average, not max, pooling
    (dict(sigmoid=False), "positive features, N=5, M=6, M/r=2"),
])
def test_channel_checker_fails_wrong_versions(kwargs, case):
    result = grade_channel_attention(lambda *a: _channel(*a, **kwargs), verbose=False)
    assert not result and f"'{case}'" in str(result), str(result)


def test_pooling_over_the_wrong_axis_is_a_shape_error():
    result = grade_channel_attention(lambda V, w1, b1, w2, b2: V.amax(1), verbose=False)
    assert not result and "expected shape (6,), got shape (5,)" in str(result)


def test_checkers_are_exported():
    import regr_edu.exercises as ex
    assert {"grade_bilinear_relation", "grade_gcn_relation",
            "grade_channel_attention"} <= set(ex.__all__)
