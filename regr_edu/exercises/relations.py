r"""Checkers for the relations chapter (Eq. 5–10), one sample ``V`` ``(N, M)`` at a time.

Each runs a learner's function against the literal reference in :mod:`regr_edu.reference` on
fixed random cases and reports the first mismatch with its case name, shapes and values:

* ``grade_bilinear_relation(student_fn)`` — Eq. 6, ``R = softmax_rows(θ(V) φ(V)ᵀ)`` (or ``/ N``);
* ``grade_gcn_relation(student_fn)`` — Eq. 7–8 as GloRe codes it, ``R`` from ``U = ReLU(V + A_g V)``;
* ``grade_channel_attention(student_fn)`` — Eq. 10's channel map ``L_c``.

The weights are passed as plain matrices (a 1-D convolution of kernel 1 is a matrix product).
"""
from __future__ import annotations

from typing import Callable

import torch

from .. import reference
from ._runner import Case, GradeResult, compare, run_grader

DTYPE = torch.float64


def _randn(gen, *shape, std=1.0):
    return torch.randn(*shape, generator=gen, dtype=DTYPE) * std


# ----------------------------------------------------------------------------- bilinear
def _bilinear_cases(seed: int = 0) -> list[Case]:
    gen = torch.Generator().manual_seed(5 + seed)
    cases = []
    for name, N, M, Mp in (("N=5 regions, M=4, M'=2", 5, 4, 2),
                           ("N=7 regions, M=8, M'=2", 7, 8, 2),
                           ("a single region (N=1)", 1, 4, 1),
                           ("more regions than features: N=12, M=3, M'=3", 12, 3, 3)):
        V = _randn(gen, N, M)
        args = (V, _randn(gen, Mp, M, std=0.7), _randn(gen, Mp, std=0.3),
                _randn(gen, Mp, M, std=0.7), _randn(gen, Mp, std=0.3))
        cases.append(Case(name, args))
    V = _randn(gen, 6, 4) * 6                       # logits in the hundreds: exp overflows unshifted
    cases.append(Case("large logits (a softmax must subtract each row's max)",
                      (V, _randn(gen, 3, 4, std=2.0), _randn(gen, 3), _randn(gen, 3, 4, std=2.0),
                       _randn(gen, 3))))
    return cases


def grade_bilinear_relation(student_fn: Callable, normalize: str = "softmax",
                            verbose: bool = True, *, seed: int = 0) -> GradeResult:
    r"""Check ``student_fn(V, theta_weight, theta_bias, phi_weight, phi_bias)`` against Eq. 6.

    ``V`` ``(N, M)``; ``theta_weight``, ``phi_weight`` ``(M', M)``; biases ``(M',)``. Return ``R``
    ``(N, N)`` with :math:`R_{ij} = \theta(v_i) \cdot \phi(v_j)`, :math:`\theta(v) = W_\theta v +
    b_\theta`, then a softmax along each row ``i`` (``normalize="softmax"``) or ``/ N``
    (``normalize="dot"``).
    """
    if normalize not in ("softmax", "dot"):
        raise ValueError(f"normalize must be one of ['softmax', 'dot'], got {normalize!r}")

    def want(V, tw, tb, pw, pb):
        return reference.bilinear_relation(V, tw, tb, pw, pb, normalize)[1]

    cases = _bilinear_cases(seed)
    if normalize == "dot":
        cases = cases[:-1]                           # no softmax to overflow
    return run_grader(student_fn, want, cases, what=f"bilinear relation (Eq. 6, {normalize})",
                      verbose=verbose)


# ----------------------------------------------------------------------------- GCN
def _gcn_cases(seed: int = 0) -> list[Case]:
    gen = torch.Generator().manual_seed(6 + seed)
    cases = []
    for name, N, M in (("N=5 regions, M=4", 5, 4), ("N=3 regions, M=7", 3, 7),
                       ("N=9 regions, M=2", 9, 2)):
        args = (_randn(gen, N, M), _randn(gen, N, N, std=0.5), _randn(gen, N, std=0.3),
                _randn(gen, N, M, std=0.5), _randn(gen, N, std=0.3))
        cases.append(Case(name, args))
    N, M = 4, 3
    V = _randn(gen, N, M)
    cases.insert(0, Case("A_g = 0: only the residual V and the bias (U = ReLU(V + b))",
                         (V, torch.zeros(N, N, dtype=DTYPE), _randn(gen, N, std=0.3),
                          _randn(gen, N, M, std=0.5), _randn(gen, N, std=0.3))))
    return cases


