r"""The figures and the widget of the aggregation chapter (Eq. 2, :math:`A_i = \mu(X_i)\,\nu(X_i)^\top`).

Eq. 2 itself is :func:`regr_edu.aggregate` (in the unit: :meth:`regr_edu.ReGr.aggregate`), its
read-back :func:`regr_edu.recover_region`. This module measures two things the chapter argues:

* :func:`aggregate_norms`: the size of a fresh unit's :math:`A_i` (read from ``unit.explain``)
  against the region's cell count, with and without the softmax on :math:`\nu`;
* :func:`reconstruct` and :func:`recovery_errors`: how much of a region the fixed-length
  :math:`A_i` keeps. With :math:`\mu` the identity every method summarises a region :math:`X_i`
  (``C x P``) by ``C x c_nu`` numbers (the same ``M = C * c_nu``) and reads it back:

  - ``"avg_pool"``, ``"max_pool"``: the unit's pooling study (:func:`regr_edu.aggregation.
    pool_regions`, ``c_nu`` blocks of :func:`~regr_edu.aggregation.pool_bins`), each block's
    value painted back over it; average pooling is Eq. 2 with a fixed :math:`\nu`.
  - ``"random_nu"``: :math:`\nu` a 1x1 convolution ``C -> c_nu`` with random weights (seeded).
  - ``"trained_nu"``: the same convolution trained with Adam to make the read-back match.
  - ``"best_nu"``: the region's own top-``c_nu`` right-singular vectors: no :math:`\nu` can do
    better (Eckart–Young), so it is the floor.

  The three :math:`\nu` methods read back with :func:`regr_edu.recover_region`, which needs
  :math:`\nu(X_i)`, computed from the region itself: this measures how much the numbers keep,
  not a decoder that works from ``A`` alone.

Plain functions validate their arguments (``ValueError`` naming the parameter, the rule and the
value); :func:`recovery_widget` has slider bounds equal to that rule (``1 <= c_nu <= P``).
"""
from __future__ import annotations

import hashlib
import math
from typing import Sequence

import torch
from torch import nn

from .._checks import (check_choice, check_float, check_int, check_list, check_number,
                       check_positive_int, check_rank, check_scale, check_scales, check_shape)
from ..aggregation import aggregate, pool_bins, pool_regions, recover_region
from ..regions import merge_regions, split_regions
from ..regr import ReGr
from ._display import figure_png, new_figure, table_html, with_static_fallback
from ._photo import feature_map, feature_rgb, one_thread, photo

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


def _short(method: str) -> str:
    return LABELS[method].split(" (")[0]


# ----------------------------------------------------------------------------------------------
# the size of A_i, with and without the softmax on nu
def aggregate_norms(x: torch.Tensor, scales: Sequence[tuple[int, int]], c_nu: int = 8,
                    seed: int = 0) -> dict[str, list[float]]:
    r"""Mean size of a fresh unit's :math:`A_i` per scale, with and without the softmax on
    :math:`\nu`.

    Two :class:`~regr_edu.ReGr` units with the same seeded weights (``refine=False``,
    ``nu_channels=c_nu``), one with ``nu_softmax=False``; :math:`A_i` is read from
    ``unit.explain(x).A``. Without the softmax, :math:`A_i` sums over the region's ``P`` cells
    and grows with ``P``; with it, each column is a weighted average and keeps one size.

    Returns:
        ``{"P": [...], "softmax": [...], "raw": [...]}``: mean Frobenius norm of :math:`A_i`
        divided by :math:`\sqrt{M}` (a typical entry), one number per scale.
    """
    check_float("x", x)
    scales = check_scales("scales", scales)
    c_nu = check_positive_int("c_nu", c_nu)
    out: dict[str, list[float]] = {"P": [h * w for h, w in scales]}
    for key, flag in (("softmax", True), ("raw", False)):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            unit = ReGr(x.shape[1], scales, refine=False, nu_channels=c_nu, nu_softmax=flag)
        with torch.no_grad():
            A = unit.explain(x).A                          # per scale (B, T, Gh, Gw, c_mu, c_nu)
        out[key] = [float(a.flatten(-2).norm(dim=-1).mean()) / math.sqrt(unit.M) for a in A]
    return out


