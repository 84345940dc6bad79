"""Validation helpers: every message names the parameter, the rule and the value received."""
from __future__ import annotations

from typing import Sequence

import torch

Scale = tuple[int, int]


def check_float(name: str, x: torch.Tensor) -> None:
    """Raise ``TypeError`` unless ``x`` is a floating-point tensor."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must have a floating-point dtype, got dtype={x.dtype}")


def check_rank(name: str, x: torch.Tensor, ranks: Sequence[int], layout: str) -> None:
    """Raise ``ValueError`` unless ``x.dim()`` is one of ``ranks``."""
    if x.dim() not in ranks:
        allowed = " or ".join(str(r) for r in ranks)
        raise ValueError(f"{name} must be a {allowed}-D tensor {layout}, "
                         f"got shape {tuple(x.shape)} ({x.dim()}-D)")


def check_scale(name: str, scale: object) -> Scale:
    """Return ``scale`` as ``(h, w)`` of positive ints or raise ``ValueError``."""
    try:
        h, w = scale  # type: ignore[misc]
        ok = all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in (h, w))
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(f"{name} must be a pair (h, w) of positive integers, got {scale!r}")
    return int(h), int(w)  # type: ignore[has-type]


def check_scales(name: str, scales: object) -> tuple[Scale, ...]:
    """Return a non-empty tuple of checked scales."""
    if isinstance(scales, (str, bytes)) or not hasattr(scales, "__iter__"):
        raise ValueError(f"{name} must be a sequence of (h, w) pairs, got {scales!r}")
    out = tuple(check_scale(f"{name}[{i}]", s) for i, s in enumerate(scales))  # type: ignore
    if not out:
        raise ValueError(f"{name} must hold at least one (h, w) pair, got {scales!r}")
    if len(set(out)) != len(out):
        raise ValueError(f"{name} must not repeat a scale, got {scales!r}")
    return out


def check_choice(name: str, value: object, choices: Sequence[object]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {list(choices)}, got {value!r}")


def check_positive_int(name: str, value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value


def check_nonnegative_int(name: str, value: object) -> int:
    """A seed, a count that may be zero, a number of retries: an int (not bool) ``>= 0``."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    return value


def check_number(name: str, value: object, low: float, high: float, *, low_open: bool = False,
                 high_open: bool = False) -> float:
    """A real number (not bool, not NaN) in the interval ``low..high``; returns it as float.

    ``ValueError`` otherwise, naming ``name``, the interval (``[`` closed, ``(`` open) and the
    value."""
    import numbers
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and value == value
    if ok:
        v = float(value)
        ok = (v > low if low_open else v >= low) and (v < high if high_open else v <= high)
    if not ok:
        interval = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
        raise ValueError(f"{name} must lie in {interval}, got {value!r}")
    return float(value)


def check_in_range(name: str, x: torch.Tensor, low: float, high: float) -> None:
    """Raise ``ValueError`` if any element of ``x`` lies outside ``[low, high]``."""
    if x.numel() == 0:
        return
    nan = torch.isnan(x.detach())
    if bool(nan.any()):
        idx = tuple(int(i) for i in nan.nonzero()[0])
        raise ValueError(f"{name} must lie in [{low}, {high}], got NaN at index {idx} "
                         f"({int(nan.sum())} NaN value(s))")
    lo, hi = float(x.detach().min()), float(x.detach().max())
    if lo < low or hi > high:
        bad = lo if lo < low else hi
        raise ValueError(f"{name} must lie in [{low}, {high}], got a value of {bad:.6g}")


