"""The synthetic relational tasks: index-based determinism, balance, and the design's claims."""
from __future__ import annotations

import pytest
import torch

from regr_edu.data.synthetic import (SHAPES, SyntheticClips, SyntheticImages, corner_box,
                                     corners_separated, receptive_field_spans)


def test_images_are_a_function_of_seed_split_and_index():
    a, b = SyntheticImages(64, seed=3), SyntheticImages(64, seed=3)
    order = [17, 3, 63, 0]
    for i in order:                                   # any access order, any instance
        xa, ya = a[i]
        xb, yb = b[i]
        torch.testing.assert_close(xa, xb, rtol=0, atol=0)
        assert ya == yb
    assert not torch.equal(a[5][0], SyntheticImages(64, seed=4)[5][0])
    assert not torch.equal(a[5][0], SyntheticImages(64, seed=3, split="test")[5][0])
    assert a[-1][1] == a[63][1]


def test_images_shape_range_and_labels():
    ds = SyntheticImages(200, seed=0)
    x, y = ds[0]
    assert x.shape == (3, 64, 64) and x.dtype == torch.float32
    assert 0.0 <= float(x.min()) and float(x.max()) <= 1.0
    labels = ds.targets
    assert 70 < sum(labels) < 130                      # balanced
    for i in range(20):
        meta = ds.meta(i)
        assert meta["label"] == ds[i][1] == int(meta["shapes"][0] == meta["shapes"][1])
        assert len(set(meta["corners"])) == 2
        assert set(meta["shapes"]) <= set(SHAPES[:4])


def test_each_glyph_alone_is_uninformative():
    """Each glyph's shape is (close to) uniform in both classes: one glyph says nothing."""
    ds = SyntheticImages(2000, seed=1)
    counts = {0: {}, 1: {}}
    for i in range(len(ds)):
        m = ds.meta(i)
        counts[m["label"]][m["shapes"][0]] = counts[m["label"]].get(m["shapes"][0], 0) + 1
    for label, c in counts.items():
        total = sum(c.values())
        assert all(abs(v / total - 0.25) < 0.05 for v in c.values()), (label, c)


def test_corner_boxes_lie_in_no_common_receptive_field():
    from regr_edu.models import small_resnet
    model = small_resnet(2)
    spans = receptive_field_spans(model, "layer3", 64)
    assert spans[3] == (1, 47) and spans[4] == (9, 55)           # 47-pixel fields, stride 8
    assert corner_box(64) == 9
    assert corners_separated(spans, 64)
    # a 12-pixel box would not be: the design depends on the box
    assert any(lo < 12 and hi >= 64 - 12 for lo, hi in spans)


def test_clips_move_as_labelled():
    ds = SyntheticClips(30, seed=2, noise=0.0, clutter=0)
    for i in range(12):
        clip, label = ds[i]
        assert clip.shape == (3, 8, 64, 64)
        meta = ds.meta(i)
        da, db = meta["directions"]
        opposite = {"R": "L", "L": "R", "U": "D", "D": "U"}
        expected = 0 if da == db else 1 if opposite[da] == db else 2
        assert label == meta["label"] == expected
        # the squares brighten: the last frame's brightest pixel is brighter than the first's
        assert float(clip[:, -1].max()) > float(clip[:, 0].max()) + 0.3


def test_bad_arguments():
    with pytest.raises(ValueError, match="size must be an int >= 60"):
        SyntheticImages(10, size=48)
    with pytest.raises(ValueError, match="split must be one of"):
        SyntheticImages(10, split="val")
    with pytest.raises(ValueError, match="num_shapes must be an int in"):
        SyntheticImages(10, num_shapes=9)
    with pytest.raises(IndexError, match="index must be in"):
        SyntheticImages(10)[10]
    with pytest.raises(ValueError, match="side must be smaller than the corner box"):
        SyntheticClips(10, side=9)
