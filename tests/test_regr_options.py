"""ReGr's reading options from issue 12: the GCN relation's orientation (row i of R from region
i's features, or the transpose) and the aggregation study (mu nu^T, or average / max pooling of
each region's mu to the same M numbers); each against the literal reference."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import regr_edu as rg
from regr_edu.aggregation import pool_bins, pool_regions
from regr_edu.regions import split_regions
from regr_edu.relations import GCNRelation

from conftest import randomize_


# ---- GCN orientation ---------------------------------------------------------------------------
def _hand_made_gcn(orientation: str) -> GCNRelation:
    """N = 3 regions, M = 2 features, U = ReLU(V) (node conv zero), and one relation weight:
    w_2 = (1, 0), so R's entry (i, 2) [row] or (2, i) [column] is region i's first feature."""
    rel = GCNRelation(2, 3, scale_by_n=False, orientation=orientation).double()
    with torch.no_grad():
        for p in rel.parameters():
            p.zero_()
        rel.relation_conv.weight[2, 0, 0] = 1.0
    return rel


# region 0 holds feature 0 (the "key" that w_2 reads); region 2 holds content in feature 1
V = torch.tensor([[[1.0, 0.0], [0.0, 0.0], [0.0, 5.0]]], dtype=torch.float64)    # (1, N, M)


def test_gcn_row_orientation_lets_a_region_choose_whom_it_reads():
    """Row i of R from region i: region 0's own feature sets R[0, 2], so z_0 = v_2."""
    rel = _hand_made_gcn("row")
    R = rel.matrix(V)[0]
    expected = torch.zeros(3, 3, dtype=torch.float64)
    expected[0, 2] = 1.0
    torch.testing.assert_close(R, expected, rtol=0, atol=0)
    Z = rel(V)[0]
    torch.testing.assert_close(Z[0], V[0, 2])                 # region 0 read region 2's content
    torch.testing.assert_close(Z[2], torch.zeros(2, dtype=torch.float64))


def test_gcn_column_orientation_sends_a_region_to_a_fixed_reader():
    """Column i of R from region i: region 0's feature sets R[2, 0], so z_2 = v_0."""
    rel = _hand_made_gcn("column")
    R = rel.matrix(V)[0]
    expected = torch.zeros(3, 3, dtype=torch.float64)
    expected[2, 0] = 1.0
    torch.testing.assert_close(R, expected, rtol=0, atol=0)
    Z = rel(V)[0]
    torch.testing.assert_close(Z[2], V[0, 0])                 # region 2 received region 0
    torch.testing.assert_close(Z[0], torch.zeros(2, dtype=torch.float64))


@pytest.mark.parametrize("orientation", ["row", "column"])
def test_gcn_orientation_matches_reference(orientation):
    rel = _hand_made_gcn(orientation)
    randomize_(rel)
    v = torch.randn(5, 3, 2, dtype=torch.float64)
    R = rel.matrix(v)
    for b in range(5):
        sd = {k: p for k, p in rel.state_dict().items()}
        Z_ref, R_ref = rg.reference.gcn_relation(
            v[b], sd["node_conv.weight"], sd["node_conv.bias"], sd["relation_conv.weight"],
            sd["relation_conv.bias"], False, orientation)
        torch.testing.assert_close(R[b], R_ref)
        torch.testing.assert_close(rel(v)[b], Z_ref)
    other = "column" if orientation == "row" else "row"
    flipped = GCNRelation(2, 3, scale_by_n=False, orientation=other).double()
    flipped.load_state_dict(rel.state_dict())
    torch.testing.assert_close(flipped.matrix(v), R.transpose(1, 2))


@pytest.mark.parametrize("orientation", ["row", "column"])
def test_unit_gcn_orientation_matches_reference(orientation):
    u = randomize_(rg.ReGr(16, scales=((2, 2), (3, 3)), relation="gcn", input_size=(6, 7),
                           mu_channels=2, nu_channels=2, refine=False,
                           gcn_orientation=orientation)).double().eval()
    assert rg.ReGr(16, relation="gcn", input_size=(8, 8)).config["gcn_orientation"] == "row"
    x = torch.randn(2, 16, 6, 7, dtype=torch.float64)
    torch.testing.assert_close(u(x), rg.reference.regr_forward(x, u.state_dict(), **u.config))


# ---- aggregation study -------------------------------------------------------------------------
def test_pool_bins():
    assert pool_bins(8) == (2, 4) and pool_bins(9) == (3, 3) and pool_bins(7) == (1, 7)


