"""regr_edu.viz: related regions (hand-built R, hand-checked boxes), hooks, heatmaps, Captum
attributions, the widget, checkpoints and bad arguments. Tiny models: the file runs in seconds."""
import subprocess
import sys

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

import regr_edu as rg
from regr_edu import viz

from conftest import randomize_


def _axes_with_images(fig):
    return [ax for ax in fig.axes if ax.images]


@pytest.fixture(scope="module")
def regr_model():
    """A small ResNet (widths 8-16-32) with one ReGr unit, trained-looking (BN weight not 0)."""
    torch.manual_seed(0)
    m = rg.models.small_resnet(4, unit="regr", widths=(8, 16, 32), input_size=(32, 32),
                               scales=((2, 2), (4, 4)))
    for u in m.units.values():
        torch.nn.init.normal_(u.bn.weight, 1.0, 0.1)
        torch.nn.init.normal_(u.refine.eta.weight, 0.0, 0.1)
    return m.eval()


@pytest.fixture(scope="module")
def explained(regr_model):
    torch.manual_seed(1)
    x = torch.randn(2, 3, 32, 32)
    (name, info), = viz.explain_units(regr_model, x).items()
    boxes = viz.region_boxes(info.grids, info.scales, info.map_size, info.image_size)
    return x, name, info, boxes


# ------------------------------------------------------------------ top-k of a hand-built R
def test_top_related_of_a_hand_built_matrix():
    R = torch.tensor([[0.50, 0.10, 0.05, 0.30, 0.05],
                      [0.20, 0.20, 0.20, 0.20, 0.20],
                      [0.00, 0.70, 0.10, 0.00, 0.20],
                      [0.25, 0.25, 0.25, 0.25, 0.00],
                      [0.10, 0.40, 0.00, 0.30, 0.20]])
    idx, w = viz.top_related(R, 0, 2)                 # self (0.50) left out
    assert idx.tolist() == [3, 1] and np.allclose(w, [0.30, 0.10])
    idx, w = viz.top_related(R, 0, 2, exclude_self=False)
    assert idx.tolist() == [0, 3]
    idx, _ = viz.top_related(R, 2, 3)
    assert idx.tolist() == [1, 4, 0]                  # ties (0.0 at 0 and 3) keep index order
    idx, _ = viz.top_related(R, 1, 4)
    assert idx.tolist() == [0, 2, 3, 4]
    idx, _ = viz.top_related(R, 4, 2, candidates=[0, 2, 3])
    assert idx.tolist() == [3, 0]
    signed = torch.tensor([[0.0, 0.2, -0.9], [0.1, 0.0, 0.3], [1.0, -2.0, 0.0]])
    assert viz.top_related(signed, 0, 1)[0].tolist() == [1]
    assert viz.top_related(signed, 0, 1, by="abs")[0].tolist() == [2]
    assert viz.top_related(signed.numpy(), 2, 2, by="abs")[0].tolist() == [1, 0]   # arrays too


def test_top_related_agrees_with_the_unit_relation(explained):
    x, _, info, boxes = explained
    R = info.R[1]
    idx, w = viz.top_related(R, 7, 5)
    row = R[7].clone()
    row[7] = -1.0
    assert idx.tolist() == torch.topk(row, 5).indices.tolist()
    assert np.allclose(w, R[7, idx].numpy())
    assert torch.allclose(info.R.sum(-1), torch.ones(2, len(boxes)))   # softmax rows


# ------------------------------------------------------------------ region boxes by hand
def test_region_boxes_hand_checked_image_with_padding():
    # map 6 x 8, input 24 x 32 (stride 4); scale (4, 4) pads the map to 8 x 8: a 2 x 2 grid;
    # scale (2, 2): a 3 x 4 grid. N = 4 + 12 = 16, scale (4, 4) first.
    b = viz.region_boxes([(1, 2, 2), (1, 3, 4)], [(4, 4), (2, 2)], (6, 8), (24, 32))
    assert len(b) == 16
    assert b.scale.tolist() == [0] * 4 + [1] * 12 and b.frame.tolist() == [0] * 16
    # region 3: scale (4, 4), cell (1, 1): map rows 4..6 (cut at the padding), cols 4..8
    assert b.cell[3].tolist() == [1, 1] and b.box[3].tolist() == [16, 16, 32, 24]
    assert b.box[0].tolist() == [0, 0, 16, 16]
    assert b.box[4].tolist() == [0, 0, 8, 8]               # scale (2, 2), cell (0, 0)
    assert b.cell[15].tolist() == [2, 3] and b.box[15].tolist() == [24, 16, 32, 24]
    assert b.centre(3) == (24.0, 20.0)
    assert b.of_scale(0).tolist() == [0, 1, 2, 3]
    assert b.describe(3) == "region 3: scale (4, 4), cell (1, 1)"
    assert b.regions_at(20.0, 18.0).tolist() == [3, 14]    # (4,4) cell (1,1); (2,2) cell (2,2)
    assert b.regions_at(31.9, 0.0).tolist() == [1, 7]


