"""The regions chapter's inputs, figures and widget: arguments validated, the widget redraws."""
import pytest
import torch
from matplotlib.figure import Figure

import regr_edu as rg
from regr_edu.interactive import _photo
from regr_edu.interactive import regions as ir


# ----------------------------------------------------------------------------- inputs (_photo)
def test_feature_map_shapes_and_strides(photo_map):
    image, feature = photo_map
    assert feature.shape == (1, 256, 8, 8) and not feature.requires_grad
    assert _photo.feature_map(image, "layer2").shape == (1, 128, 16, 16)
    assert _photo.feature_map(image, "layer1").shape == (1, 64, 32, 32)
    clip = _photo.pan_clip(_photo.photo("astronaut", 160), frames=3, size=64, step=48)
    assert clip.shape == (3, 3, 64, 64)
    f = _photo.feature_map(clip, "layer3")
    assert f.shape == (1, 256, 3, 4, 4)
    # a clip runs frame by frame through the 2-D network (as a C2D network does)
    torch.testing.assert_close(f[:, :, 1], _photo.feature_map(clip[:, 1], "layer3"))


def test_feature_map_is_deterministic_and_leaves_the_global_rng(photo_map):
    image, feature = photo_map
    state = torch.random.get_rng_state()
    again = _photo.feature_map(image, "layer3", seed=0)
    assert torch.equal(torch.random.get_rng_state(), state)
    torch.testing.assert_close(again, feature, rtol=0, atol=0)
    assert not torch.allclose(_photo.feature_map(image, "layer3", seed=1), feature)


def test_photo_and_pan_clip():
    image = _photo.photo("astronaut", 160)
    assert image.shape == (3, 160, 160) and 0 <= image.min() and image.max() <= 1
    clip = _photo.pan_clip(image, frames=3, size=64, step=16, top=0)
    torch.testing.assert_close(clip[:, 1, :, :-16], clip[:, 0, :, 16:])   # the window moves right
    torch.testing.assert_close(clip[:, 0], image[:, :64, :64])
    centred = _photo.pan_clip(image, frames=2, size=64, step=16)
    torch.testing.assert_close(centred[:, 0], image[:, 48:112, :64])        # top = (160 - 64) // 2


def test_feature_rgb_reuses_a_basis(photo_map):
    _, feature = photo_map
    rgb, basis = _photo.feature_rgb(feature)
    assert rgb.shape == (8, 8, 3) and rgb.min() >= 0 and rgb.max() <= 1
    same, _ = _photo.feature_rgb(feature, basis)
    assert (same == rgb).all()
    other, _ = _photo.feature_rgb(feature * 0.5, basis)    # same colours: a darker map differs
    assert not (other == rgb).all()
    clip_rgb, _ = _photo.feature_rgb(torch.rand(1, 5, 3, 4, 4))
    assert clip_rgb.shape == (3, 4, 4, 3)


