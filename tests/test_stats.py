"""The exact tests in regr_edu.stats against hand-computed values."""
import math

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


@pytest.mark.parametrize("args,message", [
    (([], [1.0]), "non-empty"), (([float("nan")], [1.0]), "NaN"),
    (([1.0] * 13, [2.0] * 12), "at most 24"),
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
