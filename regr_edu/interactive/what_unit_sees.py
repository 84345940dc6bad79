r"""The measurements behind "What the unit sees": where a trained unit's relation matrix sends
its weight, and where its addition and its attributions fall, over many test images of the
synthetic two-glyph task (:class:`regr_edu.data.synthetic.SyntheticImages`).

- :func:`cached_checkpoint`: the small models the book ships (``book/_data/what_unit_sees``).
- :func:`corner_centres`, :func:`glyph_regions`, :func:`glyph_masks`: where the glyphs are, as
  regions of a unit (:class:`regr_edu.viz.RegionBoxes`) and as pixel masks.
- :func:`relation_matrix_figure`: an input and its relation matrix, the scales separated.
- :func:`partner_rank`, :func:`relation_shares`: the Fig. 5a measurement and its control.
- :func:`attribution_shares`: how much of each method's attribution lies near the glyphs.
- :func:`grade_top_k`: the chapter's exercise, a learner's top-k against
  :func:`regr_edu.viz.top_related`.
"""
from __future__ import annotations

import pathlib
from typing import Callable, Mapping, Sequence

import numpy as np
import torch

from .._checks import check_choice, check_float, check_int, check_rank
from ..data.synthetic import corner_box
from ..exercises import Case, GradeResult, run_grader
from ..viz import RegionBoxes, attribute, top_related
from ._display import new_figure

MODELS = ("regr", "baseline")
"""The cached models: ``regr`` (one ReGr unit after ``layer2``) and ``baseline`` (none)."""


def cached_checkpoint(name: str) -> pathlib.Path:
    """``book/_data/what_unit_sees/<name>.pth`` (written by ``scripts/make_viz_models.py``),
    looked up from the working directory (the book folder or the repository root) and from the
    checkout the package was imported from."""
    check_choice("name", name, MODELS)
    here = pathlib.Path(__file__).resolve().parents[2]
    for base in (pathlib.Path.cwd(), pathlib.Path.cwd() / "book", here / "book"):
        path = base / "_data" / "what_unit_sees" / f"{name}.pth"
        if path.is_file():
            return path
    raise FileNotFoundError(f"{name}.pth: run `python scripts/make_viz_models.py` first")


def corner_centres(size: int = 64) -> dict[int, tuple[float, float]]:
    """Centre ``(x, y)`` of each corner's glyph box (0 top-left, 1 top-right, 2 bottom-left,
    3 bottom-right) on a ``size x size`` image of the task."""
    size = check_int("size", size, 8)
    b = corner_box(size)
    return {0: (b / 2, b / 2), 1: (size - b / 2, b / 2),
            2: (b / 2, size - b / 2), 3: (size - b / 2, size - b / 2)}


def glyph_regions(meta: Mapping, boxes: RegionBoxes, size: int = 64) -> list[np.ndarray]:
    """For each glyph of sample ``meta`` (``SyntheticImages.meta(i)``), the regions holding its
    corner box's centre: one per scale, in the order of the unit's scales."""
    centres = corner_centres(size)
    return [boxes.regions_at(*centres[c]) for c in meta["corners"]]


def glyph_masks(metas: Sequence[Mapping], size: int = 64, pad: int = 4) -> torch.Tensor:
    """``(len(metas), size, size)`` bool: each glyph's corner box, widened by ``pad`` pixels
    (a map cell of the unit covers ``pad x pad`` pixels, so a glyph's influence spreads)."""
    pad = check_int("pad", pad, 0)
    centres, b = corner_centres(size), corner_box(size)
    masks = torch.zeros(len(metas), size, size, dtype=torch.bool)
    for m, meta in zip(masks, metas):
        for c in meta["corners"]:
            cx, cy = centres[c]
            m[max(0, int(cy - b / 2 - pad)):int(cy + b / 2 + pad),
              max(0, int(cx - b / 2 - pad)):int(cx + b / 2 + pad)] = True
    return masks


def relation_matrix_figure(image: torch.Tensor, R: torch.Tensor, boxes: RegionBoxes,
                           title: str = ""):
    """The input (left) and its ``(N, N)`` relation matrix (right), with white lines where one
    scale's regions end and the next's begin."""
    check_float("R", R)
    check_rank("R", R, (2,), "(N, N): one sample's relation matrix")
    if R.shape != (len(boxes), len(boxes)):
        raise ValueError(f"R must be (N, N) with N={len(boxes)} regions as in boxes, got shape "
                         f"{tuple(R.shape)}")
    fig, axes = new_figure(1, 2, figsize=(9, 4), layout="constrained")
    axes[0].imshow(image.detach().cpu().permute(1, 2, 0).clamp(0, 1).numpy())
    axes[0].set_title(title, fontsize=10)
    axes[0].axis("off")
    im = axes[1].imshow(R.detach().cpu().numpy(), cmap="viridis")
    axes[1].set_title("R (rows: region i, columns: j)", fontsize=10)
    for s in range(1, len(boxes.scales)):
        edge = boxes.of_scale(s)[0] - 0.5                        # first region of scale s
        axes[1].axhline(edge, color="w", lw=0.8)
        axes[1].axvline(edge, color="w", lw=0.8)
    fig.colorbar(im, ax=axes[1])
    return fig


def partner_rank(R: torch.Tensor, i: int, partners: Sequence[int]) -> int:
    """Where the best-placed of ``partners`` ranks in row ``i`` of ``R`` (1: strongest of all
    the other regions)."""
    order, _ = top_related(R, i, R.shape[0] - 1)                    # every other region, ranked
    return min(int(np.flatnonzero(order == j)[0]) for j in partners) + 1