@pytest.mark.parametrize("call, match", [
    (lambda: _photo.feature_map(torch.rand(1, 3, 64, 64)),
     r"image must be \(3, Hi, Wi\) or a clip"),
    (lambda: _photo.feature_map(torch.rand(3, 60, 64)),
     r"multiples of the stride 16 of layer3, got shape \(3, 60, 64\)"),
    (lambda: _photo.feature_map(torch.rand(3, 64, 64), "layer4"), r"stage must be one of"),
    (lambda: _photo.pan_clip(torch.rand(3, 64, 64), frames=2, size=64, step=8),
     r"needs an image at least 64 high and 72 wide, got image of shape \(3, 64, 64\)"),
    (lambda: _photo.pan_clip(torch.rand(3, 64, 128), frames=2, size=32, step=8, top=40),
     r"top must be an integer in \[0, 32\], got 40"),
    (lambda: _photo.pan_clip(torch.rand(3, 64, 128), frames=0),
     r"frames must be a positive integer, got 0"),
    (lambda: _photo.pan_clip(torch.rand(1, 64, 128)),
     r"image must be an RGB image \(3, Hi, Wi\), got shape \(1, 64, 128\)"),
    (lambda: _photo.feature_rgb(torch.rand(5, 4, 4)), r"feature must be a 4 or 5-D tensor"),
    (lambda: _photo.photo("lena"), r"name must be one of \['chelsea'"),
    (lambda: _photo.photo("astronaut", 4), r"size must be an integer of at least 8, got 4"),
])
def test_inputs_reject_bad_arguments(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# ----------------------------------------------------------------------------- counts
def test_region_counts_follow_eq1_and_the_padding():
    c = ir.region_counts((28, 28), [(4, 4), (7, 7)])
    assert c["N"] == 49 + 16
    assert [r["grid"] for r in c["per_scale"]] == [(7, 7), (4, 4)]
    assert [r["cells"] for r in c["per_scale"]] == [16, 49]
    assert not any(r["padded"] for r in c["per_scale"])
    # UCF101: 8 frames of 14 x 14, scales (3, 3) and (5, 5) do not divide 14
    c = ir.region_counts((8, 14, 14), [(3, 3), (5, 5)])
    assert c["N"] == 8 * (25 + 9) == rg.ReGr(8, scales=((3, 3), (5, 5)),
                                             input_size=(8, 14, 14)).num_regions
    assert [r["regions"] for r in c["per_scale"]] == [200, 72]
    assert all(r["padded"] for r in c["per_scale"])


def test_describe_counts_says_each_scale_and_N():
    text = ir.describe_counts((8, 14, 14), [(3, 3)])
    assert text.splitlines() == ["scale (3, 3): 8 x 5 x 5 = 200 regions of P = 9 cells (padded)",
                                 "N = 200 regions in all"]
    assert ir.describe_counts((28, 28), [(4, 4), (7, 7)]).splitlines() == [
        "scale (4, 4): 7 x 7 = 49 regions of P = 16 cells",
        "scale (7, 7): 4 x 4 = 16 regions of P = 49 cells", "N = 65 regions in all"]


@pytest.mark.parametrize("scales, match", [
    ([(4, 4), (4, 4)], r"scales must not repeat a scale"),
    ([(29, 4)], r"scale \(h, w\)=\(29, 4\) must not be larger than the map \(H, W\)=\(28, 28\)"),
    ([(0, 4)], r"scales\[0\] must be a pair \(h, w\) of positive integers, got \(0, 4\)"),
    ([], r"scales must hold at least one"),
])
def test_region_counts_reject_bad_scales(scales, match):
    with pytest.raises(ValueError, match=match):
        ir.region_counts((28, 28), scales)


# ----------------------------------------------------------------------------- figures
def _texts(fig) -> list[str]:
    return [t.get_text() for ax in fig.axes for t in ax.texts]


def test_regions_figure_and_grid(photo_map):
    image, feature = photo_map
    fig = ir.regions_figure(image, feature, [(4, 4), (3, 3)])
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    assert "N = 13 regions in all" in fig._suptitle.get_text()        # 4 + 9 (3 does not divide)
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["(4, 4)", "(3, 3)"]
    fig = ir.regions_grid(image, feature, [[(1, 1)], [(4, 4)], [(4, 4), (8, 8)]])
    assert len(fig.axes) == 6
    assert [fig.axes[j].get_title() for j in (0, 1, 2)] == ["(1,1)\nN = 64", "(4,4)\nN = 4",
                                                            "(4,4) + (8,8)\nN = 5"]


def test_layout_figure_numbers_the_cells_row_by_row():
    fig = ir.layout_figure(6, 8, (3, 4))                      # divides: 4 regions of 12 cells
    assert isinstance(fig, Figure)
    labels = _texts(fig)
    assert len(labels) == 48 and labels[:12] == [str(p) for p in range(12)]
    fig = ir.layout_figure(14, 14, (5, 5), "pad")              # padded to 15 x 15: 9 x 25 slots
    assert len(_texts(fig)) == 9 * 25 and "padded to 15 x 15" in fig.axes[0].get_title()
    hatched = [p for p in fig.axes[0].patches if p.get_hatch() == "//"]
    assert len(hatched) == 15 * 15 - 14 * 14
    fig = ir.layout_figure(14, 14, (5, 5), "unequal")          # edge regions have fewer cells
    texts = _texts(fig)
    assert sorted(t for t in texts if t.startswith("P=")) == ["P=16", "P=20", "P=20", "P=20",
                                                              "P=20"]
    assert len(texts) - 5 == 14 * 14


def test_layout_figure_draws_into_a_given_axes():
    from regr_edu.interactive import new_figure
    fig, axes = new_figure(1, 2)
    assert ir.layout_figure(4, 4, (2, 2), ax=axes[1]) is fig
    assert not axes[0].texts and len(axes[1].texts) == 16


def test_clip_regions_figure(photo_map):
    clip = _photo.pan_clip(_photo.photo("astronaut", 160), frames=3, size=64, step=48)
    fig = ir.clip_regions_figure(clip, _photo.feature_map(clip), (3, 3), cols=2)
    assert len(fig.axes) == 8                                  # 2 rows of frames, 2 of maps
    assert sum(ax.axison for ax in fig.axes) == 6              # the spare panels are off
    assert "= 12 regions" in fig._suptitle.get_text()          # 3 frames x 2 x 2


@pytest.mark.parametrize("call, match", [
    (lambda im, f: ir.regions_figure(im, f, [(9, 2)]),
     r"scale \(h, w\)=\(9, 2\) must not be larger than the map \(H, W\)=\(8, 8\)"),
    (lambda im, f: ir.regions_figure(im[:, :120], f, [(2, 2)]),
     r"image \(Hi, Wi\)=\(120, 128\) must be the feature map \(H, W\)=\(8, 8\) times one whole "
     r"stride"),
    (lambda im, f: ir.regions_figure(im[:1], f, [(2, 2)]),
     r"image must be an RGB image \(3, Hi, Wi\), got shape \(1, 128, 128\)"),
    (lambda im, f: ir.regions_figure(im, torch.cat([f, f]), [(2, 2)]),
     r"feature must be one map \(1, C, H, W\), got shape \(2, 256, 8, 8\)"),
    (lambda im, f: ir.regions_grid(im, f, []), r"scale_sets must be a non-empty list"),
    (lambda im, f: ir.regions_grid(im, f, [[(2, 2)], [(2, 2), (2, 2)]]),
     r"scale_sets\[1\] must not repeat a scale"),
    (lambda im, f: ir.layout_figure(40, 14, (3, 3)), r"H must be an integer in \[1, 32\], got 40"),
    (lambda im, f: ir.layout_figure(14, 14, (3, 3), "crop"), r"reading must be one of"),
    (lambda im, f: ir.layout_figure(14, 14, (15, 3)), r"must not be larger than the map"),
    (lambda im, f: ir.clip_regions_figure(torch.rand(3, 2, 64, 64), torch.rand(1, 8, 3, 4, 4),
                                          (2, 2)),
     r"feature must be the clip's map \(1, C, T, H, W\) with T=2"),
])
def test_figures_reject_bad_arguments(photo_map, call, match):
    with pytest.raises(ValueError, match=match):
        call(*photo_map)


# ----------------------------------------------------------------------------- the widget
def test_widget_redraws_when_a_slider_moves(photo_map):
    image, feature = photo_map
    box = ir.regions_widget(image, feature, scale=(4, 4), second=(2, 2))
    assert box.h.max == 8 and box.w.max == 8 and box.h.min == 1      # the figure's own rule
    assert box.scales == ((4, 4), (2, 2))
    assert "N = 20 regions in all" in box.info.value                # 4 + 16
    first = box.image.value
    assert first[:8] == b"\x89PNG\r\n\x1a\n"

    box.h.value = 8                                                  # scale (8, 4): 2 regions
    assert box.scales == ((8, 4), (2, 2))
    assert "scale (8, 4): 1 x 2 = 2 regions of P = 32 cells" in box.info.value
    assert box.image.value != first

    box.two.value = False                                            # one scale only
    assert box.scales == ((8, 4),) and "N = 2 regions in all" in box.info.value
    assert box.h2.disabled and box.w2.disabled

    box.two.value = True
    box.h2.value, box.w2.value = 8, 4                                # the same scale twice: one set
    assert box.scales == ((8, 4),)

    box.w.value = 3                                                  # does not divide 8: padded
    assert "scale (8, 3): 1 x 3 = 3 regions of P = 24 cells (padded)" in box.info.value


def test_widget_bounds_reject_out_of_range_values(photo_map):
    image, feature = photo_map
    box = ir.regions_widget(image, feature, scale=(2, 2), second=None)
    assert not box.two.value and box.scales == ((2, 2),)
    box.h.value = 100                      # ipywidgets clamps to the bound ...
    assert box.h.value == 8 and box.scales == ((8, 2),)
    box.w.value = 0
    assert box.w.value == 1
    with pytest.raises(ValueError, match=r"must not be larger than the map"):
        ir.regions_figure(image, feature, [(100, 2)])                # ... the function says why
    with pytest.raises(ValueError, match=r"scale must be a pair"):
        ir.regions_widget(image, feature, scale=(0, 2))