@pytest.mark.parametrize("mode", ["avg", "max"])
def test_pooling_without_padding_is_adaptive_pooling_of_each_region(mode):
    """Bit for bit the pooling the ablation records were made with (adaptive 2-D pooling of each
    region's mu onto bh x bw sub-cells), so benchmarks/results/ablations.json stays reproducible."""
    mu = torch.randn(2, 3, 8, 12)                                  # (B, c_mu, H, W)
    r = split_regions(mu, (4, 4))                                  # (B, 2, 3, 3, 16)
    out = pool_regions(r, (4, 4), (2, 4), mode)
    pool = F.adaptive_avg_pool2d if mode == "avg" else F.adaptive_max_pool2d
    expected = pool(r.reshape(-1, 1, 4, 4), (2, 4)).reshape(2, 2, 3, 3, 8)
    assert torch.equal(out, expected)


@pytest.mark.parametrize("aggregation", ["avg", "max"])
@pytest.mark.parametrize("shape", [(2, 16, 8, 8), (1, 16, 2, 7, 9)], ids=["divides", "padded"])
def test_unit_pooled_aggregation_matches_reference(aggregation, shape):
    u = randomize_(rg.ReGr(16, scales=((2, 2), (4, 4)), mu_channels=2, nu_channels=4,
                           aggregation=aggregation)).double().eval()
    x = torch.randn(shape, dtype=torch.float64)
    torch.testing.assert_close(u(x), rg.reference.regr_forward(x, u.state_dict(), **u.config))
    # nu takes no part: changing it changes nothing, and it is frozen
    with torch.no_grad():
        u.nu.weight.add_(1.0)
    torch.testing.assert_close(u(x), rg.reference.regr_forward(x, u.state_dict(), **u.config))
    assert not u.nu.weight.requires_grad and u.mu.weight.requires_grad


def test_pooled_aggregation_differs_from_eq2_and_between_modes():
    x = torch.randn(1, 16, 8, 8, dtype=torch.float64)
    outs = {}
    for a in ["bilinear", "avg", "max"]:
        torch.manual_seed(0)
        u = randomize_(rg.ReGr(16, scales=((4, 4),), refine=False, aggregation=a)).double()
        outs[a] = u.eval()(x)
        assert u.explain(x).V.shape == (1, 4, 16)              # the same M numbers
    assert not torch.allclose(outs["avg"], outs["max"])
    assert not torch.allclose(outs["avg"], outs["bilinear"])


def test_padded_max_pool_ignores_padding():
    mu = -torch.ones(1, 1, 1, 4)                                  # all cells negative
    mask = torch.tensor([True, True, False, False])               # half the region is padding
    out = pool_regions(mu, (2, 2), (1, 2), "max", mask)
    torch.testing.assert_close(out, -torch.ones(1, 1, 1, 2))      # padding (zeros) never wins


def test_option_errors():
    with pytest.raises(ValueError, match=r"aggregation must be one of \['bilinear', 'avg', "
                                         r"'max'\], got 'mean'"):
        rg.ReGr(16, aggregation="mean")
    with pytest.raises(ValueError, match=r"gcn_orientation must be one of \['row', 'column'\], "
                                         r"got 'rows'"):
        rg.ReGr(16, relation="gcn", input_size=(8, 8), gcn_orientation="rows")
    with pytest.raises(ValueError, match=r"mode must be one of \['avg', 'max'\], got 'sum'"):
        pool_regions(torch.randn(1, 2, 4), (2, 2), (2, 2), "sum")
    with pytest.raises(ValueError, match=r"h\*w=4 cells for scale=\(2, 2\), got mu \(1, 2, 5\)"):
        pool_regions(torch.randn(1, 2, 5), (2, 2), (2, 2))


# ---- attention's L_s: 2-D on each scale's grid (the reading argued in ch_relations) --------------
def test_regional_map_links_grid_neighbours_not_sequence_neighbours():
    """On a 7x7 grid, region (0, 6) ends row 0 and region (1, 0) starts row 1: neighbours in the
    flattened sequence, opposite edges of the map. L_s must link (0, 0) with (1, 0) (below it)
    and never (0, 6) with (1, 0)."""
    from regr_edu.relations import AttentionRelation
    rel = randomize_(AttentionRelation(4, reduction=2)).double()
    V0 = torch.rand(1, 49, 4, dtype=torch.float64)
    V0[0, 40] = 100.0                      # holds every feature's max: L_c stays as it is

    def ls(V):
        with torch.no_grad():
            return rel.maps(V, [(1, 7, 7)])[1][0, :, 0]            # (N,)

    base = ls(V0)
    far = V0.clone()
    far[0, 6] += 10.0                                              # region (0, 6)
    assert torch.equal(ls(far)[7], base[7])                         # (1, 0) does not see it
    below = V0.clone()
    below[0, 7] += 10.0                                            # region (1, 0)
    assert not torch.equal(ls(below)[0], base[0])                   # (0, 0) sees the one below
