r"""Units as configuration: where they sit in a backbone, and what each one is told at build time.

A *placement* maps a stage's name to the indices of the blocks that a unit follows::

    {"layer3": (4,)}          # one unit, after block 4 of layer3 (res4 before its last block)

Units live in the backbone's ``units`` ModuleDict under ``"<stage>_<block>"`` keys, so the
backbone's own parameters keep torchvision's names and its weight files load unchanged.

Per-stage options (worked out from the network's ``input_size`` by :func:`stage_unit_options`):

- ``input_size``: the ``(T, H, W)`` or ``(H, W)`` of the stage's map, given to units that need it
  (ReGr with ``relation="gcn"``, whose ``N x N`` relation fixes ``N``): GCN units in two stages
  are each built for their own map.
- ``scales`` (ReGr only, when the caller gave none): **rule** — each of ReGr's default scales is
  clamped to the stage's map, ``(min(h, H), min(w, W))``, and a scale that clamps onto one already
  kept is dropped. At the paper's sizes nothing changes (res3/res4 maps are 14 to 56 cells); at
  CPU sizes (a 64x64 image gives a 4x4 res4 map) ``(4, 4), (7, 7)`` becomes ``(4, 4)``. Scales the
  caller passes are used as given: one larger than a stage's map is ReGr's ``ValueError``.
"""
from __future__ import annotations

import inspect
from typing import Any, Mapping, Sequence

import torch
from torch import nn

from ..units import create_unit, needs_input_size, unit_class

Placement = Mapping[str, Sequence[int]]


def conv_out(n: int, kernel: int, stride: int = 1, padding: int = 0) -> int:
    """Length of one axis after a convolution or pooling (floor mode)."""
    return (n + 2 * padding - kernel) // stride + 1


def fit_scales(scales: Sequence[tuple[int, int]], H: int, W: int) -> tuple[tuple[int, int], ...]:
    """Clamp each scale to an ``H x W`` map; drop a scale that clamps onto one already kept."""
    out: list[tuple[int, int]] = []
    for h, w in scales:
        s = (min(h, H), min(w, W))
        if s not in out:
            out.append(s)
    return tuple(out)


def default_scales(name: str) -> tuple[tuple[int, int], ...] | None:
    """The default ``scales`` of unit ``name``'s class, or None if it has no such option."""
    param = inspect.signature(unit_class(name)).parameters.get("scales")
    return None if param is None else tuple(tuple(s) for s in param.default)


def stage_unit_options(name: str, options: Mapping[str, Any],
                       stage_size: tuple[int, ...]) -> dict[str, Any]:
    """The options for a unit ``name`` on a map of ``stage_size`` ((T, H, W) or (H, W))."""
    opts = dict(options)
    H, W = stage_size[-2:]
    if "scales" not in opts:
        scales = default_scales(name)
        if scales is not None:
            opts["scales"] = fit_scales(scales, H, W)
    if needs_input_size(name, opts) and opts.get("input_size") is None:
        opts["input_size"] = tuple(stage_size)
    return opts


def check_placement(placement: Placement, stage_blocks: Mapping[str, int]) -> dict[str, tuple]:
    """Return ``placement`` with sorted tuples, or ``ValueError`` naming a bad stage or block."""
    out = {}
    for stage, blocks in placement.items():
        if stage not in stage_blocks:
            raise ValueError(f"placement names stage {stage!r}; stages are {list(stage_blocks)}")
        idx = tuple(sorted(set(int(b) for b in blocks)))
        n = stage_blocks[stage]
        if any(b < 0 or b >= n for b in idx):
            raise ValueError(f"placement[{stage!r}] holds block indices in [0, {n - 1}] "
                             f"({stage} has {n} blocks), got {tuple(blocks)}")
        out[stage] = idx
    return {s: out[s] for s in stage_blocks if s in out}          # network order


def choose_placement(num_units: int | None, placement: Placement | None,
                     table: Mapping[int, Placement], stage_blocks: Mapping[str, int],
                     model: str) -> dict[str, tuple]:
    """``placement`` if given, else the table's row for ``num_units``."""
    if placement is None:
        if num_units not in table:
            raise ValueError(f"{model}: num_units must be one of {sorted(table)} (or pass "
                             f"placement={{stage: block indices}}), got {num_units!r}")
        placement = table[num_units]
    return check_placement(placement, stage_blocks)


class UnitSlots(nn.Module):
    """Mixin for backbones: holds ``units`` and runs a stage with its units after their blocks."""

    units: nn.ModuleDict
    placement: dict[str, tuple]
    stage_sizes: dict[str, tuple[int, ...]]

    def _add_units(self, unit: str | None, placement: dict[str, tuple],
                   stage_channels: Mapping[str, int], stage_sizes: Mapping[str, tuple],
                   unit_kwargs: Mapping[str, Any]) -> None:
        self.units = nn.ModuleDict()
        self.unit_name = unit
        self.placement = placement if unit is not None else {}
        self.stage_sizes = dict(stage_sizes)
        for stage, blocks in self.placement.items():
            opts = stage_unit_options(unit, unit_kwargs, stage_sizes[stage])
            for b in blocks:
                self.units[f"{stage}_{b}"] = create_unit(unit, stage_channels[stage], **opts)
        self.zero_init_units()

    def zero_init_units(self) -> None:
        """Make every unit the identity again (each unit owns its ``zero_init_last``)."""
        for m in self.units.values():
            if hasattr(m, "zero_init_last"):
                m.zero_init_last()

    def unit_positions(self) -> list[tuple[str, int]]:
        """``(stage, block)`` after which each unit sits, in network order."""
        return [(s, b) for s, blocks in self.placement.items() for b in blocks]

    def _run_stage(self, stage: str, x: torch.Tensor, to_unit=None, from_unit=None):
        """Run the blocks of ``stage``; after a placed block run its unit (on ``to_unit(x)``,
        mapped back with ``from_unit``, for backbones whose blocks see another layout)."""
        for i, block in enumerate(getattr(self, stage)):
            x = block(x)
            key = f"{stage}_{i}"
            if key in self.units:
                if to_unit is None:
                    x = self.units[key](x)
                else:
                    x = from_unit(self.units[key](to_unit(x)))
        return x
