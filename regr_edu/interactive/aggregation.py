r"""Widgets and figures for Eq. 2 (aggregation, :math:`A_i = \mu(X_i)\,\nu(X_i)^\top`).

The question this module answers with numbers: how much of a region does the fixed-length
:math:`A_i` keep? With :math:`\mu` the identity (``c_mu = C``), every method below summarises a
region :math:`X_i` (``C x P``) by ``C x c_nu`` numbers — the same length ``M = C * c_nu`` — and
reads it back to ``C x P``:

* ``"avg_pool"`` — average over ``c_nu`` fixed sub-blocks of the region, upsample back. This is
  Eq. 2 with a fixed :math:`\nu` whose rows are the blocks' averaging masks.
* ``"max_pool"`` — the maximum over the same sub-blocks, upsampled (not a linear map).
* ``"random_nu"`` — :math:`\nu` a 1x1 convolution ``C -> c_nu`` with random weights (seeded).
* ``"trained_nu"`` — the same 1x1 convolution trained with Adam to make the read-back match.
* ``"best_nu"`` — the region's own top-``c_nu`` right-singular vectors: no 1x1 convolution can do
  better (Eckart–Young), so it is the floor for every :math:`\nu`.

For the three :math:`\nu` methods the read-back is :func:`regr_edu.recover_region`,
``A pinv(nu(X)^T)``, and it needs :math:`\nu(X_i)` — computed from the region itself. So this
measures how much of the region the numbers keep, not a decoder that works from ``A`` alone.

Plain functions validate their arguments (``ValueError`` naming the parameter, the rule and the
value); :func:`recovery_widget` has slider bounds equal to that rule (``1 <= c_nu <= P``).
"""
from __future__ import annotations

import hashlib
import math
from typing import Any, Sequence

import torch
from torch import nn

from .._checks import (as_5d, check_choice, check_float, check_positive_int, check_scale,
                       check_scales)
from ..aggregation import aggregate, recover_region
from ..regions import cell_mask, grid_size, merge_regions, pad_to_scale, split_regions
from ._display import with_static_fallback
from ._photo import photo
from .regions import _one_thread, feature_map, feature_rgb, figure_png

METHODS = ("avg_pool", "max_pool", "random_nu", "trained_nu", "best_nu")
LABELS = {
    "avg_pool": "average pooling",
    "max_pool": "max pooling",
    "random_nu": "random ν (1×1 conv)",
    "trained_nu": "trained ν (1×1 conv)",
    "best_nu": "best ν (top singular vectors)",
}
COLORS = {"avg_pool": "#1f78b4", "max_pool": "#a6cee3", "random_nu": "#ff7f00",
          "trained_nu": "#e31a1c", "best_nu": "#33a02c"}
READINGS = ("pad", "unequal", "zero-pad")


# ----------------------------------------------------------------------------------------------
# Eq. 2 over a whole map, three readings of a map the scale does not divide
def _cells(x5: torch.Tensor, conv: nn.Module | None) -> torch.Tensor:
    """A 1x1 conv applied to every cell of ``(B, C, T, H, W)`` (``None``: the identity)."""
    if conv is None:
        return x5
    B, C, T, H, W = x5.shape
    out = conv(x5.reshape(B, C, T * H, W))                          # (B, c, T*H, W)
    return out.reshape(B, -1, T, H, W)                              # (B, c, T, H, W)


def _weights(conv: nn.Module | None, C: int, like: torch.Tensor):
    if conv is None:
        return torch.eye(C, dtype=like.dtype, device=like.device), None
    return conv.weight, conv.bias


