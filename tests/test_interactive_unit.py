"""The distribution chapter's functions, figures and widgets: the non-local equivalence to 1e-10,
the step-by-step run against the unit, every open choice, bad arguments, widgets driven."""
import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402
import torch  # noqa: E402

import regr_edu as rg  # noqa: E402
from regr_edu.interactive import unit as iu  # noqa: E402

from conftest import randomize_  # noqa: E402


# ----------------------------------------------------------------------------- (1,1) = non-local
@pytest.mark.parametrize("shape", [(2, 12, 5, 6), (1, 12, 3, 4, 5)])
@pytest.mark.parametrize("norm", ["softmax", "dot"])
def test_nonlocal_equivalence_to_1e10_in_float64(shape, norm):
    unit = randomize_(rg.ReGr(12, scales=((1, 1),), refine=False, mu_channels=3, nu_channels=4,
                              relation_norm=norm)).double().eval()
    x = torch.randn(*shape, dtype=torch.float64)
    result = iu.nonlocal_equivalent(unit, x)
    assert isinstance(result["block"], rg.NonLocal)
    assert result["block"].mode == ("embedded_gaussian" if norm == "softmax" else "dot_product")
    assert result["max_abs_diff"] < 1e-10
    torch.testing.assert_close(result["nonlocal"], result["regr"], rtol=0, atol=1e-10)


def test_nonlocal_equivalence_when_c_mu_exceeds_the_inner_width_and_in_training():
    # c_mu = 6 > M' = 6 * 2 // 4 = 3: theta and phi get zero rows instead of g
    unit = randomize_(rg.ReGr(12, scales=((1, 1),), refine=False, mu_channels=6,
                              nu_channels=2)).double().train()
    block = iu.nonlocal_block_for(unit)
    assert block.inner_channels == 6 and block.training
    x = torch.randn(3, 12, 4, 4, dtype=torch.float64)
    torch.testing.assert_close(block(x), unit(x), rtol=0, atol=1e-10)


@pytest.mark.parametrize("kwargs, match", [
    ({"scales": ((2, 2),), "refine": False},
     r"unit.scales must be \(\(1, 1\),\) .* got \(\(2, 2\),\)"),
    ({"scales": ((1, 1),)}, r"refine=False .* got refine=True"),
    ({"scales": ((1, 1),), "refine": False, "relation": "attention"},
     r"relation must be 'bilinear' .* got 'attention'"),
    ({"scales": ((1, 1),), "refine": False, "nu_softmax": False}, r"got nu_softmax=False"),
])
def test_nonlocal_equivalence_rejects_other_units(kwargs, match):
    with pytest.raises(ValueError, match=match):
        iu.nonlocal_block_for(rg.ReGr(16, **kwargs))
    with pytest.raises(TypeError, match="unit must be a regr_edu.ReGr, got NonLocal"):
        iu.nonlocal_block_for(rg.NonLocal(16))


# ----------------------------------------------------------------------------- steps and shapes
@pytest.mark.parametrize("relation", ["bilinear", "gcn", "attention"])
def test_unit_steps_rebuild_the_unit_and_explain(relation):
    x = iu.demo_map("clip", size=14)
    size = tuple(x.shape[2:]) if relation == "gcn" else None
    unit = iu.demo_unit(scales=((3, 3), (5, 5)), relation=relation, input_size=size)
    s = iu.unit_steps(unit, x)                     # checks against unit(x) itself
    info = unit.explain(x)
    torch.testing.assert_close(s["V"], info["V"])
    torch.testing.assert_close(s["Z"], info["Z"])
    torch.testing.assert_close(s["output"], rg.reference.regr_forward(x, unit.state_dict(),
                                                                      **unit.config))
    assert s["grids"] == [(3, 5, 5), (3, 3, 3)] and s["added"].shape == x.shape


def test_unit_steps_in_training_mode_leave_the_running_stats_alone():
    unit = iu.demo_unit().train()
    x = iu.demo_map()
    before = unit.bn.running_mean.clone()
    s = iu.unit_steps(unit, x)
    assert torch.equal(unit.bn.running_mean, before)
    unit2 = iu.demo_unit().train()
    torch.testing.assert_close(s["output"], unit2(x))


