"""Exercise checkers: ``check_<name>(student_fn)`` runs a learner's function against the literal
reference in :mod:`regr_edu.reference` on random cases and reports the first mismatch with its
shapes and values. Each returns a :class:`CheckResult` (truthy when every case passes)."""
from __future__ import annotations

from ._runner import Case, CheckResult, compare, run_checks

__all__ = ["Case", "CheckResult", "compare", "run_checks"]