def test_region_boxes_hand_checked_clip():
    # a clip map (T=2, 4 x 4) of a (4, 16, 16) input, scale (2, 2): frame-major, then row-major
    b = viz.region_boxes([(2, 2, 2)], [(2, 2)], (2, 4, 4), (4, 16, 16))
    assert len(b) == 8 and b.frame.tolist() == [0, 0, 0, 0, 1, 1, 1, 1]
    assert b.cell[5].tolist() == [0, 1] and b.box[5].tolist() == [8, 0, 16, 8]
    assert b.input_frame(1) == 2                            # map frame 1 shows input frame 2


def test_region_boxes_follow_the_region_layout(explained):
    _, _, info, boxes = explained
    layout = info.layout
    sy, sx = boxes.input_size[1] / info.map_size[1], boxes.input_size[2] / info.map_size[2]
    for j in range(layout.num_regions):
        s, t, gy, gx = layout.locate(j)
        _, y0, x0, h, w = layout.cells(j)
        assert (boxes.scale[j], boxes.frame[j], *boxes.cell[j]) == (s, t, gy, gx)
        assert boxes.box[j].tolist() == [x0 * sx, y0 * sy, (x0 + w) * sx, (y0 + h) * sy]


def test_region_indices_may_be_numpy_integers(explained):
    x, _, info, boxes = explained
    small = boxes.of_scale(0)                             # an int64 array
    idx, _ = viz.top_related(info.R[0], small[3], 2, candidates=small)
    assert idx.tolist() == viz.top_related(info.R[0], 3, 2, candidates=small)[0].tolist()
    viz.related_regions_grid(x[0], info.R[0], boxes, small[:2], k=1)
    with pytest.raises(ValueError, match=r"i must be an integer in \[0, 19\], got 2.0"):
        viz.top_related(info.R[0], 2.0, 2)


def test_check_size_names_parameter_rule_and_value():
    from regr_edu._checks import check_size
    assert check_size("size", (8, np.int64(4))) == (8, 4)
    assert check_size("input_size", [2, 8, 8], (2, 3)) == (2, 8, 8)
    for bad in [(8,), (8, 0), (8, 4.0), (True, 4), 7, "ab"]:
        with pytest.raises(ValueError, match=r"size must be \(H, W\) of positive integers, got"):
            check_size("size", bad)
    with pytest.raises(ValueError, match=r"map_size must be \(H, W\) or \(T, H, W\) of positive "
                                         r"integers, got \(1, 2, 3, 4\)"):
        check_size("map_size", (1, 2, 3, 4), (2, 3))


def test_viz_figures_are_not_pyplot_figures(explained):
    import matplotlib.pyplot as plt
    x, _, info, boxes = explained
    before = plt.get_fignums()
    fig = viz.related_regions_figure(x[0], info.R[0], boxes, 3, 2)
    assert plt.get_fignums() == before and all(not ax.get_xticks().size for ax in fig.axes
                                               if ax.images)


def test_region_boxes_match_the_unit(explained):
    _, _, info, boxes = explained
    assert len(boxes) == info.R.shape[-1] == info.V.shape[1]
    assert info.map_size == (1, 8, 8) and boxes.input_size == (1, 32, 32)
    assert boxes.box.min() == 0 and boxes.box[:, 2].max() == 32 and boxes.box[:, 3].max() == 32


# ------------------------------------------------------------------ hooks and heatmaps
def test_capture_unit_io_catches_the_unit(regr_model):
    x = torch.randn(3, 3, 32, 32)
    io = viz.capture_unit_io(regr_model, x)
    assert list(io) == ["units.layer2_0"]
    before, after = io["units.layer2_0"]
    assert before.shape == after.shape == (3, 16, 8, 8)
    torch.testing.assert_close(after, regr_model.units["layer2_0"](before))
    assert not regr_model.units["layer2_0"]._forward_hooks          # hooks removed


