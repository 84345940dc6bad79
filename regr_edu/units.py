"""One name per global-reasoning unit, as timm's ``create_attn``: ``create_unit("nl", 1024)``.

Every unit takes ``in_channels`` first and keyword options after it, maps ``(B, C, H, W)`` and
``(B, C, T, H, W)`` to the same shape, and is the identity when freshly built. Backbones take the
unit as a name from this registry, so a new unit needs one line here and nothing else.
"""
from __future__ import annotations

import importlib
from typing import Any, Mapping

from torch import nn

from ._checks import check_choice

# name -> "module:Class", imported on first use (ReGr's module is heavy and the peers are not
# needed by every caller).
UNIT_CLASSES: dict[str, str] = {
    "regr": "regr_edu.regr:ReGr",
    "nl": "regr_edu.peers.nonlocal_block:NonLocal",
    "cgnl": "regr_edu.peers.cgnl:CGNL",
    "glore": "regr_edu.peers.glore:GloRe",
}


def unit_class(name: str) -> type[nn.Module]:
    """The class registered under ``name``; ``ValueError`` listing the names for an unknown one."""
    check_choice("unit", name, sorted(UNIT_CLASSES))
    module_name, attr = UNIT_CLASSES[name].split(":")
    return getattr(importlib.import_module(module_name), attr)


def needs_input_size(name: str, options: Mapping[str, Any]) -> bool:
    """Whether unit ``name`` built with ``options`` must be told the size of its map at
    construction: only ReGr with the GCN relation, whose ``N x N`` relation matrix fixes ``N``."""
    return name == "regr" and options.get("relation", "bilinear") == "gcn"


def create_unit(name: str, in_channels: int, **options: Any) -> nn.Module:
    """Build the unit called ``name`` (``"regr"``, ``"nl"``, ``"cgnl"`` or ``"glore"``) for
    ``in_channels`` channels, passing ``options`` to its class."""
    return unit_class(name)(in_channels, **options)
