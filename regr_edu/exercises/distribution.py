r"""Exercises for Eq. 11–13 and the residual: graders that run a learner's function.

- :func:`grade_gather` — Eq. 11–12, :math:`\mathbf{z}_i = \sum_j r_{ij}\mathbf{v}_j`:
  ``student_fn(R, V) -> Z`` with ``R`` ``(B, N, N)`` and ``V`` ``(B, N, M)``.
- :func:`grade_distribute` — Eq. 13 for every region of one scale, our reading:
  ``student_fn(z, xi_logits, scale) -> Y`` with ``z`` ``(B, T, Gh, Gw, c_mu, c_nu)``,
  ``xi_logits`` ``(B, c_nu, T, H, W)`` (before the softmax over ``c_nu``) and ``Y``
  ``(B, c_mu, T, H, W)``; the scale need not divide the map (edge regions are smaller).
  Compared with :func:`regr_edu.reference.distribute_region` looped over the regions.
  ``xi_input="softmax"`` checks a function that takes :math:`\xi` after its softmax instead, as
  :func:`regr_edu.distribute` does (chosen by itself for that function).
- :func:`grade_residual_identity` — ``student_fn(unit)`` must make a ReGr unit with random
  weights the identity map while leaving every parameter but the last BatchNorm's unchanged, and
  without hooks, replaced ``forward`` methods or swapped modules.

The references here use only :mod:`regr_edu.reference` and plain loops, never the fast modules.
"""
from __future__ import annotations

import math
from typing import Callable

import torch

from .. import reference
from ._runner import Case, GradeResult, compare, run_grader


# ------------------------------------------------------------------------------------ Eq. 11-12
def _gather_literal(R: torch.Tensor, V: torch.Tensor) -> torch.Tensor:
    r"""Eq. 12 written out: :math:`z_i = \sum_j r_{ij} v_j` for every sample and region."""
    B, N, M = V.shape
    Z = torch.zeros(B, N, M, dtype=V.dtype)
    for b in range(B):
        for i in range(N):
            for j in range(N):
                Z[b, i] = Z[b, i] + R[b, i, j] * V[b, j]
    return Z


def _gather_cases(seed: int) -> list[Case]:
    g = torch.Generator().manual_seed(seed)

    def rnd(*shape):
        return torch.randn(*shape, generator=g, dtype=torch.float64)

    cases = [Case("one sample, N=3 regions, M=2, R not symmetric", (rnd(1, 3, 3), rnd(1, 3, 2)))]
    R = torch.softmax(rnd(2, 5, 5) * 2, dim=-1)                  # rows sum to 1, like Eq. 6
    cases.append(Case("two samples, N=5, M=4, softmax rows", (R, rnd(2, 5, 4))))
    cases.append(Case("N=1 region", (rnd(2, 1, 1), rnd(2, 1, 6))))
    cases.append(Case("N=7, M=3 (more regions than features)", (rnd(3, 7, 7), rnd(3, 7, 3))))
    return cases


def grade_gather(student_fn: Callable, *, seed: int = 0, verbose: bool = True) -> GradeResult:
    r"""Check ``student_fn(R, V) -> Z`` against Eq. 12 looped, :math:`z_i = \sum_j r_{ij} v_j`
    (``R`` ``(B, N, N)``, ``V`` ``(B, N, M)``, ``Z`` ``(B, N, M)``, float64)."""
    return run_grader(student_fn, _gather_literal, _gather_cases(seed),
                      what="grade_gather (Eq. 11-12)", verbose=verbose)