def test_shapes_table_lists_every_step_with_measured_shapes():
    unit = iu.demo_unit()
    table = iu.shapes_table(unit, iu.demo_map())
    shapes = {row[1]: row[3] for row in table.rows if row[1] in ("V", "R", "Z = R V")}
    assert shapes == {"V": (1, 65, 32), "R": (1, 65, 65), "Z = R V": (1, 65, 32)}
    assert table.rows[-1][3] == (1, 32, 28, 28)
    assert "<table>" in table._repr_html_() and "<td" in table._repr_html_() and "BN(W_out sum Y)" in str(table)
    att = iu.shapes_table(iu.demo_unit(relation="attention"), iu.demo_map())
    assert any(row[1] == "L_s" and row[3] == (1, 65, 1) for row in att.rows)


def test_a_fresh_unit_leaves_a_backbone_unchanged_and_only_its_bn_learns_first():
    result = iu.backbone_unchanged()
    assert result["max_abs_diff"] == 0.0 and result["new_parameters"] > 0
    grads = iu.gradient_norms(rg.ReGr(32, scales=((4, 4), (7, 7))), iu.demo_map().float())
    nonzero = {k for k, v in grads.items() if v > 0}
    assert nonzero == {"bn.weight", "bn.bias"}


# ----------------------------------------------------------------------------- open choices
@pytest.mark.parametrize("option, relation", [
    ("nu_softmax", "bilinear"), ("refine_context", "bilinear"), ("refine_mode", "bilinear"),
    ("relation_norm", "bilinear"), ("gcn_scale", "gcn"), ("attention_mode", "attention"),
    ("padding", "bilinear"), ("distribution", "bilinear"),
])
def test_every_open_choice_changes_the_unit(option, relation):
    e = iu.option_effect(option, relation=relation)
    assert e["rel_diff"] > 1e-3, e["summary"]
    assert e["added_default"].shape == e["added_alternative"].shape
    assert isinstance(e["summary"], str) and e["numbers"]


def test_open_choice_numbers_say_what_the_reading_means():
    e = iu.option_effect("relation_norm")
    lo, hi = e["numbers"]["row sums of R (softmax)"]
    assert abs(lo - 1) < 1e-12 and abs(hi - 1) < 1e-12
    e = iu.option_effect("gcn_scale", relation="gcn")
    assert e["numbers"]["R_raw / R_scaled"] == pytest.approx(e["numbers"]["N"])
    e = iu.option_effect("attention_mode", relation="attention")
    assert e["numbers"]["max |Z_seq - L_c * Z_letter|"] < 1e-12
    e = iu.option_effect("padding")
    assert e["numbers"]["max |pad+mask - unequal regions (literal)|"] < 1e-10
    e = iu.option_effect("distribution")
    assert e["numbers"]["spread of Y inside a region (uniform)"] < 1e-12
    assert e["numbers"]["spread of Y inside a region (softmax)"] > 1e-3
    e = iu.option_effect("nu_softmax")
    soft = e["numbers"]["mean |v| per scale (softmax)"]
    raw = e["numbers"]["mean |v| per scale (raw)"]
    assert raw[1] / raw[0] > soft[1] / soft[0]          # raw sums grow with the region's size


def test_padding_with_a_scale_that_divides_the_map_changes_nothing():
    e = iu.option_effect("padding", scales="(1, 1)")
    assert e["max_abs_diff"] == 0.0 and "nothing is padded" in e["summary"]


def test_placement_table_follows_the_resnet50_stages():
    table = iu.placement_table()
    rows = {(r[0], r[1]): r for r in table.rows}
    assert rows[("default (res3 + res4)", "res3 (layer2) block 2 of 4")][3:] == ["28x28", 65, 4225]
    assert rows[("default (res3 + res4)", "res4 (layer3) block 4 of 6")][3:] == ["14x14", 20, 400]
    assert len(iu.placement_table((448, 448)).rows) == 4


