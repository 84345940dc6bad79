"""The Eq. 1 checkers: pass the reference and correct rewrites, fail the usual slips by name."""
import pytest
import torch
import torch.nn.functional as F
from einops import rearrange

import regr_edu as rg
from regr_edu.exercises import grade_merge_regions, grade_split_regions
from regr_edu.exercises.regions import SPLIT_CASES


# ----------------------------------------------------------------------------- correct versions
def _split_einops(x, scale):
    h, w = scale
    pattern = ("b c (gh h) (gw w) -> b gh gw c (h w)" if x.dim() == 4
               else "b c t (gh h) (gw w) -> b t gh gw c (h w)")
    return rearrange(x, pattern, h=h, w=w)


def _split_unfold(x, scale):
    """F.unfold with stride = kernel: columns are regions, rows are (C, h, w) row-major."""
    h, w = scale
    x5 = x.unsqueeze(2) if x.dim() == 4 else x
    B, C, T, H, W = x5.shape
    frames = x5.permute(0, 2, 1, 3, 4).reshape(B * T, C, H, W)
    cols = F.unfold(frames, (h, w), stride=(h, w))               # (B*T, C*h*w, Gh*Gw)
    r = cols.reshape(B, T, C, h * w, H // h, W // w).permute(0, 1, 4, 5, 2, 3)
    return r[:, 0] if x.dim() == 4 else r


def _split_frames_stacked(x, scale):
    """A clip's frames stacked into one tall image: h divides H, so no region spans two frames."""
    if x.dim() == 4:
        return rg.split_regions(x, scale)
    B, C, T, H, W = x.shape
    r = rg.split_regions(x.reshape(B, C, T * H, W), scale)        # (B, T*Gh, Gw, C, P)
    return r.reshape(B, T, H // scale[0], W // scale[1], C, -1)


def _merge_einops(regions, scale):
    h, w = scale
    pattern = ("b gh gw c (h w) -> b c (gh h) (gw w)" if regions.dim() == 5
               else "b t gh gw c (h w) -> b c t (gh h) (gw w)")
    return rearrange(regions, pattern, h=h, w=w)


@pytest.mark.parametrize("fn", [rg.reference.split_regions, rg.split_regions, _split_einops,
                                _split_unfold, _split_frames_stacked])
def test_check_split_passes_correct_versions(fn):
    result = grade_split_regions(fn, verbose=False)
    assert result and result.cases_run == len(SPLIT_CASES), str(result)


@pytest.mark.parametrize("fn", [rg.reference.merge_regions, rg.merge_regions, _merge_einops])
def test_check_merge_passes_correct_versions(fn):
    assert grade_merge_regions(fn, verbose=False)


def test_cases_cover_images_clips_and_scales():
    ranks = {len(shape) for shape, _, _ in SPLIT_CASES}
    scales = {scale for _, scale, _ in SPLIT_CASES}
    assert ranks == {4, 5}
    assert (1, 1) in scales and any(h != w for h, w in scales) and len(scales) >= 6
    assert any(len(s) == 5 and s[2] > 1 for s, _, _ in SPLIT_CASES)          # T > 1


# ----------------------------------------------------------------------------- wrong versions
def _column_major(x, scale):
    """Cells of a region taken column by column."""
    h, w = scale
    r = rg.split_regions(x, scale)
    return r.reshape(*r.shape[:-1], h, w).transpose(-1, -2).reshape(r.shape)


def _transposed_grid(x, scale):
    """Regions numbered column by column: (Gw, Gh) instead of (Gh, Gw)."""
    r = rg.split_regions(x, scale)
    return r.transpose(-4, -3)


def _channels_last(x, scale):
    """(…, P, C) instead of (…, C, P)."""
    return rg.split_regions(x, scale).transpose(-1, -2)


def _scale_as_w_h(x, scale):
    """Reads the scale as (w, h)."""
    return rg.split_regions(x, (scale[1], scale[0]))


def _plain_reshape(x, scale):
    """A reshape without the permute: cells of a region are not contiguous in memory."""
    h, w = scale
    x5 = x.unsqueeze(2) if x.dim() == 4 else x
    B, C, T, H, W = x5.shape
    r = x5.permute(0, 2, 1, 3, 4).reshape(B, T, H // h, W // w, C, h * w)
    return r[:, 0] if x.dim() == 4 else r


def _frames_as_channels(x, scale):
    """Forgets T: folds the frames into the channels, then unfolds them in the wrong order."""
    if x.dim() == 4:
        return rg.split_regions(x, scale)
    B, C, T, H, W = x.shape
    r = rg.split_regions(x.reshape(B, C * T, H, W), scale)        # (B, Gh, Gw, C*T, P)
    return r.reshape(B, H // scale[0], W // scale[1], T, C, -1).permute(0, 3, 1, 2, 4, 5)


@pytest.mark.parametrize("wrong, case, detail", [
    (_column_major, "4-D, one channel, square scale on a square grid", "first mismatch at index"),
    (_transposed_grid, "4-D, one channel, square scale on a square grid", "first mismatch"),
    (_channels_last, "4-D, one channel, square scale on a square grid",
     "expected shape (1, 2, 2, 1, 4), got shape (1, 2, 2, 4, 1)"),
    (_scale_as_w_h, "4-D, oblong map and scale", "raised ValueError: scale (h, w)=(3, 4) must "
                                                 "divide the map size (H, W)=(8, 12)"),
    (_plain_reshape, "4-D, one channel, square scale on a square grid", "first mismatch"),
])
def test_check_split_fails_wrong_versions(wrong, case, detail):
    result = grade_split_regions(wrong, verbose=False)
    assert not result
    message = str(result)
    assert f"'{case}'" in message, message
    assert detail in message, message
    assert "tensor of shape" in message                        # the case's input shapes


def test_transposed_grid_on_an_oblong_grid_is_a_shape_error():
    r = _transposed_grid(torch.randn(2, 3, 8, 12), (4, 3))
    assert r.shape == (2, 4, 2, 3, 12) != rg.split_regions(torch.randn(2, 3, 8, 12), (4, 3)).shape


def test_check_split_catches_a_version_that_only_works_on_images():
    result = grade_split_regions(_frames_as_channels, verbose=False)
    assert not result and "5-D clip" in str(result), str(result)
    assert "got" in str(result) and "expected" in str(result)


def test_check_split_reports_an_exception_and_the_values():
    def not_yet(x, scale):
        raise NotImplementedError("your code here")

    result = grade_split_regions(not_yet, verbose=False)
    assert not result and "raised NotImplementedError: your code here" in str(result)
    result = grade_split_regions(_column_major, verbose=False)
    assert "got" in str(result) and "expected" in str(result) and "values differ" in str(result)


def test_check_merge_fails_wrong_versions():
    def column_major(regions, scale):
        h, w = scale
        r = regions.reshape(*regions.shape[:-1], w, h).transpose(-1, -2).reshape(regions.shape)
        return rg.merge_regions(r, scale)

    def transposed_map(regions, scale):
        return rg.merge_regions(regions, scale).transpose(-1, -2)

    assert not grade_merge_regions(column_major, verbose=False)
    result = grade_merge_regions(transposed_map, verbose=False)
    assert not result and "'4-D, one channel, square scale on a square grid'" in str(result)
    assert "first mismatch" in str(result)

    def transposed_oblong(regions, scale):      # square maps right, oblong ones transposed
        out = rg.merge_regions(regions, scale)
        return out if out.shape[-1] == out.shape[-2] else out.transpose(-1, -2)

    result = grade_merge_regions(transposed_oblong, verbose=False)
    assert not result and "expected shape (2, 3, 8, 12), got shape (2, 3, 12, 8)" in str(result)
    assert "'4-D, oblong map and scale'" in str(result)


def test_checker_prints_pass_or_fail(capsys):
    grade_split_regions(rg.split_regions)
    grade_split_regions(_column_major)
    out = capsys.readouterr().out
    assert out.startswith("PASS split_regions: all 10 cases")
    assert "\nFAIL split_regions: case 1" in out


def test_checker_rejects_a_non_callable():
    with pytest.raises(TypeError, match="student_fn must be callable, got int"):
        grade_split_regions(3)
