r"""Eq. 5–10 — relations between the ``N`` aggregated regions ``V`` (``B x N x M``).

Each relation is a module whose ``forward(V, grids)`` gives ``Z`` (``B x N x M``): for bilinear
pooling and the GCN :math:`Z = R V` (Eq. 11) with ``R`` from :meth:`matrix`; for attention the
two attention maps of Eq. 9 (Eq. 11 is skipped, as the paper says). ``grids`` lists each scale's
region grid ``(T, Gh, Gw)`` in the order the regions were concatenated. :func:`reason` is
Eq. 11–12 on its own (``Z = R V``) for any ``R`` and ``V``.
"""
from __future__ import annotations

from .attention import AttentionRelation
from .bilinear import BilinearRelation
from .gcn import GCNRelation
from .reason import reason

RELATION_CLASSES = {
    "bilinear": BilinearRelation,
    "gcn": GCNRelation,
    "attention": AttentionRelation,
}

__all__ = ["AttentionRelation", "BilinearRelation", "GCNRelation", "RELATION_CLASSES", "reason"]
