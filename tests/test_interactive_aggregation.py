"""The aggregation chapter's numbers, figures and widget: each method checked independently."""
import math

import pytest
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure

import regr_edu as rg
from regr_edu.interactive import _photo
from regr_edu.interactive import aggregation as ia


# ----------------------------------------------------------------------------- the size of A_i
def test_softmax_keeps_A_one_size_and_raw_grows_with_P(photo_map):
    _, x = photo_map
    norms = ia.aggregate_norms(x, [(1, 1), (2, 2), (4, 4), (8, 8)])
    assert norms["P"] == [1, 4, 16, 64]
    soft, raw = norms["softmax"], norms["raw"]
    assert max(soft) / min(soft) < 1.5                  # a weighted average: one size
    assert raw[-1] / raw[0] > 16                        # a sum over P: grows with P
    assert all(b > a for a, b in zip(raw, raw[1:]))
    fig = ia.softmax_figure(norms)
    assert isinstance(fig, Figure) and len(fig.axes[0].lines) == 2


def test_aggregate_norms_reads_the_units_A(photo_map):
    """The numbers are those of a seeded unit's A, read from unit.explain."""
    _, x = photo_map
    norms = ia.aggregate_norms(x, [(4, 4)], c_nu=2, seed=3)
    torch.manual_seed(3)
    unit = rg.ReGr(256, [(4, 4)], refine=False, nu_channels=2, nu_softmax=False)
    with torch.no_grad():
        A = unit.explain(x).A[0]                                      # (1, 1, 2, 2, 32, 2)
    assert A.shape == (1, 1, 2, 2, 32, 2)
    expected = float(A.flatten(-2).norm(dim=-1).mean()) / math.sqrt(64)
    assert norms["raw"] == [pytest.approx(expected, rel=1e-6)]


# ----------------------------------------------------------------------------- pooling
def test_average_and_max_pooling_are_pool_then_upsample(photo_map):
    _, x = photo_map
    # c_nu = 4 on a (4, 4) region: 2 x 2 blocks of 2 x 2 cells each = pooling with kernel 2
    avg = F.avg_pool2d(x, 2).repeat_interleave(2, -2).repeat_interleave(2, -1)
    mx = F.max_pool2d(x, 2).repeat_interleave(2, -2).repeat_interleave(2, -1)
    torch.testing.assert_close(ia.reconstruct(x, (4, 4), 4, "avg_pool"), avg)
    torch.testing.assert_close(ia.reconstruct(x, (4, 4), 4, "max_pool"), mx)
    # c_nu = 8: pool_bins gives 2 x 4 blocks of 2 x 1 cells
    avg8 = F.avg_pool2d(x, (2, 1)).repeat_interleave(2, -2)
    torch.testing.assert_close(ia.reconstruct(x, (4, 4), 8, "avg_pool"), avg8)
    assert ia.reconstruct(x, (4, 4), 3, "avg_pool") is None          # no 3-block tiling
    assert ia.reconstruct(x, (4, 4), 12, "max_pool") is None


def test_average_pooling_is_eq2_with_a_fixed_nu(photo_map):
    """The chapter's claim: pool_regions' block means are Eq. 2 with nu = block averages, and
    recover_region paints them back."""
    _, x = photo_map
    X = rg.split_regions(x.double(), (4, 4))                         # (1, 2, 2, 256, 16)
    nu = rg.aggregation.pool_regions(torch.eye(16, dtype=torch.float64), (4, 4), (2, 2)).T
    A = rg.aggregate(X, nu, nu_softmax=False)
    torch.testing.assert_close(A, rg.aggregation.pool_regions(X, (4, 4), (2, 2)))
    back = rg.merge_regions(rg.recover_region(A, nu), (4, 4))
    torch.testing.assert_close(back.float(), ia.reconstruct(x, (4, 4), 4, "avg_pool"))


