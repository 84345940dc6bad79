"""The relations chapter's matrices, costs and widget."""
import functools

import numpy as np
import pytest
import torch

import regr_edu as rg
from regr_edu.interactive import relations as irl
from regr_edu.regions import RegionLayout


@functools.lru_cache(maxsize=1)
def _small_input():
    image = torch.rand(3, 64, 64)
    x = torch.randn(1, 16, 16, 16)          # C=16 -> M = 2 * 8 = 16; scales (4,4),(8,8): N = 16 + 4
    return image, x


SCALES = ((4, 4), (8, 8))


@pytest.mark.parametrize("relation", ["bilinear", "gcn"])
def test_relation_matrix_is_what_the_unit_computes(relation):
    _, x = _small_input()
    res = irl.relation_matrix(relation, x, SCALES, seed=3)
    assert res["N"] == 20 and res["R"].shape == (20, 20) and res["Lc"] is None
    torch.manual_seed(3)
    unit = rg.ReGr(16, scales=SCALES, relation=relation, input_size=(16, 16)).eval()
    with torch.no_grad():
        info = unit.explain(x)
    torch.testing.assert_close(res["R"], info.R[0])
    torch.testing.assert_close(res["Z"], torch.matmul(res["R"], res["V"]))    # Eq. 11
    if relation == "bilinear":
        torch.testing.assert_close(res["R"].sum(-1), torch.ones(20))          # row softmax


def test_relation_matrix_attention_and_options():
    _, x = _small_input()
    res = irl.relation_matrix("attention", x, SCALES)
    assert res["R"] is None and res["Lc"].shape == (16,) and res["Ls"].shape == (20,)
    assert ((res["Ls"] > 0) & (res["Ls"] < 1)).all()
    dot = irl.relation_matrix("bilinear", x, SCALES, relation_norm="dot")
    assert dot["options"] == {"relation_norm": "dot"}
    assert not torch.allclose(dot["R"].sum(-1), torch.ones(20))


def test_bad_arguments_are_rejected():
    _, x = _small_input()
    with pytest.raises(ValueError, match=r"relation must be one of \['bilinear', 'gcn', "
                                         r"'attention'\], got 'nonlocal'"):
        irl.relation_matrix("nonlocal", x, SCALES)
    with pytest.raises(ValueError, match=r"x must be one feature map \(1, C, H, W\)"):
        irl.relation_matrix("gcn", torch.randn(2, 16, 16, 16), SCALES)
    with pytest.raises(ValueError, match=r"relation_norm must be one of \[.softmax., .dot.\], got .l2."):
        irl.relation_matrix("bilinear", x, SCALES, relation_norm="l2")
    with pytest.raises(ValueError, match=r"region must be an integer in \[0, 19\] \(N=20 regions\), "
                                         r"got 20"):
        irl.relation_figure(irl.relation_matrix("gcn", x, SCALES), region=20)
    with pytest.raises(ValueError, match=r"N must be an integer >= 1, got 0"):
        irl.cost_formula("gcn", 0, 8)
    with pytest.raises(ValueError, match=r"variants\[...\] must be one of \[.*\], got 'softmax'"):
        irl.relation_small_multiples(x, variants=["softmax"])
    with pytest.raises(ValueError, match=r"variants must name at least one variant, got \[\]"):
        irl.relation_small_multiples(x, variants=[])
    layout = RegionLayout(SCALES, [(1, 4, 4), (1, 2, 2)])
    with pytest.raises(ValueError, match=r"values must hold N=20 numbers .* got 19"):
        irl.on_grids(torch.zeros(19), layout)
    with pytest.raises(ValueError, match=r"relation must be one of .*, got 'gat'"):
        irl.relation_costs("gat", 4, 8)
    with pytest.raises(ValueError, match=r"relation must be one of .*, got 'gat'"):
        irl.output_growth("gat", 4)
    with pytest.raises(ValueError, match=r"Ns must hold at least two region counts, got \[4\]"):
        irl.cost_figure([4])
    with pytest.raises(ValueError, match=r"matrices\['a'\] must be a square \(N, N\) tensor"):
        irl.matrices_figure({"a": torch.zeros(2, 3)})
    with pytest.raises(ValueError, match=r"matrices must hold at least one"):
        irl.matrices_figure({})


def test_regions_go_on_their_grids_in_the_units_order():
    _, x = _small_input()
    res = irl.relation_matrix("bilinear", x, SCALES)
    layout = res["layout"]
    assert layout.grids == [(1, 4, 4), (1, 2, 2)] == res["grids"]
    assert layout.locate(6) == (0, 0, 1, 2) and layout.locate(19) == (1, 0, 1, 1)
    maps = irl.on_grids(torch.arange(20.0), layout)
    assert maps[0][1, 2] == 6 and maps[1][1, 1] == 19
    torch.testing.assert_close(res["V"], res["trace"].V[0])      # read from the unit's trace


