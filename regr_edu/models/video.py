r"""Video ResNet-50s of the non-local paper (Wang et al. 2018), C2D and I3D, for clips
``(B, 3, T, H, W)``.

Both are ResNet-50 with 3-D layers whose parameters keep torchvision's names, so the 2-D ImageNet
weights load by *inflation* (:func:`.weights.inflate`): a 2-D kernel becomes ``kt`` copies along
time divided by ``kt``.

- **C2D**: every kernel is ``1 x k x k`` — 2-D convolutions frame by frame; time is mixed only by
  a ``3x1x1`` max pooling of stride 2 after res2 (and by the units).
- **I3D**: as C2D, with conv1 inflated to ``5x7x7`` and the first ``1x1`` of every other bottleneck
  inflated to ``3x1x1`` (the non-local paper's I3D\ :sub:`3x1x1`; the table below).

Temporal sizes: conv1 and pool1 keep ``T`` (stride 1 in time, as the non-local code's 8-frame
models; the paper's Table 1, written for 32 frames, also halves ``T`` in pool1); the pool after
res2 halves it, so an 8-frame clip gives ``T = 4`` in res3 to res5. Units are placed as in
:mod:`.resnet` (the non-local paper's video placements) and see ``(B, C, T, H, W)`` maps.

Deliberate differences from the official code (video-nonlocal-net, listed with the others in
CONTRIBUTING.md): its pool after res2 is ``2x1x1`` with stride 2 and no padding, ours ``3x1x1``
with stride 2 and padding 1 (overlapping windows; both halve ``T``); its pool1 has no spatial
padding (112 -> 55 at 224 input), ours pads 1 as torchvision (112 -> 56); res3 on have the same
sizes.
"""
from __future__ import annotations

import os
from typing import Any, Sequence

import torch
from torch import nn

from .._checks import check_float, check_positive_int, check_rank
from ._units import Placement, UnitSlots, choose_placement, conv_out
from .resnet import (RESNET50_BLOCKS, RESNET50_CHANNELS, RESNET50_PLACEMENTS, check_input_size,
                     check_unit_kwargs, resnet50_stage_sizes)
from .weights import inflate_adapter, load_backbone_state, read_state_dict

CLIP_SIZE = (8, 224, 224)        # assumed when input_size is None
# temporal kernel of each bottleneck's first 1x1 conv (1 or 3), per stage; conv1's own kernel.
C2D_TEMPORAL = {"conv1": 1, "layer1": (1, 1, 1), "layer2": (1, 1, 1, 1),
                "layer3": (1, 1, 1, 1, 1, 1), "layer4": (1, 1, 1)}
I3D_TEMPORAL = {"conv1": 5, "layer1": (3, 3, 3), "layer2": (3, 1, 3, 1),
                "layer3": (3, 1, 3, 1, 3, 1), "layer4": (1, 3, 1)}