def test_a_fresh_unit_changes_nothing():
    m = rg.models.small_resnet(4, unit="nl", widths=(8, 16, 32), input_size=(32, 32)).eval()
    before, after = viz.capture_unit_io(m, torch.randn(2, 3, 32, 32))["units.layer2_0"]
    torch.testing.assert_close(before, after)
    assert np.allclose(viz.heatmap_change(before, after), 0.0)


def test_feature_heatmap_shapes():
    f = torch.randn(2, 16, 8, 8)
    assert viz.feature_heatmap(f).shape == (2, 8, 8)
    assert viz.feature_heatmap(f, "mean", size=(32, 32)).shape == (2, 32, 32)
    clip_map = torch.randn(2, 16, 3, 4, 4)
    assert viz.feature_heatmap(clip_map, "abs", size=(8, 8)).shape == (2, 3, 8, 8)
    torch.testing.assert_close(viz.feature_heatmap(f), f.norm(dim=1))


def test_figures_have_the_right_panels(explained, regr_model):
    x, name, info, boxes = explained
    fig = viz.related_regions_figure(x[0], info.R[0], boxes, 3, 4)
    assert isinstance(fig, Figure) and len(_axes_with_images(fig)) == 2   # one panel per scale
    fig = viz.related_regions_figure(x[0], info.R[0], boxes, 18, 2, per_scale=False)
    assert len(_axes_with_images(fig)) == 1
    fig = viz.related_regions_grid(x[0], info.R[0], boxes, [0, 5, 16, 19], 3, ncols=3)
    assert len(_axes_with_images(fig)) == 4
    io = viz.capture_unit_io(regr_model, x)[name]
    fig = viz.unit_heatmaps_figure(x[1], io.input, io.output, sample=1)
    assert len(_axes_with_images(fig)) == 4


def test_clip_model_related_regions_and_heatmaps():
    torch.manual_seed(0)
    m = rg.models.small_resnet(3, unit="regr", widths=(8, 16, 32), input_size=(2, 32, 32),
                               scales=((4, 4),))
    randomize_(m.units["layer2_0"]).eval()
    m.eval()
    x = torch.randn(1, 3, 2, 32, 32)
    (_, info), = viz.explain_units(m, x).items()
    assert info.map_size == (2, 8, 8) and info.R.shape == (1, 8, 8)
    boxes = viz.region_boxes(info.grids, info.scales, info.map_size, info.image_size)
    fig = viz.related_regions_figure(x[0], info.R[0], boxes, 1, 3)
    assert len(_axes_with_images(fig)) == 2                 # one scale x two frames
    assert len(viz.related_regions_grid(x[0], info.R[0], boxes, [0, 6], 2).axes) == 2
    before, after = viz.capture_unit_io(m, x)["units.layer2_0"]
    assert viz.feature_heatmap(before, size=(32, 32)).shape == (1, 2, 32, 32)
    viz.unit_heatmaps_figure(x[0], before, after, frame=1)


# ------------------------------------------------------------------ attributions
@pytest.mark.parametrize("method", ["gradcam", "ig"])
def test_attributions_are_finite_and_shaped(regr_model, method):
    x = torch.randn(2, 3, 32, 32)
    a = viz.attribute(regr_model, x, None, method, n_steps=8)
    assert a.shape == ((2, 1, 32, 32) if method == "gradcam" else (2, 3, 32, 32))
    assert torch.isfinite(a).all() and a.abs().sum() > 0
    if method == "gradcam":
        assert (a >= 0).all()                                # ReLU'd


def test_integrated_gradients_completeness(regr_model):
    x = torch.randn(1, 3, 32, 32, dtype=torch.float64)
    m = regr_model.double()
    try:
        a, delta = viz.attribute(m, x, 2, "ig", n_steps=64, return_delta=True)
        with torch.no_grad():
            gap = m(x)[0, 2] - m(torch.zeros_like(x))[0, 2]
        assert abs(float(a.sum() - gap)) <= abs(float(delta[0])) + 1e-8
        assert abs(float(delta[0])) < 0.05 * abs(float(gap)) + 1e-6
    finally:
        m.float()


