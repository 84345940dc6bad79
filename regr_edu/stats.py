r"""Small exact tests for comparing training runs over seeds (no SciPy needed).

The book's studies compare a handful of seeds per arm, where exact tests are cheap:

- :func:`fisher_greater` — one-sided Fisher exact test on two counts of runs that "took off";
- :func:`mann_whitney_less` — one-sided exact Mann–Whitney U test on two samples of accuracies
  (every split of the pooled values enumerated; ties get half counts, as in the U statistic);
- :func:`took_off` — the rule the studies use to call a run a success.
"""
from __future__ import annotations

import itertools
import math
from typing import Sequence


def _count(name: str, value: object, n: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= n:
        raise ValueError(f"{name} must be an integer in [0, {n}], got {value!r}")
    return value


def fisher_greater(a: int, n_a: int, b: int, n_b: int) -> float:
    r"""P-value that arm A's success rate exceeds arm B's: :math:`P(X \ge a)` for ``X`` the
    successes of A under the hypergeometric law given both margins (Fisher's exact test,
    one-sided).

    Args:
        a, n_a: successes and runs of arm A.
        b, n_b: successes and runs of arm B.
    """
    for name, n in (("n_a", n_a), ("n_b", n_b)):
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise ValueError(f"{name} must be a positive integer, got {n!r}")
    _count("a", a, n_a)
    _count("b", b, n_b)
    k, n = a + b, n_a + n_b
    total = math.comb(n, k)
    return sum(math.comb(n_a, x) * math.comb(n_b, k - x)
               for x in range(a, min(n_a, k) + 1)) / total


def mann_whitney_less(x: Sequence[float], y: Sequence[float]) -> float:
    r"""Exact one-sided p-value that ``x`` tends to be *smaller* than ``y`` (Mann–Whitney U).

    ``U`` counts the pairs with ``x_i < y_j`` (ties count ½); the p-value is the fraction of all
    :math:`\binom{n_x + n_y}{n_x}` ways of splitting the pooled values into groups of the two sizes
    whose ``U`` is at least the observed one. Exact, so meant for small samples (up to about
    12 + 12).
    """
    x, y = [float(v) for v in x], [float(v) for v in y]
    if not x or not y:
        raise ValueError(f"x and y must be non-empty, got {len(x)} and {len(y)} values")
    if len(x) + len(y) > 24:
        raise ValueError(f"an exact test enumerates every split: at most 24 values in all, got "
                         f"{len(x)} + {len(y)}")
    if any(math.isnan(v) for v in x + y):
        raise ValueError("x and y must not hold NaN")

    def u(xs: Sequence[float], ys: Sequence[float]) -> float:
        return sum(1.0 if a < b else 0.5 if a == b else 0.0 for a in xs for b in ys)

    observed = u(x, y)
    pooled = x + y
    hits = total = 0
    for chosen in itertools.combinations(range(len(pooled)), len(x)):
        picked = set(chosen)
        xs = [pooled[i] for i in chosen]
        ys = [pooled[i] for i in range(len(pooled)) if i not in picked]
        total += 1
        hits += u(xs, ys) >= observed - 1e-12
    return hits / total


def took_off(accuracy: float, chance: float, margin: float = 25.0) -> bool:
    """A run *took off* when its final top-1 (%) exceeds chance by ``margin`` points."""
    return float(accuracy) > float(chance) + float(margin)
