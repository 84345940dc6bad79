r"""Checkers for Eq. 1 (:math:`\rho`): a learner's ``split_regions`` and ``merge_regions``.

Each runs the learner's function and the literal reference (:mod:`regr_edu.reference`) on the
same random cases — 4-D images and 5-D clips, square and oblong scales, ``(1, 1)`` and a scale as
large as the map — and reports the first case that differs, with its shapes and values. The
cases are chosen so the usual slips show: a square scale on a square grid (cells taken column by
column still give the right *shape*, so only the values can tell), oblong scales and grids (a
transposed grid or region changes the shape), several frames and batch entries.
"""
from __future__ import annotations

from typing import Callable

import torch

from .. import reference
from ._runner import Case, GradeResult, run_grader

# (map shape, scale, what the case is for)
SPLIT_CASES = [
    ((1, 1, 4, 4), (2, 2), "4-D, one channel, square scale on a square grid"),
    ((2, 3, 8, 12), (4, 3), "4-D, oblong map and scale"),
    ((1, 4, 6, 6), (3, 3), "4-D, square scale, several channels"),
    ((2, 2, 6, 10), (3, 5), "4-D, Gh = Gw with h != w"),
    ((1, 3, 5, 7), (1, 1), "4-D, scale (1, 1): one cell per region"),
    ((1, 2, 6, 4), (6, 4), "4-D, one region: the scale is the whole map"),
    ((2, 3, 3, 8, 6), (2, 3), "5-D clip, T = 3"),
    ((1, 2, 4, 4, 4), (2, 2), "5-D clip, square scale, T = 4"),
    ((2, 2, 2, 6, 9), (3, 3), "5-D clip, oblong map"),
    ((1, 1, 1, 7, 7), (7, 7), "5-D, T = 1, one region"),
]


def split_cases(seed: int = 0) -> list[Case]:
    """Random float64 maps for :func:`grade_split_regions`: ``(x, scale)`` per case."""
    g = torch.Generator().manual_seed(seed)
    return [Case(name, (torch.randn(*shape, generator=g, dtype=torch.float64), scale))
            for shape, scale, name in SPLIT_CASES]


def merge_cases(seed: int = 0) -> list[Case]:
    """Region tensors for :func:`grade_merge_regions`: ``(regions, scale)`` per case, made by the
    reference split of random maps (so each has a known answer: the map itself)."""
    return [Case(c.name, (reference.split_regions(*c.args), c.args[1]))
            for c in split_cases(seed)]


def grade_split_regions(student_fn: Callable, *, seed: int = 0,
                        verbose: bool = True) -> GradeResult:
    r"""Check ``student_fn(x, scale)`` against :func:`regr_edu.reference.split_regions`.

    ``student_fn`` must map ``(B, C, H, W) -> (B, H//h, W//w, C, h*w)`` and
    ``(B, C, T, H, W) -> (B, T, H//h, W//w, C, h*w)``, cells of a region in row-major order.
    The values must match exactly (splitting only moves numbers).
    """
    return run_grader(student_fn, reference.split_regions, split_cases(seed),
                      what="split_regions", rtol=0.0, atol=0.0, verbose=verbose)


def grade_merge_regions(student_fn: Callable, *, seed: int = 0,
                        verbose: bool = True) -> GradeResult:
    r"""Check ``student_fn(regions, scale)`` against :func:`regr_edu.reference.merge_regions`,
    the inverse of the split: ``(B, [T,] Gh, Gw, C, h*w) -> (B, C, [T,] Gh*h, Gw*w)``."""
    return run_grader(student_fn, reference.merge_regions, merge_cases(seed),
                      what="merge_regions", rtol=0.0, atol=0.0, verbose=verbose)
