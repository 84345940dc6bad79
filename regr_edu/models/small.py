r"""A small ResNet for CPU-scale experiments (64 x 64 images, short clips).

Layout (widths 32-64-128 by default, one basic block per stage)::

    stem     3x3 conv, stride 2, BN, ReLU        64x64 -> 32x32   receptive field  3
    layer1   basic block, 32 ch                  32x32            11
    layer2   basic block, 64 ch, stride 2        16x16            23
    layer3   basic block, 128 ch, stride 2        8x8             47
    global average pooling, dropout, linear

Its receptive field is short relative to the input: a cell of layer2 sees 23 x 23 pixels of a
64 x 64 image, so two objects far apart meet only in the global average, never in one feature —
unless a unit relates them. Units: one after layer2 (16 x 16 map for a 64 x 64 input, the role
res4 has in ResNet-50), or two, after layer1 and layer2. Clips ``(B, 3, T, H, W)`` run frame by
frame through the convolutions (T folded into the batch); units and the final pooling see the
whole ``(B, C, T, H, W)`` map, so a unit relates cells across frames.
"""
from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import nn
from torchvision.models.resnet import BasicBlock

from .._checks import check_float, check_positive_int, check_rank
from ._units import Placement, UnitSlots, choose_placement, conv_out
from .resnet import check_input_size, check_unit_kwargs

SMALL_SIZE = (64, 64)            # assumed when input_size is None
SMALL_PLACEMENTS: dict[int, dict[str, tuple[int, ...]]] = {
    1: {"layer2": (0,)},
    2: {"layer1": (0,), "layer2": (0,)},
}


class SmallResNet(UnitSlots):
    """Stem + three stages of basic blocks; 4-D images or 5-D clips."""

    def __init__(self, num_classes: int, widths: Sequence[int], blocks: Sequence[int],
                 unit: str | None, placement: dict[str, tuple], input_size: tuple[int, ...],
                 dropout: float, unit_kwargs: dict[str, Any]) -> None:
        super().__init__()
        self.input_size = input_size
        self.stem = nn.Sequential(nn.Conv2d(3, widths[0], 3, stride=2, padding=1, bias=False),
                                  nn.BatchNorm2d(widths[0]), nn.ReLU(inplace=True))
        inplanes = widths[0]
        for i, (width, n) in enumerate(zip(widths, blocks)):
            stride = 1 if i == 0 else 2
            layers = []
            for b in range(n):
                s = stride if b == 0 else 1
                down = None
                if s != 1 or inplanes != width:
                    down = nn.Sequential(nn.Conv2d(inplanes, width, 1, stride=s, bias=False),
                                         nn.BatchNorm2d(width))
                layers.append(BasicBlock(inplanes, width, s, down))
                inplanes = width
            setattr(self, f"layer{i + 1}", nn.Sequential(*layers))
        self.stages = [f"layer{i + 1}" for i in range(len(widths))]
        self.avgpool = nn.AdaptiveAvgPool3d(1)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(inplanes, num_classes)
        channels = {s: w for s, w in zip(self.stages, widths)}
        self._add_units(unit, placement, channels, small_stage_sizes(input_size, len(widths)),
                        unit_kwargs)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The last stage's map as ``(B, C, T, H', W')`` (``T = 1`` for an image)."""
        check_float("x", x)
        check_rank("x", x, (4, 5), "(B, 3, H, W) or (B, 3, T, H, W)")
        if x.dim() == 4:                                        # image: plain 2-D network
            x = self.stem(x)                                    # (B, C0, H/2, W/2)
            for stage in self.stages:
                x = self._run_stage(stage, x)
            return x.unsqueeze(2)                               # (B, C, 1, H', W')
        B, _, T = x.shape[:3]

        def fold(v):                                            # (B, C, T, H, W) -> (B*T, C, H, W)
            return v.transpose(1, 2).flatten(0, 1)

        def unfold(v):                                          # (B*T, C, H, W) -> (B, C, T, H, W)
            return v.unflatten(0, (B, T)).transpose(1, 2)

        y = self.stem(fold(x))                                  # (B*T, C0, H/2, W/2)
        for stage in self.stages:                               # units see (B, C, T, h, w)
            y = self._run_stage(stage, y, to_unit=unfold, from_unit=fold)
        return unfold(y)                                        # (B, C, T, H', W')

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.avgpool(self.features(x)).flatten(1)           # (B, C)
        return self.fc(self.dropout(x))                         # (B, num_classes)


def small_stage_sizes(input_size: tuple[int, ...], stages: int = 3) -> dict[str, tuple]:
    """Map size of each stage (``(H, W)``, or ``(T, H, W)`` for clips: T is never pooled)."""
    *t, H, W = input_size
    h, w = conv_out(H, 3, 2, 1), conv_out(W, 3, 2, 1)
    sizes = {}
    for i in range(stages):
        if i:
            h, w = conv_out(h, 3, 2, 1), conv_out(w, 3, 2, 1)
        sizes[f"layer{i + 1}"] = (*t, h, w)
    return sizes


def small_resnet(num_classes: int, unit: str | None = None, num_units: int = 1,
                 input_size: Sequence[int] | None = None, widths: Sequence[int] = (32, 64, 128),
                 blocks: Sequence[int] = (1, 1, 1), dropout: float = 0.0,
                 placement: Placement | None = None, **unit_kwargs: Any) -> SmallResNet:
    """Small ResNet with ``num_units`` (1 or 2) units of kind ``unit``.

    Args:
        input_size: ``(H, W)`` or ``(T, H, W)`` (default 64 x 64): stage sizes for the units.
        widths, blocks: channels and basic blocks per stage.
        placement: ``{stage: block indices}`` instead of the table row for ``num_units``.
        Other arguments as :func:`.resnet.resnet50`.
    """
    check_positive_int("num_classes", num_classes)
    check_unit_kwargs(unit, unit_kwargs)
    if len(widths) != len(blocks) or not widths:
        raise ValueError(f"widths and blocks must have one entry per stage, got widths={widths} "
                         f"and blocks={blocks}")
    size = check_input_size(input_size, (2, 3), SMALL_SIZE)
    stage_blocks = {f"layer{i + 1}": n for i, n in enumerate(blocks)}
    where = {} if unit is None else choose_placement(num_units, placement, SMALL_PLACEMENTS,
                                                     stage_blocks, "small_resnet")
    return SmallResNet(num_classes, tuple(widths), tuple(blocks), unit, where, size, dropout,
                       unit_kwargs)