@pytest.mark.parametrize("call, exc, match", [
    (lambda: iu.option_effect("softmax_on_nu"), ValueError,
     r"option must be one of .* got 'softmax_on_nu'"),
    (lambda: iu.option_effect("gcn_scale"), ValueError,
     r"option 'gcn_scale' applies only with relation='gcn', got relation='bilinear', refine=True"),
    (lambda: iu.option_effect("refine_mode", refine=False), ValueError,
     r"applies only with refine=True, got .* refine=False"),
    (lambda: iu.option_effect("nu_softmax", relation="graph"), ValueError,
     r"relation must be one of \['bilinear', 'gcn', 'attention'\], got 'graph'"),
    (lambda: iu.unit_effect(scales="(3, 3)"), ValueError,
     r"scales must be one of .* got '\(3, 3\)'"),
    (lambda: iu.unit_effect(refine="yes"), ValueError, r"refine must be True or False, got 'yes'"),
    (lambda: iu.unit_effect(seed=-1), ValueError, r"seed must be a non-negative integer, got -1"),
    (lambda: iu.demo_map("video"), ValueError,
     r"kind must be one of \['image', 'clip'\], got 'video'"),
    (lambda: iu.demo_map(size=5), ValueError, r"size must be an integer of at least 8 .* got 5"),
    (lambda: iu.demo_unit(scales=((0, 2),)), ValueError, r"scales\[0\] must be a pair"),
    (lambda: iu.gather_figure(region=65), ValueError, r"region must be an integer in \[0, 64\] "
                                                      r"\(N = 65 regions\), got 65"),
    (lambda: iu.gather_figure(iu.demo_unit(relation="attention")), ValueError,
     r"needs a relation with a matrix R .* got relation='attention'"),
    (lambda: iu.unit_steps(iu.demo_unit(), iu.demo_map(), xi_reading="none"), ValueError,
     r"xi_reading must be one of \['softmax', 'raw', 'uniform'\], got 'none'"),
    (lambda: iu.unit_steps(iu.demo_unit(), torch.zeros(1, 8, 28, 28)), ValueError,
     r"x must have 32 channels"),
    (lambda: iu.placement_table((224,)), ValueError, r"image_size must be \(H, W\)"),
    (lambda: iu.settings_figure(relations=("graph",)), ValueError, r"got 'graph'"),
])
def test_bad_arguments_are_rejected_with_the_rule_and_value(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


# ----------------------------------------------------------------------------- figures
def test_figures_draw():
    fig = iu.gather_figure(region=8)
    assert len(fig.axes) >= 4
    fig = iu.settings_figure(scale_names=("(4, 4)", "(7, 7)"), relations=("bilinear", "attention"))
    assert len([a for a in fig.axes if a.images]) == 4
    e = iu.option_effect("refine_mode")
    fig = iu.option_effects_figure(effects=[e])
    assert len([a for a in fig.axes if a.images]) == 3
    fig = iu.effect_figure(iu.unit_effect("(4, 4)", "bilinear", False))
    assert len([a for a in fig.axes if a.images]) == 1


# ----------------------------------------------------------------------------- widgets
def test_unit_widget_redraws_on_every_control():
    from traitlets import TraitError
    w = iu.unit_widget()
    c = w.controls
    first = w.result
    assert first["N"] == 49 + 16 and first["added_alternative"] is None

    c["scales"].value = "(2, 2)"
    assert w.result["N"] == 196
    assert not torch.equal(w.result["added_default"], first["added_default"])

    c["option"].value = "relation_norm"
    assert w.result["option"] == "relation_norm" and w.result["rel_diff"] > 0
    c["relation"].value = "attention"              # relation_norm no longer applies
    assert c["option"].value == "none" and "attention_mode" in c["option"].options
    assert "relation_norm" not in c["option"].options
    assert w.result["relation"] == "attention" and w.result["option"] is None
    c["refine"].value = False
    assert "refine_mode" not in c["option"].options and w.result["refine"] is False
    c["option"].value = "attention_mode"
    assert w.result["option"] == "attention_mode"
    assert "Z_sequential" in w.children[2].value
    for bad in ("(3, 3)", "graph"):
        with pytest.raises(TraitError):
            (c["scales"] if bad.startswith("(") else c["relation"]).value = bad


def test_gather_widget_slider_bounds_and_redraw():
    w = iu.gather_widget()
    slider = w.controls["region"]
    assert (slider.min, slider.max) == (0, 64)
    i0, z0 = w.result
    slider.value = 30
    i1, z1 = w.result
    assert (i0, i1) == (0, 30) and not torch.equal(z0, z1)
    slider.value = 500                             # the slider clamps to its bounds
    assert slider.value == 64 and w.result[0] == 64