def as_5d(name: str, x: torch.Tensor, channels: int | None = None, *,
          dtype: torch.dtype | None = None) -> tuple[torch.Tensor, bool]:
    """Check a feature map and view it as ``(B, C, T, H, W)``; also say whether it was 4-D.

    ``dtype``: the unit's parameter dtype; outside autocast the input must have it."""
    check_float(name, x)
    check_rank(name, x, (4, 5), "(B, C, H, W) or (B, C, T, H, W)")
    if channels is not None and x.shape[1] != channels:
        raise ValueError(f"{name} must have {channels} channels (dim 1) as the unit was built "
                         f"with in_channels={channels}, got shape {tuple(x.shape)}")
    if (dtype is not None and x.dtype != dtype
            and not torch.is_autocast_enabled(x.device.type)):
        raise TypeError(f"{name} must have the unit's dtype {dtype} (that of its parameters), "
                        f"got dtype={x.dtype}; convert one of them (unit.to({x.dtype}) or "
                        f"x.to({dtype})), or run under torch.autocast")
    was_4d = x.dim() == 4
    return (x.unsqueeze(2) if was_4d else x), was_4d


def refuse_jit_script(module: object) -> None:
    """Called by ``torch.jit.script`` (as ``__prepare_scriptable__``) on a unit: TorchScript
    cannot compile the units' Python (keyword-only arguments, containers, checks), so say so
    plainly instead of letting its compiler's error through."""
    raise TypeError(f"torch.jit.script's argument must be a module TorchScript can compile, "
                    f"got {type(module).__name__}, whose forward uses Python that TorchScript "
                    f"does not support; use torch.compile(unit, dynamic=True) or "
                    f"torch.export.export(unit, (x,)) instead (both are tested on every unit)")


def check_int(name: str, value: object, low: int, high: int | None = None) -> int:
    """An integer (not bool) of at least ``low`` (and at most ``high``); returns it.

    ``ValueError`` otherwise, naming ``name``, the rule and the value."""
    if not (isinstance(value, int) and not isinstance(value, bool) and value >= low
            and (high is None or value <= high)):
        # the same words as check_nonnegative_int / check_positive_int for those two rules
        rule = ({0: "a non-negative integer", 1: "a positive integer"}.get(low)
                or f"an integer of at least {low}") if high is None \
            else f"an integer in [{low}, {high}]"
        raise ValueError(f"{name} must be {rule}, got {value!r}")
    return int(value)


def check_size(name: str, value: object, lengths: Sequence[int] = (2,)) -> tuple[int, ...]:
    """A size such as ``(H, W)`` or ``(T, H, W)``: positive integers, as many as one of
    ``lengths``; returned as a tuple of ints, else a ``ValueError``."""
    import numbers
    try:
        size = tuple(value)  # type: ignore[arg-type]
    except TypeError:
        size = ()
    if not (len(size) in lengths and all(isinstance(v, numbers.Integral) and
                                         not isinstance(v, bool) and v >= 1 for v in size)):
        names = " or ".join({2: "(H, W)", 3: "(T, H, W)"}.get(n, f"{n} numbers") for n in lengths)
        raise ValueError(f"{name} must be {names} of positive integers, got {value!r}")
    return tuple(int(v) for v in size)


def check_shape(name: str, x: torch.Tensor, shape: Sequence[int | None], layout: str) -> None:
    """A floating-point tensor of ``len(shape)`` axes whose sizes match ``shape`` (``None``:
    any size); else a ``ValueError`` naming ``name``, ``layout`` (the rule) and the shape."""
    check_float(name, x)
    if x.dim() != len(shape) or any(s is not None and s != n for s, n in zip(shape, x.shape)):
        raise ValueError(f"{name} must be {layout}, got shape {tuple(x.shape)}")


def check_list(name: str, values: object, check_item) -> list:
    """A non-empty list or tuple (not a string); ``check_item(f"{name}[i]", item)`` validates
    each item and returns it (or ``None`` to keep the item as is)."""
    if not isinstance(values, (list, tuple)) or not values:
        raise ValueError(f"{name} must be a non-empty list, got {values!r}")
    out = []
    for i, v in enumerate(values):
        checked = check_item(f"{name}[{i}]", v)
        out.append(v if checked is None else checked)
    return out