def grade_gcn_relation(student_fn: Callable, scale_by_n: bool = True,
                       verbose: bool = True, orientation: str = "row", *,
                       seed: int = 0) -> GradeResult:
    r"""Check ``student_fn(V, node_weight, node_bias, relation_weight, relation_bias)`` against
    Eq. 7–8 as GloRe codes them.

    ``V`` ``(N, M)``; ``node_weight`` ``(N, N)`` is :math:`A_g`, ``node_bias`` ``(N,)``;
    ``relation_weight`` ``(N, M)``, ``relation_bias`` ``(N,)``. Return ``R`` ``(N, N)``:
    :math:`U_i = \mathrm{ReLU}(v_i + \sum_k (A_g)_{ik} v_k + b_i)` (node-wise, plus its input),
    then :math:`R_{ij} = w_j \cdot U_i + c_j` (channel-wise, ``M -> N``: row ``i`` from region
    ``i``'s features; ``orientation="column"`` checks the transpose, :math:`R_{ji}`), divided by
    ``N`` when ``scale_by_n``.

    This follows GloRe's code, :math:`U = V + A_g V`; Eq. 7 prints :math:`(I - A_g)V`, the same
    family with the sign of :math:`A_g` learned. A function that computes the printed form fails
    with a note that says so.
    """
    if orientation not in ("row", "column"):
        raise ValueError(f"orientation must be one of ['row', 'column'], got {orientation!r}")

    def want(V, nw, nb, rw, rb):
        return reference.gcn_relation(V, nw, nb, rw, rb, scale_by_n, orientation)[1]

    def printed_sign(case: Case, got) -> str | None:
        V, nw, nb, rw, rb = case.args
        if compare(got, want(V, -nw, nb, rw, rb)) is None:
            return ("your R is Eq. 7 as the paper prints it, U = ReLU((I - A_g) V + b); this "
                    "checker follows GloRe's code, U = ReLU(V + A_g V + b) (the same family, A_g's "
                    "sign flipped), as the package does: flip the sign of the A_g term")
        return None

    return run_grader(student_fn, want, _gcn_cases(seed),
                      what=f"GCN relation (Eq. 7-8 as GloRe codes them, U = V + A_g V"
                           f"{', R / N' if scale_by_n else ''})",
                      verbose=verbose, hint=printed_sign)


# ----------------------------------------------------------------------------- attention
def _channel_cases(seed: int = 0) -> list[Case]:
    gen = torch.Generator().manual_seed(7 + seed)
    cases = []
    for name, N, M, r in (("N=6 regions, M=8, M/r=2", 6, 8, 2), ("N=1 region, M=4, M/r=1", 1, 4, 1),
                          ("N=10 regions, M=12, M/r=3", 10, 12, 3)):
        V = _randn(gen, N, M)
        V[0] = V[0] - 5.0                            # one region far below: max and mean differ
        cases.append(Case(name, (V, _randn(gen, r, M, std=0.6), _randn(gen, r, std=0.3),
                                 _randn(gen, M, r, std=0.6), _randn(gen, M, std=0.3))))
    V = _randn(gen, 5, 6).abs() + 1.0                # all positive, so a ReLU before pooling is moot
    cases.insert(0, Case("positive features, N=5, M=6, M/r=2",
                         (V, _randn(gen, 2, 6, std=0.6), _randn(gen, 2, std=0.3),
                          _randn(gen, 6, 2, std=0.6), _randn(gen, 6, std=0.3))))
    return cases


def grade_channel_attention(student_fn: Callable, verbose: bool = True, *,
                            seed: int = 0) -> GradeResult:
    r"""Check ``student_fn(V, w1, b1, w2, b2)`` against the channel map of Eq. 10.

    ``V`` ``(N, M)``; ``w1`` ``(M/r, M)``, ``b1`` ``(M/r,)``; ``w2`` ``(M, M/r)``, ``b2`` ``(M,)``.
    Return :math:`L_c` ``(M,)``: max-pool ``V`` over the regions, ``w1 · + b1``, ReLU,
    ``w2 · + b2``, sigmoid.
    """
    def want(V, w1, b1, w2, b2):
        M = V.shape[1]
        state = {"channel_conv1.weight": w1, "channel_conv1.bias": b1,
                 "channel_conv2.weight": w2, "channel_conv2.bias": b2,
                 "region_conv1.weight": torch.zeros(1, 1, 3, 3, dtype=V.dtype),
                 "region_conv1.bias": torch.zeros(1, dtype=V.dtype),
                 "region_conv2.weight": torch.zeros(1, 1, 3, 3, dtype=V.dtype),
                 "region_conv2.bias": torch.zeros(1, dtype=V.dtype)}
        _, (Lc, _) = reference.attention_relation(V, [(1, 1, V.shape[0])], state)
        assert Lc.shape == (M,)
        return Lc

    return run_grader(student_fn, want, _channel_cases(seed), what="channel attention L_c (Eq. 10)",
                      verbose=verbose)


__all__ = ["grade_bilinear_relation", "grade_gcn_relation", "grade_channel_attention"]
