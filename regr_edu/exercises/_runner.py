"""Run a student's function against the literal reference on random cases.

Each checker in :mod:`regr_edu.exercises` builds a list of :class:`Case` (named inputs) and hands
them to :func:`run_checks` with the reference; the first case where the student's output differs
(wrong type, shape, dtype or values, or an exception) is reported with its shapes and values.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import torch


@dataclass
class Case:
    """One test case: a name and the positional/keyword arguments for both functions."""
    name: str
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)


@dataclass
class CheckResult:
    """What a checker found. ``bool(result)`` is ``passed``; ``str(result)`` is the report."""
    passed: bool
    message: str
    cases_run: int

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        return self.message

    def _repr_markdown_(self) -> str:  # shown nicely in a notebook
        icon = "✅" if self.passed else "❌"
        return f"{icon} {self.message}"


def _describe(t: Any) -> str:
    if isinstance(t, torch.Tensor):
        return f"tensor of shape {tuple(t.shape)}, dtype {t.dtype}"
    return f"{type(t).__name__}"


def _first_difference(got: torch.Tensor, want: torch.Tensor, rtol: float, atol: float) -> str:
    diff = (got - want).abs()
    bad = ~(diff <= (atol + rtol * want.abs()))     # NaN differences count as mismatches
    idx = tuple(int(i) for i in bad.nonzero()[0]) if bad.any() else tuple(
        int(i) for i in torch.nonzero(diff == diff.max())[0])
    return (f"first mismatch at index {idx}: got {float(got[idx]):.6g}, expected "
            f"{float(want[idx]):.6g} ({int(bad.sum())} of {bad.numel()} values differ, "
            f"largest difference {float(diff.max()):.3g})")


def compare(got: Any, want: Any, rtol: float = 1e-6, atol: float = 1e-8) -> str | None:
    """``None`` if ``got`` matches ``want`` (tensors, or tuples/lists of tensors), else why not."""
    if isinstance(want, (tuple, list)):
        if not isinstance(got, (tuple, list)) or len(got) != len(want):
            return f"expected a sequence of {len(want)} results, got {_describe(got)}"
        for k, (g, w) in enumerate(zip(got, want)):
            why = compare(g, w, rtol, atol)
            if why:
                return f"result [{k}]: {why}"
        return None
    if not isinstance(got, torch.Tensor):
        return f"expected a {_describe(want)}, got {_describe(got)}"
    if tuple(got.shape) != tuple(want.shape):
        return f"expected shape {tuple(want.shape)}, got shape {tuple(got.shape)}"
    if got.dtype != want.dtype:
        return f"expected dtype {want.dtype}, got dtype {got.dtype}"
    if not torch.allclose(got, want, rtol=rtol, atol=atol):
        return _first_difference(got, want, rtol, atol)
    return None


def _shapes(case: Case) -> str:
    parts = [_describe(a) if isinstance(a, torch.Tensor) else repr(a) for a in case.args]
    parts += [f"{k}={_describe(v) if isinstance(v, torch.Tensor) else repr(v)}"
              for k, v in case.kwargs.items()]
    return ", ".join(parts)


def run_checks(student: Callable, reference: Callable, cases: Sequence[Case], *,
               what: str, rtol: float = 1e-6, atol: float = 1e-8,
               verbose: bool = True) -> CheckResult:
    """Call ``student`` and ``reference`` on every case; stop at the first mismatch."""
    if not callable(student):
        raise TypeError(f"student_fn must be callable, got {type(student).__name__}")
    for n, case in enumerate(cases, 1):
        want = reference(*case.args, **case.kwargs)
        try:
            got = student(*case.args, **case.kwargs)
        except Exception as exc:  # the student's error is part of the report
            result = CheckResult(False, f"{what}: case {n} '{case.name}' ({_shapes(case)}) raised "
                                        f"{type(exc).__name__}: {exc}", n)
            break
        why = compare(got, want, rtol, atol)
        if why:
            result = CheckResult(False, f"{what}: case {n} '{case.name}' ({_shapes(case)}): {why}", n)
            break
    else:
        result = CheckResult(True, f"{what}: all {len(cases)} cases match the reference", len(cases))
    if verbose:
        print(("PASS " if result.passed else "FAIL ") + result.message)
    return result
