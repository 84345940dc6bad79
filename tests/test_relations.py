"""Eq. 5-12: each relation against its literal reference, per sample; constraints and errors."""
import pytest
import torch

import regr_edu as rg
from regr_edu.relations import AttentionRelation, BilinearRelation, GCNRelation

from conftest import randomize_

GRIDS = [(2, 2, 3), (2, 1, 2)]           # two scales of a clip with T=2: N = 12 + 4 = 16
N, M = 16, 12


def _per_sample(fn, V):
    outs = [fn(V[b]) for b in range(V.shape[0])]
    return torch.stack([o[0] for o in outs]), outs


@pytest.mark.parametrize("normalize", ["softmax", "dot"])
def test_bilinear_matches_reference(normalize, device):
    rel = randomize_(BilinearRelation(M, normalize=normalize)).double().to(device)
    V = torch.randn(2, N, M, dtype=torch.float64, device=device)
    Z_ref, outs = _per_sample(lambda v: rg.reference.bilinear_relation(
        v, rel.theta.weight, rel.theta.bias, rel.phi.weight, rel.phi.bias, normalize), V)
    torch.testing.assert_close(rel(V, GRIDS), Z_ref)
    torch.testing.assert_close(rel.matrix(V), torch.stack([o[1] for o in outs]))
    if normalize == "softmax":
        torch.testing.assert_close(rel.matrix(V).sum(-1), torch.ones(2, N, dtype=torch.float64,
                                                                     device=device))


@pytest.mark.parametrize("scale_by_n", [True, False])
def test_gcn_matches_reference(scale_by_n, device):
    rel = randomize_(GCNRelation(M, N, scale_by_n)).double().to(device)
    V = torch.randn(2, N, M, dtype=torch.float64, device=device)
    Z_ref, outs = _per_sample(lambda v: rg.reference.gcn_relation(
        v, rel.node_conv.weight, rel.node_conv.bias, rel.relation_conv.weight,
        rel.relation_conv.bias, scale_by_n), V)
    torch.testing.assert_close(rel(V, GRIDS), Z_ref)
    assert rel.matrix(V).shape == (2, N, N)


def test_gcn_fixed_region_count():
    rel = GCNRelation(M, N)
    with pytest.raises(ValueError, match=r"built for num_regions=16 regions .* gives N=20 regions"):
        rel(torch.randn(1, 20, M))


@pytest.mark.parametrize("mode", ["sequential", "letter"])
def test_attention_matches_reference(mode, device):
    rel = randomize_(AttentionRelation(M, reduction=4, mode=mode)).double().to(device)
    V = torch.randn(2, N, M, dtype=torch.float64, device=device)
    state = rel.state_dict()
    Z_ref, outs = _per_sample(lambda v: rg.reference.attention_relation(v, GRIDS, state, mode), V)
    torch.testing.assert_close(rel(V, GRIDS), Z_ref)
    Lc, Ls = rel.maps(V, GRIDS)
    assert Lc.shape == (2, 1, M) and Ls.shape == (2, N, 1)
    torch.testing.assert_close(Ls[:, :, 0], torch.stack([o[1][1] for o in outs]))


def test_attention_grids_must_cover_all_regions():
    with pytest.raises(ValueError, match=r"grids must account for all N=16 regions"):
        AttentionRelation(M)(torch.randn(1, N, M), [(1, 2, 2)])


@pytest.mark.parametrize("make", [lambda: BilinearRelation(4), lambda: GCNRelation(4, 6),
                                  lambda: AttentionRelation(4, reduction=2)])
def test_relations_gradcheck(make):
    rel = randomize_(make()).double()
    V = torch.randn(1, 6, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda v: rel(v, [(1, 2, 3)]), (V,))


def test_relation_bad_options():
    with pytest.raises(ValueError, match=r"normalize must be one of \['softmax', 'dot'\], got 'l2'"):
        BilinearRelation(8, normalize="l2")
    with pytest.raises(ValueError, match=r"num_regions must be a positive integer, got 0"):
        GCNRelation(8, 0)
    with pytest.raises(ValueError, match=r"mode must be one of \['sequential', 'letter'\]"):
        AttentionRelation(8, mode="parallel")
