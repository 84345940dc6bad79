r"""Chapter "Eq. 11–13: distribution and the whole unit": its example, tables, figures, widgets.

Everything reads ``unit.explain(x)`` (a :class:`~regr_edu.trace.UnitTrace`). The two readings the
unit does not offer as options (padding without the mask; Eq. 13 with another :math:`\xi`) are
:func:`reread`: the unit's own step methods run again on the trace's fields. Figures are
``new_figure`` Figures; matplotlib and ipywidgets are imported only where they draw.
"""
from __future__ import annotations

import dataclasses
import math
import zlib
from typing import Any, Sequence

import torch
from torch import nn

from .._checks import check_choice, check_int, check_positive_int, check_scales
from ..regions import pad_to_scale, split_regions
from ..regr import ReGr
from ..relations import RELATION_CLASSES
from ..trace import UnitTrace
from ._display import figure_png, new_figure, with_static_fallback

SCALE_PRESETS = {"(1, 1)": ((1, 1),), "(2, 2)": ((2, 2),), "(4, 4)": ((4, 4),),
                 "(7, 7)": ((7, 7),), "(4, 4) + (7, 7)": ((4, 4), (7, 7))}
RELATIONS = tuple(RELATION_CLASSES)
# the open choices of the Readings page: name -> (default, alternative, where it applies); the
# last two are not options of ReGr: reread() runs their alternative
OPTIONS: dict[str, tuple[Any, Any, str]] = {
    "nu_softmax": (True, False, "any"), "refine_context": (1, 3, "refine"),
    "refine_mode": ("add", "replace", "refine"), "relation_norm": ("softmax", "dot", "bilinear"),
    "gcn_scale": (True, False, "gcn"), "attention_mode": ("sequential", "letter", "attention"),
    "padding": ("pad and mask", "pad without mask", "any"),
    "distribution": ("softmax", "uniform", "any")}


def _scales(scales: object) -> tuple:
    """A name from :data:`SCALE_PRESETS` or a sequence of ``(h, w)`` pairs."""
    if isinstance(scales, str):
        check_choice("scales", scales, list(SCALE_PRESETS))
        return SCALE_PRESETS[scales]
    return check_scales("scales", scales)


def applicable_options(relation: str, refine: bool) -> list[str]:
    """The open choices that change a unit with this ``relation`` and ``refine``."""
    check_choice("relation", relation, RELATIONS)
    return [name for name, (_, _, where) in OPTIONS.items()
            if where == "any" or (where == "refine" and refine) or where == relation]


# ------------------------------------------------------------------------------------ the example
def demo_map(kind: str = "image", *, channels: int = 32, size: int = 28, frames: int = 3,
             seed: int = 0, dtype: torch.dtype = torch.float64, return_labels: bool = False):
    """Two discs far apart with one channel signature and a square with another, on noise:
    ``(1, C, size, size)``; a ``"clip"`` is ``(1, C, frames, size, size)``, the discs drifting
    right a cell a frame. ``return_labels``: also the labels (0 background, 1 discs, 2 square)."""
    check_choice("kind", kind, ("image", "clip"))
    check_int("size", size, 8)
    check_positive_int("channels", channels)
    check_positive_int("frames", frames)
    g = torch.Generator().manual_seed(check_int("seed", seed, 0))
    T, k = (frames if kind == "clip" else 1), size / 28.0
    sig = torch.randn(2, channels, generator=g, dtype=torch.float64)
    sig = 2.0 * sig / sig.norm(dim=1, keepdim=True)              # (2, C): the two signatures
    x = 0.2 * torch.randn(channels, T, size, size, generator=g, dtype=torch.float64)
    labels = torch.zeros(T, size, size, dtype=torch.long)
    cols = torch.arange(size, dtype=torch.float64)
    rows = cols[:, None]
    for t in range(T):
        c = cols - (t if kind == "clip" else 0)
        labels[t][(rows >= 16 * k) & (rows < 25 * k) & (cols >= 2 * k) & (cols < 10 * k)] = 2
        labels[t][((rows - 7 * k) ** 2 + (c - 6 * k) ** 2 <= (4.5 * k) ** 2)
                  | ((rows - 20 * k) ** 2 + (c - 21 * k) ** 2 <= (3.5 * k) ** 2)] = 1
    for lab in (1, 2):
        x[:, labels == lab] += sig[lab - 1][:, None]
    x = x.to(dtype).unsqueeze(0)                                 # (1, C, T, H, W)
    if kind == "image":
        x, labels = x[:, :, 0], labels[0]                        # (1, C, H, W), (H, W)
    return (x, labels) if return_labels else x


