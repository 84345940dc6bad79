"""The distribution chapter's module (regr_edu.interactive.distribution): the example map and unit,
the readings rerun from a trace, the non-local equivalence to 1e-10, every open choice, bad
arguments (parameter, rule and value named), figures and widgets driven."""
import matplotlib

matplotlib.use("Agg")

import dataclasses  # noqa: E402

import pytest  # noqa: E402
import torch  # noqa: E402

import regr_edu as rg  # noqa: E402
from regr_edu.interactive import distribution as iu  # noqa: E402
from regr_edu.interactive import figure_png  # noqa: E402

from conftest import randomize_  # noqa: E402


@pytest.fixture(scope="module")
def example():
    x = iu.demo_map()
    unit = iu.demo_unit()
    with torch.no_grad():
        return unit, x, unit.explain(x)


# ----------------------------------------------------------------------------- the example
def test_demo_map_places_the_objects_and_is_seeded():
    x, labels = iu.demo_map(return_labels=True)
    assert x.shape == (1, 32, 28, 28) and x.dtype == torch.float64 and labels.shape == (28, 28)
    assert labels.unique().tolist() == [0, 1, 2]
    assert labels[7, 6] == 1 and labels[20, 21] == 1 and labels[20, 5] == 2 and labels[0, 27] == 0
    torch.testing.assert_close(iu.demo_map(), x)
    assert not torch.equal(iu.demo_map(seed=1), x)
    clip, clip_labels = iu.demo_map("clip", size=14, frames=2, channels=8, return_labels=True)
    assert clip.shape == (1, 8, 2, 14, 14)
    # the discs drift right by one cell a frame; the square stays
    assert torch.equal(clip_labels[1, :, 1:] == 1, clip_labels[0, :, :-1] == 1)
    assert torch.equal(clip_labels[1] == 2, clip_labels[0] == 2)
    a, b = (x[0, :, labels == 1].mean(1), x[0, :, labels == 2].mean(1))
    assert torch.cosine_similarity(a, b, dim=0) < 0.9     # two signatures


def test_demo_unit_looks_trained_and_shares_weights_between_options():
    unit = iu.demo_unit()
    assert isinstance(unit, rg.ReGr) and not unit.training
    assert unit.scales == ((4, 4), (7, 7)) and unit.mu.weight.dtype == torch.float64
    assert torch.equal(unit.bn.weight, torch.ones(32)) and torch.equal(unit.out.bias,
                                                                       torch.zeros(32))
    torch.testing.assert_close(unit.relation.phi.weight, unit.relation.theta.weight)
    untied = iu.demo_unit(tied=False)
    assert not torch.equal(untied.relation.phi.weight, untied.relation.theta.weight)
    other = iu.demo_unit(refine_mode="replace")          # another option, the same weights
    torch.testing.assert_close(other.mu.weight, unit.mu.weight)
    assert iu.demo_unit(scales="(1, 1)").scales == ((1, 1),)
    assert not torch.equal(iu.demo_unit(seed=1).mu.weight, unit.mu.weight)


# ----------------------------------------------------------------------------- reread
@pytest.mark.parametrize("relation", ["bilinear", "gcn", "attention"])
def test_reread_with_the_units_readings_is_the_trace(relation):
    x = iu.demo_map("clip", size=14, frames=2)
    size = tuple(x.shape[2:]) if relation == "gcn" else None
    unit = iu.demo_unit(scales=((3, 3), (5, 5)), relation=relation, input_size=size)
    with torch.no_grad():
        info = unit.explain(x)
    again = iu.reread(unit, info)
    for name in ("V", "Z", "added", "output"):
        torch.testing.assert_close(getattr(again, name), getattr(info, name))
    torch.testing.assert_close(info.output, rg.reference.regr_forward(x, unit.state_dict(),
                                                                      **unit.config))
    assert (again.R is None) == (relation == "attention") and again.grids == info.grids


def test_reread_without_the_mask_moves_the_edge_regions_only_when_padded():
    x = iu.demo_map("clip", size=14, frames=2)
    unit = iu.demo_unit(scales=((3, 3), (5, 5)))
    with torch.no_grad():
        info = unit.explain(x)
    loose = iu.reread(unit, info, mask_padding=False)
    assert not torch.allclose(loose.A[0], info.A[0])
    torch.testing.assert_close(loose.A[0][:, :, :4, :4], info.A[0][:, :, :4, :4])  # whole ones
    divided = iu.demo_unit(scales=((2, 2), (7, 7)))
    with torch.no_grad():
        whole = divided.explain(x)
    torch.testing.assert_close(iu.reread(divided, whole, mask_padding=False).added, whole.added)