def aggregate_map(x: torch.Tensor, scale: tuple[int, int], mu: nn.Module | None,
                  nu: nn.Module | None, *, reading: str = "pad",
                  nu_softmax: bool = True) -> torch.Tensor:
    r"""Eq. 2 on every region of one scale, under one reading of the map's edge.

    Args:
        x: ``(B, C, H, W)`` or ``(B, C, T, H, W)``.
        scale: ``(h, w)``, no larger than the map; it need not divide it.
        mu, nu: 1x1 ``nn.Conv2d`` layers (``C -> c_mu``, ``C -> c_nu``), or ``None`` for the
            identity.
        reading: ``"pad"`` — zero-pad bottom and right and mask the padded cells out of the
            softmax and the sum (the package's fast path, the unit's default); ``"unequal"`` —
            the literal reference, region by region, an edge region simply having fewer cells;
            ``"zero-pad"`` — pad but forget the mask (a tempting mistake: the padded cells then
            take part in the softmax).
        nu_softmax: softmax over each region's cells on :math:`\nu` (the default reading).

    Returns:
        ``(B, T, Gh, Gw, c_mu, c_nu)`` (``(B, Gh, Gw, c_mu, c_nu)`` for a 4-D input).
    """
    from .. import reference

    x5, was_4d = as_5d("x", x)
    check_choice("reading", reading, READINGS)
    B, C, T, H, W = x5.shape
    s = check_scale("scale", scale)
    Gh, Gw = grid_size(H, W, s)
    if reading == "unequal":
        mw, mb = _weights(mu, C, x5)
        nw, nb = _weights(nu, C, x5)
        rows = []
        with _one_thread():                  # tiny tensors: see _one_thread
            for b in range(B):
                for t in range(T):
                    for gy in range(Gh):
                        for gx in range(Gw):
                            cells = reference.region_cells(gy, gx, s, H, W)
                            # the region's real cells only: (C, P_i)
                            X_i = torch.stack([x5[b, :, t, r, c] for r, c in cells], dim=1)
                            rows.append(reference.aggregate_region(X_i, mw, mb, nw, nb, nu_softmax))
        A = torch.stack(rows).reshape(B, T, Gh, Gw, *rows[0].shape)  # (B, T, Gh, Gw, c_mu, c_nu)
    else:
        mu_r = split_regions(pad_to_scale(_cells(x5, mu), s), s)    # (B, T, Gh, Gw, c_mu, P)
        nu_r = split_regions(pad_to_scale(_cells(x5, nu), s), s)    # (B, T, Gh, Gw, c_nu, P)
        padded = H % s[0] or W % s[1]
        mask = cell_mask(H, W, s, device=x5.device) if (padded and reading == "pad") else None
        A = aggregate(mu_r, nu_r, mask, nu_softmax)                 # (B, T, Gh, Gw, c_mu, c_nu)
    return A[:, 0] if was_4d else A


def aggregate_norms(x: torch.Tensor, scales: Sequence[tuple[int, int]], c_nu: int = 8,
                    seed: int = 0) -> dict[str, list[float]]:
    r"""Mean size of :math:`A_i` per scale, with and without the softmax on :math:`\nu`.

    :math:`\mu` is the identity and :math:`\nu` a seeded random 1x1 convolution. Without the
    softmax, :math:`A_i` sums over the region's ``P`` cells and grows with ``P``; with it, each
    column of :math:`A_i` is a weighted average of the region's cells and keeps one size.

    Returns:
        ``{"P": [...], "softmax": [...], "raw": [...]}``: mean Frobenius norm of :math:`A_i`
        divided by :math:`\sqrt{M}` (a typical entry), one number per scale.
    """
    x5, _ = as_5d("x", x)
    scales = check_scales("scales", scales)
    c_nu = check_positive_int("c_nu", c_nu)
    nu = random_nu(x5.shape[1], c_nu, seed)
    out: dict[str, list[float]] = {"P": [], "softmax": [], "raw": []}
    with torch.no_grad():
        for s in scales:
            out["P"].append(s[0] * s[1])
            for key, flag in (("softmax", True), ("raw", False)):
                A = aggregate_map(x5, s, None, nu, nu_softmax=flag)  # (..., C, c_nu)
                per = A.flatten(-2).norm(dim=-1) / math.sqrt(A.shape[-1] * A.shape[-2])
                out[key].append(float(per.mean()))
    return out