class Bottleneck3d(nn.Module):
    """torchvision's Bottleneck in 3-D: ``kt x 1 x 1`` -> ``1 x 3 x 3`` (spatial stride) ->
    ``1 x 1 x 1``, with the same attribute names (so 2-D weights inflate key by key)."""

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int, kt: int) -> None:
        super().__init__()
        out = planes * self.expansion
        self.conv1 = nn.Conv3d(inplanes, planes, (kt, 1, 1), padding=(kt // 2, 0, 0), bias=False)
        self.bn1 = nn.BatchNorm3d(planes)
        self.conv2 = nn.Conv3d(planes, planes, (1, 3, 3), stride=(1, stride, stride),
                               padding=(0, 1, 1), bias=False)
        self.bn2 = nn.BatchNorm3d(planes)
        self.conv3 = nn.Conv3d(planes, out, 1, bias=False)
        self.bn3 = nn.BatchNorm3d(out)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or inplanes != out:
            self.downsample = nn.Sequential(
                nn.Conv3d(inplanes, out, 1, stride=(1, stride, stride), bias=False),
                nn.BatchNorm3d(out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return self.relu(y + identity)


class VideoResNet50(UnitSlots):
    """ResNet-50 on clips with the temporal kernels of ``temporal`` (C2D or I3D table)."""

    def __init__(self, num_classes: int, temporal: dict[str, Any], unit: str | None,
                 placement: dict[str, tuple], input_size: tuple[int, int, int], dropout: float,
                 unit_kwargs: dict[str, Any]) -> None:
        super().__init__()
        kt = temporal["conv1"]
        self.temporal = temporal
        self.input_size = input_size
        self.conv1 = nn.Conv3d(3, 64, (kt, 7, 7), stride=(1, 2, 2), padding=(kt // 2, 3, 3),
                               bias=False)
        self.bn1 = nn.BatchNorm3d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool3d((1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1))
        self.pool2 = nn.MaxPool3d((3, 1, 1), stride=(2, 1, 1), padding=(1, 0, 0))  # after res2
        inplanes = 64
        for i, (stage, n) in enumerate(RESNET50_BLOCKS.items()):
            planes, stride = 64 * 2 ** i, 1 if i == 0 else 2
            blocks = []
            for b in range(n):
                blocks.append(Bottleneck3d(inplanes, planes, stride if b == 0 else 1,
                                           temporal[stage][b]))
                inplanes = planes * Bottleneck3d.expansion
            setattr(self, stage, nn.Sequential(*blocks))
        self.avgpool = nn.AdaptiveAvgPool3d(1)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(2048, num_classes)
        for m in self.modules():                      # torchvision's ResNet initialisation
            if isinstance(m, nn.Conv3d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm3d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        self._add_units(unit, placement, RESNET50_CHANNELS, video_stage_sizes(*input_size),
                        unit_kwargs)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The last stage's map ``(B, 2048, T', H/32, W/32)``."""
        check_float("x", x)
        check_rank("x", x, (5,), "(B, 3, T, H, W)")
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))   # (B, 64, T, H/4, W/4)
        for stage in RESNET50_BLOCKS:
            x = self._run_stage(stage, x)
            if stage == "layer1":
                x = self.pool2(x)                              # (B, 256, T/2, H/4, W/4)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.avgpool(self.features(x)).flatten(1)          # (B, 2048)
        return self.fc(self.dropout(x))                        # (B, num_classes)


def video_stage_sizes(T: int, H: int, W: int) -> dict[str, tuple[int, int, int]]:
    """``(T, H, W)`` of each stage's map: space as ResNet-50, time halved after res2."""
    t2 = conv_out(T, 3, 2, 1)
    return {stage: (T if stage == "layer1" else t2, h, w)
            for stage, (h, w) in resnet50_stage_sizes(H, W).items()}


def _video(temporal: dict[str, Any], name: str, num_classes: int, unit: str | None,
           num_units: int, weights: str | os.PathLike | None, input_size: Sequence[int] | None,
           dropout: float, placement: Placement | None, unit_kwargs: dict[str, Any]):
    check_positive_int("num_classes", num_classes)
    check_unit_kwargs(unit, unit_kwargs)
    size = check_input_size(input_size, (3,), CLIP_SIZE)
    where = {} if unit is None else choose_placement(num_units, placement, RESNET50_PLACEMENTS,
                                                     RESNET50_BLOCKS, name)
    model = VideoResNet50(num_classes, temporal, unit, where, size, dropout, unit_kwargs)
    if weights is not None:
        load_backbone_state(model, read_state_dict(weights), adapt=inflate_adapter)
    return model


def c2d_resnet50(num_classes: int, unit: str | None = None, num_units: int = 1,
                 weights: str | os.PathLike | None = None,
                 input_size: Sequence[int] | None = None, dropout: float = 0.5,
                 placement: Placement | None = None, **unit_kwargs: Any) -> VideoResNet50:
    """C2D ResNet-50 for ``(B, 3, T, H, W)`` clips; arguments as :func:`.resnet.resnet50`, with
    ``input_size = (T, H, W)`` (default 8 x 224 x 224). ImageNet or 2-D weights are inflated."""
    return _video(C2D_TEMPORAL, "c2d_resnet50", num_classes, unit, num_units, weights,
                  input_size, dropout, placement, unit_kwargs)


def i3d_resnet50(num_classes: int, unit: str | None = None, num_units: int = 1,
                 weights: str | os.PathLike | None = None,
                 input_size: Sequence[int] | None = None, dropout: float = 0.5,
                 placement: Placement | None = None, **unit_kwargs: Any) -> VideoResNet50:
    """I3D ResNet-50 (``3x1x1`` in every other block, conv1 ``5x7x7``); arguments as
    :func:`c2d_resnet50`."""
    return _video(I3D_TEMPORAL, "i3d_resnet50", num_classes, unit, num_units, weights,
                  input_size, dropout, placement, unit_kwargs)