def test_reread_xi_readings(example):
    unit, x, info = example
    uniform = iu.reread(unit, info, xi_reading="uniform").Y[0]      # (1, c_mu, 1, 28, 28)
    block = uniform[0, :, 0, :4, :4].reshape(uniform.shape[1], -1)
    torch.testing.assert_close(block, block[:, :1].expand_as(block))  # one vector per region
    assert torch.linalg.matrix_rank(block) == 1
    raw = iu.reread(unit, info, xi_reading="raw")
    assert not torch.allclose(raw.Y[0], info.Y[0])
    assert dataclasses.is_dataclass(raw) and raw.x is info.x


@pytest.mark.parametrize("kwargs, exc, match", [
    ({"xi_reading": "none"}, ValueError,
     r"xi_reading must be one of \['softmax', 'raw', 'uniform'\], got 'none'"),
    ({"mask_padding": "no"}, ValueError, r"mask_padding must be one of \[True, False\], got 'no'"),
])
def test_reread_rejects_bad_readings(example, kwargs, exc, match):
    unit, _, info = example
    with pytest.raises(exc, match=match):
        iu.reread(unit, info, **kwargs)


def test_reread_refuses_a_training_unit_and_other_types(example):
    unit, x, info = example
    with pytest.raises(ValueError, match=r"unit must be in eval mode .* got unit.training=True"):
        iu.reread(iu.demo_unit().train(), info)
    with pytest.raises(TypeError, match=r"got ReGr and dict"):
        iu.reread(unit, {"V": info.V})


# ----------------------------------------------------------------------------- (1,1) = non-local
@pytest.mark.parametrize("shape", [(2, 12, 5, 6), (1, 12, 3, 4, 5)])
@pytest.mark.parametrize("norm", ["softmax", "dot"])
def test_nonlocal_equivalence_to_1e10_in_float64(shape, norm):
    unit = randomize_(rg.ReGr(12, scales=((1, 1),), refine=False, mu_channels=3, nu_channels=4,
                              relation_norm=norm)).double().eval()
    block = iu.nonlocal_block_for(unit)
    assert isinstance(block, rg.NonLocal) and not block.training
    assert block.mode == ("embedded_gaussian" if norm == "softmax" else "dot_product")
    x = torch.randn(*shape, dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(block(x), unit(x), rtol=0, atol=1e-10)


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
    ({"scales": ((1, 1),)}, r"refine must be False .* got True"),
    ({"scales": ((1, 1),), "refine": False, "relation": "attention"},
     r"relation must be 'bilinear' .* got 'attention'"),
    ({"scales": ((1, 1),), "refine": False, "nu_softmax": False},
     r"nu_softmax must be True .* got False"),
])
def test_nonlocal_equivalence_rejects_other_units(kwargs, match):
    with pytest.raises(ValueError, match=match):
        iu.nonlocal_block_for(rg.ReGr(16, **kwargs))
    with pytest.raises(TypeError, match="unit must be a regr_edu.ReGr, got NonLocal"):
        iu.nonlocal_block_for(rg.NonLocal(16))


# ----------------------------------------------------------------------------- open choices
def test_applicable_options_follow_relation_and_refine():
    assert iu.applicable_options("bilinear", True) == [
        "nu_softmax", "refine_context", "refine_mode", "relation_norm", "padding",
        "distribution"]
    assert iu.applicable_options("gcn", False) == ["nu_softmax", "gcn_scale", "padding",
                                                   "distribution"]
    assert "attention_mode" in iu.applicable_options("attention", True)
    with pytest.raises(ValueError, match=r"relation must be one of .* got 'graph'"):
        iu.applicable_options("graph", True)


@pytest.mark.parametrize("option, relation", [
    ("nu_softmax", "bilinear"), ("refine_context", "bilinear"), ("refine_mode", "bilinear"),
    ("relation_norm", "bilinear"), ("gcn_scale", "gcn"), ("attention_mode", "attention"),
    ("padding", "bilinear"), ("distribution", "bilinear"),
])
def test_every_open_choice_changes_the_unit(option, relation):
    e = iu.option_effect(option, relation=relation)
    assert e["rel_diff"] > 1e-3 and e["max_abs_diff"] > 0, e["summary"]
    assert e["added_default"].shape == e["added_alternative"].shape
    assert (e["default"], e["alternative"]) == iu.OPTIONS[option][:2]
    assert e["summary"].startswith(f"{option}: ") and e["numbers"]