# ----------------------------------------------------------------------------- recovery
def test_best_nu_is_the_truncated_svd(photo_map):
    _, x = photo_map
    X = rg.split_regions(x.double(), (4, 4)).flatten(0, 2)            # (4, 256, 16)
    S = torch.linalg.svdvals(X)                                       # (4, 16)
    for c in (1, 3, 8):
        tail = (S[:, c:] ** 2).sum().sqrt() / X.norm()
        err = ia.relative_error(ia.reconstruct(x, (4, 4), c, "best_nu").double(), x.double())
        assert err == pytest.approx(float(tail), rel=1e-4)


def test_every_method_is_exact_at_c_nu_equal_P(photo_map):
    _, x = photo_map
    errs = ia.recovery_errors(x, (4, 4), [16], steps=5)
    assert list(errs) == list(ia.METHODS)
    for method, (e,) in errs.items():
        assert e < 1e-5, (method, e)


def test_best_nu_is_a_floor_and_training_helps(photo_map):
    """Every method's read-back of a region has rank <= c_nu, so none beats the truncated SVD."""
    _, x = photo_map
    errs = ia.recovery_errors(x, (4, 4), [2, 4], steps=60)
    for method in ia.METHODS:
        for e, floor in zip(errs[method], errs["best_nu"]):
            assert e >= floor - 1e-6, (method, e, floor)
    assert all(t < r for t, r in zip(errs["trained_nu"], errs["random_nu"]))
    assert all(0 < e < 1 for e in errs["avg_pool"])


def test_random_nu_is_seeded_and_leaves_the_global_rng():
    state = torch.random.get_rng_state()
    a, b = ia.random_nu(6, 3, seed=1), ia.random_nu(6, 3, seed=1)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert a.weight.shape == (3, 6, 1, 1) and torch.equal(a.weight, b.weight)
    assert not torch.equal(a.weight, ia.random_nu(6, 3, seed=2).weight)


def test_relative_error():
    x = torch.tensor([3.0, 4.0])
    assert ia.relative_error(x, x) == 0.0
    assert ia.relative_error(torch.zeros(2), x) == pytest.approx(1.0)
    assert ia.relative_error(x + torch.tensor([0.0, 0.5]), x) == pytest.approx(0.1)


def test_train_nu_lowers_the_loss_and_is_remembered(photo_map):
    _, x = photo_map
    conv, losses = ia.train_nu(x, (4, 4), 2, steps=30)
    assert len(losses) == 30 and losses[-1] < losses[0] and conv.weight.dtype == torch.float64
    ia._TRAINED.clear()
    assert torch.equal(ia.trained_nu(x, (4, 4), 2, steps=30).weight, conv.weight)  # same run
    a = ia.reconstruct(x, (4, 4), 2, "trained_nu", steps=30)
    assert len(ia._TRAINED) == 1
    b = ia.reconstruct(x, (4, 4), 2, "trained_nu", steps=30)         # from the cache
    assert len(ia._TRAINED) == 1 and torch.equal(a, b)
    other = _photo.feature_map(_photo.photo("chelsea", 128), "layer3")
    held_out = ia.reconstruct(other, (4, 4), 2, "trained_nu", steps=30, train_x=x)
    assert held_out.shape == other.shape and len(ia._TRAINED) == 1  # trained on x, not re-trained


def test_recovery_needs_nu_of_the_region_itself(photo_map):
    """recover_region reads nu(X) from the region: with another region's nu it fails."""
    _, x = photo_map
    X = rg.split_regions(x.double(), (4, 4)).flatten(0, 2)            # (4, 256, 16)
    nu = torch.randn(4, 16, 16, dtype=torch.float64)                  # c_nu = P: exact
    A = rg.aggregate(X, nu, nu_softmax=False)
    torch.testing.assert_close(rg.recover_region(A, nu), X)
    wrong = rg.recover_region(A, nu.roll(1, dims=0))                  # the next region's nu
    assert ia.relative_error(wrong, X) > 0.5


