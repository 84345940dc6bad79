"""Run a student's function against the literal reference on random cases.

Each checker in :mod:`regr_edu.exercises` builds a list of :class:`Case` (named inputs) and hands
them to :func:`run_grader` with the reference; the first case where the student's output differs
(wrong type, shape, dtype or values, or an exception) is reported with its shapes and values.

The student's function and the reference each get their own copies of the inputs, so neither can
change what the other sees; a student's function that changes its inputs in place fails, naming
the argument. Values are compared within a tolerance the report states; a mismatch the size of
float32 rounding on float64 cases comes with a hint about precision.
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
class GradeResult:
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


def _copy(value: Any) -> Any:
    """A copy of a case's argument: tensors cloned, containers copied, the rest as is."""
    if isinstance(value, torch.Tensor):
        return value.detach().clone()
    if isinstance(value, tuple):
        return tuple(_copy(v) for v in value)
    if isinstance(value, list):
        return [_copy(v) for v in value]
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    return value


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, torch.Tensor):
        return (isinstance(b, torch.Tensor) and a.shape == b.shape and a.dtype == b.dtype
                and torch.equal(torch.nan_to_num(a), torch.nan_to_num(b))
                and torch.equal(torch.isnan(a), torch.isnan(b)))
    if isinstance(a, (tuple, list)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return True


def changed_inputs(case: Case, args: tuple, kwargs: dict) -> list[str]:
    """Which arguments of ``case`` differ from the copies ``args``/``kwargs`` a function got."""
    names = [f"argument {i + 1}" for i in range(len(case.args))]
    out = [n for n, a, b in zip(names, case.args, args) if not _same(a, b)]
    out += [f"{k}=" for k in case.kwargs if not _same(case.kwargs[k], kwargs.get(k))]
    return out


def _precision_hint(got: Any, want: Any) -> str:
    """A hint when ``got`` misses ``want`` by about float32 rounding on float64 cases."""
    if not (isinstance(got, torch.Tensor) and isinstance(want, torch.Tensor)
            and got.shape == want.shape and want.dtype == torch.float64
            and got.is_floating_point()):
        return ""
    g = got.to(torch.float64)
    if torch.equal(g, want) or not torch.allclose(g, want, rtol=1e-4, atol=1e-6):
        return ""
    return (" -- the differences are the size of float32 rounding: the cases are float64, so "
            "compute in the inputs' dtype (a computation in float32 cast back to float64 loses "
            "about 9 digits)")


def _shapes(case: Case) -> str:
    parts = [_describe(a) if isinstance(a, torch.Tensor) else repr(a) for a in case.args]
    parts += [f"{k}={_describe(v) if isinstance(v, torch.Tensor) else repr(v)}"
              for k, v in case.kwargs.items()]
    return ", ".join(parts)


def run_grader(student: Callable, reference: Callable, cases: Sequence[Case], *,
               what: str, rtol: float = 1e-6, atol: float = 1e-8,
               verbose: bool = True,
               hint: Callable[[Case, Any], str | None] | None = None) -> GradeResult:
    """Call ``student`` and ``reference`` on every case (each on its own copies of the inputs);
    stop at the first mismatch or the first input the student's function changed in place.

    ``hint(case, got)`` may add a sentence to a mismatch's report (e.g. that the student's
    result matches another reading of the paper)."""
    if not callable(student):
        raise TypeError(f"student_fn must be callable, got {type(student).__name__}")
    for n, case in enumerate(cases, 1):
        want = reference(*_copy(case.args), **_copy(case.kwargs))
        args, kwargs = _copy(case.args), _copy(case.kwargs)
        try:
            got = student(*args, **kwargs)
        except Exception as exc:  # the student's error is part of the report
            result = GradeResult(False, f"{what}: case {n} '{case.name}' ({_shapes(case)}) raised "
                                        f"{type(exc).__name__}: {exc}", n)
            break
        changed = changed_inputs(case, args, kwargs)
        if changed:
            result = GradeResult(False, f"{what}: case {n} '{case.name}' ({_shapes(case)}): the "
                                        f"function changed its input(s) in place "
                                        f"({', '.join(changed)}); the caller's tensors must keep "
                                        "their values: work on a copy (x.clone()) or with "
                                        "out-of-place operations (x * 2, not x.mul_(2))", n)
            break
        why = compare(got, want, rtol, atol)
        if why:
            extra = hint(case, got) if hint is not None else None
            result = GradeResult(False, f"{what}: case {n} '{case.name}' ({_shapes(case)}): {why}"
                                        f"{_precision_hint(got, want)}"
                                        f"{' -- ' + extra if extra else ''}", n)
            break
    else:
        result = GradeResult(True, f"{what}: all {len(cases)} cases match the reference "
                                   f"(within rtol={rtol:g}, atol={atol:g})", len(cases))
    if verbose:
        print(("PASS " if result.passed else "FAIL ") + result.message)
    return result
