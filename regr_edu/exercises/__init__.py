"""Exercise checkers: ``check_<name>(student_fn)`` runs a learner's function against the literal
reference in :mod:`regr_edu.reference` on random cases and reports the first mismatch with its
shapes and values. Each returns a :class:`CheckResult` (truthy when every case passes)."""
from __future__ import annotations

from ._runner import Case, CheckResult, compare, run_checks
from .aggregation import check_aggregate, check_recover_region
from .regions import check_merge_regions, check_split_regions
from .distribution import check_distribute, check_gather, check_residual_identity
from .refine import check_bilinear_shift, check_g
from .relations import check_bilinear_relation, check_channel_attention, check_gcn_relation

__all__ = ["Case", "CheckResult", "compare", "run_checks",
           "check_split_regions", "check_merge_regions",
           "check_aggregate", "check_recover_region",
           "check_gather", "check_distribute", "check_residual_identity",
           "check_g", "check_bilinear_shift",
           "check_bilinear_relation", "check_gcn_relation", "check_channel_attention"]