@pytest.mark.parametrize("call, match", [
    (lambda x: ia.reconstruct(x, (4, 4), 0, "best_nu"), r"c_nu must be an integer in \[1, 16\], "
                                                        r"got 0"),
    (lambda x: ia.reconstruct(x, (4, 4), 17, "best_nu"), r"c_nu must be an integer in \[1, 16\]"),
    (lambda x: ia.reconstruct(x, (4, 4), 2.0, "best_nu"), r"got 2.0"),
    (lambda x: ia.reconstruct(x, (4, 4), 2, "svd"), r"method must be one of"),
    (lambda x: ia.reconstruct(x[:, :, None], (4, 4), 2, "svd"), r"x must be a 4-D tensor"),
    (lambda x: ia.reconstruct(x, (3, 3), 2, "best_nu"),
     r"scale \(h, w\)=\(3, 3\) must divide the map size \(H, W\)=\(8, 8\)"),
    (lambda x: ia.recovery_errors(x, (4, 4), []), r"c_nu_values must be a non-empty list"),
    (lambda x: ia.recovery_errors(x, (4, 4), [2, 20]),
     r"c_nu_values\[1\] must be an integer in \[1, 16\], got 20"),
    (lambda x: ia.recovery_errors(x, (4, 4), [2], methods="best_nu"),
     r"methods must be a non-empty list"),
    (lambda x: ia.recovery_errors(x, (4, 4), [2], methods=["best_nu", "pca"]),
     r"methods\[1\] must be one of"),
    (lambda x: ia.train_nu(x, (4, 4), 2, steps=10**6),
     r"steps must be an integer in \[1, 5000\], got 1000000"),
    (lambda x: ia.train_nu(x, (4, 4), 2, lr=2.0), r"lr must lie in \(0, 1\), got 2.0"),
    (lambda x: ia.aggregate_norms(x, [(9, 4)]), r"must not be larger than the map"),
    (lambda x: ia.aggregate_norms(x, [(4, 4)], c_nu=0), r"c_nu must be a positive integer"),
    (lambda x: ia.reconstruction_grid(torch.cat([x, x]), (4, 4), [1]),
     r"x must be one map \(1, C, H, W\), got shape \(2, 256, 8, 8\)"),
    (lambda x: ia.recovery_panel(x, (4, 4), 2, []), r"methods must be a non-empty list"),
])
def test_bad_arguments_are_rejected_with_the_rule_and_value(photo_map, call, match):
    with pytest.raises(ValueError, match=match):
        call(photo_map[1])


def test_errors_markdown():
    table = ia.errors_markdown({"avg_pool": [0.5, float("nan")], "best_nu": [0.25, 0.125]},
                               [1, 3], first="on x", names={"best_nu": "floor"})
    assert table.splitlines() == ["| on x | $c_\\nu = 1$ | $c_\\nu = 3$ |", "|---|---|---|",
                                  "| average pooling | 0.500 | — |", "| floor | 0.250 | 0.125 |"]


def test_recovery_figure_and_grid(photo_map):
    _, x = photo_map
    errs = ia.recovery_errors(x, (4, 4), [1, 3, 16], ["avg_pool", "best_nu"])
    assert math.isnan(errs["avg_pool"][1]) and not math.isnan(errs["best_nu"][1])
    fig = ia.recovery_figure(errs, [1, 3, 16], 16, title="t")
    lines = {ln.get_label(): ln for ln in fig.axes[0].lines}
    assert list(lines["average pooling"].get_xdata()) == [1, 16]      # nan: no point at 3
    assert list(lines["best ν (top singular vectors)"].get_xdata()) == [1, 3, 16]
    fig, grid_errs = ia.reconstruction_grid(x, (4, 4), [1, 3], ["avg_pool", "best_nu"])
    assert len(fig.axes) == 6 and math.isnan(grid_errs["avg_pool"][1])
    assert grid_errs["best_nu"] == pytest.approx(ia.recovery_errors(x, (4, 4), [1, 3],
                                                                   ["best_nu"])["best_nu"])
    assert "no 3-block\ntiling" in [t.get_text() for t in fig.axes[2].texts]