# ------------------------------------------------------------------------------------ Eq. 13
def distribute_literal(z: torch.Tensor, xi_logits: torch.Tensor, scale, *,
                       normalized: bool = False) -> torch.Tensor:
    r"""Eq. 13 for one scale, region by region, with :func:`regr_edu.reference.distribute_region`.

    Each cell's :math:`\xi` logits go through a softmax over the ``c_nu`` descriptors
    (:func:`regr_edu.reference.softmax`); each region ``(t, gy, gx)`` hands its
    :math:`z_i` (``c_mu x c_nu``) to its cells; regions at the bottom/right edge of a map that
    the scale does not divide simply have fewer cells. With ``normalized`` the second argument
    is :math:`\xi` after its softmax, used as given.
    """
    h, w = scale
    B, c_nu, T, H, W = xi_logits.shape
    c_mu = z.shape[-2]
    Gh, Gw = -(-H // h), -(-W // w)
    Y = torch.zeros(B, c_mu, T, H, W, dtype=z.dtype)
    for b in range(B):
        for t in range(T):
            for gy in range(Gh):
                for gx in range(Gw):
                    cells = reference.region_cells(gy, gx, (h, w), H, W)
                    logits = torch.stack([xi_logits[b, :, t, r, c] for r, c in cells], dim=1)
                    xi = logits if normalized else torch.stack(
                        [reference.softmax(logits[:, p]) for p in range(len(cells))],
                        dim=1)                                              # (c_nu, P)
                    Y_i = reference.distribute_region(z[b, t, gy, gx], xi)  # (c_mu, P)
                    for p, (r, c) in enumerate(cells):
                        Y[b, :, t, r, c] = Y_i[:, p]
    return Y


def _distribute_cases(seed: int) -> list[Case]:
    g = torch.Generator().manual_seed(seed)

    def case(name, B, T, H, W, scale, c_mu, c_nu, logit_scale=1.0):
        Gh, Gw = -(-H // scale[0]), -(-W // scale[1])
        z = torch.randn(B, T, Gh, Gw, c_mu, c_nu, generator=g, dtype=torch.float64)
        xi = logit_scale * torch.randn(B, c_nu, T, H, W, generator=g, dtype=torch.float64)
        return Case(name, (z, xi, scale))

    return [
        case("one region, one frame (c_mu=2, c_nu=3)", 1, 1, 2, 2, (2, 2), 2, 3),
        case("c_mu = c_nu = 3 (a transposed z keeps its shape here)", 1, 1, 4, 6, (2, 3), 3, 3),
        case("two images, 3x2 regions of 2x4 cells", 2, 1, 6, 8, (2, 4), 2, 4),
        case("a clip of 3 frames", 1, 3, 4, 4, (2, 2), 2, 3),
        case("scale (3, 2) on a 7x5 map: edge regions have fewer cells", 1, 2, 7, 5, (3, 2), 2, 3),
        case("large logits (the softmax must be computed stably)", 1, 1, 4, 4, (2, 2), 2, 4,
             logit_scale=1000.0),
    ]


def grade_distribute(student_fn: Callable, *, seed: int = 0, verbose: bool = True,
                     xi_input: str | None = None) -> GradeResult:
    r"""Check ``student_fn(z, xi_logits, scale) -> Y`` (Eq. 13, our reading) against
    :func:`distribute_literal`.

    ``z`` ``(B, T, Gh, Gw, c_mu, c_nu)``: each region's :math:`z_i` as a matrix;
    ``xi_logits`` ``(B, c_nu, T, H, W)``: :math:`\xi` before its softmax over ``c_nu``;
    ``scale`` ``(h, w)``, which need not divide ``(H, W)``. ``Y`` ``(B, c_mu, T, H, W)``: cell
    ``p`` of region ``i`` gets :math:`z_i\,\mathrm{softmax}(\xi_p)`.

    ``xi_input``: ``"logits"`` (the exercise) or ``"softmax"`` (the function takes
    :math:`\xi` already normalised over ``c_nu``, as :func:`regr_edu.distribute`); by default
    ``"softmax"`` for :func:`regr_edu.distribute` itself and ``"logits"`` otherwise.
    """
    from ..distribution import distribute as package_distribute
    if xi_input is None:
        xi_input = "softmax" if student_fn is package_distribute else "logits"
    if xi_input not in ("logits", "softmax"):
        raise ValueError(f"xi_input must be one of ['logits', 'softmax'], got {xi_input!r}")
    cases = _distribute_cases(seed)
    if xi_input == "softmax":
        cases = [Case(c.name, (c.args[0], torch.softmax(c.args[1], dim=1), c.args[2]))
                 for c in cases]
        return run_grader(student_fn, lambda z, xi, s: distribute_literal(z, xi, s,
                                                                          normalized=True),
                          cases, what="grade_distribute (Eq. 13, xi given after its softmax)",
                          verbose=verbose)

    def takes_normalized(case: Case, got) -> str | None:
        z, logits, scale = (a.clone() if isinstance(a, torch.Tensor) else a for a in case.args)
        try:
            again = student_fn(z, torch.softmax(logits, dim=1), scale)
        except Exception:  # noqa: BLE001 - only a hint
            return None
        if compare(again, distribute_literal(*case.args)) is None:
            return ("your function gives the right Y when given xi after its softmax, as "
                    "rg.distribute takes it; this exercise passes the logits. Apply the softmax "
                    "over c_nu inside, or check it with xi_input='softmax'")
        return None

    return run_grader(student_fn, distribute_literal, cases,
                      what="grade_distribute (Eq. 13)", verbose=verbose, hint=takes_normalized)


# ------------------------------------------------------------------------------------ residual
def _random_unit(seed: int):
    from ..regr import ReGr
    unit = ReGr(8, scales=((2, 2), (3, 3)), mu_channels=2, nu_channels=2).double()
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in unit.parameters():
            p.copy_(0.3 * torch.randn(p.shape, generator=g, dtype=torch.float64))
        unit.bn.running_mean.copy_(torch.randn(8, generator=g, dtype=torch.float64))
        unit.bn.running_var.copy_(torch.rand(8, generator=g, dtype=torch.float64) + 0.5)
    return unit


_METHODS = ("forward", "_run", "project", "aggregate", "refine_regions", "relate", "distribute",
            "residual", "__call__", "_call_impl", "_wrapped_call_impl")
_HOOKS = ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks")


def _global_hooks() -> tuple[int, ...]:
    from torch.nn.modules import module as m
    return tuple(len(getattr(m, name, {})) for name in (
        "_global_forward_hooks", "_global_forward_pre_hooks", "_global_backward_hooks",
        "_global_backward_pre_hooks"))


def _tampering(unit, modules_before: dict, hooks_before: tuple) -> str | None:
    """Why the unit is no longer the same code (hooks, replaced methods, swapped modules)."""
    modules_now = {name: type(m) for name, m in unit.named_modules()}
    if modules_now != modules_before:
        swapped = sorted(k for k in set(modules_now) | set(modules_before)
                         if modules_now.get(k) is not modules_before.get(k))
        return (f"the unit's modules changed ({swapped[:4]}): only the values of the last "
                "BatchNorm's weight and bias may change, not which layers the unit has")
    for name, m in unit.named_modules():
        where = f"module {name!r}" if name else "the unit"
        for attr in _HOOKS:
            if getattr(m, attr, None):
                return (f"a hook ({attr.strip('_')}) was registered on {where}: the identity must "
                        "come from the weights, not from code that replaces the output")
        replaced = [a for a in _METHODS if a in vars(m)]
        if replaced:
            return (f"{where} has its method {replaced[0]!r} replaced: the identity must come "
                    "from the weights, not from new code")
    if _global_hooks() != hooks_before:
        return ("a global module hook was registered (torch.nn.modules.module."
                "register_module_forward_hook or similar): the identity must come from the "
                "weights, not from code that replaces every module's output")
    return None


def grade_residual_identity(student_fn: Callable, *, seed: int = 0,
                            verbose: bool = True) -> GradeResult:
    """Check that ``student_fn(unit)`` turns a ReGr unit with random weights into the identity map
    (exactly, on an image and on a clip, in training and in eval mode) by changing only the last
    BatchNorm's ``weight`` and ``bias`` — every other parameter must keep its value, so that it
    starts learning from its initialisation."""
    what = "grade_residual_identity"
    if not callable(student_fn):
        raise TypeError(f"student_fn must be callable, got {type(student_fn).__name__}")
    unit = _random_unit(seed)
    before = {k: v.detach().clone() for k, v in unit.named_parameters()}
    modules_before = {name: type(m) for name, m in unit.named_modules()}
    hooks_before = _global_hooks()

    def done(passed: bool, message: str, n: int) -> GradeResult:
        result = GradeResult(passed, f"{what}: {message}", n)
        if verbose:
            print(("PASS " if passed else "FAIL ") + result.message)
        return result

    try:
        student_fn(unit)
    except Exception as exc:  # the student's error is part of the report
        why = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        return done(False, f"student_fn(unit) raised {why}", 1)
    tampered = _tampering(unit, modules_before, hooks_before)
    if tampered:
        return done(False, tampered, 1)
    changed = [k for k, v in unit.named_parameters()
               if k not in ("bn.weight", "bn.bias") and not torch.equal(v.detach(), before[k])]
    if changed:
        k = changed[0]
        d = float((unit.get_parameter(k).detach() - before[k]).abs().max())
        return done(False, f"parameter {k!r} (shape {tuple(before[k].shape)}) was changed (largest "
                           f"change {d:.3g}); only the last BatchNorm ('bn.weight', 'bn.bias') "
                           f"may change: zeroing an earlier layer also gives the identity, but the "
                           f"paper zeroes the last BatchNorm's weight, so that every other layer "
                           f"keeps its random initialisation and the branch opens smoothly as that "
                           f"weight grows ({len(changed)} parameter(s) changed: {changed})", 1)
    g = torch.Generator().manual_seed(seed + 1)
    inputs = {"image (2, 8, 6, 7)": torch.randn(2, 8, 6, 7, generator=g, dtype=torch.float64),
              "clip (2, 8, 2, 5, 6)": torch.randn(2, 8, 2, 5, 6, generator=g, dtype=torch.float64)}
    n = 1
    for name, x in inputs.items():
        for training in (True, False):
            n += 1
            unit.train(training)
            with torch.no_grad():
                try:
                    y = unit(x)
                except Exception as exc:
                    return done(False, f"case {n} '{name}, {'train' if training else 'eval'} "
                                       f"mode': the unit raised {type(exc).__name__}: {exc}", n)
            if y.shape != x.shape or not torch.equal(y, x):
                if y.shape != x.shape:
                    why = f"output shape {tuple(y.shape)}, input shape {tuple(x.shape)}"
                else:
                    diff = (y - x).abs()
                    diff = torch.where(torch.isnan(diff), torch.full_like(diff, math.inf), diff)
                    idx = tuple(int(i) for i in torch.nonzero(diff == diff.max())[0])
                    why = (f"output differs from the input: largest |y - x| = "
                           f"{float(diff.max()):.3g} at index {idx} (y {float(y[idx]):.6g}, x "
                           f"{float(x[idx]):.6g}); bn.weight = {unit.bn.weight.detach().tolist()}, "
                           f"bn.bias = {unit.bn.bias.detach().tolist()}")
                return done(False, f"case {n} '{name}, {'train' if training else 'eval'} mode': "
                                   f"{why}", n)
    return done(True, f"all {n} cases pass: the unit is the identity and only its last BatchNorm "
                      f"changed", n)
