"""regr_edu.interactive.what_unit_sees: the chapter's measurements on hand-built relation
matrices and masks, its figure, and its exercise grader."""
import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

import regr_edu as rg
from regr_edu import viz
from regr_edu.interactive import what_unit_sees as wus


@pytest.fixture(scope="module")
def boxes():
    # the chapter's unit: scales (2, 2) and (4, 4) on a 16 x 16 map of a 64 x 64 image
    return viz.region_boxes([(1, 8, 8), (1, 4, 4)], [(2, 2), (4, 4)], (16, 16), (64, 64))


def test_cached_checkpoints_are_found():
    for name in wus.MODELS:
        path = wus.cached_checkpoint(name)
        assert path.is_file() and path.name == f"{name}.pth"
    with pytest.raises(ValueError, match=r"name must be one of \['regr', 'baseline'\], got 'nl'"):
        wus.cached_checkpoint("nl")


def test_corners_and_glyph_regions_by_hand(boxes):
    c = wus.corner_centres(64)                       # corner boxes of 9 pixels
    assert c == {0: (4.5, 4.5), 1: (59.5, 4.5), 2: (4.5, 59.5), 3: (59.5, 59.5)}
    a, b = wus.glyph_regions({"corners": (0, 3)}, boxes)
    assert a.tolist() == [0, 64] and b.tolist() == [63, 79]    # small scale, then large
    with pytest.raises(ValueError, match=r"size must be an integer of at least 8, got 4"):
        wus.corner_centres(4)


def test_glyph_masks_are_cut_at_the_image_edge():
    m = wus.glyph_masks([{"corners": (0, 3)}, {"corners": (1,)}])
    assert m.shape == (2, 64, 64) and m.dtype == torch.bool
    # a 9 x 9 box widened by 4 pixels, cut by the edge: rows and columns 0..12 (13 x 13)
    assert m[0, :13, :13].all() and not m[0, 13, 0] and not m[0, 0, 13]
    assert int(m[0].sum()) == 2 * 13 * 13 and int(m[1].sum()) == 13 * 13
    assert int(wus.glyph_masks([{"corners": (0,)}], pad=0).sum()) == 9 * 9
    with pytest.raises(ValueError, match=r"pad must be a non-negative integer, got -1"):
        wus.glyph_masks([{"corners": (0,)}], pad=-1)


def test_partner_rank_and_relation_shares_on_hand_built_matrices(boxes):
    N = len(boxes)
    meta = {"corners": (0, 3)}                       # a: regions 0, 64; b: regions 63, 79
    broadcast = torch.zeros(N, N)
    broadcast[:, 64] = 1.0                           # every row reads glyph a's large region
    broadcast[0, 79], broadcast[0, 64] = 0.25, 0.75  # ... except a's small one: a quarter on b
    assert wus.partner_rank(broadcast, 0, [63, 79]) == 2      # 64 first, then 79
    m = wus.relation_shares(torch.stack([broadcast, torch.full((N, N), 1 / N)]),
                            [meta, meta], boxes)
    assert m["share"].tolist() == pytest.approx([0.25, 2 / N])
    assert m["rank"].tolist() == [2, 63]             # uniform: ties by index, 63 after 1..62
    assert m["control_share"].tolist() == pytest.approx([0.0, 0.0, 2 / N, 2 / N])
    assert m["stripe"].tolist() == pytest.approx([(N - 0.25) / N, 1 / N])
    assert m["stripe_on_glyph"].tolist() == [True, True]      # column 64; uniform: column 0
    with pytest.raises(ValueError, match=r"R must be \(B, N, N\) with B=1 metas and N=80 "
                                         r"regions, got shape \(2, 80, 80\)"):
        wus.relation_shares(torch.zeros(2, N, N), [meta], boxes)


def test_relation_matrix_figure(boxes):
    N = len(boxes)
    fig = wus.relation_matrix_figure(torch.rand(3, 64, 64), torch.rand(N, N), boxes, "a test")
    assert isinstance(fig, Figure) and sum(bool(ax.images) for ax in fig.axes) == 2
    vertical = [ln.get_xdata() for ln in fig.axes[1].lines]
    lines = [xs[0] for xs in vertical if xs[0] == xs[1]]
    assert lines == [63.5]                           # where scale (4, 4) begins
    with pytest.raises(ValueError, match=r"R must be \(N, N\) with N=80 regions as in boxes, "
                                         r"got shape \(5, 5\)"):
        wus.relation_matrix_figure(torch.rand(3, 64, 64), torch.rand(5, 5), boxes)


def test_attribution_shares():
    torch.manual_seed(0)
    net = rg.models.small_resnet(2, unit="regr", widths=(8, 16, 32), input_size=(32, 32),
                                 scales=((4, 4),)).eval()
    x, y = torch.rand(2, 3, 32, 32), torch.tensor([0, 1])
    everywhere = torch.ones(2, 32, 32, dtype=torch.bool)
    shares = wus.attribution_shares({"m": net}, x, y, everywhere, n_steps=4)
    assert set(shares) == {("m", "Grad-CAM"), ("m", "IG |attr|")}
    assert shares[("m", "IG |attr|")] == pytest.approx(1.0)
    half = everywhere.clone()
    half[:, :, 16:] = False
    part = wus.attribution_shares({"m": net}, x, y, half, n_steps=4)
    assert all(0.0 <= v <= 1.0 for v in part.values())
    with pytest.raises(ValueError, match=r"masks must be bool of shape \(2, 32, 32\)"):
        wus.attribution_shares({"m": net}, x, y, everywhere[:1])


def test_grade_top_k_passes_a_right_answer_and_names_a_wrong_one():
    def right(row, i, k):
        return sorted((j for j in range(len(row)) if j != i), key=lambda j: (-float(row[j]), j))[:k]

    assert wus.grade_top_k(right, verbose=False).passed
    wrong = wus.grade_top_k(lambda row, i, k: torch.topk(row, k).indices, verbose=False)
    assert not wrong and "top_k: case" in str(wrong)            # i not left out
    ties = wus.grade_top_k(lambda row, i, k: right(row, i, k)[::-1], verbose=False)
    assert not ties and "first mismatch" in str(ties)      # right indices, wrong order

    def in_place(row, i, k):
        out = right(row, i, k)
        row.zero_()
        return out

    assert "changed its input(s) in place" in str(wus.grade_top_k(in_place, verbose=False))
    assert "raised TypeError" in str(wus.grade_top_k(lambda row, i, k: None, verbose=False))
    with pytest.raises(TypeError, match="student_fn must be callable, got int"):
        wus.grade_top_k(3)
    assert len(wus.top_k_cases(5)) == 5
    with pytest.raises(ValueError, match=r"trials must be a positive integer, got 0"):
        wus.top_k_cases(0)
