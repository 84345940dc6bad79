"""The aggregation chapter's numbers, figures and widget: each method checked independently."""
import math

import matplotlib

matplotlib.use("Agg")

import pytest
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure

import regr_edu as rg
from regr_edu.interactive import aggregation as ia
from regr_edu.interactive import regions as ir
from regr_edu.interactive._photo import photo

# ----------------------------------------------------------------------------- Eq. 2 on a map
@pytest.mark.parametrize("shape, scale", [((1, 6, 7, 9), (3, 4)), ((2, 5, 2, 5, 5), (3, 3)),
                                          ((1, 4, 6, 6), (3, 2))])
@pytest.mark.parametrize("nu_softmax", [True, False])
def test_pad_and_mask_equals_unequal_regions(shape, scale, nu_softmax):
    x = torch.randn(*shape, dtype=torch.float64)
    C = shape[1]
    mu = torch.nn.Conv2d(C, 3, 1).double()
    nu = torch.nn.Conv2d(C, 2, 1).double()
    with torch.no_grad():
        fast = ia.aggregate_map(x, scale, mu, nu, reading="pad", nu_softmax=nu_softmax)
        literal = ia.aggregate_map(x, scale, mu, nu, reading="unequal", nu_softmax=nu_softmax)
        zero = ia.aggregate_map(x, scale, mu, nu, reading="zero-pad", nu_softmax=nu_softmax)
    torch.testing.assert_close(fast, literal)
    Gh, Gw = -(-shape[-2] // scale[0]), -(-shape[-1] // scale[1])
    assert fast.shape[-4:] == (Gh, Gw, 3, 2)
    divides = shape[-2] % scale[0] == 0 and shape[-1] % scale[1] == 0
    if divides or not nu_softmax:
        # zero cells add nothing to a plain sum: the mask matters only for the softmax
        torch.testing.assert_close(zero, fast)
    else:
        assert not torch.allclose(zero, fast)
        interior = (slice(None),) * (fast.dim() - 4) + (slice(0, shape[-2] // scale[0]),
                                                         slice(0, shape[-1] // scale[1]))
        torch.testing.assert_close(zero[interior], fast[interior])     # only edge regions differ


def test_identity_mu_nu_give_the_gram_matrix():
    x = torch.randn(1, 3, 4, 4, dtype=torch.float64)
    A = ia.aggregate_map(x, (2, 2), None, None, nu_softmax=False)      # (1, 2, 2, 3, 3)
    X = rg.split_regions(x, (2, 2))
    torch.testing.assert_close(A, X @ X.transpose(-1, -2))


def test_softmax_keeps_A_one_size_and_raw_grows_with_P(photo_map):
    _, x = photo_map
    norms = ia.aggregate_norms(x, [(1, 1), (2, 2), (4, 4), (8, 8)])
    assert norms["P"] == [1, 4, 16, 64]
    soft, raw = norms["softmax"], norms["raw"]
    assert max(soft) / min(soft) < 1.5                  # a weighted average: one size
    assert raw[-1] / raw[0] > 16                        # a sum over P: grows with P
    assert all(b > a for a, b in zip(raw, raw[1:]))
    assert isinstance(ia.softmax_figure(norms), Figure)


# ----------------------------------------------------------------------------- pooling
def test_pool_subgrid_tiles_the_region():
    assert ia.pool_subgrid((4, 4), 4) == (2, 2)
    assert ia.pool_subgrid((4, 4), 1) == (1, 1) and ia.pool_subgrid((4, 4), 16) == (4, 4)
    gh, gw = ia.pool_subgrid((4, 4), 8)
    assert gh * gw == 8 and 4 % gh == 0 and 4 % gw == 0
    assert ia.pool_subgrid((4, 4), 3) is None and ia.pool_subgrid((7, 7), 4) is None
    assert ia.pool_subgrid((7, 7), 7) in {(1, 7), (7, 1)}
    nu = ia.pool_nu((4, 4), 4)
    torch.testing.assert_close(nu.sum(dim=1), torch.ones(4, dtype=torch.float64))
    assert nu[0].reshape(4, 4)[:2, :2].eq(0.25).all()   # block 0 is the top-left 2 x 2
    with pytest.raises(ValueError, match=r"c_nu must be gh\*gw .* scale \(7, 7\), got c_nu=4"):
        ia.pool_nu((7, 7), 4)


def test_average_and_max_pooling_are_pool_then_upsample(photo_map):
    _, x = photo_map
    # c_nu = 4 on a (4, 4) region: 2 x 2 blocks of 2 x 2 cells each = pooling with kernel 2
    avg = F.avg_pool2d(x, 2).repeat_interleave(2, -2).repeat_interleave(2, -1)
    mx = F.max_pool2d(x, 2).repeat_interleave(2, -2).repeat_interleave(2, -1)
    torch.testing.assert_close(ia.reconstruct(x, (4, 4), 4, "avg_pool"), avg)
    torch.testing.assert_close(ia.reconstruct(x, (4, 4), 4, "max_pool"), mx)
    assert ia.reconstruct(x, (4, 4), 3, "avg_pool") is None          # no 3-block tiling


# ----------------------------------------------------------------------------- recovery
def test_best_nu_is_the_truncated_svd(photo_map):
    _, x = photo_map
    X = ia.region_matrices(x, (4, 4)).double()                        # (4, 256, 16)
    S = torch.linalg.svdvals(X)                                       # (4, 16)
    for c in (1, 3, 8):
        tail = (S[:, c:] ** 2).sum().sqrt() / X.norm()
        err = ia.relative_error(ia.reconstruct(x, (4, 4), c, "best_nu").double(), x.double())
        assert err == pytest.approx(float(tail), rel=1e-4)


def test_every_method_is_exact_at_c_nu_equal_P(photo_map):
    _, x = photo_map
    errs = ia.recovery_errors(x, (4, 4), [16], steps=5)
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


def test_recovery_needs_nu_of_the_region_itself(photo_map):
    """recover_region reads nu(X) from the region: with another region's nu it fails."""
    _, x = photo_map
    X = ia.region_matrices(x, (4, 4)).double()                        # (4, 256, 16)
    nu = torch.randn(4, 16, 16, dtype=torch.float64)                  # c_nu = P: exact
    A = rg.aggregate(X, nu, nu_softmax=False)
    torch.testing.assert_close(rg.recover_region(A, nu), X)
    wrong = rg.recover_region(A, nu.roll(1, dims=0))                  # the next region's nu
    assert ia.relative_error(wrong, X) > 0.5


def test_train_nu_lowers_the_loss_and_is_remembered(photo_map):
    _, x = photo_map
    conv, losses = ia.train_nu(x, (4, 4), 2, steps=30)
    assert losses[-1] < losses[0] and conv.weight.dtype == torch.float64
    ia._TRAINED.clear()
    a = ia.reconstruct(x, (4, 4), 2, "trained_nu", steps=30)
    assert len(ia._TRAINED) == 1
    b = ia.reconstruct(x, (4, 4), 2, "trained_nu", steps=30)         # from the cache
    assert len(ia._TRAINED) == 1 and torch.equal(a, b)
    other = ir.feature_map(photo("chelsea", 128), "layer3")
    held_out = ia.reconstruct(other, (4, 4), 2, "trained_nu", steps=30, train_x=x)
    assert held_out.shape == other.shape and len(ia._TRAINED) == 1  # trained on x, not re-trained


@pytest.mark.parametrize("call, match", [
    (lambda x: ia.reconstruct(x, (4, 4), 0, "best_nu"),
     r"c_nu must be an integer in \[1, P=16\] .* got 0"),
    (lambda x: ia.reconstruct(x, (4, 4), 17, "best_nu"), r"c_nu must be an integer in \[1, P=16\]"),
    (lambda x: ia.reconstruct(x, (4, 4), 2.0, "best_nu"), r"got 2.0"),
    (lambda x: ia.reconstruct(x, (4, 4), 2, "svd"), r"method must be one of"),
    (lambda x: ia.reconstruct(x, (3, 3), 2, "best_nu"),
     r"scale \(h, w\)=\(3, 3\) must divide the map size \(H, W\)=\(8, 8\)"),
    (lambda x: ia.recovery_errors(x, (4, 4), []), r"c_nu_values must be a non-empty list"),
    (lambda x: ia.recovery_errors(x, (4, 4), [2], methods="best_nu"),
     r"methods must be a non-empty"),
    (lambda x: ia.train_nu(x, (4, 4), 2, steps=10**6), r"steps must be at most 5000"),
    (lambda x: ia.train_nu(x, (4, 4), 2, lr=2.0), r"lr must be a float in \(0, 1\), got 2.0"),
    (lambda x: ia.aggregate_map(x, (4, 4), None, None, reading="crop"), r"reading must be one of"),
    (lambda x: ia.aggregate_map(x, (9, 4), None, None), r"must not be larger than the map"),
    (lambda x: ia.reconstruction_grid(torch.cat([x, x]), (4, 4), [1]), r"x must be one map"),
])
def test_bad_arguments_are_rejected_with_the_rule_and_value(photo_map, call, match):
    with pytest.raises(ValueError, match=match):
        call(photo_map[1])


def test_figures_are_built(photo_map):
    image, x = photo_map
    errs = ia.recovery_errors(x, (4, 4), [1, 3, 16], ["avg_pool", "best_nu"])
    assert math.isnan(errs["avg_pool"][1])
    assert isinstance(ia.recovery_figure(errs, [1, 3, 16], 16), Figure)
    fig, grid_errs = ia.reconstruction_grid(x, (4, 4), [1, 3], ["avg_pool", "best_nu"])
    assert len(fig.axes) == 6 and math.isnan(grid_errs["avg_pool"][1])
    fig, panel_errs = ia.recovery_panel(x, (4, 4), 2, ["max_pool", "random_nu"])
    assert set(panel_errs) == {"max_pool", "random_nu"}
    nus = {"random": ia.random_nu(256, 3, 0)}
    assert isinstance(ia.attention_figure(image, x, (4, 4), (1, 0), nus), Figure)
    with pytest.raises(ValueError, match=r"region must be \(gy, gx\) with 0 <= gy < 2"):
        ia.attention_figure(image, x, (4, 4), (2, 0), nus)


# ----------------------------------------------------------------------------- the widget
def test_widget_follows_the_slider(photo_map):
    _, x = photo_map
    box = ia.recovery_widget(x, (4, 4), methods=["avg_pool", "random_nu", "best_nu"], c_nu=4,
                             steps=5)
    assert (box.c_nu.min, box.c_nu.max) == (1, 16)                   # the rule of reconstruct
    first_png, first = box.image.value, dict(box.errors)
    assert first["best_nu"] == pytest.approx(ia.recovery_errors(x, (4, 4), [4], ["best_nu"])
                                             ["best_nu"][0])
    assert "M = C·c_nu = 256·4" in box.info.value

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
    with pytest.raises(ValueError, match=r"c_nu must be an integer in \[1, P=16\]"):
        ia.recovery_panel(x, (4, 4), 40)                              # ... the function says why
    with pytest.raises(ValueError, match=r"c_nu must be an integer in \[1, P=16\]"):
        ia.recovery_widget(x, (4, 4), c_nu=17)