def demo_unit(in_channels: int = 32, scales: object = ((4, 4), (7, 7)), relation: str = "bilinear",
              refine: bool = True, input_size: Sequence[int] | None = None, *, seed: int = 0,
              tied: bool = True, dtype: torch.dtype = torch.float64, **options: Any) -> ReGr:
    r"""A :class:`ReGr` in eval mode whose seeded weights look trained: ``N(0, 1/fan_in)``, one
    generator per parameter name (units that differ in one layer share the others; biases
    ``0.1 N(0, 1)``); :math:`\nu`, :math:`\xi` x6, :math:`\eta` x0.5, bilinear :math:`\theta` x8,
    no bias on the lift, the last BatchNorm the identity; ``tied``: :math:`\phi = \theta`, so
    regions that look alike relate strongly. ``scales`` may name a :data:`SCALE_PRESETS` entry."""
    check_int("seed", seed, 0)
    unit = ReGr(in_channels, _scales(scales), relation, refine, input_size, **options)
    with torch.no_grad():
        for name, p in unit.named_parameters():
            g = torch.Generator().manual_seed(seed * 1_000_003 + zlib.crc32(name.encode()))
            r = torch.randn(p.shape, generator=g, dtype=torch.float64)
            p.copy_(0.1 * r if name.endswith("bias") else r / math.sqrt(p[0].numel()))
        unit.nu.weight.mul_(6.0)                    # peaked attention over a region's cells
        unit.xi.weight.mul_(6.0)                    # decisive local descriptors
        unit.out.bias.zero_()
        if unit.refine is not None:
            unit.refine.eta.weight.mul_(0.5)        # moderate offsets
        if relation == "bilinear":
            unit.relation.theta.weight.mul_(8.0)    # sharper rows of R
            if tied:
                unit.relation.phi.load_state_dict(unit.relation.theta.state_dict())
        nn.init.ones_(unit.bn.weight)
        nn.init.zeros_(unit.bn.bias)
    return unit.to(dtype).eval()


def _explain(unit: ReGr, x: torch.Tensor) -> UnitTrace:
    with torch.no_grad():
        return unit.explain(x)


def reread(unit: ReGr, trace: UnitTrace, *, mask_padding: bool = True,
           xi_reading: str = "softmax") -> UnitTrace:
    r"""``trace`` (``unit.explain(x)``, eval mode) under another reading, by the unit's steps:
    ``mask_padding=False``: :meth:`ReGr.aggregate` gets the map already padded with zeros, so
    the padding joins the softmax over :math:`\nu`. ``xi_reading``: ``"softmax"`` (the unit's),
    ``"raw"`` (the 1x1 conv alone) or ``"uniform"`` (``1/c_nu``: each cell of a region gets the
    same vector). Returns the trace with the fields from ``A`` on recomputed."""
    if not isinstance(unit, ReGr) or not isinstance(trace, UnitTrace):
        raise TypeError(f"unit and trace must be a ReGr and its UnitTrace, got "
                        f"{type(unit).__name__} and {type(trace).__name__}")
    check_choice("mask_padding", mask_padding, (True, False))
    check_choice("xi_reading", xi_reading, ("softmax", "raw", "uniform"))
    if unit.training:
        raise ValueError("unit must be in eval mode to reread a trace (a training BatchNorm would "
                         "update its running statistics), got unit.training=True")
    x5, xi, A = trace.x, trace.xi, trace.A
    with torch.no_grad():
        if xi_reading == "raw":                                 # the 1x1 conv, no softmax
            xi = unit.xi(x5.flatten(2, 3)).reshape(xi.shape)
        elif xi_reading == "uniform":
            xi = torch.full_like(xi, 1.0 / unit.nu_channels)
        if not mask_padding:
            mu_nu = torch.cat([trace.mu, trace.nu], dim=1)
            A = [unit.aggregate(pad_to_scale(mu_nu, s), s) for s in trace.scales]
        V, grids, offsets = unit.refine_regions(A, keep=True)
        Z = unit.relate(V, grids)
        Y = unit.distribute(Z, xi, grids)
        y = unit.residual(x5, sum(Y[1:], Y[0]))
        matrix = getattr(unit.relation, "matrix", None)
        Lc, Ls = unit.relation.maps(V, grids) if matrix is None else (None, None)
        return dataclasses.replace(
            trace, A=A, offsets=offsets if unit.refine is not None else None, V=V, Z=Z, Y=Y,
            R=None if matrix is None else matrix(V, grids), Lc=Lc, Ls=Ls, added=y - x5,
            output=y.reshape(trace.output.shape))