def test_attention_figure_draws_each_row_of_nu(photo_map):
    image, x = photo_map
    nus = {"random": ia.random_nu(256, 3, 0), "wide": ia.random_nu(256, 5, 1)}
    fig = ia.attention_figure(image, x, (4, 4), (1, 0), nus)
    assert len(fig.axes) == 2 * 6 and fig.axes[0].get_title() == "region (1, 0)"
    row = fig.axes[1].images[0].get_array()                           # random, row 0: (4, 4)
    with torch.no_grad():
        nu = rg.split_regions(nus["random"](x), (4, 4))[0, 1, 0]
    torch.testing.assert_close(torch.as_tensor(row.data), torch.softmax(nu, -1)[0].reshape(4, 4))
    assert not fig.axes[4].axison                                     # random has 3 rows of 5
    with pytest.raises(ValueError, match=r"region\[0\] \(gy\) must be an integer in \[0, 1\], "
                                         r"got 2"):
        ia.attention_figure(image, x, (4, 4), (2, 0), nus)
    with pytest.raises(ValueError, match=r"nus must name at least one"):
        ia.attention_figure(image, x, (4, 4), (0, 0), {})


# ----------------------------------------------------------------------------- the widget
def test_recovery_panel(photo_map):
    _, x = photo_map
    fig, errs = ia.recovery_panel(x, (4, 4), 3, ["avg_pool", "best_nu"])
    assert math.isnan(errs["avg_pool"]) and 0 < errs["best_nu"] < 1
    assert len(fig.axes) == 1 + 3                                     # the bars, the maps
    bars = fig.axes[-1]
    assert [t.get_text() for t in bars.texts] == [" n/a", f" {errs['best_nu']:.3f}"]


def test_widget_follows_the_slider(photo_map):
    _, x = photo_map
    box = ia.recovery_widget(x, (4, 4), methods=["avg_pool", "random_nu", "best_nu"], c_nu=4,
                             steps=5)
    assert (box.c_nu.min, box.c_nu.max) == (1, 16)                   # the rule of reconstruct
    first_png, first = box.image.value, dict(box.errors)
    assert first["best_nu"] == pytest.approx(ia.recovery_errors(x, (4, 4), [4], ["best_nu"])
                                             ["best_nu"][0])
    assert "M = C·c_nu = 256·4" in box.info.value
    assert f"<td>{first['best_nu']:.3f}</td>" in box.info.value

    box.c_nu.value = 8                                                # more numbers: smaller error
    assert box.errors["best_nu"] < first["best_nu"]
    assert box.errors["avg_pool"] < first["avg_pool"]
    assert box.image.value != first_png and "256·8" in box.info.value

    box.c_nu.value = 3                                                # pooling cannot tile 3
    assert math.isnan(box.errors["avg_pool"]) and "n/a" in box.info.value

    box.softmax.value = False                                         # the open choice
    raw = box.errors["random_nu"]
    box.softmax.value = True
    assert raw != box.errors["random_nu"]


def test_widget_bounds_reject_out_of_range_values(photo_map):
    _, x = photo_map
    box = ia.recovery_widget(x, (4, 4), methods=["best_nu"], c_nu=2)
    box.c_nu.value = 40                      # ipywidgets clamps to the bound ...
    assert box.c_nu.value == 16 and box.errors["best_nu"] < 1e-6
    box.c_nu.value = 0
    assert box.c_nu.value == 1
    with pytest.raises(ValueError, match=r"c_nu must be an integer in \[1, 16\]"):
        ia.recovery_panel(x, (4, 4), 40)                              # ... the function says why
    with pytest.raises(ValueError, match=r"c_nu must be an integer in \[1, 16\]"):
        ia.recovery_widget(x, (4, 4), c_nu=17)
