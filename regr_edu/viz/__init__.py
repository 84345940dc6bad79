r"""Seeing the reasoning: relation maps, feature heatmaps and attributions (the paper's Fig. 5).

- High-related regions (Fig. 5a/c): :func:`top_related` (row ``i`` of ``R``, strongest first),
  :func:`region_boxes` (region index -> scale, frame, grid cell, box on the input),
  :func:`related_regions_figure` (arrows, one panel per scale), :func:`related_regions_grid`
  (small multiples) and :func:`related_regions_widget` (sliders for ``i`` and ``k``).
- Feature maps before and after a unit (Fig. 5b/d): :func:`capture_unit_io` (forward hooks),
  :func:`explain_units` (``ReGr.explain`` on what each unit saw: a
  :class:`~regr_edu.trace.UnitTrace` per unit), :func:`feature_heatmap`,
  :func:`unit_heatmaps_figure`.
- Attributions with Captum: :func:`attribute` (Grad-CAM, Integrated Gradients) and
  :func:`attribution_figure` (baseline and +ReGr side by side).
- A trained model from a checkpoint: :func:`load_trained_model`; one input of its data set,
  built as its run built it: :func:`checkpoint_example`.

matplotlib, captum and ipywidgets are imported on first use, not by ``import regr_edu.viz``.
"""
from __future__ import annotations

import importlib
from typing import Any

from ._common import to_display
from .attributions import FeatureTap, attribute, attribution_figure, predict
from .checkpoint import checkpoint_example, load_trained_model
from .features import (UnitIO, capture_unit_io, explain_units, feature_heatmap, find_units,
                       heatmap_change, unit_heatmaps_figure)
from .regions import (RegionBoxes, region_boxes, related_regions_figure, related_regions_grid,
                      top_related)

__all__ = [
    "top_related",
    "region_boxes",
    "RegionBoxes",
    "related_regions_figure",
    "related_regions_grid",
    "related_regions_widget",
    "RelatedRegionsWidget",
    "capture_unit_io",
    "explain_units",
    "find_units",
    "UnitIO",
    "feature_heatmap",
    "heatmap_change",
    "unit_heatmaps_figure",
    "attribute",
    "attribution_figure",
    "predict",
    "FeatureTap",
    "load_trained_model",
    "checkpoint_example",
    "to_display",
]

_LAZY = {"related_regions_widget": "regr_edu.viz.widgets",
         "RelatedRegionsWidget": "regr_edu.viz.widgets"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'regr_edu.viz' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