def test_attribution_on_a_clip_model():
    m = rg.models.small_resnet(3, unit="regr", widths=(8, 16, 32), input_size=(2, 32, 32),
                               scales=((4, 4),)).eval()
    x = torch.randn(1, 3, 2, 32, 32)
    cam = viz.attribute(m, x, 0, "gradcam")
    assert cam.shape == (1, 1, 2, 32, 32) and torch.isfinite(cam).all()


def test_attribution_figure_side_by_side(regr_model):
    base = rg.models.small_resnet(4, widths=(8, 16, 32), input_size=(32, 32)).eval()
    x = torch.randn(2, 3, 32, 32)
    fig = viz.attribution_figure({"baseline": base, "+ReGr": regr_model}, x, target=1,
                                 sample=1, n_steps=4)
    assert len(fig.axes) >= 6 and len(_axes_with_images(fig)) == 6     # 2 rows x 3 columns
    fig = viz.attribution_figure({"+ReGr": regr_model}, x, methods=["gradcam"])
    assert len(_axes_with_images(fig)) == 2


# ------------------------------------------------------------------ the widget
def test_widget_responds_to_value_changes(explained):
    x, _, info, boxes = explained
    w = viz.related_regions_widget(x[0], info.R[0], boxes, region=3, k=2)
    assert w.renders == 1 and len(w.top[0]) == 2 and w.image.value
    first_png, first_info = w.image.value, w.info.value
    w.region.value = 18
    assert w.renders == 2 and "region 18" in w.info.value and w.info.value != first_info
    assert w.image.value != first_png
    assert w.top[0].tolist() == viz.top_related(info.R[0], 18, 2)[0].tolist()
    w.k.value = 5
    assert len(w.top[0]) == 5 and w.renders == 3
    w.per_scale.value = False
    assert w.renders == 4
    assert w.region.max == len(boxes) - 1


# ------------------------------------------------------------------ checkpoints
def test_load_trained_model_round_trip(tmp_path, regr_model):
    path = tmp_path / "checkpoint.pth"
    args = {"model": "small_resnet", "unit": "regr", "num_units": 1, "num_classes": 4,
            "input_size": [32, 32],
            "unit_kwargs": {"scales": [[2, 2], [4, 4]]}}
    torch.save({"model": regr_model.state_dict(), "args": args}, path)
    m, got = viz.load_trained_model(path, build=lambda a: rg.models.small_resnet(
        a["num_classes"], unit=a["unit"], widths=(8, 16, 32), input_size=tuple(a["input_size"]),
        scales=((2, 2), (4, 4))))
    x = torch.randn(2, 3, 32, 32)
    torch.testing.assert_close(m(x), regr_model(x))
    assert got["unit"] == "regr" and not m.training


def test_viz_loads_a_model_training_loads_a_checkpoint():
    # two functions, two names: viz's returns (model, args), training's the raw contents
    import regr_edu.training as training
    assert not hasattr(viz, "load_checkpoint") and "load_checkpoint" not in viz.__all__
    assert viz.load_trained_model is not training.load_checkpoint


def test_load_trained_model_of_a_training_run(tmp_path):
    from regr_edu.training import make_config, run
    run(make_config({"train_samples": 16, "test_samples": 8, "epochs": 1, "batch_size": 8,
                     "max_steps": 1, "unit": "regr", "unit_kwargs": {"scales": [[4, 4]]},
                     "output_dir": str(tmp_path), "progress": False, "threads": 1}))
    model, args = viz.load_trained_model(tmp_path / "checkpoint.pth")
    saved = torch.load(tmp_path / "checkpoint.pth", weights_only=True)["model"]
    for k, v in model.state_dict().items():
        torch.testing.assert_close(v, saved[k])
    assert args["unit"] == "regr" and list(model.units) == ["layer2_0"]
    x = torch.rand(1, 3, 64, 64)
    (_, info), = viz.explain_units(model, x).items()
    assert info.R.shape == (1, 16, 16)                   # (4, 4) regions of a 16 x 16 map