def relation_shares(R: torch.Tensor, metas: Sequence[Mapping], boxes: RegionBoxes,
                    size: int = 64) -> dict[str, np.ndarray]:
    """Per image of a batch: how glyph ``a``'s small-scale region reads glyph ``b``, the same
    for the two empty corners' regions (the control), and the heaviest column of ``R``.

    Args:
        R: ``(B, N, N)``, one relation matrix per image.
        metas: ``B`` samples' ``meta``; boxes: the unit's :class:`~regr_edu.viz.RegionBoxes`.

    Returns:
        ``rank``, ``share`` (``(B,)``): the rank of glyph ``b``'s best region in ``a``'s row and
        the weight on ``b``'s regions; ``control_rank``, ``control_share`` (``(2B,)``): the same
        for the rows of the empty corners; ``stripe`` (``(B,)``): the heaviest column's share of
        all of ``R``'s weight; ``stripe_on_glyph``: whether that column is a glyph's region.
    """
    check_float("R", R)
    check_rank("R", R, (3,), "(B, N, N)")
    if R.shape[0] != len(metas) or R.shape[1:] != (len(boxes), len(boxes)):
        raise ValueError(f"R must be (B, N, N) with B={len(metas)} metas and N={len(boxes)} "
                         f"regions, got shape {tuple(R.shape)}")
    centres, N = corner_centres(size), len(boxes)
    out: dict[str, list] = {k: [] for k in ("rank", "share", "control_rank", "control_share",
                                            "stripe", "stripe_on_glyph")}
    for Rk, meta in zip(R, metas):
        a, b = glyph_regions(meta, boxes, size)
        rows = [("", int(a[0]))] + [("control_", int(boxes.regions_at(*centres[c])[0]))
                                     for c in sorted(set(range(4)) - set(meta["corners"]))]
        for prefix, i in rows:
            out[prefix + "rank"].append(partner_rank(Rk, i, b))
            out[prefix + "share"].append(float(Rk[i, b].sum()))
        column = Rk.sum(0)                                          # weight each region gives
        out["stripe"].append(float(column.max() / N))
        out["stripe_on_glyph"].append(int(column.argmax()) in set(a.tolist()) | set(b.tolist()))
    return {k: np.array(v) for k, v in out.items()}


def attribution_shares(models: Mapping[str, torch.nn.Module], x: torch.Tensor,
                       target: torch.Tensor, masks: torch.Tensor, n_steps: int = 16
                       ) -> dict[tuple[str, str], float]:
    """``{(model, method): share}``: the mean share of Grad-CAM's map and of Integrated
    Gradients' ``|attribution|`` (summed over colours) that lies inside ``masks``
    (``(B, H, W)`` bool, e.g. :func:`glyph_masks`), each model asked about ``target``."""
    if masks.shape != (x.shape[0], *x.shape[-2:]) or masks.dtype != torch.bool:
        raise ValueError(f"masks must be bool of shape {(x.shape[0], *x.shape[-2:])} (one per "
                         f"image), got {masks.dtype} of shape {tuple(masks.shape)}")
    shares = {}
    for name, net in models.items():
        maps = {"Grad-CAM": attribute(net, x, target, "gradcam")[:, 0],        # (B, H, W)
                "IG |attr|": attribute(net, x, target, "ig", n_steps=n_steps).abs().sum(1)}
        for method, a in maps.items():
            if not torch.isfinite(a).all():
                raise ValueError(f"{name}'s {method} attributions must be finite, got NaN or inf")
            total = a.flatten(1).sum(1).clamp_min(1e-12)
            shares[(name, method)] = ((a * masks).flatten(1).sum(1) / total).mean().item()
    return shares


def _top_k_reference(row: torch.Tensor, i: int, k: int) -> torch.Tensor:
    """:func:`regr_edu.viz.top_related` on the row alone (a matrix holding only row ``i``)."""
    R = torch.zeros(len(row), len(row), dtype=row.dtype)
    R[i] = row
    return torch.as_tensor(top_related(R, i, k)[0], dtype=torch.int64)


def top_k_cases(trials: int = 20, seed: int = 0) -> list[Case]:
    """Rows of small integers (so ties occur), ``(row, i, k)`` per case."""
    gen = torch.Generator().manual_seed(seed)
    return [Case(f"row {t}: i={t % 12}, k={1 + t % 5}",
                 (torch.randint(0, 6, (12,), generator=gen).double(), t % 12, 1 + t % 5))
            for t in range(check_int("trials", trials, 1))]


def grade_top_k(student_fn: Callable, *, trials: int = 20, seed: int = 0,
                verbose: bool = True) -> GradeResult:
    """Check ``student_fn(row, i, k)`` (one row of ``R``) against :func:`regr_edu.viz.top_related`:
    the indices of the ``k`` largest entries, ``i`` left out, strongest first, ties by the
    smaller index. The indices may come back as any sequence of integers."""
    if not callable(student_fn):
        raise TypeError(f"student_fn must be callable, got {type(student_fn).__name__}")

    def as_indices(row, i, k):
        return torch.as_tensor([int(j) for j in student_fn(row, i, k)], dtype=torch.int64)

    return run_grader(as_indices, _top_k_reference, top_k_cases(trials, seed), what="top_k",
                      rtol=0.0, atol=0.0, verbose=verbose)