def test_example_input_is_a_photo_and_its_feature_map():
    image, x = irl.example_input("chelsea", size=64, cells=8, channels=16)
    assert image.shape == (3, 64, 64) and x.shape == (1, 16, 8, 8)
    torch.testing.assert_close(irl.example_input("chelsea", 64, 8, 16)[1], x)   # seeded


def test_matrices_figure_draws_each_matrix():
    R = torch.randn(5, 5)
    fig = irl.matrices_figure({"row": R, "column": R.T})
    panels = [a for a in fig.axes if a.get_label() != "<colorbar>"]
    assert [a.get_title() for a in panels] == ["row", "column"]
    np.testing.assert_allclose(panels[1].images[0].get_array(), R.T.numpy())


@pytest.mark.parametrize("relation", ["bilinear", "gcn", "attention"])
@pytest.mark.parametrize("N, M", [(5, 16), (20, 32), (49, 8)])
def test_cost_formulas_match_the_flop_counter(relation, N, M):
    assert irl.relation_costs(relation, N, M) == irl.cost_formula(relation, N, M)


def test_cost_growth():
    # the GCN's parameters grow as N^2; the others' do not depend on N
    assert irl.cost_formula("gcn", 200, 64)["params"] > 25 * irl.cost_formula("gcn", 20, 64)["params"]
    for rel in ("bilinear", "attention"):
        assert irl.cost_formula(rel, 200, 64)["params"] == irl.cost_formula(rel, 20, 64)["params"]


def test_output_growth_with_and_without_one_over_n():
    raw = [irl.output_growth("gcn", n, scale_by_n=False) for n in (16, 256)]
    scaled = [irl.output_growth("gcn", n) for n in (16, 256)]
    assert raw[1] > 4 * raw[0]                       # raw R: Z grows with N
    assert scaled[1] < 2 * scaled[0]                 # R / N: it does not


def test_figures_are_built():
    from matplotlib.figure import Figure
    image, x = _small_input()
    for relation in ("bilinear", "gcn", "attention"):
        fig = irl.relation_figure(irl.relation_matrix(relation, x, SCALES), image, region=5)
        assert isinstance(fig, Figure)
    fig = irl.relation_small_multiples(x, image, scales=SCALES)
    assert len([a for a in fig.axes if a.get_label() != "<colorbar>"]) >= 8
    assert isinstance(irl.cost_figure([4, 8, 16], 8, marks={"x": 8}), Figure)


def test_widget_redraws_the_chosen_relation_and_row():
    image, x = _small_input()
    w = irl.relation_widget(x, image, scales=SCALES)
    assert w.relation.options == irl.RELATION_NAMES
    assert (w.region.min, w.region.max) == (0, 19)
    assert w.result["relation"] == "bilinear"
    first = w.image.value
    assert first[:8] == b"\x89PNG\r\n\x1a\n"

    w.region.value = 3
    assert w.image.value != first
    second = w.image.value

    w.relation.value = "gcn"
    assert w.result["relation"] == "gcn" and w.result["R"].shape == (20, 20)
    torch.testing.assert_close(w.result["R"], irl.relation_matrix("gcn", x, SCALES)["R"])
    assert w.image.value != second and not w.region.disabled

    w.relation.value = "attention"
    assert w.result["R"] is None and w.result["Ls"].shape == (20,)
    assert w.region.disabled                          # attention has no rows to choose

    w.region.value = 99                              # the slider clamps to N - 1
    assert w.region.value == 19
    with pytest.raises(Exception):
        w.relation.value = "nonlocal"                # not an option of the dropdown
    with pytest.raises(ValueError, match=r"region must be an integer in \[0, 19\]"):
        irl.relation_widget(x, image, scales=SCALES, region=25)


def test_row_similarity():
    same_rows = torch.ones(5, 1) @ torch.rand(1, 5)               # every row identical
    assert irl.row_similarity(same_rows) == pytest.approx(1.0)
    torch.manual_seed(0)
    assert abs(irl.row_similarity(torch.randn(200, 200))) < 0.05  # independent rows
    with pytest.raises(ValueError, match=r"R must be a square \(N, N\) tensor with N >= 2, "
                                         r"got \(3, 4\)"):
        irl.row_similarity(torch.zeros(3, 4))


def test_relation_matrix_returns_its_unit():
    _, x = _small_input()
    res = irl.relation_matrix("bilinear", x, SCALES, seed=1)
    assert isinstance(res["unit"], rg.ReGr)
    with torch.no_grad():
        torch.testing.assert_close(res["unit"].relation.matrix(res["V"][None])[0], res["R"])