# ------------------------------------------------------------------ bad arguments
def test_bad_arguments_are_clear_value_errors(explained, regr_model, tmp_path):
    x, _, info, boxes = explained
    R = info.R[0]
    N = len(boxes)
    with pytest.raises(ValueError, match=r"k must be an integer in \[1, 19\], got 20"):
        viz.top_related(R, 0, 20)
    with pytest.raises(ValueError, match=r"i must be an integer in \[0, 19\], got -1"):
        viz.top_related(R, -1, 2)
    with pytest.raises(ValueError,
                       match=r"R must be a square \(N, N\) matrix.*got shape \(2, 20, 20\)"):
        viz.top_related(info.R, 0, 2)
    with pytest.raises(ValueError, match="by must be one of"):
        viz.top_related(R, 0, 2, by="max")
    with pytest.raises(ValueError, match=r"candidates must be region indices in \[0, 19\]"):
        viz.top_related(R, 0, 1, candidates=[3, 20])
    with pytest.raises(ValueError, match=r"grids must match scales and map_size: scale \(2, 2\)"):
        viz.region_boxes([(1, 2, 2), (1, 4, 4)], [(2, 2), (4, 4)], (8, 8), (32, 32))
    with pytest.raises(ValueError, match="one \\(T, Gh, Gw\\) triple per scale"):
        viz.region_boxes([(1, 4, 4)], [(2, 2), (4, 4)], (8, 8), (32, 32))
    with pytest.raises(ValueError, match=r"input_size must be \(H, W\) or \(T, H, W\)"):
        viz.region_boxes(info.grids, info.scales, (8, 8), (32, 0))
    with pytest.raises(ValueError, match=rf"R must be \(N, N\) with N={N}"):
        viz.related_regions_figure(x[0], R[:5, :5], boxes, 0)
    with pytest.raises(ValueError, match=r"image must match boxes.input_size"):
        viz.related_regions_figure(x[0, :, :16], R, boxes, 0)
    with pytest.raises(ValueError, match=r"region must be an integer in \[0, 19\], got 20"):
        viz.related_regions_figure(x[0], R, boxes, 20)
    with pytest.raises(ValueError, match="regions must list at least one"):
        viz.related_regions_grid(x[0], R, boxes, [])
    with pytest.raises(ValueError, match="model must contain at least one unit"):
        viz.capture_unit_io(rg.models.small_resnet(4, widths=(8, 16, 32)), x)
    with pytest.raises(ValueError, match=r"units must name units of the model"):
        viz.capture_unit_io(regr_model, x, units=["layer9_0"])
    with pytest.raises(ValueError, match="model must contain a ReGr unit"):
        viz.explain_units(rg.models.small_resnet(4, unit="nl", widths=(8, 16, 32)), x)
    with pytest.raises(ValueError, match="reduce must be one of"):
        viz.feature_heatmap(torch.randn(1, 4, 4, 4), "max")
    with pytest.raises(ValueError, match="method must be one of"):
        viz.attribute(regr_model, x, 0, "saliency")
    with pytest.raises(ValueError, match=r"n_steps must be an integer of at least 2, got 1"):
        viz.attribute(regr_model, x, 0, "ig", n_steps=1)
    with pytest.raises(ValueError, match=r"target must be one class or one per sample \(2\)"):
        viz.attribute(regr_model, x, [0, 1, 2])
    with pytest.raises(ValueError, match="methods must be a non-empty subset"):
        viz.attribution_figure({"m": regr_model}, x, methods=["lime"])
    with pytest.raises(ValueError, match=r"alpha must lie in \[0, 1\], got 1.5"):
        viz.unit_heatmaps_figure(x[0], torch.randn(1, 4, 8, 8), torch.randn(1, 4, 8, 8), alpha=1.5)
    with pytest.raises(ValueError, match=r"sample must be an integer in \[0, 0\], got 1"):
        viz.unit_heatmaps_figure(x[0], torch.randn(1, 4, 8, 8), torch.randn(1, 4, 8, 8), sample=1)
    with pytest.raises(ValueError, match="before and after must have the same shape"):
        viz.unit_heatmaps_figure(x[0], torch.randn(1, 4, 8, 8), torch.randn(1, 4, 4, 4))
    with pytest.raises(ValueError, match=r"k must be an integer in \[1, 19\]"):
        viz.related_regions_widget(x[0], R, boxes, k=0)
    with pytest.raises(ValueError, match="checkpoint must be an existing file"):
        viz.load_trained_model(tmp_path / "missing.pth")
    torch.save([1, 2], tmp_path / "list.pth")
    with pytest.raises(ValueError, match="checkpoint must hold a dict"):
        viz.load_trained_model(tmp_path / "list.pth")


def test_import_viz_is_light():
    code = ("import sys, regr_edu.viz\n"
            "heavy = ('matplotlib', 'captum', 'ipywidgets')\n"
            "print(','.join(m for m in heavy if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