def softmax_figure(norms: dict[str, list[float]], figsize=(4.8, 3.4)):
    """Plot :func:`aggregate_norms`: the size of :math:`A_i` against the region's cell count."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=figsize, layout="constrained")
    ax.loglog(norms["P"], norms["raw"], "o-", color="#e31a1c", label="no softmax: a sum over P")
    ax.loglog(norms["P"], norms["softmax"], "s-", color="#1f78b4",
              label="softmax on ν: a weighted average")
    ax.set_xlabel("cells per region P")
    ax.set_ylabel("typical entry of $A_i$")
    ax.legend(frameon=False, fontsize=8)
    ax.grid(alpha=0.3, which="both")
    return fig


# ----------------------------------------------------------------------------------------------
# recoverability
def region_matrices(x: torch.Tensor, scale: tuple[int, int]) -> torch.Tensor:
    """Every region of a map as a ``C x P`` matrix: ``(R, C, P)`` (``R`` regions, all frames).

    The scale must divide the map (:func:`regr_edu.split_regions` says so otherwise).
    """
    r = split_regions(x, scale)                                     # (B, [T,] Gh, Gw, C, P)
    return r.reshape(-1, *r.shape[-2:])                             # (R, C, P)


def _regions_to_map(X: torch.Tensor, like: torch.Tensor, scale) -> torch.Tensor:
    shape = split_regions(like, scale).shape                        # (B, [T,] Gh, Gw, C, P)
    return merge_regions(X.reshape(shape), scale)


def pool_subgrid(scale: tuple[int, int], c_nu: int) -> tuple[int, int] | None:
    """The ``(gh, gw)`` grid of sub-blocks that pooling to ``c_nu`` numbers uses, or ``None``.

    ``gh`` must divide ``h``, ``gw`` divide ``w`` and ``gh * gw = c_nu``; among those the one with
    the squarest blocks is taken. A 4 x 4 region pools to 1, 2, 4, 8 or 16 numbers per channel;
    a 7 x 7 region only to 1, 7 or 49.
    """
    h, w = check_scale("scale", scale)
    c_nu = check_positive_int("c_nu", c_nu)
    options = [(gh, c_nu // gh) for gh in range(1, h + 1)
               if h % gh == 0 and c_nu % gh == 0 and w % (c_nu // gh) == 0]
    if not options:
        return None
    return min(options, key=lambda g: (abs(math.log((h / g[0]) / (w / g[1]))), g[0]))


def pool_nu(scale: tuple[int, int], c_nu: int) -> torch.Tensor:
    r"""Average pooling as a fixed :math:`\nu`: ``(c_nu, P)``, row ``k`` averages block ``k``."""
    grid = pool_subgrid(scale, c_nu)
    if grid is None:
        raise ValueError(f"c_nu must be gh*gw with gh dividing h and gw dividing w for pooling "
                         f"a region of scale {tuple(scale)}, got c_nu={c_nu}")
    (h, w), (gh, gw) = scale, grid
    bh, bw = h // gh, w // gw
    rows = torch.arange(h).repeat_interleave(w) // bh               # (P,) block row of each cell
    cols = torch.arange(w).repeat(h) // bw                          # (P,) block column
    block = rows * gw + cols                                        # (P,) block index
    nu = (block[None, :] == torch.arange(gh * gw)[:, None]).double()  # (c_nu, P) indicators
    return nu / (bh * bw)


def random_nu(C: int, c_nu: int, seed: int = 0) -> nn.Conv2d:
    r"""A 1x1 convolution ``C -> c_nu`` with PyTorch's default random initialisation, seeded
    (the global random state is left untouched): the :math:`\nu` of a freshly built unit."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return nn.Conv2d(C, c_nu, kernel_size=1)


def _check_c_nu(c_nu: Any, P: int) -> int:
    if not isinstance(c_nu, int) or isinstance(c_nu, bool) or not 1 <= c_nu <= P:
        raise ValueError(f"c_nu must be an integer in [1, P={P}] (P = h*w cells per region; at "
                         f"c_nu = P every method here already recovers the region exactly), "
                         f"got {c_nu!r}")
    return c_nu