def test_open_choice_numbers_say_what_the_reading_means():
    e = iu.option_effect("relation_norm")
    lo, hi = e["numbers"]["row sums of R (softmax)"]
    assert abs(lo - 1) < 1e-12 and abs(hi - 1) < 1e-12
    lo, hi = e["numbers"]["row sums of R (dot)"]
    assert hi - lo > 1.0
    e = iu.option_effect("gcn_scale", relation="gcn")
    assert e["numbers"]["R_raw / R_scaled"] == pytest.approx(e["numbers"]["N"]) == 65
    e = iu.option_effect("attention_mode", relation="attention")
    assert e["numbers"]["max |Z_seq - L_c * Z_letter|"] < 1e-12
    e = iu.option_effect("padding")
    n = e["numbers"]
    assert n["max |pad+mask - unequal regions (literal)|"] < 1e-10
    assert n["cells in cut edge regions"] > 0
    assert n["mean change in edge regions (no mask)"] > n["mean change elsewhere (no mask)"] > 0
    e = iu.option_effect("distribution")
    assert e["numbers"]["spread of Y inside a region (uniform)"] < 1e-12
    assert e["numbers"]["spread of Y inside a region (raw)"] > \
        e["numbers"]["spread of Y inside a region (softmax)"] > 1e-3
    e = iu.option_effect("nu_softmax")
    soft = e["numbers"]["mean |v| per scale (softmax)"]
    raw = e["numbers"]["mean |v| per scale (raw)"]
    assert raw[1] / raw[0] > 1.5 * soft[1] / soft[0]        # raw sums grow with the region
    e = iu.option_effect("refine_mode")
    assert all(a > 1 > r for a, r in zip(e["numbers"]["|refined| / |A| per scale (add)"],
                                        e["numbers"]["|refined| / |A| per scale (replace)"]))
    e = iu.option_effect("refine_context")
    assert e["numbers"]["mean |delta| (3x3 eta)"] != e["numbers"]["mean |delta| (1x1 eta)"]


def test_padding_with_a_scale_that_divides_the_map_changes_nothing_and_no_option_is_the_unit():
    e = iu.option_effect("padding", scales="(1, 1)")
    assert e["max_abs_diff"] == 0.0 and e["numbers"]["cells in cut edge regions"] == 0
    e = iu.option_effect(None, scales="(2, 2)")
    assert e["added_alternative"] is None and e["numbers"]["N"] == 196
    assert e["summary"].startswith("the unit: N 196")


