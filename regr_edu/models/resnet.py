r"""ResNet-50 (torchvision's) with global-reasoning units placed as configuration.

Placement follows the non-local paper (Wang et al. 2018), which ReGr's experiments reuse:

=========  =====================================  ===========================================
units      where (after block, 0-based)           source
=========  =====================================  ===========================================
1          res4 (``layer3``) after block 4        NL: "right before the last residual block
                                                  of res4"
2          res3 after block 2, res4 after block 4 **open**: no source places ReGr's 2 units
5          res3 after 1, 3; res4 after 1, 3, 5    NL: 2 in res3 and 3 in res4, every other
                                                  block
=========  =====================================  ===========================================

The classifier is global average pooling, dropout (0.5, as ReGr and CGNL train on CUB) and a
linear layer. Backbone parameters keep torchvision's names, so ImageNet weights load as they are.
"""
from __future__ import annotations

import os
from typing import Any, Sequence

import torch
from torch import nn
from torchvision.models.resnet import Bottleneck, ResNet

from .._checks import check_float, check_positive_int, check_rank
from ._units import Placement, UnitSlots, choose_placement, conv_out
from .weights import load_backbone_state, read_state_dict

RESNET50_BLOCKS = {"layer1": 3, "layer2": 4, "layer3": 6, "layer4": 3}
RESNET50_CHANNELS = {"layer1": 256, "layer2": 512, "layer3": 1024, "layer4": 2048}
# num_units -> {stage: blocks a unit follows}; res2..res5 are layer1..layer4
RESNET50_PLACEMENTS: dict[int, dict[str, tuple[int, ...]]] = {
    1: {"layer3": (4,)},
    2: {"layer2": (2,), "layer3": (4,)},
    5: {"layer2": (1, 3), "layer3": (1, 3, 5)},
}
IMAGE_SIZE = (224, 224)          # assumed when input_size is None


def check_input_size(input_size: Sequence[int] | None, ranks: Sequence[int],
                     default: tuple[int, ...]) -> tuple[int, ...]:
    """``input_size`` as a tuple of positive ints of an allowed length (``default`` if None)."""
    if input_size is None:
        return default
    size = tuple(input_size)
    if len(size) not in ranks or not all(isinstance(v, int) and v >= 1 for v in size):
        names = " or ".join({2: "(H, W)", 3: "(T, H, W)"}[r] for r in ranks)
        raise ValueError(f"input_size must be {names} of positive integers, got {input_size!r}")
    return size


def check_unit_kwargs(unit: str | None, unit_kwargs: dict[str, Any]) -> None:
    """Unit options without a unit are a mistake (a misspelt keyword lands here too)."""
    if unit is None and unit_kwargs:
        raise ValueError(f"unit options {sorted(unit_kwargs)} were given with unit=None; "
                         f"name a unit ('regr', 'nl', 'cgnl', 'glore') or drop them")


def resnet50_stage_sizes(H: int, W: int) -> dict[str, tuple[int, int]]:
    """``(H, W)`` of each stage's map for an ``H x W`` input: conv1 7x7/2, maxpool 3x3/2, then
    a stride of 2 at the start of layer2, layer3 and layer4."""
    def stem(n: int) -> int:
        return conv_out(conv_out(n, 7, 2, 3), 3, 2, 1)
    sizes, h, w = {}, stem(H), stem(W)
    for stage in RESNET50_BLOCKS:
        if stage != "layer1":
            h, w = conv_out(h, 3, 2, 1), conv_out(w, 3, 2, 1)
        sizes[stage] = (h, w)
    return sizes


class ResNet50WithUnits(UnitSlots, ResNet):
    """torchvision's ResNet-50, with units after the blocks a placement names."""

    def __init__(self, num_classes: int, unit: str | None, placement: dict[str, tuple],
                 input_size: tuple[int, int], dropout: float, unit_kwargs: dict[str, Any]):
        ResNet.__init__(self, Bottleneck, list(RESNET50_BLOCKS.values()), num_classes=num_classes)
        self.input_size = input_size
        self.dropout = nn.Dropout(dropout)
        self._add_units(unit, placement, RESNET50_CHANNELS, resnet50_stage_sizes(*input_size),
                        unit_kwargs)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The last stage's map ``(B, 2048, H/32, W/32)``."""
        check_float("x", x)
        check_rank("x", x, (4,), "(B, 3, H, W)")
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))   # (B, 64, H/4, W/4)
        for stage in RESNET50_BLOCKS:
            x = self._run_stage(stage, x)
        return x

    def _forward_impl(self, x: torch.Tensor) -> torch.Tensor:
        x = self.avgpool(self.features(x)).flatten(1)          # (B, 2048)
        return self.fc(self.dropout(x))                        # (B, num_classes)


def resnet50(num_classes: int, unit: str | None = None, num_units: int = 1,
             weights: str | os.PathLike | None = None, input_size: Sequence[int] | None = None,
             dropout: float = 0.5, placement: Placement | None = None,
             **unit_kwargs: Any) -> ResNet50WithUnits:
    """ResNet-50 with ``num_units`` units of kind ``unit`` (None: the plain network).

    Args:
        num_classes: size of the classifier.
        unit: ``None``, ``"regr"``, ``"nl"``, ``"cgnl"`` or ``"glore"``.
        num_units: 1, 2 or 5, placed as :data:`RESNET50_PLACEMENTS`.
        weights: ``None`` (random), ``"imagenet"`` or a path (see :mod:`.weights`).
        input_size: ``(H, W)`` of the images (default 224 x 224): each stage's map size is worked
            out from it and given to units that need it (ReGr's GCN) and to ReGr's scale rule.
        dropout: before the classifier.
        placement: ``{stage: block indices}`` instead of the table row for ``num_units``.
        **unit_kwargs: options for every unit (e.g. ``relation="gcn"``, ``scales=...``).
    """
    check_positive_int("num_classes", num_classes)
    check_unit_kwargs(unit, unit_kwargs)
    size = check_input_size(input_size, (2,), IMAGE_SIZE)
    where = {} if unit is None else choose_placement(num_units, placement, RESNET50_PLACEMENTS,
                                                     RESNET50_BLOCKS, "resnet50")
    model = ResNet50WithUnits(num_classes, unit, where, size, dropout, unit_kwargs)
    if weights is not None:
        load_backbone_state(model, read_state_dict(weights))
    return model