def softmax_figure(norms: dict[str, list[float]], figsize=(4.8, 3.4)):
    """Plot :func:`aggregate_norms`: the size of :math:`A_i` against the region's cell count."""
    fig, ax = new_figure(figsize=figsize, layout="constrained")
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
def random_nu(C: int, c_nu: int, seed: int = 0) -> nn.Conv2d:
    r"""A 1x1 convolution ``C -> c_nu`` with PyTorch's default random initialisation, seeded
    (the global random state is left untouched): the :math:`\nu` of a freshly built unit."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return nn.Conv2d(C, c_nu, kernel_size=1)


def relative_error(x_hat: torch.Tensor, x: torch.Tensor) -> float:
    r""":math:`\lVert \hat x - x \rVert_F / \lVert x \rVert_F`."""
    return float((x_hat - x).norm() / x.norm())


def _nu_recover(x: torch.Tensor, scale, conv: nn.Module, nu_softmax: bool) -> torch.Tensor:
    """Eq. 2 with mu = identity and nu = conv on every region of ``x`` ``(B, C, H, W)``, read
    back with recover_region: ``(B, Gh, Gw, C, P)``."""
    X = split_regions(x, scale)                                     # (B, Gh, Gw, C, P)
    nu = split_regions(conv(x), scale)                              # (B, Gh, Gw, c_nu, P)
    A = aggregate(X, nu, nu_softmax=nu_softmax)                     # (B, Gh, Gw, C, c_nu)
    used = torch.softmax(nu, dim=-1) if nu_softmax else nu          # nu as used in the product
    return recover_region(A, used)                                  # (B, Gh, Gw, C, P)


def train_nu(x: torch.Tensor, scale: tuple[int, int], c_nu: int, *, nu_softmax: bool = True,
             steps: int = 100, lr: float = 0.01, seed: int = 0) -> tuple[nn.Conv2d, list[float]]:
    r"""Train a 1x1 convolution :math:`\nu` so that ``recover_region`` reads the regions back.

    Loss: the squared relative error of the read-back over every region of ``x``
    ``(B, C, H, W)`` (with :math:`\mu` the identity). Adam, ``steps`` (at most 5000)
    full-batch steps, starting from the seeded random :math:`\nu` of ``"random_nu"``.

    Returns:
        ``(nu, losses)``.
    """
    check_float("x", x)
    check_rank("x", x, (4,), "(B, C, H, W)")
    h, w = check_scale("scale", scale)
    check_int("c_nu", c_nu, 1, h * w)
    steps = check_int("steps", steps, 1, 5000)
    lr = check_number("lr", lr, 0, 1, low_open=True, high_open=True)
    x = x.detach().double()                  # float64: pinv stays exact at c_nu = P
    conv = random_nu(x.shape[1], c_nu, seed).double()
    X = split_regions(x, (h, w))
    opt = torch.optim.Adam(conv.parameters(), lr=lr)
    losses = []
    with one_thread():
        for _ in range(steps):
            loss = ((_nu_recover(x, (h, w), conv, nu_softmax) - X) ** 2).sum() / (X ** 2).sum()
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
        x: ``(B, C, H, W)``; ``scale`` must divide it.
        c_nu: numbers kept per channel, ``1 <= c_nu <= P``.
        method: one of :data:`METHODS`.
        nu_softmax: for ``"random_nu"`` and ``"trained_nu"``, the softmax of Eq. 2 (default, as
            in the unit). Pooling and ``"best_nu"`` use their fixed :math:`\nu` as they are.
        steps, lr, seed, train_x: for ``"trained_nu"``: Adam steps, learning rate, the seed of
            the starting (random) :math:`\nu`, and the map to train on (default ``x`` itself;
            pass another map to test on regions :math:`\nu` was not trained on).

    Returns:
        The read-back map, shaped like ``x``; ``None`` for pooling when the ``c_nu`` blocks of
        :func:`~regr_edu.aggregation.pool_bins` do not tile the region.
    """
    check_float("x", x)
    check_rank("x", x, (4,), "(B, C, H, W)")
    h, w = check_scale("scale", scale)
    c_nu = check_int("c_nu", c_nu, 1, h * w)
    check_choice("method", method, METHODS)
    dtype = x.dtype
    x = x.detach().double()                  # float64: "exact" then means ~1e-13
    X = split_regions(x, (h, w))                                    # (B, Gh, Gw, C, P)
    with torch.no_grad(), one_thread():
        if method in ("avg_pool", "max_pool"):
            bh, bw = pool_bins(c_nu)
            if h % bh or w % bw:
                return None                                         # the blocks do not tile
            A = pool_regions(X, (h, w), (bh, bw), method[:3])       # (B, Gh, Gw, C, c_nu)
            lead = A.shape[:-1]                                     # each block's value,
            X_hat = (A.reshape(*lead, bh, 1, bw, 1)                 # painted back over it
                     .expand(*lead, bh, h // bh, bw, w // bw).reshape(X.shape))
        elif method == "best_nu":
            nu = torch.linalg.svd(X, full_matrices=False).Vh[..., :c_nu, :]  # (..., c_nu, P)
            X_hat = recover_region(aggregate(X, nu, nu_softmax=False), nu)
        else:
            if method == "random_nu":
                conv = random_nu(X.shape[-2], c_nu, seed)
            else:
                with torch.enable_grad():
                    conv = trained_nu(x if train_x is None else train_x, (h, w), c_nu,
                                      nu_softmax=nu_softmax, steps=steps, lr=lr, seed=seed)
            X_hat = _nu_recover(x, (h, w), conv.double(), nu_softmax)
    return merge_regions(X_hat, (h, w)).to(dtype)


def _methods(methods) -> list[str]:
    return check_list("methods", methods, lambda name, m: check_choice(name, m, METHODS))


def recovery_errors(x: torch.Tensor, scale: tuple[int, int], c_nu_values: Sequence[int],
                    methods: Sequence[str] = METHODS, **kwargs) -> dict[str, list[float]]:
    """Relative read-back error of each method at each ``c_nu`` (``nan`` where pooling cannot
    tile the region). ``kwargs`` go to :func:`reconstruct`."""
    h, w = check_scale("scale", scale)
    values = check_list("c_nu_values", c_nu_values, lambda name, c: check_int(name, c, 1, h * w))
    out = {}
    for m in _methods(methods):
        maps = [reconstruct(x, (h, w), c, m, **kwargs) for c in values]
        out[m] = [float("nan") if v is None else relative_error(v, x) for v in maps]
    return out


def errors_markdown(errors: dict[str, list[float]], c_nu_values: Sequence[int],
                    first: str = "method", names: dict[str, str] | None = None) -> str:
    """:func:`recovery_errors` as a Markdown table: one row per method (``names``, default
    :data:`LABELS`), one column per ``c_nu``, — where pooling cannot tile the region."""
    names = {**LABELS, **(names or {})}
    rows = [f"| {first} | " + " | ".join(f"$c_\\nu = {c}$" for c in c_nu_values) + " |",
            "|---|" + "---|" * len(c_nu_values)]
    for m, errs in errors.items():
        rows.append(f"| {names[m]} | " + " | ".join("—" if math.isnan(e) else f"{e:.3f}"
                                                   for e in errs) + " |")
    return "\n".join(rows)


def recovery_figure(errors: dict[str, list[float]], c_nu_values: Sequence[int], P: int,
                    figsize=(6.0, 3.8), title: str | None = None):
    """Plot :func:`recovery_errors`: error against ``c_nu``, one line per method."""
    fig, ax = new_figure(figsize=figsize, layout="constrained")
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


def _no_ticks(axes) -> None:
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])


