r"""Small exact tests for comparing training runs over seeds (no SciPy needed).

The book's studies compare a handful of seeds per arm, where exact tests are cheap:

- :func:`fisher_greater` — one-sided Fisher exact test on two counts of runs that "took off";
- :func:`mann_whitney_less` — one-sided exact Mann–Whitney U test on two samples of accuracies
  (every split of the pooled values counted; ties get half counts, as in the U statistic);
- :func:`took_off` — the rule the studies use to call a run a success.
"""
from __future__ import annotations

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
    whose ``U`` is at least the observed one. The splits are counted, not listed: ``U`` is
    :math:`n_x n_y + n_x (n_x + 1) / 2 - R_x`, with :math:`R_x` the sum of ``x``'s ranks (tied
    values share their mean rank), so the count runs over how many values each group of tied
    values gives to ``x`` (:func:`_rank_sum_counts`). Exact for any sizes up to
    :data:`MW_MAX` values in all (16 + 16 takes milliseconds).
    """
    x, y = [float(v) for v in x], [float(v) for v in y]
    if not x or not y:
        raise ValueError(f"x and y must be non-empty, got {len(x)} and {len(y)} values")
    if len(x) + len(y) > MW_MAX:
        raise ValueError(f"x and y must hold at most {MW_MAX} values in all (the exact count "
                         f"grows with their product), got {len(x)} + {len(y)}")
    if any(math.isnan(v) for v in x + y):
        raise ValueError("x and y must not hold NaN")
    pooled = sorted(x + y)
    groups: list[tuple[float, int]] = []       # (value, how many) in increasing order
    for v in pooled:
        if groups and groups[-1][0] == v:
            groups[-1] = (v, groups[-1][1] + 1)
        else:
            groups.append((v, 1))
    # twice the mean rank of each group (an integer): ranks start + 1 ... start + t
    twice_rank, start = {}, 0
    for v, t in groups:
        twice_rank[v] = 2 * start + t + 1
        start += t
    observed = sum(twice_rank[v] for v in x)   # 2 R_x; U >= observed U  <=>  R_x <= observed R_x
    counts = _rank_sum_counts([t for _, t in groups], [twice_rank[v] for v, _ in groups], len(x))
    hits = sum(ways for total, ways in counts.items() if total <= observed)
    return hits / math.comb(len(pooled), len(x))


#: most values :func:`mann_whitney_less` takes in all
MW_MAX = 200


def _rank_sum_counts(sizes: Sequence[int], twice_ranks: Sequence[int], k: int) -> dict[int, int]:
    """``{2 R: number of ways}`` over every choice of ``k`` of the pooled values: a group of
    ``t`` tied values with doubled mean rank ``r`` gives ``j`` of them in ``comb(t, j)`` ways,
    adding ``j * r``."""
    table: dict[tuple[int, int], int] = {(0, 0): 1}         # (chosen, 2 R) -> ways
    for t, r in zip(sizes, twice_ranks):
        nxt: dict[tuple[int, int], int] = {}
        for (chosen, total), ways in table.items():
            for j in range(0, min(t, k - chosen) + 1):
                key = (chosen + j, total + j * r)
                nxt[key] = nxt.get(key, 0) + ways * math.comb(t, j)
        table = nxt
    return {total: ways for (chosen, total), ways in table.items() if chosen == k}


def took_off(accuracy: float, chance: float, margin: float = 25.0) -> bool:
    """A run *took off* when its final top-1 (%) exceeds chance by ``margin`` points."""
    return float(accuracy) > float(chance) + float(margin)
