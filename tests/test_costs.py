"""The measuring functions behind benchmarks/costs.py and the costs chapter, on tiny shapes."""
from __future__ import annotations

import csv
import sys

import pytest
import torch

from regr_edu import costs


def test_paper_shapes():
    shapes = {s.label: (s.channels, s.size) for s in costs.paper_shapes()}
    assert shapes == {"224 res3": (512, (28, 28)), "224 res4": (1024, (14, 14)),
                      "448 res3": (512, (56, 56)), "448 res4": (1024, (28, 28)),
                      "8x224 res3": (512, (4, 28, 28)), "8x224 res4": (1024, (4, 14, 14))}
    assert [s.label for s in costs.bar_shapes()] == ["448 res3", "448 res4"]


def test_flops_of_nonlocal_match_the_formula():
    """Official form: theta and W_z on the L positions, phi and g on the L' = L/4 positions of the
    pooled input (2 L C c FLOPs per 1x1 conv on L positions), and two L x L' products."""
    B, C, H, W = 2, 16, 6, 6
    L, Lp, c = H * W, (H // 2) * (W // 2), C // 2
    unit = costs.build_unit("nl", C, (H, W))
    flops, by_op = costs.count_flops(unit, costs.make_input(B, C, (H, W)))
    assert by_op["convolution"] == B * 2 * C * c * (2 * L + 2 * Lp)
    assert flops == B * (2 * C * c * (2 * L + 2 * Lp) + 2 * 2 * L * Lp * c)
    # unpooled: four 1x1 convs on L positions and two L x L products
    name, opts = costs.COST_UNITS["NL unpooled"]
    unit = costs.build_unit(name, C, (H, W), **opts)
    flops, by_op = costs.count_flops(unit, costs.make_input(B, C, (H, W)))
    assert by_op["convolution"] == B * 4 * 2 * L * C * c
    assert flops == B * (4 * 2 * L * C * c + 2 * 2 * L * L * c)


def test_interleaved_timing_runs_cases_in_turn():
    calls = []
    times = costs.time_interleaved({"a": lambda: calls.append("a"),
                                    "b": lambda: calls.append("b")}, repeats=5, warmup=1)
    assert calls == ["a", "b"] * 6 and all(len(v) == 5 for v in times.values())
    with pytest.raises(ValueError, match="repeats must be a positive integer, got 0"):
        costs.time_interleaved({"a": lambda: None}, repeats=0)


def test_forward_backward_uses_the_given_gradient_from_above():
    """The gradient from above is ones by default; a given one reaches the input unchanged
    through a residual unit whose last BatchNorm starts at zero (the identity)."""
    unit = costs.build_unit("regr", 16, (8, 8))
    x = costs.make_input(2, 16, (8, 8))
    costs.forward_backward(unit, x)
    torch.testing.assert_close(x.grad, torch.ones_like(x))
    g = torch.randn_like(x)
    costs.forward_backward(unit, x, g)
    torch.testing.assert_close(x.grad, g)


def test_saved_bytes_are_those_of_a_training_forward():
    """The FLOP counter watches modules with hooks, and a watched ReGr takes its unfused tail:
    the saved bytes come from a forward outside the counter, as in training (the fused tail keeps
    no C-channel tensor, so ReGr keeps less than its input's size)."""
    unit = costs.build_unit("regr", 64, (16, 16))
    x = costs.make_input(2, 64, (16, 16))
    skip = {p.untyped_storage().data_ptr() for p in unit.parameters()}
    skip.add(x.untyped_storage().data_ptr())

    def plain_forward() -> int:
        kept = []
        with torch.autograd.graph.saved_tensors_hooks(lambda t: kept.append(t) or t,
                                                      lambda t: t):
            unit(x)
        return sum({t.untyped_storage().data_ptr(): t.untyped_storage().nbytes() for t in kept
                    if t.untyped_storage().data_ptr() not in skip}.values())

    fused = plain_forward()
    assert costs.saved_bytes(unit, x) == fused
    handle = unit.bn.register_forward_hook(lambda *args: None)      # watched: the unfused tail
    try:
        assert plain_forward() - fused >= x.numel() * x.element_size()   # BN's C-channel input
    finally:
        handle.remove()


def test_memory_grows_quadratically_for_pixels_linearly_for_graphs():
    """Non-local keeps its L x L attention for backward; GloRe keeps only L-sized maps."""
    def saved(name, side, **options):
        unit = costs.build_unit(name, 16, (side, side), **options)
        return costs.saved_bytes(unit, costs.make_input(1, 16, (side, side)))
    unpooled = costs.COST_UNITS["NL unpooled"][1]
    nl = saved("nl", 16, **unpooled) / saved("nl", 8, **unpooled)     # 4x the positions
    glore = saved("glore", 16) / saved("glore", 8)
    assert nl > 10 and 3 < glore < 5
    # pooled (official): the L x L/4 matrix is quadratic too, but takes over at larger maps
    assert saved("nl", 32) / saved("nl", 16) > 10
    unit = costs.build_unit("nl", 16, (8, 8))
    assert costs.peak_bytes(unit, costs.make_input(1, 16, (8, 8))) > 0


def test_unit_costs_rows_and_bars(tmp_path):
    shapes = [costs.Shape("448 res4", 32, (8, 8)), costs.Shape("448 res3", 16, (8, 8))]
    rows = costs.unit_costs(shapes, batch=1, repeats=1, memory=False)
    assert [(r["shape"], r["unit"]) for r in rows] == [
        (s.label, u) for s in shapes for u in costs.COST_UNITS]
    assert all(r["time_ms"] > 0 and r["gflops"] > 0 and r["params"] > 0 for r in rows)
    backbones = [dict(unit="+1 ReGr", gflops_overhead=1.0), dict(unit="+1 NL",
                                                                 gflops_overhead=4.0)]
    bars = costs.bar_ratios(rows, backbones)
    assert [b["bar"] for b in bars] == list(costs.BARS)
    by_bar = {b["bar"]: b for b in bars}
    flop_bar = by_bar["FLOP overhead +1 ReGr / +1 NL, ResNet-50 at 448"]
    assert flop_bar["measured"] == 0.25 and flop_bar["passed"]
    unpooled = by_bar["ReGr/NL unpooled FLOPs, C=1024 28x28 (unit alone)"]
    gf = {r["unit"]: r["gflops"] for r in rows if r["shape"] == "448 res4"}
    assert unpooled["measured"] == gf["ReGr"] / gf["NL unpooled"]
    table = costs.markdown_table(bars, ["bar", "measured", "limit", "passed"])
    assert table.splitlines()[0] == "| bar | measured | limit | passed |"
    path = tmp_path / "rows.csv"
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    back = costs.read_csv(path)
    assert back[0]["params"] == rows[0]["params"] and back[0]["unit"] == "ReGr"


def test_gcn_variant_is_told_its_map():
    unit = costs.build_unit("regr", 64, (2, 8, 8), relation="gcn")
    assert unit.input_size == (2, 8, 8)


def test_explore():
    out = costs.explore("GloRe", channels=16, side=8, repeats=1)
    assert set(out) == {"unit", "channels", "size", "batch", "params", "gflops", "time_ms"}
    assert out["size"] == "8x8"
    assert costs.explore("ReGr-GCN", channels=64, side=8, frames=2, repeats=1)["size"] == "2x8x8"
    with pytest.raises(ValueError, match=r"unit must be one of \['ReGr', 'NL'.*got 'nl'"):
        costs.explore("nl")


def test_count_flops_counts_any_function_and_only_products():
    """The one FLOP counter: a module's forward pass or any function of tensors."""
    a = torch.randn(1, 8, 8)
    assert costs.count_flops(torch.softmax, a, -1) == (0, {})
    flops, by_op = costs.count_flops(lambda t: t @ t, a)
    assert flops == 2 * 8 ** 3 and by_op == {"bmm": 2 * 8 ** 3}


def test_pick_ratio_and_flops_split_read_rows_back():
    rows = [dict(shape="s", unit="ReGr", gflops=1.0, flops_by_op="bmm=500000000;convolution=500000000"),
            dict(shape="s", unit="NL", gflops=4.0, flops_by_op="convolution=4000000000")]
    assert costs.pick(rows, "NL", "s", "gflops") == 4.0
    assert costs.ratio(rows, "s", "gflops", "NL") == 0.25
    with pytest.raises(KeyError, match="no row for unit 'GloRe' at shape 's'"):
        costs.pick(rows, "GloRe", "s", "gflops")
    split = costs.flops_split(rows)
    assert split[0] == dict(shape="s", unit="ReGr", bmm=0.5, convolution=0.5)
    assert split[1] == dict(shape="s", unit="NL", convolution=4.0)


def test_plots_are_figures_without_pyplot_state():
    from matplotlib.figure import Figure
    rows = [dict(shape="a", unit=u, size="4x4", positions=16, time_ms=t, gflops=t)
            for u, t in (("ReGr", 1.0), ("NL", 2.0))]
    rows += [dict(r, shape="b", size="8x8", positions=64, time_ms=4 * r["time_ms"]) for r in rows]
    plt = sys.modules.get("matplotlib.pyplot")
    before = plt.get_fignums() if plt is not None else []
    for fig in (costs.plot_units(rows, "time_ms", "t"), costs.plot_sweep(rows, ("time_ms",))):
        assert type(fig) is Figure and fig.axes
    plt = sys.modules.get("matplotlib.pyplot")
    assert (plt.get_fignums() if plt is not None else []) == before


def test_grade_count_regions():
    from regr_edu.interactive.peers_costs import grade_count_regions
    right = grade_count_regions(lambda side, scales: sum(-(-side // h) * -(-side // w)
                                                         for h, w in scales), verbose=False)
    assert right and right.cases_run == 6
    unpadded = grade_count_regions(lambda side, scales: sum((side // h) * (side // w)
                                                            for h, w in scales), verbose=False)
    assert not unpadded and "count_regions(14, ((3, 3), (5, 5))): expected N = 34" in str(unpadded)
    broken = grade_count_regions(lambda side, scales: 1 / 0, verbose=False)
    assert not broken and "ZeroDivisionError" in str(broken)