@pytest.mark.parametrize("call, exc, match", [
    (lambda: iu.option_effect("softmax_on_nu"), ValueError,
     r"option must be one of \[None, 'nu_softmax', .* got 'softmax_on_nu'"),
    (lambda: iu.option_effect("gcn_scale"), ValueError,
     r"option 'gcn_scale' applies only with relation='gcn', got relation='bilinear', refine=True"),
    (lambda: iu.option_effect("refine_mode", refine=False), ValueError,
     r"applies only with refine=True, got .* refine=False"),
    (lambda: iu.option_effect("nu_softmax", relation="graph"), ValueError,
     r"relation must be one of \['bilinear', 'gcn', 'attention'\], got 'graph'"),
    (lambda: iu.option_effect(None, refine="yes"), ValueError,
     r"refine must be one of \[True, False\], got 'yes'"),
    (lambda: iu.option_effect(None, scales="(3, 3)"), ValueError,
     r"scales must be one of .* got '\(3, 3\)'"),
    (lambda: iu.option_effect(None, seed=-1), ValueError,
     r"seed must be a non-negative integer, got -1"),
    (lambda: iu.option_effect(None, x="map"), TypeError, r"x must be a torch.Tensor or None"),
    (lambda: iu.demo_map("video"), ValueError,
     r"kind must be one of \['image', 'clip'\], got 'video'"),
    (lambda: iu.demo_map(size=5), ValueError, r"size must be an integer of at least 8, got 5"),
    (lambda: iu.demo_map(channels=0), ValueError, r"channels must be a positive integer, got 0"),
    (lambda: iu.demo_map(seed=1.5), ValueError, r"seed must be a non-negative integer"),
    (lambda: iu.demo_unit(scales=((0, 2),)), ValueError, r"scales\[0\] must be a pair"),
    (lambda: iu.demo_unit(seed=True), ValueError, r"seed must be a non-negative integer, got True"),
    (lambda: iu.settings_figure(relations=("graph",)), ValueError,
     r"relations\[...\] must be one of .* got 'graph'"),
    (lambda: iu.unit_widget(seed=-2), ValueError, r"seed must be a non-negative integer"),
])
def test_bad_arguments_are_rejected_with_the_rule_and_value(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


# ----------------------------------------------------------------------------- figures
def test_gather_figure_paints_row_i_of_R(example):
    _, _, info = example
    fig = iu.gather_figure(info, 8)
    images = [a for a in fig.axes if a.images]
    assert len(images) == 3                                  # input, (4, 4), (7, 7)
    painted = images[1].images[0].get_array()                # r_i on the (4, 4) regions
    assert float(painted[5, 6]) == pytest.approx(float(info.R[0, 8, 8]))   # its own cell
    assert float(painted[0, 27]) == pytest.approx(float(info.R[0, 8, 6]))  # row 0, column 6
    assert "region i = 8: scale (4, 4), row 1, column 1" in fig._suptitle.get_text()
    assert len(figure_png(fig)) > 1000
    with pytest.raises(ValueError, match=r"region must be an integer in \[0, 64\], got 65"):
        iu.gather_figure(info, 65)
    unit = iu.demo_unit(relation="attention")
    with torch.no_grad():
        attention = unit.explain(iu.demo_map())
    with pytest.raises(ValueError, match=r"trace must come from a relation with a matrix R"):
        iu.gather_figure(attention)


def test_distribution_figure_and_its_frame_bound(example):
    _, _, info = example
    fig = iu.distribution_figure(info)
    assert len([a for a in fig.axes if a.images]) == 6      # x, xi, Y x 2, sum, branch
    with pytest.raises(ValueError, match=r"frame must be an integer in \[0, 0\], got 1"):
        iu.distribution_figure(info, frame=1)
    clip_unit = iu.demo_unit(scales=((3, 3),))
    with torch.no_grad():
        clip = clip_unit.explain(iu.demo_map("clip", size=14, frames=2))
    assert len([a for a in iu.distribution_figure(clip, 1).axes if a.images]) == 4


def test_settings_and_option_effects_figures():
    fig = iu.settings_figure(scale_names=("(4, 4)", "(7, 7)"), relations=("bilinear", "gcn"))
    assert len([a for a in fig.axes if a.images]) == 4
    assert [a.get_title() for a in fig.axes if a.images][:2] == ["bilinear", "gcn"]
    e = iu.option_effect("refine_mode")
    fig = iu.option_effects_figure([e, iu.option_effect("nu_softmax")])
    assert len([a for a in fig.axes if a.images]) == 6
    fig = iu.option_effects_figure([iu.option_effect(None)])
    assert len([a for a in fig.axes if a.images]) == 1


# ----------------------------------------------------------------------------- widgets
def test_gather_widget_slider_bounds_and_redraw(example):
    _, _, info = example
    w = iu.gather_widget(info)
    slider = w.controls["region"]
    assert (slider.min, slider.max) == (0, 64)
    i0, z0 = w.result
    png0 = w.children[2].value
    slider.value = 30
    i1, z1 = w.result
    assert (i0, i1) == (0, 30) and not torch.equal(z0, z1)
    torch.testing.assert_close(z1, info.Z[0, 30])
    assert w.children[2].value != png0
    slider.value = 500                             # the slider clamps to its bounds
    assert slider.value == 64 and w.result[0] == 64


def test_unit_widget_redraws_on_every_control():
    from traitlets import TraitError
    w = iu.unit_widget()
    c = w.controls
    first = w.result
    assert first["numbers"]["N"] == 49 + 16 and first["added_alternative"] is None
    c["scales"].value = "(2, 2)"
    assert w.result["numbers"]["N"] == 196
    assert not torch.equal(w.result["added_default"], first["added_default"])
    c["option"].value = "relation_norm"
    assert w.result["option"] == "relation_norm" and w.result["rel_diff"] > 0
    c["relation"].value = "attention"              # relation_norm no longer applies
    assert w.result["option"] is None and w.result["relation"] == "attention"
    assert "relation_norm does not apply to this unit" in w.children[1].value
    c["option"].value = "attention_mode"
    assert w.result["option"] == "attention_mode"
    assert "Z_seq - L_c * Z_letter" in w.children[1].value
    c["refine"].value = False
    assert w.result["refine"] is False
    for control, bad in ((c["scales"], "(3, 3)"), (c["relation"], "graph")):
        with pytest.raises(TraitError):
            control.value = bad
