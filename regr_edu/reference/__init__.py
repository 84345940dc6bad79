r"""Literal, loop-by-region versions of every equation: the code to read beside the paper.

Nothing here imports the fast modules of :mod:`regr_edu` (a check between two paths that share
code checks nothing). Loops run over regions, cells and neighbours exactly as the equations are
written; only the arithmetic inside one region uses small tensor operations. Use float64 and small
inputs: this is slow on purpose.

==========  ===========================================
Eq. 1       :func:`split_regions`, :func:`merge_regions`
Eq. 2       :func:`aggregate_region`, :func:`recover_region`; :func:`pool_region` (study)
Eq. 3–4     :func:`bilinear_shift`, :func:`refine`
Eq. 5–6     :func:`bilinear_relation`
Eq. 7–8     :func:`gcn_relation`
Eq. 9–10    :func:`attention_relation`
Eq. 11–12   :func:`reason`
Eq. 13      :func:`distribute_region`
the unit    :func:`regr_forward`
==========  ===========================================
"""
from .aggregation import aggregate_region, conv1x1, pool_region, recover_region, softmax
from .distribution import distribute_region
from .refine import bilinear_shift, g, refine
from .regions import merge_regions, region_cells, split_regions
from .relations import attention_relation, bilinear_relation, gcn_relation, reason
from .unit import regr_forward

__all__ = [
    "split_regions", "merge_regions", "region_cells", "conv1x1", "softmax", "aggregate_region",
    "pool_region", "recover_region", "g", "bilinear_shift", "refine", "bilinear_relation",
    "gcn_relation",
    "attention_relation", "reason", "distribute_region", "regr_forward",
]
