r"""Checkers for Eq. 2: a learner's ``aggregate`` (:math:`A = \mu\,\mathrm{softmax}_P(\nu)^\top`)
and ``recover_region`` (:math:`A\,(\nu^\top)^{+}`).

The learner's functions work on many regions at once, like the package's: ``mu`` is
``(..., c_mu, P)`` and ``nu`` is ``(..., c_nu, P)`` for any leading dimensions (one region, the
regions of an image ``(B, Gh, Gw, ., P)`` or of a clip ``(B, T, Gh, Gw, ., P)``). The reference is
the literal, one-region-at-a-time code of :mod:`regr_edu.reference`, called region by region.
"""
from __future__ import annotations

import itertools
from typing import Callable

import torch

from .. import reference
from ._runner import Case, GradeResult, run_grader


def reference_aggregate(mu: torch.Tensor, nu: torch.Tensor,
                        nu_softmax: bool = True) -> torch.Tensor:
    r"""Eq. 2 region by region with :func:`regr_edu.reference.aggregate_region`.

    That function takes a region's raw cells and the 1x1 convolutions' weights; here the cells are
    ``mu`` stacked over ``nu`` and the weights pick them apart again (identity blocks, no bias),
    so it computes :math:`\mu\,\mathrm{softmax}_P(\nu)^\top` with its own loops.
    """
    lead = mu.shape[:-2]
    c_mu, c_nu = mu.shape[-2], nu.shape[-2]
    eye = torch.eye(c_mu + c_nu, dtype=mu.dtype, device=mu.device)
    pick_mu, pick_nu = eye[:c_mu], eye[c_mu:]                       # (c_mu, c_mu+c_nu), (c_nu, ...)
    out = mu.new_zeros(*lead, c_mu, c_nu)
    for idx in itertools.product(*(range(n) for n in lead)):
        cells = torch.cat([mu[idx], nu[idx]], dim=0)                # (c_mu + c_nu, P)
        out[idx] = reference.aggregate_region(cells, pick_mu, None, pick_nu, None, nu_softmax)
    return out


# (leading shape, c_mu, c_nu, P, nu_softmax, logit scale, what the case is for)
AGGREGATE_CASES = [
    ((), 3, 2, 5, True, 2.0, "one region, softmax on nu"),
    ((), 4, 4, 6, True, 2.0, "one region, c_mu = c_nu (a transposed result keeps its shape)"),
    ((), 3, 2, 5, False, 2.0, "one region, no softmax (nu_softmax=False)"),
    ((2, 3, 2), 4, 3, 4, True, 2.0, "an image's regions (B, Gh, Gw, c, P), scale (2, 2)"),
    ((1, 2, 2, 3), 2, 5, 6, True, 2.0, "a clip's regions (B, T, Gh, Gw, c, P), scale (2, 3)"),
    ((2, 1, 3, 1), 3, 3, 9, False, 2.0, "a clip's regions, no softmax"),
    ((4,), 2, 3, 1, True, 2.0, "scale (1, 1): one cell, the softmax weight is 1"),
    ((2,), 3, 2, 49, True, 2.0, "scale (7, 7): P = 49"),
    ((3,), 2, 2, 8, True, 400.0, "large logits (a softmax must subtract the max)"),
]


def aggregate_cases(seed: int = 0) -> list[Case]:
    """Random float64 ``(mu, nu)`` and ``nu_softmax`` for :func:`grade_aggregate`."""
    g = torch.Generator().manual_seed(seed)
    cases = []
    for lead, c_mu, c_nu, P, soft, scale, name in AGGREGATE_CASES:
        mu = torch.randn(*lead, c_mu, P, generator=g, dtype=torch.float64)
        nu = scale * torch.randn(*lead, c_nu, P, generator=g, dtype=torch.float64)
        cases.append(Case(name, (mu, nu), {"nu_softmax": soft}))
    return cases


def grade_aggregate(student_fn: Callable, *, seed: int = 0, verbose: bool = True) -> GradeResult:
    r"""Check ``student_fn(mu, nu, nu_softmax=True)`` against Eq. 2, region by region.

    ``mu`` ``(..., c_mu, P)``, ``nu`` ``(..., c_nu, P)`` -> ``(..., c_mu, c_nu)``; with
    ``nu_softmax`` each row of ``nu`` first goes through a softmax over the ``P`` cells.
    """
    return run_grader(student_fn, reference_aggregate, aggregate_cases(seed),
                      what="aggregate", rtol=1e-6, atol=1e-9, verbose=verbose)


# (leading shape, c_mu, c_nu, P, what the case is for)
RECOVER_CASES = [
    ((), 3, 6, 4, "one region, c_nu > P: exact"),
    ((), 2, 5, 5, "one region, c_nu = P: exact"),
    ((), 3, 2, 6, "one region, c_nu < P: least squares"),
    ((4,), 3, 9, 4, "4 regions, c_nu > P"),
    ((2, 3, 2), 2, 3, 4, "an image's regions (B, Gh, Gw, ., .), c_nu < P"),
    ((1, 2, 2, 2), 4, 6, 4, "a clip's regions (B, T, Gh, Gw, ., .), c_nu > P"),
    ((2,), 3, 8, 16, "scale (4, 4) with c_nu = 8 < P = 16"),
]


def recover_cases(seed: int = 0) -> list[Case]:
    """``(A, nu_features)`` for :func:`grade_recover_region`, with ``A = mu nu^T`` of random
    ``mu`` (so where ``c_nu >= P`` the answer is ``mu`` itself)."""
    g = torch.Generator().manual_seed(seed)
    cases = []
    for lead, c_mu, c_nu, P, name in RECOVER_CASES:
        mu = torch.randn(*lead, c_mu, P, generator=g, dtype=torch.float64)
        nu = torch.randn(*lead, c_nu, P, generator=g, dtype=torch.float64)
        cases.append(Case(name, (mu @ nu.transpose(-1, -2), nu)))
    return cases


def grade_recover_region(student_fn: Callable, *, seed: int = 0,
                         verbose: bool = True) -> GradeResult:
    r"""Check ``student_fn(A, nu_features)`` against :func:`regr_edu.reference.recover_region`.

    ``A`` ``(..., c_mu, c_nu)``, ``nu_features`` ``(..., c_nu, P)`` -> ``(..., c_mu, P)``: the
    least-squares (minimum-norm) solution of :math:`\hat\mu\,\nu^\top = A`, i.e.
    :math:`A\,(\nu^\top)^{+}`. Cases cover ``c_nu > P``, ``= P`` and ``< P``.
    """
    return run_grader(student_fn, reference.recover_region, recover_cases(seed),
                      what="recover_region", rtol=1e-6, atol=1e-8, verbose=verbose)
