r"""Synthetic relational tasks: the class depends on a relation between two distant parts.

Both data sets are generated on the fly and **index-based**: sample ``i`` of a data set built with
``seed`` is drawn from ``numpy.random.default_rng([seed, split, i])``, so every DataLoader worker
and every DDP rank gets exactly the same sample for the same index, whatever order it asks in.

:class:`SyntheticImages` (``synthetic-image``, 2 classes): a ``size x size`` RGB image
(``size = 64`` by default) with two small glyphs in two different corners, chosen at random
among the four, and coloured clutter strokes in between. Label ``1`` ("same") when both glyphs
have the same shape, ``0`` ("different") otherwise; each glyph's shape is uniform over the
``num_shapes`` shapes in both classes, so one glyph alone says nothing about the label.

:class:`SyntheticClips` (``synthetic-video``, 3 classes): ``frames`` frames of the same kind of
scene; two small squares, each in its own corner, each moving in one of four directions
(right, down, left, up). Label ``0`` "parallel" (same direction), ``1`` "opposite", ``2``
"perpendicular". Each square's direction is uniform in every class. The squares brighten frame
by frame (a time stamp): a network that folds time into the batch, and units that treat the
cells of all frames as one set, are blind to frame order (reverse a clip and their output does
not change), so without the stamp no such model could tell a direction from its reverse.

Why corners, and why ``corner_box(size)``: every corner's glyph lies inside a box of
``corner_box(size)`` pixels (9 at 64 x 64). At that size the theoretical receptive field of a
cell of ``small_resnet``'s last stage (47 x 47 pixels, centres 8 pixels apart) never touches two
corner boxes at once (:func:`receptive_field_spans` computes it exactly; the "Regions that
matter" chapter asserts it). A plain ``small_resnet`` sums per-cell features and applies a
linear classifier, so its "same" score is ``h(a) + h'(b)`` for glyphs ``a`` and ``b``; no such sum
separates ``a == b`` from ``a != b`` (summing the inequalities for ``(a, a), (b, b)`` and
``(a, b), (b, a)`` contradicts). A unit that relates distant cells can.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.utils.data

from .._checks import check_choice, check_int, check_nonnegative_int, check_positive_int

#: How far (in pixels) a receptive field of ``small_resnet``'s last stage reaches from its centre.
RF_HALF_WIDTH = 23

GLYPH = 7  # glyph side in pixels

# 7x7 glyphs, "#" = ink. Shapes differ in their strokes, not in their ink count alone.
_GLYPH_ART = {
    "plus": ["...#...", "...#...", "...#...", "#######", "...#...", "...#...", "...#..."],
    "cross": ["#.....#", ".#...#.", "..#.#..", "...#...", "..#.#..", ".#...#.", "#.....#"],
    "ring": ["#######", "#.....#", "#.....#", "#.....#", "#.....#", "#.....#", "#######"],
    "diamond": ["...#...", "..###..", ".#####.", "#######", ".#####.", "..###..", "...#..."],
    "bars": ["#.#.#.#", "#.#.#.#", "#.#.#.#", "#.#.#.#", "#.#.#.#", "#.#.#.#", "#.#.#.#"],
    "corner": ["#######", "#......", "#......", "#......", "#......", "#......", "#......"],
}
SHAPES = tuple(_GLYPH_ART)
GLYPHS = np.stack([np.array([[c == "#" for c in row] for row in _GLYPH_ART[name]], np.float32)
                   for name in SHAPES])  # (6, 7, 7)

DIRECTIONS = np.array([(1, 0), (0, 1), (-1, 0), (0, -1)], np.float64)  # (dx, dy): R, D, L, U
CLIP_CLASSES = ("parallel", "opposite", "perpendicular")
IMAGE_CLASSES = ("different", "same")
_SPLITS = {"train": 0, "test": 1}


def corner_box(size: int) -> int:
    r"""Side of the corner boxes for a ``size x size`` image: ``(size - 2 * 23) // 2``.

    A last-stage cell of ``small_resnet`` sees ``[8c - 23, 8c + 23]`` along each axis, so two
    boxes ``[0, b)`` and ``[size - b, size)`` with ``b = (size - 46) // 2`` are never both inside
    one receptive field (checked for the default size by :func:`receptive_field_spans`).
    """
    if not isinstance(size, int) or isinstance(size, bool) or size < 2 * RF_HALF_WIDTH + 2 * GLYPH:
        raise ValueError(f"size must be an int >= {2 * RF_HALF_WIDTH + 2 * GLYPH} (two {GLYPH}-pixel"
                         f" glyph boxes outside one receptive field), got {size!r}")
    return (size - 2 * RF_HALF_WIDTH) // 2




def _corner_origin(corner: int, size: int, box: int) -> tuple[int, int]:
    """Top-left pixel ``(x, y)`` of corner box ``corner`` (0 TL, 1 TR, 2 BL, 3 BR)."""
    x = 0 if corner in (0, 2) else size - box
    y = 0 if corner in (0, 1) else size - box
    return x, y


def _clutter(rng: np.random.Generator, size: int, box: int, strokes: int) -> np.ndarray:
    r"""``(3, size, size)`` background: dim coloured strokes outside the corner boxes."""
    img = np.zeros((3, size, size), np.float32)
    if strokes:
        length = rng.integers(4, 13, strokes)                     # (n,) pixels per stroke
        start = rng.integers(0, size, (strokes, 2))                # (n, 2) x0, y0
        step = np.array([(1, 0), (0, 1), (1, 1), (1, -1)])[rng.integers(0, 4, strokes)]  # (n, 2)
        colour = rng.uniform(0.15, 0.55, (strokes, 3)).astype(np.float32)
        t = np.arange(12)
        on = t[None, :] < length[:, None]                          # (n, 12) pixel of stroke?
        xs = np.clip(start[:, :1] + step[:, :1] * t, 0, size - 1)[on]   # (points,)
        ys = np.clip(start[:, 1:] + step[:, 1:] * t, 0, size - 1)[on]
        which = np.broadcast_to(np.arange(strokes)[:, None], on.shape)[on]
        img[:, ys, xs] = colour[which].T                           # (3, points)
    for corner in range(4):                                    # keep the corner boxes clean
        x, y = _corner_origin(corner, size, box)
        img[:, y:y + box, x:x + box] = 0.0
    return img


class _Synthetic(torch.utils.data.Dataset):
    """Shared bookkeeping: length, seed, split, the per-index generator."""

    classes: tuple[str, ...]

    def __init__(self, num_samples: int, size: int, seed: int, split: str, clutter: int,
                 noise: float) -> None:
        self.num_samples = check_positive_int("num_samples", num_samples)
        self.size = size
        self.box = corner_box(size)
        check_nonnegative_int("seed", seed)
        check_choice("split", split, list(_SPLITS))
        self.seed, self.split = seed, split
        self.clutter = check_nonnegative_int("clutter", clutter)
        if not 0.0 <= float(noise) <= 1.0:
            raise ValueError(f"noise must be in [0, 1], got {noise!r}")
        self.noise = float(noise)

    def __len__(self) -> int:
        return self.num_samples

    def rng(self, index: int) -> np.random.Generator:
        """The generator of sample ``index``: a function of (seed, split, index) only."""
        return np.random.default_rng([self.seed, _SPLITS[self.split], index])

    def _index(self, index: int) -> int:
        if not -len(self) <= index < len(self):
            raise IndexError(f"index must be in [-{len(self)}, {len(self)}), got {index}")
        return index % len(self)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def targets(self) -> list[int]:
        """Every label, in index order (draws only the labels, not the images)."""
        return [self.label(i) for i in range(len(self))]


class SyntheticImages(_Synthetic):
    r"""Two glyphs in two corners: same shape (label 1) or different (label 0).

    Args:
        num_samples: length of the data set.
        size: image side (default 64; at least 60).
        seed: data seed; sample ``i`` depends on ``(seed, split, i)`` only.
        split: ``"train"`` or ``"test"`` (independent streams of the same distribution).
        num_shapes: glyph shapes in play (2 to 6, default 4).
        clutter: coloured strokes drawn between the corners (default 24).
        noise: standard deviation of Gaussian pixel noise (default 0.03).

    ``dataset[i]`` is ``(image (3, size, size) float32 in [0, 1], label)``; ``dataset.meta(i)``
    gives the corners and shapes drawn.
    """

    classes = IMAGE_CLASSES

    def __init__(self, num_samples: int = 4096, size: int = 64, seed: int = 0,
                 split: str = "train", num_shapes: int = 4, clutter: int = 24,
                 noise: float = 0.03) -> None:
        super().__init__(num_samples, size, seed, split, clutter, noise)
        if not isinstance(num_shapes, int) or not 2 <= num_shapes <= len(SHAPES):
            raise ValueError(f"num_shapes must be an int in [2, {len(SHAPES)}], got {num_shapes!r}")
        self.num_shapes = num_shapes

    def _draw(self, rng: np.random.Generator) -> dict:
        # the label first, so the classes are balanced; then shapes with uniform marginals
        label = int(rng.integers(2))
        a = int(rng.integers(self.num_shapes))
        b = a if label else (a + 1 + int(rng.integers(self.num_shapes - 1))) % self.num_shapes
        corners = rng.permutation(4)[:2]
        offsets = rng.integers(0, self.box - GLYPH + 1, size=(2, 2))  # jitter inside the box
        colour = rng.uniform(0.8, 1.0, 3).astype(np.float32)
        return {"label": label, "shapes": (a, b), "corners": tuple(int(c) for c in corners),
                "offsets": offsets, "colour": colour}

    def label(self, index: int) -> int:
        return int(self.rng(self._index(index)).integers(2))

    def meta(self, index: int) -> dict:
        """What sample ``index`` holds: label, shapes (names), corners (0 TL, 1 TR, 2 BL, 3 BR)."""
        d = self._draw(self.rng(self._index(index)))
        return {"label": d["label"], "shapes": tuple(SHAPES[s] for s in d["shapes"]),
                "corners": d["corners"]}

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        rng = self.rng(self._index(index))
        d = self._draw(rng)
        img = _clutter(rng, self.size, self.box, self.clutter)  # (3, S, S)
        for shape, corner, (ox, oy) in zip(d["shapes"], d["corners"], d["offsets"]):
            x, y = _corner_origin(corner, self.size, self.box)
            x, y = x + int(ox), y + int(oy)
            ink = GLYPHS[shape]                                 # (7, 7)
            img[:, y:y + GLYPH, x:x + GLYPH] = ink * d["colour"][:, None, None]
        if self.noise:
            img += rng.normal(0.0, self.noise, img.shape).astype(np.float32)
        return torch.from_numpy(np.clip(img, 0.0, 1.0)), d["label"]

    def __repr__(self) -> str:
        return (f"SyntheticImages(num_samples={self.num_samples}, size={self.size}, "
                f"seed={self.seed}, split={self.split!r}, num_shapes={self.num_shapes})")


def _square(size: int, cx: float, cy: float, side: float) -> np.ndarray:
    r"""An anti-aliased square of side ``side`` centred at ``(cx, cy)`` (pixel centres at
    ``i + 0.5``): each pixel holds the fraction of it that the square covers."""
    edges = np.arange(size + 1, dtype=np.float64)

    def cover(c: float) -> np.ndarray:                          # (size,) overlap per pixel
        lo, hi = c - side / 2, c + side / 2
        return np.clip(np.minimum(edges[1:], hi) - np.maximum(edges[:-1], lo), 0.0, 1.0)
    return np.outer(cover(cy), cover(cx)).astype(np.float32)   # (size, size)


class SyntheticClips(_Synthetic):
    r"""Two squares in two corners moving parallel (0), opposite (1) or perpendicular (2).

    Args:
        num_samples, size, seed, split, clutter, noise: as :class:`SyntheticImages`.
        frames: ``T`` (default 8).
        side: side of each square in pixels (default 3).

    Each square moves in a straight line at constant speed across its corner box, from one side
    to the other (``box - side`` pixels in ``T - 1`` steps), and its brightness rises from 0.3 to
    1 over the clip (the time stamp; see the module docstring). ``dataset[i]`` is
    ``(clip (3, T, size, size) float32 in [0, 1], label)``.
    """

    classes = CLIP_CLASSES

    def __init__(self, num_samples: int = 1024, size: int = 64, frames: int = 8, seed: int = 0,
                 split: str = "train", side: int = 3, clutter: int = 24,
                 noise: float = 0.03) -> None:
        super().__init__(num_samples, size, seed, split, clutter, noise)
        self.frames = check_int("frames", frames, 2)
        self.side = check_positive_int("side", side)
        if side >= self.box:
            raise ValueError(f"side must be smaller than the corner box ({self.box} pixels at "
                             f"size {size}), got {side}")

    def _draw(self, rng: np.random.Generator) -> dict:
        label = int(rng.integers(3))
        da = int(rng.integers(4))
        if label == 0:
            db = da
        elif label == 1:
            db = (da + 2) % 4
        else:
            db = (da + 1 + 2 * int(rng.integers(2))) % 4
        corners = rng.permutation(4)[:2]
        across = rng.uniform(0.0, 1.0, 2)         # place across the direction of motion, in [0, 1]
        return {"label": label, "directions": (da, db),
                "corners": tuple(int(c) for c in corners), "across": across}

    def label(self, index: int) -> int:
        return int(self.rng(self._index(index)).integers(3))

    def meta(self, index: int) -> dict:
        """What sample ``index`` holds: label, directions (R, D, L, U), corners."""
        d = self._draw(self.rng(self._index(index)))
        return {"label": d["label"], "directions": tuple("RDLU"[k] for k in d["directions"]),
                "corners": d["corners"]}

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        rng = self.rng(self._index(index))
        d = self._draw(rng)
        T, S, box, side = self.frames, self.size, self.box, self.side
        background = _clutter(rng, S, box, self.clutter)     # (3, S, S), static
        clip = np.repeat(background[:, None], T, axis=1)     # (3, T, S, S)
        travel = box - side                                  # pixels from one side to the other
        for direction, corner, across in zip(d["directions"], d["corners"], d["across"]):
            x0, y0 = _corner_origin(corner, S, box)
            dx, dy = DIRECTIONS[direction]
            for t in range(T):
                u = t / (T - 1)                              # progress along the path, 0 -> 1
                along = u if (dx + dy) > 0 else 1.0 - u      # R, D go up the axis; L, U down
                px, py = (along, across) if dx else (across, along)
                cx = x0 + side / 2 + px * travel
                cy = y0 + side / 2 + py * travel
                ink = _square(S, cx, cy, side)               # (S, S)
                level = 0.3 + 0.7 * u                        # the time stamp
                clip[:, t] = clip[:, t] * (1 - ink) + level * ink
        if self.noise:
            clip += rng.normal(0.0, self.noise, clip.shape).astype(np.float32)
        return torch.from_numpy(np.clip(clip, 0.0, 1.0)), d["label"]

    def __repr__(self) -> str:
        return (f"SyntheticClips(num_samples={self.num_samples}, size={self.size}, "
                f"frames={self.frames}, seed={self.seed}, split={self.split!r})")


def receptive_field_spans(model: torch.nn.Module, stage: str, size: int
                          ) -> list[tuple[int, int]]:
    r"""Exact theoretical receptive field of each cell of ``stage`` along the width axis.

    Works on a copy of ``model`` whose weights are made positive (so no ReLU ever blocks a
    path) and in eval mode: the pixels with a nonzero gradient of a cell's output are the pixels
    that cell can see. Returns ``[(first, last)]`` pixel columns for each output column (taken on
    the middle row; the network is the same along both axes).
    """
    import copy
    probe = copy.deepcopy(model).eval()
    with torch.no_grad():
        for p in probe.parameters():
            p.abs_().add_(0.01)
    blocks = getattr(probe, stage)
    out: dict[str, torch.Tensor] = {}
    hook = blocks[-1].register_forward_hook(lambda m, i, o: out.setdefault("y", o))
    x = torch.rand(1, 3, size, size, requires_grad=True)
    try:
        probe.features(x)
    finally:
        hook.remove()
    y = out["y"]                                              # (1, C, h, w)
    row = y.shape[-2] // 2
    spans = []
    for c in range(y.shape[-1]):
        (g,) = torch.autograd.grad(y[0, :, row, c].sum(), x, retain_graph=True)
        cols = (g.abs().sum((0, 1, 2)) > 0).nonzero().flatten()
        spans.append((int(cols.min()), int(cols.max())))
    return spans


def corners_separated(spans: Sequence[tuple[int, int]], size: int) -> bool:
    """True when no span reaches into both the first and the last ``corner_box(size)`` pixels."""
    box = corner_box(size)
    return not any(lo < box and hi >= size - box for lo, hi in spans)