def _nu_recover(x: torch.Tensor, scale, conv: nn.Module, nu_softmax: bool) -> torch.Tensor:
    """Eq. 2 with mu = identity and nu = conv, then read back with recover_region: (R, C, P)."""
    X = region_matrices(x, scale)                                   # (R, C, P)
    x5, was_4d = as_5d("x", x)
    nu_map = _cells(x5, conv)                                       # (B, c_nu, T, H, W)
    nu = region_matrices(nu_map[:, :, 0] if was_4d else nu_map, scale)  # (R, c_nu, P)
    A = aggregate(X, nu, nu_softmax=nu_softmax)                     # (R, C, c_nu)
    used = torch.softmax(nu, dim=-1) if nu_softmax else nu          # nu as used in the product
    return recover_region(A, used)                                  # (R, C, P)


def relative_error(x_hat: torch.Tensor, x: torch.Tensor) -> float:
    r""":math:`\lVert \hat x - x \rVert_F / \lVert x \rVert_F`."""
    return float((x_hat - x).norm() / x.norm())


def train_nu(x: torch.Tensor, scale: tuple[int, int], c_nu: int, *, nu_softmax: bool = True,
             steps: int = 100, lr: float = 0.01, seed: int = 0) -> tuple[nn.Conv2d, list[float]]:
    r"""Train a 1x1 convolution :math:`\nu` so that ``recover_region`` reads the regions back.

    Loss: the squared relative error of the read-back over every region of ``x`` (with
    :math:`\mu` the identity). Adam, ``steps`` full-batch steps, starting from the seeded random
    :math:`\nu` of ``"random_nu"``.

    Returns:
        ``(nu, losses)``.
    """
    check_float("x", x)
    h, w = check_scale("scale", scale)
    _check_c_nu(c_nu, h * w)
    steps = check_positive_int("steps", steps)
    if steps > 5000:
        raise ValueError(f"steps must be at most 5000 (this is a CPU demonstration), got {steps}")
    if not (isinstance(lr, float) and 0 < lr < 1):
        raise ValueError(f"lr must be a float in (0, 1), got {lr!r}")
    x = x.detach().double()                  # float64: pinv stays exact at c_nu = P
    conv = random_nu(x.shape[1], c_nu, seed).double()
    X = region_matrices(x, scale)
    opt = torch.optim.Adam(conv.parameters(), lr=lr)
    losses = []
    with _one_thread():
        for _ in range(steps):
            loss = ((_nu_recover(x, scale, conv, nu_softmax) - X) ** 2).sum() / (X ** 2).sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
    return conv, losses


_TRAINED: dict[tuple, nn.Conv2d] = {}


def trained_nu(x: torch.Tensor, scale: tuple[int, int], c_nu: int, *, nu_softmax: bool = True,
               steps: int = 100, lr: float = 0.01, seed: int = 0) -> nn.Conv2d:
    r"""The :math:`\nu` of :func:`train_nu` (same arguments), remembered: a page asks for the
    same (map, scale, ``c_nu``) several times, and training is the slow part."""
    x = x.detach().double()                  # train_nu trains in float64 anyway
    digest = hashlib.sha1(x.cpu().contiguous().numpy().tobytes()).hexdigest()
    key = (digest, tuple(x.shape), tuple(scale), c_nu, bool(nu_softmax), steps, lr, seed)
    if key not in _TRAINED:
        if len(_TRAINED) >= 64:
            _TRAINED.pop(next(iter(_TRAINED)))
        _TRAINED[key] = train_nu(x, scale, c_nu, nu_softmax=nu_softmax, steps=steps, lr=lr,
                                 seed=seed)[0]
    return _TRAINED[key]


