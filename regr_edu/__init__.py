r"""regr_edu: Region-Based Global Reasoning Networks (Wang et al., AAAI 2020), fast and literal.

The public API below is what coursework imports; its names and shapes are stable (a test checks
``__all__``). ``import regr_edu`` is light: the submodules that need matplotlib, captum or PyAV
(``viz``, parts of ``data``) and the heavier ones (``models``, ``exercises``) load on first use.

Eq. 1   :func:`split_regions`, :func:`merge_regions`           (``regr_edu.regions``)
Eq. 2   :func:`aggregate`, :func:`recover_region`              (``regr_edu.aggregation``)
Eq. 3-4 :func:`bilinear_shift`, :class:`Refine`                (``regr_edu.refine``)
Eq. 5-10 :class:`BilinearRelation`, :class:`GCNRelation`, :class:`AttentionRelation`
                                                               (``regr_edu.relations``)
Eq. 11-12 :func:`reason` (``Z = R V``)                         (``regr_edu.relations``)
Eq. 13  :func:`distribute`                                     (``regr_edu.distribution``)
The unit: :class:`ReGr` (``regr_edu.regr``); literal versions: ``regr_edu.reference``.
"""
from __future__ import annotations

import importlib
from typing import Any

from .aggregation import aggregate, recover_region
from .device import device
from .distribution import distribute
from .refine import Refine, bilinear_shift
from .regions import merge_regions, split_regions
from .regr import ReGr
from .relations import AttentionRelation, BilinearRelation, GCNRelation, reason
from . import reference

__version__ = "0.1.0"

__all__ = [
    "split_regions",
    "merge_regions",
    "aggregate",
    "recover_region",
    "bilinear_shift",
    "Refine",
    "BilinearRelation",
    "GCNRelation",
    "AttentionRelation",
    "reason",
    "distribute",
    "ReGr",
    "NonLocal",
    "CGNL",
    "GloRe",
    "create_unit",
    "reference",
    "exercises",
    "models",
    "data",
    "viz",
    "device",
]

# name -> (module, attribute or None for the module itself); resolved on first access.
_LAZY = {
    "NonLocal": ("regr_edu.peers", "NonLocal"),
    "CGNL": ("regr_edu.peers", "CGNL"),
    "GloRe": ("regr_edu.peers", "GloRe"),
    "create_unit": ("regr_edu.units", "create_unit"),
    "exercises": ("regr_edu.exercises", None),
    "models": ("regr_edu.models", None),
    "data": ("regr_edu.data", None),
    "viz": ("regr_edu.viz", None),
    "training": ("regr_edu.training", None),      # the trainer, param_groups, RefineMonitor
    "stats": ("regr_edu.stats", None),            # exact tests for comparing seeds
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module_name, attr = _LAZY[name]
        module = importlib.import_module(module_name)
        value = module if attr is None else getattr(module, attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'regr_edu' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