def reconstruction_grid(x: torch.Tensor, scale: tuple[int, int], c_nu_values: Sequence[int],
                        methods: Sequence[str] = METHODS, panel: float = 1.3, **kwargs):
    """Small multiples: the read-back map of each method (rows) at each ``c_nu`` (columns),
    drawn in the original's colours (:func:`regr_edu.interactive._photo.feature_rgb`), the
    original at the left. Returns ``(figure, errors)``, ``errors`` as :func:`recovery_errors`."""
    check_shape("x", x, (1, None, None, None), "one map (1, C, H, W)")
    h, w = check_scale("scale", scale)
    values = check_list("c_nu_values", c_nu_values, lambda name, c: check_int(name, c, 1, h * w))
    methods = _methods(methods)
    original, basis = feature_rgb(x)
    fig, axes = new_figure(len(methods), len(values) + 1, squeeze=False, layout="constrained",
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
    _no_ticks(axes)
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
    check_shape("image", image, (3, None, None), "an RGB image (3, Hi, Wi)")
    check_shape("x", x, (1, None, None, None), "one map (1, C, H, W)")
    h, w = check_scale("scale", scale)
    _, Gh, Gw, _, _ = split_regions(x, (h, w)).shape                # the scale divides x
    gy = check_int("region[0] (gy)", region[0], 0, Gh - 1)
    gx = check_int("region[1] (gx)", region[1], 0, Gw - 1)
    if not nus:
        raise ValueError("nus must name at least one 1x1 convolution, got an empty dict")
    stride = image.shape[-1] // x.shape[-1]
    patch = image[:, gy * h * stride:(gy + 1) * h * stride, gx * w * stride:(gx + 1) * w * stride]
    c_max = max(conv.out_channels for conv in nus.values())
    fig, axes = new_figure(len(nus), c_max + 1, squeeze=False, layout="constrained",
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
    _no_ticks(axes)
    return fig


# ----------------------------------------------------------------------------------------------
# the widget
def recovery_panel(x: torch.Tensor, scale: tuple[int, int], c_nu: int,
                   methods: Sequence[str] = METHODS, **kwargs):
    """One setting of :func:`recovery_widget`: bars of the error per method and the read-back
    maps. Returns ``(figure, errors)`` with ``errors`` a dict method -> float (``nan`` when
    pooling cannot tile the region)."""
    check_shape("x", x, (1, None, None, None), "one map (1, C, H, W)")
    h, w = check_scale("scale", scale)
    c_nu = check_int("c_nu", c_nu, 1, h * w)
    methods = _methods(methods)
    original, basis = feature_rgb(x)
    maps = {m: reconstruct(x, (h, w), c_nu, m, **kwargs) for m in methods}
    errors = {m: float("nan") if v is None else relative_error(v, x) for m, v in maps.items()}
    n = len(methods)
    fig, axes = new_figure(2, n + 1, figsize=(7.6, 2.1 + 0.3 * n + 7.6 / (n + 1)),
                           layout="constrained", height_ratios=[0.6 + 0.3 * n, 7.6 / (n + 1)])
    grid = axes[0, 0].get_gridspec()
    for a in axes[0]:
        a.remove()
    ax = fig.add_subplot(grid[0, :])                               # the bars span the top row
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
    maps_row = axes[1]
    maps_row[0].imshow(original, interpolation="nearest")
    maps_row[0].set_title("original", fontsize=8)
    for k, m in enumerate(methods):
        if maps[m] is not None:
            maps_row[k + 1].imshow(feature_rgb(maps[m], basis)[0], interpolation="nearest")
        else:
            maps_row[k + 1].text(0.5, 0.5, "n/a", ha="center", va="center",
                                 transform=maps_row[k + 1].transAxes)
        maps_row[k + 1].set_title(_short(m), fontsize=8)
    _no_ticks(axes[1:])
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
    check_int("c_nu", c_nu, 1, P)
    methods = _methods(methods)
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
        row = {_short(m): "n/a" if math.isnan(e) else f"{e:.3f}" for m, e in errs.items()}
        info.value = (f"<p style='margin:0'>M = C·c_nu = {x.shape[1]}·{slider.value} numbers per "
                      f"region of P = {P} cells (C·P = {x.shape[1] * P}); relative error of "
                      f"the read-back:</p>" + table_html([row], list(row)))
        picture.value = png

    slider.observe(update, names="value")
    softmax.observe(update, names="value")
    box.c_nu, box.softmax, box.info, box.image, box.update = slider, softmax, info, picture, update
    update()
    return with_static_fallback(box)