# ------------------------------------------------------------------------------------ (1,1) = NL
def nonlocal_block_for(unit: ReGr):
    r"""A :class:`regr_edu.NonLocal` (every position, no scaling) that computes what ``unit``
    does at scale (1, 1) without refine (bilinear, softmax on :math:`\nu`): ``g`` is :math:`\mu`,
    :math:`\theta`, :math:`\phi` read :math:`E\mu(x)` (``E`` repeats each entry ``c_nu`` times),
    ``W_z`` is the unit's ``out`` and the BatchNorm the unit's; the extra rows are zero."""
    from ..peers import NonLocal

    if not isinstance(unit, ReGr):
        raise TypeError(f"unit must be a regr_edu.ReGr, got {type(unit).__name__}")
    for name, value, need, why in (
            ("unit.scales", unit.scales, ((1, 1),), "one cell per region"),
            ("refine", unit.refine is not None, False, "refine mixes neighbouring cells"),
            ("relation", unit.relation_name, "bilinear", "R as the block's f(x_i, x_j)"),
            ("nu_softmax", unit.nu_softmax, True, "without it A is quadratic in x")):
        if value != need:
            raise ValueError(f"{name} must be {need!r} for the non-local equivalence ({why}), "
                             f"got {value!r}")
    rel, c_mu, c_nu, w = unit.relation, unit.mu_channels, unit.nu_channels, unit.mu.weight
    inner_rel = rel.theta.out_features                                 # M'
    block = NonLocal(unit.in_channels, inner_channels=max(inner_rel, c_mu), sub_sample=False,
                     scale=False, mode={"softmax": "embedded_gaussian",
                                        "dot": "dot_product"}[rel.normalize])
    block = block.to(dtype=w.dtype, device=w.device)
    E = torch.eye(c_mu, dtype=w.dtype, device=w.device).repeat_interleave(c_nu, 0)  # (M, c_mu)
    W_mu, b_mu = w[:, :, 0, 0], unit.mu.bias                           # (c_mu, C), (c_mu,)
    with torch.no_grad():
        for p in block.parameters():
            p.zero_()
        for nl_conv, lin in ((block.theta, rel.theta), (block.phi, rel.phi)):
            nl_conv.weight[:inner_rel, :, 0] = lin.weight @ E @ W_mu   # (M', C)
            nl_conv.bias[:inner_rel] = lin.weight @ E @ b_mu + lin.bias
        block.g.weight[:c_mu, :, 0] = W_mu                             # g = mu
        block.g.bias[:c_mu] = b_mu
        block.w_z.weight[:, :c_mu, 0] = unit.out.weight[:, :, 0, 0]    # W_z = out (C x c_mu)
        block.w_z.bias.copy_(unit.out.bias)
    block.bn.load_state_dict(unit.bn.state_dict())
    block.bn.eps, block.bn.momentum = unit.bn.eps, unit.bn.momentum
    return block.train(unit.training)


# ------------------------------------------------------------------------------------ open choices
def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm().clamp_min(1e-300))


def _fmt(v: Any) -> str:
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_fmt(u) for u in v) + "]"
    return f"{v:.3g}" if isinstance(v, float) else str(v)


