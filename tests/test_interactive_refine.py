"""The refine chapter's figures and widget: arguments validated, widget redraws what it shows."""
import numpy as np
import pytest
import torch

import regr_edu as rg
from regr_edu.interactive import refine as ir


def test_neighbour_weights_are_the_bilinear_weights():
    w = ir.neighbour_weights(0.5, -0.25)
    expected = np.zeros((3, 3))
    expected[0, 1:] = 0.5 * 0.25                    # row y-1 gets |dy| = 0.25
    expected[1, 1:] = 0.5 * 0.75
    np.testing.assert_allclose(w, expected)
    np.testing.assert_allclose(ir.neighbour_weights(0.0, 0.0), np.eye(3)[1:2].T @ np.eye(3)[1:2])
    for dx, dy in [(0.3, 0.9), (-1.0, 1.0), (-0.6, -0.2)]:
        assert ir.neighbour_weights(dx, dy).sum() == pytest.approx(1.0)   # |delta| <= 1: a convex mix


def test_shift_grid_is_bilinear_shift_with_one_offset():
    grid = torch.randn(1, 4, 5, 6)
    ones = torch.ones(1, 1, 5, 6)
    torch.testing.assert_close(ir.shift_grid(grid, 0.3, -0.7, 0.6),
                               rg.bilinear_shift(grid, 0.3 * ones, -0.7 * ones, 0.6 * ones))