def reconstruct(x: torch.Tensor, scale: tuple[int, int], c_nu: int, method: str, *,
                nu_softmax: bool = True, steps: int = 100, lr: float = 0.01, seed: int = 0,
                train_x: torch.Tensor | None = None) -> torch.Tensor | None:
    r"""Summarise every region of ``x`` by ``C x c_nu`` numbers with ``method`` and read it back.

    Args:
        x: ``(B, C, H, W)`` or ``(B, C, T, H, W)``; ``scale`` must divide it.
        c_nu: numbers kept per channel, ``1 <= c_nu <= P``.
        method: one of :data:`METHODS`.
        nu_softmax: for ``"random_nu"`` and ``"trained_nu"``, the softmax of Eq. 2 (default, as
            in the unit). Pooling and ``"best_nu"`` use their fixed :math:`\nu` as they are.
        steps, lr, seed, train_x: for ``"trained_nu"``: Adam steps, learning rate, the seed of
            the starting (random) :math:`\nu`, and the map to train on (default ``x`` itself;
            pass another map to test on regions :math:`\nu` was not trained on).

    Returns:
        The read-back map, shaped like ``x``; ``None`` for pooling when ``c_nu`` does not tile
        the region (:func:`pool_subgrid`).
    """
    check_float("x", x)
    h, w = check_scale("scale", scale)
    c_nu = _check_c_nu(c_nu, h * w)
    check_choice("method", method, METHODS)
    dtype = x.dtype
    x = x.detach().double()                  # float64: "exact" then means ~1e-13
    X = region_matrices(x, (h, w))                                  # (R, C, P)
    R, C, P = X.shape
    with torch.no_grad(), _one_thread():
        if method in ("avg_pool", "max_pool"):
            grid = pool_subgrid((h, w), c_nu)
            if grid is None:
                return None
            gh, gw = grid
            if method == "avg_pool":                                # Eq. 2 with a fixed nu
                nu = pool_nu((h, w), c_nu).to(X.dtype)              # (c_nu, P)
                X_hat = recover_region(aggregate(X, nu.expand(R, -1, -1), nu_softmax=False),
                                       nu.expand(R, -1, -1))        # (R, C, P)
            else:
                blocks = X.reshape(R, C, gh, h // gh, gw, w // gw)  # (R, C, gh, bh, gw, bw)
                kept = blocks.amax(dim=(3, 5), keepdim=True)        # (R, C, gh, 1, gw, 1)
                X_hat = kept.expand_as(blocks).reshape(R, C, P)     # upsampled back
        elif method == "best_nu":
            Vh = torch.linalg.svd(X, full_matrices=False).Vh        # (R, min(C, P), P)
            nu = Vh[:, :c_nu]                                       # (R, c_nu, P)
            X_hat = recover_region(aggregate(X, nu, nu_softmax=False), nu)
        else:
            if method == "random_nu":
                conv = random_nu(C, c_nu, seed)
            else:
                with torch.enable_grad():
                    conv = trained_nu(x if train_x is None else train_x, (h, w), c_nu,
                                       nu_softmax=nu_softmax, steps=steps, lr=lr, seed=seed)
            X_hat = _nu_recover(x, (h, w), conv.double(), nu_softmax)
    return _regions_to_map(X_hat, x, (h, w)).to(dtype)


def recovery_errors(x: torch.Tensor, scale: tuple[int, int], c_nu_values: Sequence[int],
                    methods: Sequence[str] = METHODS, **kwargs) -> dict[str, list[float]]:
    """Relative read-back error of each method at each ``c_nu`` (``nan`` where pooling cannot
    tile the region). ``kwargs`` go to :func:`reconstruct`."""
    h, w = check_scale("scale", scale)
    values = _check_values(c_nu_values, h * w)
    methods = _check_methods(methods)
    out = {}
    for m in methods:
        errs = []
        for c in values:
            x_hat = reconstruct(x, (h, w), c, m, **kwargs)
            errs.append(float("nan") if x_hat is None else relative_error(x_hat, x))
        out[m] = errs
    return out


def _check_values(c_nu_values, P: int) -> list[int]:
    if isinstance(c_nu_values, (int, str, bytes)) or len(c_nu_values) == 0:
        raise ValueError(f"c_nu_values must be a non-empty list of integers, got {c_nu_values!r}")
    return [_check_c_nu(c, P) for c in c_nu_values]


def _check_methods(methods) -> list[str]:
    if isinstance(methods, (str, bytes)) or len(methods) == 0:
        raise ValueError(f"methods must be a non-empty list drawn from {list(METHODS)}, "
                         f"got {methods!r}")
    for m in methods:
        check_choice("methods[...]", m, METHODS)
    return list(methods)


def recovery_figure(errors: dict[str, list[float]], c_nu_values: Sequence[int], P: int,
                    figsize=(6.0, 3.8), title: str | None = None):
    """Plot :func:`recovery_errors`: error against ``c_nu``, one line per method."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=figsize, layout="constrained")
    for m, errs in errors.items():
        pts = [(c, e) for c, e in zip(c_nu_values, errs) if not math.isnan(e)]
        if pts:
            ax.plot(*zip(*pts), "o-" if "pool" not in m else "s--", color=COLORS[m],
                    label=LABELS[m], lw=1.6, ms=4)
    ax.axvline(P, color="0.4", ls=":", lw=1)
    ax.annotate(f"c_nu = P = {P} ", (P, 0.5), xycoords=("data", "axes fraction"), ha="right",
                fontsize=8, color="0.3", rotation=90, va="center")
    ax.set_xlabel("c_nu (numbers kept per channel; M = C · c_nu)")
    ax.set_ylabel("relative error of the read-back")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(frameon=False, fontsize=8)
    if title:
        ax.set_title(title, fontsize=9)
    return fig


def reconstruction_grid(x: torch.Tensor, scale: tuple[int, int], c_nu_values: Sequence[int],
                        methods: Sequence[str] = METHODS, panel: float = 1.3, **kwargs):
    """Small multiples: the read-back map of each method (rows) at each ``c_nu`` (columns),
    drawn in the original's colours (:func:`regr_edu.interactive.regions.feature_rgb`), the
    original at the left. Returns ``(figure, errors)``."""
    import matplotlib.pyplot as plt

    if x.dim() != 4 or x.shape[0] != 1:
        raise ValueError(f"x must be one map (1, C, H, W), got shape {tuple(x.shape)}")
    h, w = check_scale("scale", scale)
    values = _check_values(c_nu_values, h * w)
    methods = _check_methods(methods)
    original, basis = feature_rgb(x)
    fig, axes = plt.subplots(len(methods), len(values) + 1, squeeze=False, layout="constrained",
                             figsize=(panel * (len(values) + 1), panel * len(methods) + 0.3))
    errors: dict[str, list[float]] = {}
    for i, m in enumerate(methods):
        axes[i, 0].imshow(original, interpolation="nearest")
        axes[i, 0].set_ylabel(LABELS[m].replace(" (", "\n("), fontsize=9)
        errors[m] = []
        for j, c in enumerate(values):
            ax = axes[i, j + 1]
            x_hat = reconstruct(x, (h, w), c, m, **kwargs)
            if x_hat is None:
                errors[m].append(float("nan"))
                ax.text(0.5, 0.5, f"no {c}-block\ntiling", ha="center", va="center", fontsize=9,
                        transform=ax.transAxes)
            else:
                errors[m].append(relative_error(x_hat, x))
                ax.imshow(feature_rgb(x_hat, basis)[0], interpolation="nearest")
                ax.set_title(f"err {errors[m][-1]:.2f}", fontsize=9, pad=2)
            if i == 0:
                ax.set_title(f"c_nu = {c}\n" + ax.get_title(), fontsize=9, pad=2)
    axes[0, 0].set_title("original", fontsize=9)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    return fig, errors


def attention_figure(image: torch.Tensor, x: torch.Tensor, scale: tuple[int, int],
                     region: tuple[int, int], nus: dict[str, nn.Module], panel: float = 1.3):
    r"""The rows of :math:`\mathrm{softmax}_P(\nu(X_i))` of one region, as maps over the region.

    Args:
        image: the ``(3, Hi, Wi)`` photograph ``x`` was computed from.
        x: ``(1, C, H, W)``.
        scale: ``(h, w)``, dividing the map.
        region: ``(gy, gx)``, the region's place on the grid.
        nus: named 1x1 convolutions ``C -> c_nu``, one row of panels each.
    """
    import matplotlib.pyplot as plt

    h, w = check_scale("scale", scale)
    X = split_regions(x, (h, w))                                   # (1, Gh, Gw, C, P)
    Gh, Gw = X.shape[1:3]
    gy, gx = region
    if not (0 <= gy < Gh and 0 <= gx < Gw):
        raise ValueError(f"region must be (gy, gx) with 0 <= gy < {Gh} and 0 <= gx < {Gw}, "
                         f"got {tuple(region)}")
    if not nus:
        raise ValueError("nus must name at least one 1x1 convolution, got an empty dict")
    stride = image.shape[-1] // x.shape[-1]
    patch = image[:, gy * h * stride:(gy + 1) * h * stride, gx * w * stride:(gx + 1) * w * stride]
    c_max = max(conv.out_channels for conv in nus.values())
    fig, axes = plt.subplots(len(nus), c_max + 1, squeeze=False, layout="constrained",
                             figsize=(panel * (c_max + 1), panel * len(nus) + 0.2))
    with torch.no_grad():
        for i, (name, conv) in enumerate(nus.items()):
            nu = split_regions(conv(x.to(conv.weight.dtype)), (h, w))[0, gy, gx]  # (c_nu, P)
            att = torch.softmax(nu, dim=-1).reshape(-1, h, w)       # (c_nu, h, w)
            axes[i, 0].imshow(patch.permute(1, 2, 0).numpy())
            axes[i, 0].set_ylabel(name, fontsize=8)
            for k in range(c_max):
                ax = axes[i, k + 1]
                if k < att.shape[0]:
                    ax.imshow(att[k].numpy(), cmap="magma", vmin=0, interpolation="nearest")
                    if i == 0:
                        ax.set_title(f"row {k}", fontsize=7)
                else:
                    ax.axis("off")
    axes[0, 0].set_title(f"region ({gy}, {gx})", fontsize=7)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    return fig


# ----------------------------------------------------------------------------------------------
# the widget
def recovery_panel(x: torch.Tensor, scale: tuple[int, int], c_nu: int,
                   methods: Sequence[str] = METHODS, **kwargs):
    """One setting of :func:`recovery_widget`: bars of the error per method and the read-back
    maps. Returns ``(figure, errors)`` with ``errors`` a dict method -> float (``nan`` when
    pooling cannot tile the region)."""
    import matplotlib.pyplot as plt

    if x.dim() != 4 or x.shape[0] != 1:
        raise ValueError(f"x must be one map (1, C, H, W), got shape {tuple(x.shape)}")
    h, w = check_scale("scale", scale)
    c_nu = _check_c_nu(c_nu, h * w)
    methods = _check_methods(methods)
    original, basis = feature_rgb(x)
    maps = {m: reconstruct(x, (h, w), c_nu, m, **kwargs) for m in methods}
    errors = {m: float("nan") if v is None else relative_error(v, x) for m, v in maps.items()}
    n = len(methods)
    fig = plt.figure(figsize=(7.6, 2.1 + 0.3 * n + 7.6 / (n + 1)), layout="constrained")
    top, bottom = fig.subfigures(2, 1, height_ratios=[0.6 + 0.3 * n, 7.6 / (n + 1) + 0.4])
    ax = top.subplots()
    vals = [0.0 if math.isnan(errors[m]) else errors[m] for m in methods]
    ax.barh(range(n), vals, color=[COLORS[m] for m in methods])
    for k, m in enumerate(methods):
        ax.text(vals[k], k, " n/a" if math.isnan(errors[m]) else f" {errors[m]:.3f}",
                va="center", fontsize=8)
    ax.set_yticks(range(n), [LABELS[m] for m in methods], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 1.15 * max(max(vals), 1e-3))
    ax.set_xlabel("relative error of the read-back", fontsize=8)
    ax.set_title(f"c_nu = {c_nu} of P = {h * w}: M = C·c_nu = {x.shape[1] * c_nu} numbers "
                 f"per region of C·P = {x.shape[1] * h * w}", fontsize=9)
    axes = bottom.subplots(1, n + 1)
    axes[0].imshow(original, interpolation="nearest")
    axes[0].set_title("original", fontsize=8)
    for k, m in enumerate(methods):
        if maps[m] is not None:
            axes[k + 1].imshow(feature_rgb(maps[m], basis)[0], interpolation="nearest")
        else:
            axes[k + 1].text(0.5, 0.5, "n/a", ha="center", va="center",
                             transform=axes[k + 1].transAxes)
        axes[k + 1].set_title(LABELS[m].split(" (")[0], fontsize=8)
    for a in axes:
        a.set_xticks([])
        a.set_yticks([])
    return fig, errors


def recovery_widget(x: torch.Tensor | None = None, scale: tuple[int, int] = (4, 4),
                    methods: Sequence[str] = METHODS, c_nu: int = 4, steps: int = 100,
                    **kwargs):
    r"""A ``c_nu`` slider against the read-back error of every method.

    The slider runs over ``[1, P]``, the rule :func:`reconstruct` enforces. Each setting trains
    the ``"trained_nu"`` method afresh (``steps`` Adam steps) and is then kept in a cache.

    Returns:
        An ``ipywidgets.VBox`` with attributes ``c_nu`` (the slider), ``softmax`` (checkbox: the
        softmax on :math:`\nu`), ``info`` (an ``HTML`` table of the errors), ``image`` (the
        figure) and ``errors`` (the dict shown last).
    """
    import ipywidgets as widgets

    if x is None:
        x = feature_map(photo("astronaut", 448), "layer3")
    h, w = check_scale("scale", scale)
    split_regions(x, (h, w))                                        # the scale must divide x
    P = h * w
    _check_c_nu(c_nu, P)
    methods = _check_methods(methods)
    slider = widgets.IntSlider(value=c_nu, min=1, max=P, description="c_nu",
                               continuous_update=False, layout=widgets.Layout(width="360px"))
    softmax = widgets.Checkbox(value=True, description="softmax on ν", indent=False)
    info = widgets.HTML()
    picture = widgets.Image(format="png",
                            layout=widgets.Layout(width="100%", max_width="760px"))
    box = widgets.VBox([widgets.HBox([slider, softmax]), info, picture])
    cache: dict[tuple[int, bool], tuple[bytes, dict]] = {}

    def update(_=None) -> None:
        key = (slider.value, softmax.value)
        if key not in cache:
            fig, errs = recovery_panel(x, (h, w), slider.value, methods, steps=steps,
                                       nu_softmax=softmax.value, **kwargs)
            cache[key] = (figure_png(fig, dpi=90), errs)
        png, errs = cache[key]
        box.errors = errs
        head = "".join(f"<th style='padding:0 10px'>{LABELS[m].split(' (')[0]}</th>"
                       for m in errs)
        vals = "".join(f"<td style='padding:0 10px'>{'n/a' if math.isnan(e) else f'{e:.3f}'}"
                       "</td>" for e in errs.values())
        info.value = (f"<p style='margin:0'>M = C·c_nu = {x.shape[1]}·{slider.value} numbers per "
                      f"region of P = {P} cells (C·P = {x.shape[1] * P}); relative error of "
                      f"the read-back:</p><table><tr>{head}</tr><tr>{vals}</tr></table>")
        picture.value = png

    slider.observe(update, names="value")
    softmax.observe(update, names="value")
    box.c_nu, box.softmax, box.info, box.image, box.update = slider, softmax, info, picture, update
    update()
    return with_static_fallback(box)