def _padding(u: ReGr, a: UnitTrace, b: UnitTrace) -> dict:
    """The literal reference (unequal edge regions) against pad and mask; where the mask acts."""
    from ..reference import regr_forward
    x, (H, W) = a.x, a.map_size[1:]
    literal = regr_forward(x, u.state_dict(), **u.config).reshape(a.output.shape)
    out = {"max |pad+mask - unequal regions (literal)|": float((literal - a.output).abs().max())}
    edge = torch.zeros(H, W, dtype=torch.bool)                  # cells of cut edge regions
    for (h, w), (_, Gh, Gw) in zip(a.scales, a.grids):
        edge[(Gh - 1) * h if H % h else H:] = True
        edge[:, (Gw - 1) * w if W % w else W:] = True
    change = (b.added - a.added).norm(dim=1)                    # (B, T, H, W)
    out["cells in cut edge regions"] = int(edge.sum())
    if edge.any():
        out.update({f"mean change {k} (no mask)": float(change[..., m].mean())
                    for k, m in (("in edge regions", edge), ("elsewhere", ~edge))})
    return out


def _descriptors(u: ReGr, a: UnitTrace, b: UnitTrace) -> dict:
    """How much Y varies inside a region of the first scale (whole regions) with each xi."""
    raw, (h, w) = reread(u, a, xi_reading="raw"), a.scales[0]
    crop = (slice(None),) * 3 + (slice(0, a.map_size[1] // h * h), slice(0, a.map_size[2] // w * w))
    out = {f"spread of Y inside a region ({k})": float(split_regions(
        t.Y[0][crop].contiguous(), (h, w)).std(dim=-1).mean())
        for k, t in (("softmax", a), ("raw", raw), ("uniform", b))}
    return {**out, "mean |Y| (softmax)": float(a.Y[0].abs().mean()),
            "rel. change with raw xi": _rel(raw.added, a.added)}


# what each open choice changes, measured on the unit u's trace a and the alternative b
_MEASURES = {
    "nu_softmax": lambda u, a, b: {f"mean |v| per scale ({k})": [
        float(v.norm(dim=-1).mean()) for v in t.by_scale("V")] for k, t in (("softmax", a),
                                                                            ("raw", b))},
    "refine_context": lambda u, a, b: {f"mean |delta| ({k} eta)": float(torch.cat(
        [d.flatten() for o in t.offsets for d in o[:2]]).abs().mean())
        for k, t in (("1x1", a), ("3x3", b))},
    "refine_mode": lambda u, a, b: {f"|refined| / |A| per scale ({k})": [
        float(v.norm() / A.norm()) for v, A in zip(t.by_scale("V"), t.A)]
        for k, t in (("add", a), ("replace", b))},
    "relation_norm": lambda u, a, b: {f"row sums of R ({k})": (
        float(t.R.sum(-1).min()), float(t.R.sum(-1).max())) for k, t in (("softmax", a),
                                                                          ("dot", b))},
    "gcn_scale": lambda u, a, b: {"N": a.V.shape[1], "R_raw / R_scaled": float(
        (b.R / a.R).median()), "|Z|/|V| (1/N)": float(a.Z.norm() / a.V.norm()),
        "|Z|/|V| (raw)": float(b.Z.norm() / b.V.norm())},
    "attention_mode": lambda u, a, b: {"max |Z_seq - L_c * Z_letter|": float(
        (a.Lc * b.Z - a.Z).abs().max()), "mean L_c": float(a.Lc.mean())},
    "padding": _padding, "distribution": _descriptors,
    None: lambda u, a, b: {"N": a.V.shape[1], "|residual branch| / |x|": float(
        a.added.norm() / a.x.norm())},
}


def option_effect(option: str | None, x: torch.Tensor | None = None, *, scales: object = None,
                  relation: str = "bilinear", refine: bool = True, seed: int = 0) -> dict[str, Any]:
    r"""One open choice of the Readings page (``option``, from :data:`OPTIONS`; ``None``: the unit
    alone): the demo unit with the default reading and the alternative, same input and weights
    (a 3x3 :math:`\eta` keeps the 1x1 one as its centre). ``x``: default :func:`demo_map` (for
    ``"padding"`` a 14x14 two-frame clip, scales (3, 3), (5, 5); 13x13 with other ``scales``).
    Returns both residual branches, their differences, ``numbers`` and a ``summary``."""
    check_choice("option", option, [None, *OPTIONS])
    check_choice("refine", refine, (True, False))
    if option is not None and option not in applicable_options(relation, refine):
        where = OPTIONS[option][2]
        rule = "refine=True" if where == "refine" else f"relation={where!r}"
        raise ValueError(f"option {option!r} applies only with {rule}, got relation={relation!r}, "
                         f"refine={refine!r}")
    padding = option == "padding"
    x = (demo_map("clip", size=13 if scales else 14, frames=2) if padding else demo_map()) \
        if x is None else x
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a torch.Tensor or None, got {type(x).__name__}")
    scales = _scales(scales or (((3, 3), (5, 5)) if padding else ((4, 4), (7, 7))))
    default, alternative, _ = OPTIONS.get(option, (None, None, None))
    make = dict(in_channels=x.shape[1], scales=scales, relation=relation, refine=refine,
                input_size=tuple(x.shape[2:]) if relation == "gcn" else None, seed=seed,
                dtype=x.dtype)
    mine = option not in (None, "padding", "distribution")     # an option of ReGr
    u = demo_unit(**make, **({option: default} if mine else {}))
    a = b = _explain(u, x)
    if mine:
        u_alt, state = demo_unit(**make, **{option: alternative}), u.state_dict()
        if option == "refine_context":          # the 3x3 eta's centre tap is the 1x1 eta
            w3 = u_alt.refine.eta.weight.detach().clone()
            w3[:, :, 1, 1] = state["refine.eta.weight"][:, :, 0, 0]
            state["refine.eta.weight"] = w3
        u_alt.load_state_dict(state)
        b = _explain(u_alt, x)
    elif option is not None:
        b = reread(u, a, mask_padding=not padding, xi_reading="softmax" if padding else "uniform")
    numbers = _MEASURES[option](u, a, b)
    return {"option": option, "default": default, "alternative": alternative,
            "added_default": a.added, "added_alternative": None if option is None else b.added,
            "max_abs_diff": float((a.added - b.added).abs().max()),
            "rel_diff": _rel(b.added, a.added), "numbers": numbers,
            "summary": f"{option or 'the unit'}: " + "; ".join(f"{k} {_fmt(v)}"
                                                               for k, v in numbers.items()),
            "scales": scales, "relation": relation, "refine": refine}


# ------------------------------------------------------------------------------------ figures
def _np(t: torch.Tensor):
    return t.detach().cpu().numpy()


def _norm(t: torch.Tensor, frame: int = 0):
    """``(B, C, T, H, W)`` -> ``(H, W)``: the norm over channels, first sample."""
    return _np(t[0, :, frame].norm(dim=0))


def _show(fig, ax, img, title: str | None = None, size: int = 10, bar: bool = True, **kw):
    """``img`` on ``ax`` (viridis, a colour bar unless ``bar=False``), without ticks."""
    im = ax.imshow(img, **{"cmap": "viridis", "interpolation": "nearest", **kw})
    if bar:
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.03)
    ax.set_xticks([])
    ax.set_yticks([])
    if title is not None:
        ax.set_title(title, fontsize=size)
    return im


def _grid(rows: list, ylabels: Sequence[str] = (), width: float = 2.8, height: float = 2.6,
          size: int = 10):
    """Rows of ``(image, title, options for _show)`` panels on one figure: ``(fig, axes)``."""
    cols = max(len(r) for r in rows)
    fig, axes = new_figure(len(rows), cols, figsize=(width * cols + 0.6, height * len(rows)),
                           squeeze=False, layout="constrained")
    for i, row in enumerate(rows):
        for ax, (img, title, kw) in zip(axes[i], row):
            _show(fig, ax, img, title, size, **kw)
        for ax in axes[i, len(row):]:
            ax.axis("off")
        axes[i, 0].set_ylabel(ylabels[i] if i < len(ylabels) else "", fontsize=10)
    return fig, axes


def gather_figure(trace: UnitTrace, region: int = 0):
    r"""Eq. 11–12 as the paper's Fig. 4: row :math:`\mathbf{r}_i` of ``R`` painted on every
    scale's regions (square-root colours), and :math:`\mathbf{z}_i` beside :math:`\mathbf{v}_i`.
    ``trace``: ``unit.explain(x)`` of a unit with a matrix ``R`` (bilinear or GCN)."""
    from matplotlib.colors import PowerNorm
    from matplotlib.patches import Rectangle

    if trace.R is None:
        raise ValueError("trace must come from a relation with a matrix R (bilinear or gcn), "
                         "got trace.R=None (attention)")
    layout = trace.layout
    k, t, gy, gx = layout.locate(check_int("region", region, 0, layout.num_regions - 1))
    (_, y0, x0, h, w), (T, H, W), ns = layout.cells(region), trace.map_size, len(trace.scales)
    fig, axes = new_figure(2, ns + 1, figsize=(2.6 * ns + 3.8, 6.0), layout="constrained",
                           gridspec_kw={"height_ratios": [1.15, 1]})
    for ax in axes[1]:
        ax.remove()
    maps, bars = axes[0], fig.add_subplot(axes[0, 0].get_subplotspec().get_gridspec()[1, :])
    _show(fig, maps[0], _norm(trace.x, t), f"input |x|, frame {t}" if T > 1 else "input |x|",
          bar=False, cmap="gray")
    r = trace.R[:, region].detach()                                 # (B, N): row r_i
    power = PowerNorm(0.5, vmin=0.0, vmax=max(float(r.max()), 1e-12))
    for j, (sc, grid) in enumerate(zip(trace.scales, layout.split(r))):
        g = grid[0, t]                                              # (Gh, Gw)
        paint = g.repeat_interleave(sc[0], 0).repeat_interleave(sc[1], 1)[:H, :W]
        im = _show(fig, maps[j + 1], _np(paint), f"$r_{{ij}}$ on the {sc} regions\n"
                   f"(sum {float(g.sum()):.2f})", bar=False, cmap="magma", norm=power)
    for ax, color in ((maps[0], "red"), (maps[k + 1], "cyan")):
        ax.add_patch(Rectangle((x0 - 0.5, y0 - 0.5), w, h, fill=False, edgecolor=color, lw=2))
    fig.colorbar(im, ax=list(maps[1:]), shrink=0.85, label="$r_{ij}$ (square-root scale)")
    M = trace.V.shape[-1]
    for shift, vec, label in ((-0.2, trace.V, "$v_i$, the region's own vector"),
                              (0.2, trace.Z, "$z_i = \\sum_j r_{ij} v_j$ (Eq. 12)")):
        bars.bar(torch.arange(M).numpy() + shift, _np(vec[0, region]), width=0.4, label=label)
    bars.axhline(0, color="black", lw=0.6)
    bars.set_xlabel(f"feature m = 0 ... {M - 1} of the vector")
    bars.legend(fontsize=9, loc="best")
    fig.suptitle(f"Eq. 11-12 for region i = {region}: scale {trace.scales[k]}, row {gy}, "
                 f"column {gx}")
    return fig


def distribution_figure(trace: UnitTrace, frame: int = 0):
    r"""Eq. 13 and the merge for one frame: the descriptor each cell leans on
    (:math:`\arg\max_n \xi_n`; white lines: the first scale's regions), :math:`|Y|` per scale,
    their sum, and the residual branch ``BN(W_out sum Y)``."""
    check_int("frame", frame, 0, trace.map_size[0] - 1)
    panels = [(_norm(trace.x, frame), "input |x|", {"cmap": "gray", "bar": False}),
              (_np(trace.xi[0, :, frame].argmax(0)), r"$\arg\max_n\, \xi_n(x)$",
               {"cmap": "tab10", "vmin": -0.5, "vmax": 9.5, "bar": False})]
    panels += [(_norm(Y, frame), f"|Y|, scale {s}", {}) for s, Y in zip(trace.scales, trace.Y)]
    if len(trace.scales) > 1:
        panels.append((_norm(trace.Y_sum, frame), "|sum of Y over scales|", {}))
    panels.append((_norm(trace.added, frame), "|BN(W_out sum Y)|", {}))
    fig, axes = _grid([panels[i:i + 3] for i in range(0, len(panels), 3)], height=2.9)
    (h, w), (H, W) = trace.scales[0], trace.map_size[1:]
    for k in range(1, -(-H // h)):
        axes[0, 1].axhline(k * h - 0.5, color="white", lw=0.8)
    for k in range(1, -(-W // w)):
        axes[0, 1].axvline(k * w - 0.5, color="white", lw=0.8)
    return fig


def settings_figure(x: torch.Tensor | None = None, *, seed: int = 0,
                    scale_names: Sequence[str] = ("(1, 1)", "(4, 4)", "(7, 7)",
                                                  "(4, 4) + (7, 7)"),
                    relations: Sequence[str] = RELATIONS, refine: bool = True):
    """The residual branch's norm for scale presets (rows) by relations (columns)."""
    x = demo_map() if x is None else x
    for rel in relations:
        check_choice("relations[...]", rel, RELATIONS)
    rows = [[(_norm(_explain(demo_unit(x.shape[1], name, rel, refine, tuple(x.shape[2:])
                                       if rel == "gcn" else None, seed=seed, dtype=x.dtype),
                                       x).added), rel if i == 0 else None, {})
             for rel in relations] for i, name in enumerate(scale_names)]
    fig, _ = _grid(rows, [f"scales {name}" for name in scale_names], width=2.6, height=2.5)
    fig.suptitle("|BN(W_out sum Y)| per cell: what the unit adds to x")
    return fig


def option_effects_figure(effects: Sequence[dict]):
    """One row per :func:`option_effect` result: the residual branch (norm over channels) with
    the default reading, the alternative and their difference (one panel without one)."""
    rows = []
    for e in effects:
        a = _norm(e["added_default"])
        if e["added_alternative"] is None:
            rows.append([(a, f"{e['relation']}, scales {list(e['scales'])}, "
                          f"refine={e['refine']}", {})])
            continue
        b = _norm(e["added_alternative"])
        top = max(a.max(), b.max())
        shared = top <= 3 * min(a.max(), b.max())                   # one colour scale
        kw = {"vmin": 0, "vmax": top if shared else None}
        note = "" if shared else " (own colour scale)"
        rows.append([(a, f"{e['default']!s}{note}", kw), (b, f"{e['alternative']!s}{note}", kw),
                     (_norm(e["added_alternative"] - e["added_default"]),
                      f"difference (rel. {e['rel_diff']:.2f})", {"cmap": "magma"})])
    return _grid(rows, [e["option"] or "" for e in effects], size=9)[0]


# ------------------------------------------------------------------------------------ widgets
def _figure_widget(controls: dict, draw):
    """``controls`` (name -> widget) above a text and a figure; ``draw(**values)`` returns
    ``(figure, text, result)``, redrawn on every change (``widget.result``: the latest)."""
    import ipywidgets as widgets

    text, image = widgets.HTML(), widgets.Image(format="png")
    box = widgets.VBox([widgets.HBox(list(controls.values())), text, image])
    box.controls = controls

    def redraw(*_):
        fig, text.value, box.result = draw(**{k: c.value for k, c in controls.items()})
        image.value = figure_png(fig)

    for c in controls.values():
        c.observe(redraw, "value")
    redraw()
    return with_static_fallback(box)


def gather_widget(trace: UnitTrace):
    """A slider over the regions ``i`` in ``[0, N-1]`` redrawing :func:`gather_figure`;
    ``widget.result`` is the latest ``(i, z_i)``."""
    import ipywidgets as widgets

    def draw(region):
        return gather_figure(trace, region), "", (region, trace.Z[0, region].detach().clone())

    return _figure_widget({"region": widgets.IntSlider(
        value=0, min=0, max=trace.layout.num_regions - 1, description="region i")}, draw)


def unit_widget(seed: int = 0):
    """Scales, relation, refine and one open choice to flip, on the demo map: what the unit adds
    (flipped: the default, the alternative and the difference). ``widget.result`` is the latest
    :func:`option_effect`; a choice that does not apply to the unit shows the unit as it is."""
    import ipywidgets as widgets
    check_int("seed", seed, 0)

    def draw(scales, relation, refine, option):
        note = ""
        if option != "none" and option not in applicable_options(relation, refine):
            note, option = f"{option} does not apply to this unit; ", "none"
        e = option_effect(None if option == "none" else option, scales=scales,
                          relation=relation, refine=refine, seed=seed)
        return option_effects_figure([e]), f"<code>{note}{e['summary']}</code>", e

    return _figure_widget({
        "scales": widgets.Dropdown(options=list(SCALE_PRESETS), value="(4, 4) + (7, 7)",
                                   description="scales"),
        "relation": widgets.Dropdown(options=list(RELATIONS), description="relation"),
        "refine": widgets.Checkbox(value=True, description="refine"),
        "option": widgets.Dropdown(options=["none", *OPTIONS], description="flip")}, draw)
