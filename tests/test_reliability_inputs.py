"""Every bad input is a ValueError/TypeError of ours that names the parameter, the rule and the
value -- never silent acceptance, never a torch error from deep inside -- and an empty batch
gives an empty result. The last tests feed random shapes, scales, dtypes and strides
(``hypothesis``) to the region functions and to the unit.
"""
from __future__ import annotations

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import regr_edu as rg
from regr_edu.refine import Refine

UNITS = ["regr", "nl", "cgnl", "glore"]


def _unit(name: str, channels: int = 16):
    if name == "regr":
        return rg.ReGr(channels, scales=((2, 2), (4, 4)))
    return rg.create_unit(name, channels)


def test_refine_must_be_a_bool():
    with pytest.raises(ValueError, match=r"refine must be one of \[True, False\], got 'no'"):
        rg.ReGr(64, refine="no")


def test_merge_with_another_scale_than_the_split_is_refused():
    x = torch.randn(1, 3, 6, 6)
    regions = rg.split_regions(x, (2, 3))
    with pytest.raises(ValueError, match=r"split with, \(2, 3\), got \(3, 2\)"):
        rg.merge_regions(regions, (3, 2))
    assert torch.equal(rg.merge_regions(regions, (2, 3)), x)


def test_nan_offsets_are_refused_by_bilinear_shift():
    grid, zero = torch.randn(1, 2, 3, 3), torch.zeros(1, 1, 3, 3)
    dx = zero.clone()
    dx[0, 0, 1, 2] = float("nan")
    with pytest.raises(ValueError, match=r"dx must lie in \[-1.0, 1.0\], got NaN at index "
                                         r"\(0, 0, 1, 2\)"):
        rg.bilinear_shift(grid, dx, zero)


def test_an_option_of_another_relation_is_refused():
    with pytest.raises(ValueError, match="relation_norm applies to relation='bilinear' only.*"
                                         "relation='gcn'.*relation_norm='dot'"):
        rg.ReGr(64, relation="gcn", input_size=(14, 14), relation_norm="dot")
    with pytest.raises(ValueError, match="gcn_scale applies to relation='gcn' only"):
        rg.ReGr(64, gcn_scale=False)


def test_refine_with_zero_channels_is_refused():
    with pytest.raises(ValueError, match="channels must be a positive integer, got 0"):
        Refine(0)


@pytest.mark.parametrize("name", UNITS)
@pytest.mark.parametrize("training", [True, False])
def test_an_empty_batch_gives_an_empty_result(name, training):
    unit = _unit(name).train(training)
    for shape in ((0, 16, 8, 8), (0, 16, 2, 8, 8)):
        x = torch.randn(*shape)
        y = unit(x)
        assert y.shape == x.shape


@pytest.mark.parametrize("name", UNITS)
def test_an_input_of_another_dtype_than_the_unit_is_our_error(name):
    unit = _unit(name)
    with pytest.raises(TypeError, match=r"x must have the unit's dtype torch.float32.*"
                                        r"got dtype=torch.float64"):
        unit(torch.randn(2, 16, 8, 8, dtype=torch.float64))


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
@pytest.mark.parametrize("channels", [16, 256])     # 256: the oneDNN products
def test_a_nan_cell_in_training_is_refused_before_it_poisons_batchnorm(bad, channels):
    unit = rg.ReGr(channels, scales=((2, 2),)).train()
    with torch.no_grad():
        unit.mu.weight[:, 5] = 0.0                    # 0 * inf is NaN: still seen
    x = torch.randn(2, channels, 4, 4)
    x[1, 5, 2, 3] = bad
    before = unit.bn.running_mean.clone()
    with pytest.raises(ValueError, match=r"x must hold finite values in training mode.*"
                                         r"index \(1, 5, 0, 2, 3\)"):
        unit(x)
    assert torch.equal(unit.bn.running_mean, before)
    unit.eval()                      # evaluation does not touch the statistics: allowed
    assert torch.isnan(unit(x)).any()


# --- property-based: random shapes, scales, dtypes and strides ---------------------------------
DTYPES = [torch.float32, torch.float64, torch.float16, torch.bfloat16, torch.int64, torch.bool]


def _make(shape, dtype, layout):
    """A tensor of ``shape`` and ``dtype`` that is contiguous, transposed (same shape, other
    strides) or a strided slice."""
    base = torch.randn(*shape) * 3
    if layout == "transposed":
        base = torch.randn(*shape[:-2], shape[-1], shape[-2]).transpose(-1, -2) * 3
    elif layout == "sliced":
        base = (torch.randn(*shape[:-1], 2 * shape[-1]) * 3)[..., ::2]
    return base.to(dtype)


def _ours(err: Exception) -> bool:
    return isinstance(err, (ValueError, TypeError)) and " must " in str(err)


shapes = st.tuples(st.integers(0, 2), st.integers(1, 3), st.sampled_from([None, 1, 2]),
                   st.integers(1, 9), st.integers(1, 9))
scales = st.one_of(st.tuples(st.integers(0, 10), st.integers(0, 10)),
                   st.sampled_from([(2,), (1, 2, 3), "ab", 3, (1.5, 2), (True, 1), None]))
FAST = settings(max_examples=100, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(shape=shapes, scale=scales, dtype=st.sampled_from(DTYPES),
       layout=st.sampled_from(["contiguous", "transposed", "sliced"]))
def test_property_split_and_merge(shape, scale, dtype, layout):
    B, C, T, H, W = shape
    full = (B, C, H, W) if T is None else (B, C, T, H, W)
    x = _make(full, dtype, layout)
    try:
        regions = rg.split_regions(x, scale)
    except Exception as err:  # noqa: BLE001 - the property is about which errors
        assert _ours(err), f"{type(err).__name__}: {err}"
        return
    h, w = scale
    lead = (B, H // h, W // w) if T is None else (B, T, H // h, W // w)
    assert regions.shape == (*lead, C, h * w)
    assert torch.equal(rg.merge_regions(regions, scale), x)


UNIT_CACHE: dict = {}


def _cached_unit(scale, relation, refine):
    key = (scale, relation, refine)
    if key not in UNIT_CACHE:
        UNIT_CACHE[key] = rg.ReGr(8, scales=(scale,), relation=relation, refine=refine,
                                  mu_channels=2, nu_channels=2)
    return UNIT_CACHE[key]


@FAST
@given(shape=st.tuples(st.integers(0, 2), st.sampled_from([8, 8, 8, 3]),
                       st.sampled_from([None, 1, 2]), st.integers(1, 7), st.integers(1, 7)),
       scale=st.tuples(st.integers(1, 4), st.integers(1, 4)),
       relation=st.sampled_from(["bilinear", "attention"]), refine=st.booleans(),
       dtype=st.sampled_from(DTYPES), layout=st.sampled_from(["contiguous", "transposed",
                                                              "sliced"]),
       training=st.booleans())
def test_property_the_unit(shape, scale, relation, refine, dtype, layout, training):
    B, C, T, H, W = shape
    full = (B, C, H, W) if T is None else (B, C, T, H, W)
    x = _make(full, dtype, layout)
    unit = _cached_unit(scale, relation, refine).train(training)
    try:
        with torch.no_grad():
            y = unit(x)
    except Exception as err:  # noqa: BLE001 - the property is about which errors
        assert _ours(err), f"{type(err).__name__}: {err}"
        return
    assert y.shape == x.shape and y.dtype == x.dtype
    if B:
        assert torch.isfinite(y).all()