@pytest.mark.parametrize("call, match", [
    (lambda: ir.shift_grid(ir.toy_grid(), 1.5, 0.0, 1.0), r"dx must lie in \[-1, 1\], got 1.5"),
    (lambda: ir.shift_grid(ir.toy_grid(), 0.0, -1.01, 1.0), r"dy must lie in \[-1, 1\], got -1.01"),
    (lambda: ir.shift_grid(ir.toy_grid(), 0.0, 0.0, 1.2), r"m must lie in \[0, 1\], got 1.2"),
    (lambda: ir.shift_figure(dx=0.0, dy=0.0, m=-0.1), r"m must lie in \[0, 1\], got -0.1"),
    (lambda: ir.neighbour_weights(float("nan"), 0.0), r"dx must lie in \[-1, 1\], got nan"),
    (lambda: ir.shift_figure(cell=(6, 0)), r"cell must lie on the 6x6 grid .* got \(6, 0\)"),
    (lambda: ir.shift_figure(torch.rand(1, 4, 5, 5)), r"grid must have M=3 channels"),
    (lambda: ir.shift_grid(torch.rand(5, 5), 0, 0, 1), r"grid must have shape \(1, M, Hg, Wg\)"),
    (lambda: ir.shift_small_multiples([]), r"settings must hold at least one"),
    (lambda: ir.shift_small_multiples([(0.2, 0.1)]), r"settings\[0\] must be a triple"),
    (lambda: ir.shift_small_multiples([(0, 0, 1), (2, 0, 1)]), r"dx must lie in \[-1, 1\], got 2"),
    (lambda: ir.toy_grid(2, 5), r"height must be an integer >= 3, got 2"),
    (lambda: ir.shift_small_multiples([(0, 0, 1)], cols=0), r"cols must be a positive integer, got 0"),
    (lambda: ir.tent_figure(0.5), r"limit must lie in \[1, 10\], got 0.5"),
    (lambda: ir.kink_figure((1, 2)), r"row must hold three numbers .* got \(1, 2\)"),
    (lambda: ir.fit_figure({}), r"histories must hold at least one run"),
    (lambda: ir.fit_move(torch.zeros(1, 2, 3, 3), torch.zeros(1, 2, 3, 3), steps=0),
     r"steps must be a positive integer, got 0"),
    (lambda: ir.study_monitor({"monitor": []}, "loss"), r"stat must be one of \[.*\], got 'loss'"),
    (lambda: ir.sampling_figure(torch.full((3, 3), 1.2), torch.zeros(3, 3), torch.zeros(3, 3)),
     r"dx must lie in \[-1.0, 1.0\], got a value of 1.2"),
    (lambda: ir.sampling_figure(torch.zeros(3, 3), torch.zeros(3, 3), torch.zeros(3, 4)),
     r"dx, dy and m must have the same shape"),
])
def test_bad_arguments_are_rejected_with_the_rule_and_value(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_a_non_number_is_rejected_with_the_rule():
    with pytest.raises(ValueError, match=r"dx must lie in \[-1, 1\], got '0.5'"):
        ir.shift_grid(ir.toy_grid(), "0.5", 0.0, 1.0)
    with pytest.raises(ValueError, match=r"m must lie in \[0, 1\], got True"):
        ir.shift_grid(ir.toy_grid(), 0.0, 0.0, True)
    with pytest.raises(TypeError, match="grid must be a floating-point torch.Tensor, got list"):
        ir.shift_grid([[0.0]], 0.0, 0.0, 1.0)


def test_toy_grid_puts_its_object_where_toy_object_says():
    grid = ir.toy_grid(7, 8)
    r0, c0, h, w = ir.toy_object(7, 8)
    yellow = torch.tensor([1.0, 0.85, 0.2])
    assert (grid[0, :, r0:r0 + h, c0:c0 + w] == yellow[:, None, None]).all()
    assert (grid[0].permute(1, 2, 0) == yellow).all(-1).sum() == h * w


def test_tent_and_kink_figures_draw_the_package_numbers():
    fig = ir.tent_figure()
    ax = fig.axes[0]
    *weights, total = ax.lines
    d = torch.as_tensor(total.get_xdata())
    np.testing.assert_allclose(total.get_ydata(), sum(rg.reference.g(a, d) for a in (-1, 0, 1)))
    assert np.allclose(total.get_ydata()[d.abs() <= 1], 1.0)      # a partition of one
    (line,) = ir.kink_figure((1.0, 3.0, 2.0)).axes[0].lines
    ds, values = line.get_xdata(), line.get_ydata()
    left = np.polyfit(ds[ds < 0], values[ds < 0], 1)[0]
    right = np.polyfit(ds[ds > 0], values[ds > 0], 1)[0]
    assert left == pytest.approx(2.0) and right == pytest.approx(-1.0)


def test_figures_are_built():
    from matplotlib.figure import Figure
    assert isinstance(ir.shift_figure(dx=-0.4, dy=0.8, m=0.3, cell=(1, 4)), Figure)
    fig = ir.shift_small_multiples([(0, 0, 0.5), (1, 0, 1), (0.5, -0.5, 0.2), (-1, 1, 1)], cols=3)
    assert len(fig.axes) == 6
    layer = rg.Refine(3)
    dx, dy, m = layer.offsets(ir.toy_grid())
    fig = ir.sampling_figure(dx, dy, m, background=torch.rand(3, 60, 60))
    assert isinstance(fig, Figure) and len(fig.axes) == 2          # the map and its colour bar


def test_widget_sliders_have_the_functions_bounds():
    w = ir.refine_widget()
    assert (w.dx.min, w.dx.max) == ir.DELTA_RANGE == (w.dy.min, w.dy.max)
    assert (w.m.min, w.m.max) == ir.M_RANGE
    w.dx.value = 3.0                                                # a slider clamps to its bounds
    assert w.dx.value == 1.0
    w.m.value = -2.0
    assert w.m.value == 0.0
    with pytest.raises(ValueError, match=r"dx must lie in \[-1, 1\], got 1.5"):
        ir.refine_widget(dx=1.5)


def test_widget_redraws_what_the_sliders_say():
    w = ir.refine_widget(dx=0.5, dy=0.0, m=1.0)
    grid = w.grid
    first_png = w.image.value
    assert first_png[:8] == b"\x89PNG\r\n\x1a\n"
    torch.testing.assert_close(w.result, ir.shift_grid(grid, 0.5, 0.0, 1.0))

    w.dy.value = -0.75
    torch.testing.assert_close(w.result, ir.shift_grid(grid, 0.5, -0.75, 1.0))
    np.testing.assert_allclose(w.weights, ir.neighbour_weights(0.5, -0.75))
    assert w.image.value != first_png

    before = w.result.clone()
    w.m.value = 0.25                                               # m only scales the result
    torch.testing.assert_close(w.result, 0.25 * before)

    w.dx.value, w.dy.value, w.m.value = 0.0, 0.0, 1.0              # back home: the grid itself
    torch.testing.assert_close(w.result, grid)


def test_tent_shift_has_the_values_of_eq4_and_a_zero_slope_at_zero():
    grid = torch.randn(1, 3, 4, 5, dtype=torch.float64)
    dx = torch.rand(1, 1, 4, 5, dtype=torch.float64) * 2 - 1
    dy = torch.rand(1, 1, 4, 5, dtype=torch.float64) * 2 - 1
    torch.testing.assert_close(ir.tent_shift(grid, dx, dy), rg.bilinear_shift(grid, dx, dy, 1.0))
    d = torch.zeros(1, 1, 4, 5, dtype=torch.float64, requires_grad=True)
    ir.tent_shift(grid, d, torch.zeros_like(d)).sum().backward()
    assert d.grad.abs().max() == 0                                  # the tent's corner


def test_fit_move_learns_through_the_package_not_through_the_tent():
    torch.manual_seed(0)
    grid = torch.randn(1, 4, 5, 5)
    target = ir.shift_grid(grid, 0.5, 0.0, 1.0)
    tent = ir.fit_move(grid, target, steps=60, weights="tent")
    package = ir.fit_move(grid, target, steps=60, weights="package")
    assert max(tent["grad_dx"]) == 0 and tent["dx"][-1] == 0
    assert package["grad_dx"][0] > 0 and package["dx"][-1] > 0.3
    assert package["loss"][-1] < tent["loss"][-1]
    with pytest.raises(ValueError, match=r"weights must be one of \['package', 'tent'\], got 'x'"):
        ir.fit_move(grid, target, weights="x")
    with pytest.raises(ValueError, match=r"target must have the grid's shape"):
        ir.fit_move(grid, target[..., :4])


def _study_record():
    """A tiny record in refine_study.json's format: two arms, two seeds, monitor rows."""
    def run(arm, seed, acc):
        monitor = [{"step": s, "delta_abs_mean": 0.1 * s, "m_mean": 0.5, "grad_eta": 1.0,
                    "grad_mu": 2.0, "norm_in": 2.0, "norm_out": 1.0,
                    "delta_sign_flip": float("nan") if s == 1 else 0.2} for s in (1, 2, 3)]
        return {"arm": arm, "task": "image", "opt": "adam3", "seed": seed,
                "final_test_acc1": acc, "history": [{"epoch": 0, "test_acc1": 50.0},
                                                    {"epoch": 1, "test_acc1": acc}],
                "monitor": monitor}
    return {"tasks": {"image": {"chance": 50.0}},
            "arms": {"off": {"label": "refine off"}, "add": {"label": "additive"}},
            "runs": [run("off", 0, 99.0), run("off", 1, 50.0), run("add", 0, 99.5),
                     run("add", 1, 98.0), run("add", 5, 97.0)]}


def test_study_rows_count_take_offs_and_filter_seeds():
    rec = _study_record()
    off, add = ir.study_rows(rec, "image", "adam3", ["off", "add"])
    assert (off["took_off"], off["n"], add["took_off"], add["n"]) == (1, 2, 3, 3)
    assert add["mean"] == pytest.approx((99.5 + 98.0 + 97.0) / 3)
    (add01,) = ir.study_rows(rec, "image", "adam3", ["add"], seeds=range(2))
    assert add01["n"] == 2 and add01["values"] == [99.5, 98.0]
    with pytest.raises(ValueError, match="no run of arm 'paper'"):
        ir.study_rows(rec, "image", "adam3", ["paper"])


def test_study_monitor_reads_and_derives_the_numbers():
    run = _study_record()["runs"][0]
    steps, values = ir.study_monitor(run, "delta_abs_mean")
    np.testing.assert_allclose(steps, [1, 2, 3])
    np.testing.assert_allclose(values, [0.1, 0.2, 0.3])
    np.testing.assert_allclose(ir.study_monitor(run, "grad_ratio")[1], [0.5] * 3)
    np.testing.assert_allclose(ir.study_monitor(run, "norm_ratio")[1], [0.5] * 3)


def test_fit_figure_draws_one_style_per_run():
    h = dict(loss=[1.0, 0.5], dx=[0, 0.1], dy=[0, -0.1], m=[0.5, 0.6])
    fig = ir.fit_figure({"a": h, "b": h}, target=(0.5, -0.25, 0.9))
    loss, params = fig.axes
    assert len(loss.lines) == 2 and len(params.lines) == 2 * 3 + 3     # runs x (dx, dy, m), targets
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["a", "b"]


def test_study_figure_draws_every_seed_and_the_monitor():
    fig = ir.study_figure(_study_record(), "image", "adam3", ["off", "add"], seeds=range(2))
    acc = fig.axes[0]
    assert len(acc.lines) == 2 + 2 + 1                 # two seeds per arm, the chance line
    assert all(len(ax.lines) == 2 for ax in fig.axes[1:])
    assert "2 seeds" in fig._suptitle.get_text()
