"""Exercise graders: ``grade_<name>(student_fn)`` runs a learner's function against the literal
reference in :mod:`regr_edu.reference` on random cases and reports the first mismatch with its
shapes and values. Each returns a :class:`GradeResult` (truthy when every case passes)."""
from __future__ import annotations

from ._runner import Case, GradeResult, compare, run_grader
from .aggregation import grade_aggregate, grade_recover_region
from .regions import grade_merge_regions, grade_split_regions
from .distribution import grade_distribute, grade_gather, grade_residual_identity
from .refine import grade_bilinear_shift, grade_g
from .relations import grade_bilinear_relation, grade_channel_attention, grade_gcn_relation

__all__ = ["Case", "GradeResult", "compare", "run_grader",
           "grade_split_regions", "grade_merge_regions",
           "grade_aggregate", "grade_recover_region",
           "grade_gather", "grade_distribute", "grade_residual_identity",
           "grade_g", "grade_bilinear_shift",
           "grade_bilinear_relation", "grade_gcn_relation", "grade_channel_attention"]
