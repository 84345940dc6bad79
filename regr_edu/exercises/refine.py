r"""Checkers for the refine chapter (Eq. 3–4).

``grade_g(student_fn)`` and ``grade_bilinear_shift(student_fn)`` run a learner's function against
the literal reference (:func:`regr_edu.reference.g`, :func:`regr_edu.reference.bilinear_shift`)
on fixed random cases, chosen so that the usual slips each fail a case whose name says what it
probes: ``dx`` and ``dy`` swapped, an offset's sign flipped, ``m`` forgotten, neighbours outside
the grid not treated as zero, a batch or a non-square grid mishandled.
"""
from __future__ import annotations

from typing import Callable

import torch

from .. import reference
from ._runner import Case, GradeResult, run_grader

DTYPE = torch.float64


def _g_cases(seed: int = 0) -> list[Case]:
    gen = torch.Generator().manual_seed(3 + seed)
    t = lambda *v: torch.tensor(v, dtype=DTYPE)                    # noqa: E731
    return [
        Case("a == b gives 1", (t(2.0), t(2.0))),
        Case("b above a: a = 1, b = 1.25", (t(1.0), t(1.25))),
        Case("b below a: a = 1, b = 0.25", (t(1.0), t(0.25))),
        Case("|a - b| = 1 gives 0", (t(0.0), t(1.0))),
        Case("|a - b| > 1 gives 0, not a negative weight", (t(0.0), t(1.6))),
        Case("vectors, element by element", (t(-1.0, 0.0, 1.0, 2.0), t(0.3, 0.3, 0.3, 0.3))),
        Case("broadcasting (3, 1) against (1, 4)",
             (torch.arange(3, dtype=DTYPE).reshape(3, 1),
              torch.rand(1, 4, generator=gen, dtype=DTYPE) * 4 - 1)),
    ]


def grade_g(student_fn: Callable, verbose: bool = True, *, seed: int = 0) -> GradeResult:
    r"""Check ``student_fn(a, b)`` against :math:`g(a, b) = \max(0, 1 - |a - b|)` (tensors in,
    a tensor of the broadcast shape out); ``seed`` draws other random cases."""
    return run_grader(student_fn, reference.g, _g_cases(seed), what="g(a, b)", verbose=verbose)


def _offsets(gen, B, Hg, Wg, low=-1.0, high=1.0):
    return torch.rand(B, 1, Hg, Wg, generator=gen, dtype=DTYPE) * (high - low) + low


def _shift_cases(seed: int = 0) -> list[Case]:
    gen = torch.Generator().manual_seed(4 + seed)
    cases = []

    def grid(B, M, Hg, Wg):
        return torch.randn(B, M, Hg, Wg, generator=gen, dtype=DTYPE)

    B, M, Hg, Wg = 1, 2, 3, 5
    zero, one = torch.zeros(B, 1, Hg, Wg, dtype=DTYPE), torch.ones(B, 1, Hg, Wg, dtype=DTYPE)
    g1 = grid(B, M, Hg, Wg)
    cases.append(Case("no move: dx = dy = 0, m = 1", (g1, zero, zero, one)))
    cases.append(Case("dx only, positive (read from the right)",
                      (g1, _offsets(gen, B, Hg, Wg, 0.1, 0.9), zero, one)))
    cases.append(Case("dx only, negative (read from the left)",
                      (g1, _offsets(gen, B, Hg, Wg, -0.9, -0.1), zero, one)))
    cases.append(Case("dy only, positive (read from below)",
                      (g1, zero, _offsets(gen, B, Hg, Wg, 0.1, 0.9), one)))
    cases.append(Case("whole-cell moves dx = +1, dy = -1: the edge reads zeros outside",
                      (g1, one, -one, one)))
    cases.append(Case("m scales the result (m random in [0, 1])",
                      (g1, zero, zero, torch.rand(B, 1, Hg, Wg, generator=gen, dtype=DTYPE))))
    B, M, Hg, Wg = 2, 3, 4, 6
    cases.append(Case("batch of 2, dx, dy and m all random per region",
                      (grid(B, M, Hg, Wg), _offsets(gen, B, Hg, Wg), _offsets(gen, B, Hg, Wg),
                       torch.rand(B, 1, Hg, Wg, generator=gen, dtype=DTYPE))))
    cases.append(Case("m given as a number (0.5)",
                      (grid(1, 2, 5, 4), _offsets(gen, 1, 5, 4), _offsets(gen, 1, 5, 4), 0.5)))
    cases.append(Case("a one-row grid (Hg = 1)",
                      (grid(1, 2, 1, 4), _offsets(gen, 1, 1, 4), _offsets(gen, 1, 1, 4),
                       torch.rand(1, 1, 1, 4, generator=gen, dtype=DTYPE))))
    return cases


def grade_bilinear_shift(student_fn: Callable, verbose: bool = True, *,
                         seed: int = 0) -> GradeResult:
    r"""Check ``student_fn(grid, dx, dy, m)`` against Eq. 4.

    ``grid`` ``(B, M, Hg, Wg)``; ``dx``, ``dy`` ``(B, 1, Hg, Wg)`` in ``[-1, 1]``; ``m``
    ``(B, 1, Hg, Wg)`` in ``[0, 1]`` or a number. Return ``(B, M, Hg, Wg)`` with
    ``out[b, :, y, x] = m * sum over the 3x3 neighbours q of g(q_x, x+dx) g(q_y, y+dy) grid[b, :, q]``
    (``x`` along the width, cells outside the grid are zero). ``seed`` draws other random cases.
    """
    return run_grader(student_fn, reference.bilinear_shift, _shift_cases(seed),
                      what="bilinear_shift (Eq. 4)", verbose=verbose)


__all__ = ["grade_g", "grade_bilinear_shift"]
