"""The exact tests in regr_edu.stats against hand-computed values."""
import itertools
import math
import random

import pytest

from regr_edu.stats import fisher_greater, mann_whitney_less, took_off


def test_fisher_greater_matches_the_hypergeometric_tail():
    # 12/21 vs 1/21: the ablation chapter's pooled refine comparison (p = 2.5e-4 there)
    p = fisher_greater(12, 21, 1, 21)
    assert 1e-4 < p < 5e-4
    # all of A and none of B, 3 vs 3: only one table of 20 is that extreme
    assert fisher_greater(3, 3, 0, 3) == pytest.approx(1 / 20)
    assert fisher_greater(0, 3, 3, 3) == 1.0


def test_mann_whitney_exact_small_cases():
    # x entirely below y, 3 vs 3: one split of 20 is as extreme
    assert mann_whitney_less([1, 2, 3], [4, 5, 6]) == pytest.approx(1 / 20)
    assert mann_whitney_less([4, 5, 6], [1, 2, 3]) == 1.0
    # identical samples: every split has U >= observed (U = 4.5 of 9) about half the time
    p = mann_whitney_less([1, 1, 1], [1, 1, 1])
    assert p == 1.0
    p = mann_whitney_less([50.1, 50.3, 49.8, 51.0], [90.0, 50.2, 88.0, 93.0])
    assert 0 < p < 0.2


def _enumerated(x, y):
    """The definition: the share of every split of the pooled values whose U is at least the
    observed one, listed one by one."""
    def u(xs, ys):
        return sum(1.0 if a < b else 0.5 if a == b else 0.0 for a in xs for b in ys)
    pooled, observed, hits, total = x + y, u(x, y), 0, 0
    for chosen in itertools.combinations(range(len(pooled)), len(x)):
        rest = [pooled[i] for i in range(len(pooled)) if i not in chosen]
        hits += u([pooled[i] for i in chosen], rest) >= observed - 1e-12
        total += 1
    return hits / total


def test_mann_whitney_counts_what_enumeration_lists():
    rng = random.Random(0)
    for _ in range(60):           # sizes 1-7, about half the values tied on a coarse grid
        x, y = ([rng.choice([1.0, 2.0, 2.5, 3.0]) if rng.random() < 0.5 else rng.random() * 3
                 for _ in range(rng.randint(1, 7))] for _ in range(2))
        assert mann_whitney_less(x, y) == _enumerated(x, y)


def test_mann_whitney_takes_sixteen_against_sixteen():
    # x entirely below y: one split of C(32, 16) is as extreme; shifted by half a rank, one pair
    # in two is reversed and the p-value is near one half
    assert mann_whitney_less(list(range(16)), list(range(16, 32))) == 1 / math.comb(32, 16)
    assert 0.35 < mann_whitney_less(list(range(16)), [v + 0.5 for v in range(16)]) < 0.45


@pytest.mark.parametrize("args,message", [
    (([], [1.0]), "non-empty"), (([float("nan")], [1.0]), "NaN"),
    (([1.0] * 101, [2.0] * 100), "at most 200 values"),
])
def test_mann_whitney_errors(args, message):
    with pytest.raises(ValueError, match=message):
        mann_whitney_less(*args)


@pytest.mark.parametrize("args,message", [
    ((4, 3, 0, 3), "a must be"), ((1, 3, -1, 3), "b must be"), ((1, 0, 0, 3), "n_a"),
])
def test_fisher_errors(args, message):
    with pytest.raises(ValueError, match=message):
        fisher_greater(*args)


def test_took_off():
    assert took_off(75.1, 50) and not took_off(75.0, 50)
    assert took_off(60, 100 / 3) and not math.isnan(float(took_off(1, 0)))
