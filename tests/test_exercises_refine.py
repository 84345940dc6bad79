"""The refine checkers: pass the reference and correct rewrites, fail the usual slips by name."""
import re

import pytest
import torch
import torch.nn.functional as F

import regr_edu as rg
from regr_edu.exercises import grade_bilinear_shift, grade_g


# ----------------------------------------------------------------------------- g
def test_check_g_passes_reference_and_a_rewrite():
    assert grade_g(rg.reference.g, verbose=False)
    assert grade_g(lambda a, b: torch.relu(1 - (a - b).abs()), verbose=False)


@pytest.mark.parametrize("wrong, case", [
    (lambda a, b: 1 - (a - b).abs(), "|a - b| > 1 gives 0, not a negative weight"),
    (lambda a, b: torch.clamp(1 - (a - b), min=0), "b above a: a = 1, b = 1.25"),
    (lambda a, b: torch.clamp(1 - (a - b) ** 2, min=0), "b above a: a = 1, b = 1.25"),
    (lambda a, b: torch.clamp(1 - (b - a), min=0), "b below a: a = 1, b = 0.25"),
])
def test_check_g_fails_wrong_versions(wrong, case):
    result = grade_g(wrong, verbose=False)
    assert not result
    assert f"'{case}" in str(result), str(result)
    assert "expected" in str(result)


def test_check_g_reports_a_python_float():
    result = grade_g(lambda a, b: max(0.0, 1 - abs(float(a) - float(b))), verbose=False)
    assert not result and "expected a tensor" in str(result)


# ----------------------------------------------------------------------------- bilinear_shift
def _vectorised(grid, dx, dy, m, swap=False, sign=1.0, use_m=True, wrap=False):
    """A correct vectorised Eq. 4, with switches that break it in the usual ways."""
    if swap:
        dx, dy = dy, dx
    dx, dy = sign * dx, sign * dy
    B, M, Hg, Wg = grid.shape
    padded = F.pad(grid, (1, 1, 1, 1), mode="circular" if wrap else "constant")
    out = torch.zeros_like(grid)
    for b in (-1, 0, 1):
        for a in (-1, 0, 1):
            w = torch.clamp(1 - (dx - a).abs(), min=0) * torch.clamp(1 - (dy - b).abs(), min=0)
            out = out + w * padded[..., 1 + b:1 + b + Hg, 1 + a:1 + a + Wg]
    return m * out if use_m else out


def test_check_bilinear_shift_passes_reference_package_and_rewrite():
    assert grade_bilinear_shift(rg.reference.bilinear_shift, verbose=False)
    assert grade_bilinear_shift(rg.bilinear_shift, verbose=False)
    assert grade_bilinear_shift(_vectorised, verbose=False)


def test_check_bilinear_shift_matches_deform_conv2d():
    from torchvision.ops import deform_conv2d

    def via_deform(grid, dx, dy, m):
        M = grid.shape[1]
        if not torch.is_tensor(m):
            m = torch.full_like(dx, m)
        eye = torch.eye(M, dtype=grid.dtype).reshape(M, M, 1, 1)
        return deform_conv2d(grid, torch.cat([dy, dx], 1), eye, mask=m)

    assert grade_bilinear_shift(via_deform, verbose=False)


@pytest.mark.parametrize("kwargs, case", [
    (dict(swap=True), "dx only, positive (read from the right)"),
    (dict(sign=-1.0), "dx only, positive (read from the right)"),
    (dict(use_m=False), "m scales the result (m random in [0, 1])"),
    (dict(wrap=True), "dx only, positive (read from the right)"),       # wraps round the edge
])
def test_check_bilinear_shift_fails_wrong_versions(kwargs, case):
    result = grade_bilinear_shift(lambda *a: _vectorised(*a, **kwargs), verbose=False)
    assert not result
    msg = str(result)
    assert f"'{case}'" in msg, msg
    assert "tensor of shape (1, 2, 3, 5)" in msg                     # the case's shapes
    assert re.search(r"first mismatch at index \(.*\): got .*, expected", msg), msg


def test_check_bilinear_shift_reports_wrong_shape_and_exceptions():
    result = grade_bilinear_shift(lambda grid, dx, dy, m: grid[:, :1], verbose=False)
    assert not result and "expected shape (1, 2, 3, 5), got shape (1, 1, 3, 5)" in str(result)

    def breaks_on_numbers(grid, dx, dy, m):
        return m.expand_as(grid) * _vectorised(grid, dx, dy, 1.0)   # m.expand fails on a float

    result = grade_bilinear_shift(breaks_on_numbers, verbose=False)
    assert not result
    assert "'m given as a number (0.5)'" in str(result) and "raised AttributeError" in str(result)


def test_checkers_print_pass_or_fail(capsys):
    grade_g(rg.reference.g)
    assert capsys.readouterr().out.startswith("PASS g(a, b): all 7 cases match the reference")
    grade_g(lambda a, b: a)
    assert capsys.readouterr().out.startswith("FAIL g(a, b): case 1")


def test_checkers_are_exported():
    import regr_edu.exercises as ex
    assert {"grade_g", "grade_bilinear_shift"} <= set(ex.__all__)
