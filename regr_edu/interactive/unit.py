r"""Chapter "Eq. 11–13: distribution and the whole unit": the functions behind its figures.

Plain functions (tests call them; each validates its arguments and names the parameter, the rule
and the value in a ``ValueError``):

- :func:`demo_map`, :func:`demo_unit` — a small feature map with "objects" and a ReGr whose
  weights are random but fixed by a seed (as if trained: the last BatchNorm's weight is one).
- :func:`unit_steps` — the unit's forward pass one named step at a time, from the package's
  public pieces, checked against ``unit.explain(x)``; it can also run the two readings the unit
  class does not expose (padding without the mask; Eq. 13 with another :math:`\xi`).
- :func:`shapes_table` — every step's shape.
- :func:`nonlocal_block_for`, :func:`nonlocal_equivalent` — at scale (1, 1) without refine the
  unit *is* an embedded-Gaussian non-local block; these map its weights onto :class:`NonLocal`.
- :func:`option_effect`, :func:`placement_table` — each **open** choice of the book's
  Readings page, default against alternative, on the same input and the same weights.
- :func:`backbone_unchanged`, :func:`gradient_norms` — why the last BatchNorm starts at zero.
- figures: :func:`gather_figure` (Eq. 11–12, the paper's Fig. 4 redrawn),
  :func:`settings_figure`, :func:`option_effects_figure`, :func:`effect_figure`.
- widgets: :func:`unit_widget`, :func:`gather_widget`.

matplotlib and ipywidgets are imported inside the functions that draw, never at import.
"""
from __future__ import annotations

import math
import zlib
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .._checks import as_5d, check_choice, check_positive_int, check_scales
from ..aggregation import aggregate
from ..distribution import distribute
from ..regions import cell_mask, grid_size, pad_to_scale, split_regions
from ..regr import ReGr
from ._display import _png, with_static_fallback

# ------------------------------------------------------------------------------------ settings
SCALE_PRESETS: dict[str, tuple[tuple[int, int], ...]] = {
    "(1, 1)": ((1, 1),),
    "(2, 2)": ((2, 2),),
    "(4, 4)": ((4, 4),),
    "(7, 7)": ((7, 7),),
    "(4, 4) + (7, 7)": ((4, 4), (7, 7)),
}
RELATIONS = ("bilinear", "gcn", "attention")
XI_READINGS = ("softmax", "raw", "uniform")

# The open choices (the book's Readings page) that are options of ReGr: name -> (default,
# alternative, applies).
UNIT_OPTIONS: dict[str, tuple[Any, Any, str]] = {
    "nu_softmax": (True, False, "any"),
    "refine_context": (1, 3, "refine"),
    "refine_mode": ("add", "replace", "refine"),
    "relation_norm": ("softmax", "dot", "bilinear"),
    "gcn_scale": (True, False, "gcn"),
    "attention_mode": ("sequential", "letter", "attention"),
}
# The open choices the unit class fixes; unit_steps runs their alternatives.
STEP_OPTIONS: dict[str, tuple[Any, Any, str]] = {
    "padding": ("pad and mask", "pad without mask", "any"),
    "distribution": ("softmax", "uniform", "any"),
}
OPTIONS = {**UNIT_OPTIONS, **STEP_OPTIONS}


def _check_seed(seed: object) -> int:
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    return seed


def _resolve_scales(scales: object) -> tuple[tuple[int, int], ...]:
    """A preset name from :data:`SCALE_PRESETS` or a sequence of ``(h, w)`` pairs."""
    if isinstance(scales, str):
        if scales not in SCALE_PRESETS:
            raise ValueError(f"scales must be one of {list(SCALE_PRESETS)} or a sequence of "
                             f"(h, w) pairs, got {scales!r}")
        return SCALE_PRESETS[scales]
    return check_scales("scales", scales)


def applicable_options(relation: str, refine: bool) -> list[str]:
    """The open choices that change a unit with this ``relation`` and ``refine``."""
    check_choice("relation", relation, RELATIONS)
    out = []
    for name, (_, _, where) in OPTIONS.items():
        if where == "any" or (where == "refine" and refine) or where == relation:
            out.append(name)
    return out


# ------------------------------------------------------------------------------------ inputs
def demo_map(kind: str = "image", *, channels: int = 32, size: int = 28, frames: int = 3,
             seed: int = 0, dtype: torch.dtype = torch.float64,
             return_labels: bool = False):
    r"""A feature map with three "objects" on a noisy background.

    Objects of kind A (two discs, far apart) share one channel signature; object B (a square)
    has another. A unit that relates similar regions should therefore tie the two discs together
    across the map. For a clip the discs drift right by one cell per frame.

    Args:
        kind: ``"image"`` -> ``(1, C, size, size)``; ``"clip"`` -> ``(1, C, frames, size, size)``.
        channels: ``C``. size: ``H = W`` (at least 8). frames: ``T`` for a clip.
        return_labels: also return the ``(T, H, W)`` object labels (0 background, 1 A, 2 B).
    """
    check_choice("kind", kind, ("image", "clip"))
    check_positive_int("channels", channels)
    check_positive_int("frames", frames)
    if not isinstance(size, int) or isinstance(size, bool) or size < 8:
        raise ValueError(f"size must be an integer of at least 8 (the objects need room), "
                         f"got {size!r}")
    _check_seed(seed)
    g = torch.Generator().manual_seed(seed)
    T = frames if kind == "clip" else 1
    H = W = size
    k = size / 28.0                                              # object layout drawn for 28x28
    sig = torch.randn(2, channels, generator=g, dtype=torch.float64)
    sig = 2.0 * sig / sig.norm(dim=1, keepdim=True)              # (2, C): signatures of A and B
    x = 0.2 * torch.randn(channels, T, H, W, generator=g, dtype=torch.float64)
    labels = torch.zeros(T, H, W, dtype=torch.long)
    rows = torch.arange(H, dtype=torch.float64)[:, None]
    cols = torch.arange(W, dtype=torch.float64)[None, :]
    for t in range(T):
        shift = t * (1.0 if kind == "clip" else 0.0)
        disc1 = (rows - 7 * k) ** 2 + (cols - (6 * k + shift)) ** 2 <= (4.5 * k) ** 2
        disc2 = (rows - 20 * k) ** 2 + (cols - (21 * k + shift)) ** 2 <= (3.5 * k) ** 2
        square = (rows >= 16 * k) & (rows < 25 * k) & (cols >= 2 * k) & (cols < 10 * k)
        labels[t][square] = 2
        labels[t][disc1 | disc2] = 1
    for lab in (1, 2):
        where = labels == lab                                    # (T, H, W)
        x[:, where] += sig[lab - 1][:, None]
    x = x.to(dtype).unsqueeze(0)                                 # (1, C, T, H, W)
    if kind == "image":
        x, labels = x[:, :, 0], labels[0]                        # (1, C, H, W), (H, W)
    return (x, labels) if return_labels else x


def _randomize(module: nn.Module, seed: int, gain: float) -> None:
    """Seeded random weights, one generator per parameter name (so two units that differ in one
    layer share every other weight)."""
    with torch.no_grad():
        for name, p in module.named_parameters():
            g = torch.Generator().manual_seed(seed * 1_000_003 + zlib.crc32(name.encode()))
            r = torch.randn(p.shape, generator=g, dtype=torch.float64)
            if name.endswith("bias"):
                p.copy_(0.1 * r)
            else:
                fan_in = p[0].numel() if p.dim() > 1 else 1
                p.copy_(gain * r / math.sqrt(fan_in))


def demo_unit(in_channels: int = 32, scales: object = ((4, 4), (7, 7)), relation: str = "bilinear",
              refine: bool = True, input_size: Sequence[int] | None = None, *, seed: int = 0,
              tied: bool = True, dtype: torch.dtype = torch.float64, **options: Any) -> ReGr:
    r"""A :class:`ReGr` with seeded random weights, in eval mode, as if it had been trained.

    Every weight is drawn from a normal distribution scaled by ``1/sqrt(fan_in)`` (one generator
    per parameter name; biases ``0.1`` times a standard normal), then made to look trained:
    :math:`\nu` and :math:`\xi` six times larger (peaked attention over a region's cells,
    decisive local descriptors), :math:`\eta` half as large (moderate offsets), the bilinear
    :math:`\theta` eight times larger (selective rows of ``R``), the lifting conv without bias,
    and the last BatchNorm the plain identity (weight 1, bias 0, running mean 0, running variance
    1) instead of starting at zero. With ``tied=True`` the bilinear relation's :math:`\phi`
    equals :math:`\theta`, so :math:`r_{ij}` is large where regions ``i`` and ``j`` look alike (a
    trained unit need not do this; it makes the figures readable). ``scales`` may be a name from
    :data:`SCALE_PRESETS`.
    """
    _check_seed(seed)
    scales = _resolve_scales(scales)
    unit = ReGr(in_channels, scales, relation, refine, input_size, **options)
    _randomize(unit, seed, gain=1.0)
    with torch.no_grad():
        unit.nu.weight.mul_(6.0)                    # peaked attention maps over a region's cells
        unit.xi.weight.mul_(6.0)                    # decisive local descriptors
        unit.out.bias.zero_()                       # the residual branch is the reasoning alone
        if unit.refine is not None:                 # moderate offsets: tanh stays off its tails
            unit.refine.eta.weight.mul_(0.5)
        if relation == "bilinear":
            unit.relation.theta.weight.mul_(8.0)    # sharper rows of R
            if tied:
                unit.relation.phi.weight.copy_(unit.relation.theta.weight)
                unit.relation.phi.bias.copy_(unit.relation.theta.bias)
        nn.init.ones_(unit.bn.weight)
        nn.init.zeros_(unit.bn.bias)
        unit.bn.running_mean.zero_()
        unit.bn.running_var.fill_(1.0)
    return unit.to(dtype).eval()


def _demo_input(x: torch.Tensor | None, kind: str = "image") -> torch.Tensor:
    if x is None:
        return demo_map(kind)
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a torch.Tensor or None, got {type(x).__name__}")
    return x


# ------------------------------------------------------------------------------------ the unit
def unit_steps(unit: ReGr, x: torch.Tensor, *, mask_padding: bool = True,
               xi_reading: str = "softmax", check: bool | None = None) -> dict[str, Any]:
    r"""Run ``unit`` on ``x`` one named step at a time (no gradients).

    The steps use the package's public pieces (:func:`split_regions`, :func:`aggregate`, the
    unit's refine and relation modules, :func:`distribute`) in the order of the paper; with the
    default readings the result is checked against ``unit.explain(x)``.

    Args:
        mask_padding: ``True`` (the unit's reading): padded cells are masked out of the softmax
            over :math:`\nu`; ``False``: they take part as zeros (the alternative).
        xi_reading: Eq. 13's :math:`\xi` — ``"softmax"`` (ours: normalised over ``c_nu`` at
            each cell), ``"raw"`` (no normalisation) or ``"uniform"`` (every cell the same
            weights ``1/c_nu``, i.e. no local descriptor: each region hands the same vector to
            all its cells).
        check: compare with ``unit.explain(x)`` (default: when both readings are the unit's).

    Returns:
        A dict: ``"x"``, ``"mu"``, ``"nu"``, ``"xi"`` (``(B, c, T, H, W)``), per scale lists
        ``"A"`` (``(B, T, Gh, Gw, c_mu, c_nu)``), ``"G"`` (refined grids, ``(B*T, M, Gh, Gw)``),
        ``"offsets"``, ``"z"``, ``"Y"`` (``(B, c_mu, T, H, W)``); ``"V"``, ``"Z"``
        (``(B, N, M)``), ``"R"`` or ``"Lc"``/``"Ls"``, ``"Y_sum"``, ``"lifted"``, ``"added"``
        (the residual branch, ``(B, C, T, H, W)``), ``"output"`` (same rank as ``x``),
        ``"grids"``, ``"scales"``, ``"was_4d"``.
    """
    if not isinstance(unit, ReGr):
        raise TypeError(f"unit must be a regr_edu.ReGr, got {type(unit).__name__}")
    check_choice("xi_reading", xi_reading, XI_READINGS)
    x5, was_4d = as_5d("x", x, unit.in_channels)
    B, C, T, H, W = x5.shape
    c_mu, c_nu, M = unit.mu_channels, unit.nu_channels, unit.M
    s: dict[str, Any] = {"x": x5, "scales": unit.scales, "was_4d": was_4d}
    with torch.no_grad():
        flat = x5.reshape(B, C, T * H, W)                              # frames stacked: 1x1 convs
        mu = unit.mu(flat).reshape(B, c_mu, T, H, W)                   # (B, c_mu, T, H, W)
        nu = unit.nu(flat).reshape(B, c_nu, T, H, W)                   # (B, c_nu, T, H, W)
        xi_logits = unit.xi(flat).reshape(B, c_nu, T, H, W)            # (B, c_nu, T, H, W)
        if xi_reading == "softmax":
            xi = torch.softmax(xi_logits, dim=1)                       # over c_nu at each cell
        elif xi_reading == "raw":
            xi = xi_logits
        else:
            xi = torch.full_like(xi_logits, 1.0 / c_nu)
        s.update(mu=mu, nu=nu, xi=xi, A=[], G=[], offsets=[], z=[], Y=[], grids=[])

        vectors = []
        for sc in unit.scales:                                         # Eq. 1-4, per scale
            Gh, Gw = grid_size(H, W, sc)
            mu_r = split_regions(pad_to_scale(mu, sc), sc)             # (B, T, Gh, Gw, c_mu, P)
            nu_r = split_regions(pad_to_scale(nu, sc), sc)             # (B, T, Gh, Gw, c_nu, P)
            padded = (H % sc[0]) or (W % sc[1])
            mask = cell_mask(H, W, sc, device=x5.device) if (padded and mask_padding) else None
            A = aggregate(mu_r, nu_r, mask, unit.nu_softmax)           # (B, T, Gh, Gw, c_mu, c_nu)
            G = A.reshape(B * T, Gh, Gw, M).permute(0, 3, 1, 2)        # (B*T, M, Gh, Gw)
            if unit.refine is not None:
                s["offsets"].append(unit.refine.offsets(G))            # dx, dy, m: (B*T, 1, Gh, Gw)
                G = unit.refine(G)                                     # Eq. 3-4
            s["A"].append(A)
            s["G"].append(G)
            vectors.append(G.permute(0, 2, 3, 1).reshape(B, T * Gh * Gw, M))  # (B, n_s, M)
            s["grids"].append((T, Gh, Gw))
        V = torch.cat(vectors, dim=1)                                  # (B, N, M)
        Z = unit.relation(V, s["grids"])                               # Eq. 5-11: (B, N, M)
        if hasattr(unit.relation, "matrix"):
            s["R"] = unit.relation.matrix(V, s["grids"])               # (B, N, N)
        else:
            s["Lc"], s["Ls"] = unit.relation.maps(V, s["grids"])       # (B, 1, M), (B, N, 1)
        s["V"], s["Z"] = V, Z

        Y_sum, start = None, 0
        for sc, (_, Gh, Gw) in zip(unit.scales, s["grids"]):           # Eq. 13, per scale
            n = T * Gh * Gw
            z = Z[:, start:start + n].reshape(B, T, Gh, Gw, c_mu, c_nu)  # z_i as c_mu x c_nu
            Y = distribute(z, xi, sc)                                  # (B, c_mu, T, H, W)
            s["z"].append(z)
            s["Y"].append(Y)
            Y_sum = Y if Y_sum is None else Y_sum + Y                  # sum over scales
            start += n
        s["Y_sum"] = Y_sum
        lifted = unit.out(Y_sum.reshape(B, c_mu, T * H, W))            # (B, C, T*H, W)
        bn = unit.bn
        train = bn.training or bn.running_mean is None
        added = F.batch_norm(lifted, None if train else bn.running_mean,
                             None if train else bn.running_var, bn.weight, bn.bias,
                             training=train, eps=bn.eps)               # no running-stat update
        s["lifted"] = lifted.reshape(B, C, T, H, W)
        s["added"] = added.reshape(B, C, T, H, W)
        out = x5 + s["added"]                                          # the residual
        s["output"] = out[:, :, 0] if was_4d else out
        if check is None:
            check = mask_padding and xi_reading == "softmax" and not unit.training
        if check:
            torch.testing.assert_close(s["output"], unit(x),
                                       msg="unit_steps disagrees with the unit's own forward")
    return s


class Table:
    """Rows shown as an HTML table in a notebook and as aligned text elsewhere."""

    def __init__(self, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        self.header = list(header)
        self.rows = [list(r) for r in rows]

    def __len__(self) -> int:
        return len(self.rows)

    def __str__(self) -> str:
        cells = [self.header] + [[str(c) for c in r] for r in self.rows]
        widths = [max(len(r[i]) for r in cells) for i in range(len(self.header))]
        lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in cells]
        lines.insert(1, "  ".join("-" * w for w in widths))
        return "\n".join(lines)

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        import html
        pad = ' style="padding: 0.1em 0.9em; text-align: left"'
        head = "".join(f"<th{pad}>{html.escape(str(h))}</th>" for h in self.header)
        body = "".join("<tr>" + "".join(f"<td{pad}>{html.escape(str(c))}</td>" for c in r)
                       + "</tr>" for r in self.rows)
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def shapes_table(unit: ReGr, x: torch.Tensor) -> Table:
    """The shape at every step of ``unit`` on ``x``, measured (via :func:`unit_steps`)."""
    s = unit_steps(unit, x)
    c_mu, c_nu = unit.mu_channels, unit.nu_channels
    rows: list[list[Any]] = [["input", "x", "", tuple(x.shape)],
                             ["1x1 convs", "mu(x)", "2", tuple(s["mu"].shape)],
                             ["", "nu(x)", "2", tuple(s["nu"].shape)],
                             ["", "xi(x), softmax over c_nu", "13", tuple(s["xi"].shape)]]
    for sc, A, G in zip(s["scales"], s["A"], s["G"]):
        rows.append([f"scale {sc}", "A_i = mu(X_i) softmax(nu(X_i))^T", "1-2", tuple(A.shape)])
        rows.append(["", "grid of A (refined)" if unit.refine is not None else "grid of A",
                     "3-4" if unit.refine is not None else "", tuple(G.shape)])
    rows.append(["all scales", "V", "", tuple(s["V"].shape)])
    if "R" in s:
        rows.append(["relation", "R", "5-8", tuple(s["R"].shape)])
        rows.append(["", "Z = R V", "11-12", tuple(s["Z"].shape)])
    else:
        rows.append(["relation", "L_c", "9-10", tuple(s["Lc"].shape)])
        rows.append(["", "L_s", "9-10", tuple(s["Ls"].shape)])
        rows.append(["", "Z (attention)", "9", tuple(s["Z"].shape)])
    for sc, z, Y in zip(s["scales"], s["z"], s["Y"]):
        rows.append([f"scale {sc}", f"z_i read as {c_mu} x {c_nu}", "13", tuple(z.shape)])
        rows.append(["", "Y_i = z_i xi(X_i), merged, cropped", "13", tuple(Y.shape)])
    rows.append(["all scales", "sum of Y", "", tuple(s["Y_sum"].shape)])
    rows.append(["residual", "BN(W_out sum Y)", "", tuple(s["added"].shape)])
    rows.append(["", "x + BN(...)", "", tuple(s["output"].shape)])
    return Table(["stage", "tensor", "Eq.", "shape"], rows)


# ------------------------------------------------------------------------------------ (1,1) = NL
def nonlocal_block_for(unit: ReGr):
    r"""A :class:`regr_edu.NonLocal` block that computes exactly what ``unit`` computes.

    Needs ``unit.scales == ((1, 1),)``, ``refine=False``, the bilinear relation and the softmax
    on :math:`\nu`. Then each region is one cell ``x``: the softmax over its single cell is 1, so
    :math:`A = \mu(x)\mathbf{1}^\top` (every column is :math:`\mu(x)`) and the vector ``v`` is
    :math:`E\mu(x)` with ``E`` the ``M x c_mu`` matrix that repeats each entry ``c_nu`` times;
    :math:`\theta(v) = W_\theta E W_\mu x + (W_\theta E b_\mu + b_\theta)`, the same for
    :math:`\phi`; and since :math:`\xi` sums to one over ``c_nu``, Eq. 13 hands each cell
    :math:`\sum_j r_{ij}\mu(x_j)`. So the block's :math:`g` is :math:`\mu`, its :math:`W_z` is
    the unit's ``out`` and its BatchNorm is the unit's. The inner width is
    ``max(M', c_mu)``; the extra rows are zero.
    """
    from ..peers import NonLocal

    if not isinstance(unit, ReGr):
        raise TypeError(f"unit must be a regr_edu.ReGr, got {type(unit).__name__}")
    if unit.scales != ((1, 1),):
        raise ValueError(f"unit.scales must be ((1, 1),) (one cell per region) for the non-local "
                         f"equivalence, got {unit.scales}")
    if unit.refine is not None:
        raise ValueError("unit must be built with refine=False for the non-local equivalence "
                         "(refine mixes neighbouring cells before the relation), got refine=True")
    if unit.relation_name != "bilinear":
        raise ValueError(f"unit's relation must be 'bilinear' for the non-local equivalence, "
                         f"got {unit.relation_name!r}")
    if not unit.nu_softmax:
        raise ValueError("unit must use nu_softmax=True for the non-local equivalence (without "
                         "it A = mu(x) nu(x)^T is quadratic in x), got nu_softmax=False")
    rel = unit.relation
    c_mu, c_nu, C = unit.mu_channels, unit.nu_channels, unit.in_channels
    inner_rel = rel.theta.out_features                                 # M'
    inner = max(inner_rel, c_mu)
    mode = {"softmax": "embedded_gaussian", "dot": "dot_product"}[rel.normalize]
    w = unit.mu.weight
    # every position and no scaling: the plain block of the non-local paper's equations
    block = NonLocal(C, inner_channels=inner, mode=mode, sub_sample=False,
                     scale=False).to(dtype=w.dtype, device=w.device)
    # E: (M, c_mu), row m * c_nu + n picks entry m (A is flattened row-major)
    E = torch.zeros(unit.M, c_mu, dtype=w.dtype, device=w.device)
    for m in range(c_mu):
        E[m * c_nu:(m + 1) * c_nu, m] = 1.0
    W_mu, b_mu = unit.mu.weight[:, :, 0, 0], unit.mu.bias              # (c_mu, C), (c_mu,)
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
        for name in ("weight", "bias", "running_mean", "running_var", "num_batches_tracked"):
            getattr(block.bn, name).copy_(getattr(unit.bn, name))
    block.bn.eps, block.bn.momentum = unit.bn.eps, unit.bn.momentum
    return block.train(unit.training)


def nonlocal_equivalent(unit: ReGr, x: torch.Tensor) -> dict[str, Any]:
    """Run ``unit`` and its :func:`nonlocal_block_for` on ``x``: both outputs, the block and
    the largest absolute difference (in eval mode; a training BatchNorm would update twice)."""
    block = nonlocal_block_for(unit)
    as_5d("x", x, unit.in_channels)
    with torch.no_grad():
        y_unit, y_block = unit(x), block(x)
    return {"block": block, "regr": y_unit, "nonlocal": y_block,
            "max_abs_diff": float((y_unit - y_block).abs().max())}


# ------------------------------------------------------------------------------------ open choices
def _paired_units(option: str, x: torch.Tensor, scales, relation: str, refine: bool,
                  input_size, seed: int) -> tuple[ReGr, ReGr]:
    """Default and alternative units sharing every weight they have in common."""
    default, alternative, _ = UNIT_OPTIONS[option]
    a, b = (demo_unit(x.shape[1], scales, relation, refine, input_size, seed=seed,
                      dtype=x.dtype, **{option: value}) for value in (default, alternative))
    state = a.state_dict()
    if option == "refine_context":
        # the 3x3 eta keeps the 1x1 eta as its centre tap: the difference is the neighbours
        w3 = b.refine.eta.weight.detach().clone()
        w3[:, :, 1, 1] = state["refine.eta.weight"][:, :, 0, 0]
        state = {**state, "refine.eta.weight": w3}
    b.load_state_dict(state)
    return a, b


def _channel_norm(t: torch.Tensor) -> torch.Tensor:
    """``(B, C, T, H, W) -> (H, W)``: the norm over channels, first sample, first frame."""
    return t[0, :, 0].norm(dim=0)


def option_effect(option: str, x: torch.Tensor | None = None, *, scales: object = None,
                  relation: str = "bilinear", refine: bool = True, seed: int = 0) -> dict[str, Any]:
    r"""One **open** choice of the book's Readings page: the unit with the default reading and
    with the other one, on the same input and the same weights.

    Args:
        option: a name from :data:`OPTIONS` (``"nu_softmax"``, ``"refine_context"``,
            ``"refine_mode"``, ``"relation_norm"``, ``"gcn_scale"``, ``"attention_mode"``,
            ``"padding"``, ``"distribution"``); it must apply to ``relation`` and ``refine``.
        x: the input (default :func:`demo_map`; for ``"padding"`` a two-frame 14x14 clip,
            which the default scales (3, 3) and (5, 5) do not divide, or 13x13 with ``scales``).
        scales: default ``(4, 4), (7, 7)`` (``(3, 3), (5, 5)`` for ``"padding"``); or a preset name.

    Returns:
        A dict with ``option``, ``default``, ``alternative`` (the two values), ``added_default``
        and ``added_alternative`` (the residual branch, ``(B, C, T, H, W)``), ``max_abs_diff``,
        ``rel_diff`` (of the residual branch), ``numbers`` (measurements particular to the
        option) and ``summary`` (one sentence with those numbers).
    """
    check_choice("option", option, list(OPTIONS))
    check_choice("relation", relation, RELATIONS)
    _check_seed(seed)
    if option not in applicable_options(relation, bool(refine)):
        where = OPTIONS[option][2]
        rule = "refine=True" if where == "refine" else f"relation={where!r}"
        raise ValueError(f"option {option!r} applies only with {rule}, got relation={relation!r}, "
                         f"refine={refine!r}")
    if x is None and option == "padding":
        # the paper's video case: a 14x14 map, scales (3, 3) and (5, 5); other scales: 13x13,
        # which no scale but (1, 1) divides
        x = demo_map("clip", size=14 if scales is None else 13, frames=2)
    x = demo_map("image") if x is None else x
    if scales is None:
        scales = ((3, 3), (5, 5)) if option == "padding" else ((4, 4), (7, 7))
    scales = _resolve_scales(scales)
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a torch.Tensor or None, got {type(x).__name__}")
    input_size = tuple(x.shape[2:]) if relation == "gcn" else None
    numbers: dict[str, Any] = {}
    default, alternative, _ = OPTIONS[option]

    if option in UNIT_OPTIONS:
        u_def, u_alt = _paired_units(option, x, scales, relation, refine, input_size, seed)
        s_def, s_alt = unit_steps(u_def, x), unit_steps(u_alt, x)
    else:
        u_def = demo_unit(x.shape[1], scales, relation, refine, input_size, seed=seed,
                          dtype=x.dtype)
        s_def = unit_steps(u_def, x)
        if option == "padding":
            s_alt = unit_steps(u_def, x, mask_padding=False)
        else:
            s_alt = unit_steps(u_def, x, xi_reading="uniform")

    def norms(s):  # mean length of the region vectors, per scale
        out, start = [], 0
        for (T, Gh, Gw) in s["grids"]:
            n = T * Gh * Gw
            out.append(float(s["V"][:, start:start + n].norm(dim=-1).mean()))
            start += n
        return out

    if option == "nu_softmax":
        nd, na = norms(s_def), norms(s_alt)
        numbers = {"mean |v| per scale (softmax)": nd, "mean |v| per scale (raw)": na}
        summary = (f"mean length of a region's vector, scales {list(scales)}: with the softmax "
                   f"{_fmt(nd)}, without {_fmt(na)} (ratio largest/smallest scale "
                   f"{max(nd) / min(nd):.2f} vs {max(na) / min(na):.2f})")
    elif option == "refine_context":
        def mean_shift(s):  # mean |delta| over both axes, every scale
            return float(torch.cat([torch.cat([o[0].flatten(), o[1].flatten()])
                                    for o in s["offsets"]]).abs().mean())
        dd, da = mean_shift(s_def), mean_shift(s_alt)
        numbers = {"mean |delta| (1x1 eta)": dd, "mean |delta| (3x3 eta)": da}
        summary = (f"mean |offset| {dd:.3f} cells when eta reads one region, {da:.3f} when it "
                   f"also reads its 8 neighbours (same centre weights)")
    elif option == "refine_mode":
        ratio = [float(G.norm() / A.norm()) for A, G in zip(s_def["A"], s_def["G"])]
        ratio_a = [float(G.norm() / A.norm()) for A, G in zip(s_alt["A"], s_alt["G"])]
        default, alternative, _ = UNIT_OPTIONS["refine_mode"]
        numbers = {f"|refined| / |A| ({default})": ratio,
                   f"|refined| / |A| ({alternative})": ratio_a}
        summary = (f"|refined grid| / |A| per scale: {default} {_fmt(ratio)}, {alternative} "
                   f"{_fmt(ratio_a)} (a fresh eta, m = 0.5 and no shift, would give 1.5 for add "
                   f"and 0.5 for replace exactly)")
    elif option == "relation_norm":
        rs, ra = s_def["R"].sum(-1), s_alt["R"].sum(-1)
        numbers = {"row sums of R (softmax)": (float(rs.min()), float(rs.max())),
                   "row sums of R (dot)": (float(ra.min()), float(ra.max()))}
        summary = (f"row sums of R: softmax in [{float(rs.min()):.3f}, {float(rs.max()):.3f}] "
                   f"(convex weights), dot in [{float(ra.min()):.3f}, {float(ra.max()):.3f}] "
                   f"(signed, unnormalised)")
    elif option == "gcn_scale":
        N = s_def["V"].shape[1]
        factor = float((s_alt["R"] / s_def["R"]).median())
        zr = float(s_def["Z"].norm() / s_def["V"].norm())
        za = float(s_alt["Z"].norm() / s_alt["V"].norm())
        numbers = {"N": N, "R_raw / R_scaled": factor, "|Z|/|V| (1/N)": zr, "|Z|/|V| (raw)": za}
        summary = (f"N = {N}: the raw R is {factor:.1f} times the scaled one; |Z|/|V| = "
                   f"{zr:.3f} with 1/N, {za:.3f} raw")
    elif option == "attention_mode":
        rebuilt = s_def["Lc"] * s_alt["Z"]                             # L_c (x) Z_letter
        numbers = {"max |Z_seq - L_c * Z_letter|": float((rebuilt - s_def["Z"]).abs().max()),
                   "mean L_c": float(s_def["Lc"].mean())}
        gap = numbers["max |Z_seq - L_c * Z_letter|"]
        summary = (f"Z_sequential = L_c * Z_letter to {gap:.1e};"
                   f" mean L_c = {numbers['mean L_c']:.3f}, so the letter reading skips that "
                   f"channel gate")
    elif option == "padding":
        from ..reference import regr_forward
        literal = regr_forward(x, u_def.state_dict(), **u_def.config)
        d_lit = float((literal - s_def["output"]).abs().max())
        diff = (s_alt["added"] - s_def["added"]).norm(dim=1)          # (B, T, H, W)
        H, W = x.shape[-2:]
        edge = torch.zeros(H, W, dtype=torch.bool)
        for sc in scales:
            Gh, Gw = grid_size(H, W, sc)
            if H % sc[0]:
                edge[(Gh - 1) * sc[0]:] = True
            if W % sc[1]:
                edge[:, (Gw - 1) * sc[1]:] = True
        if not edge.any():
            numbers = {"max |pad+mask - unequal regions (literal)|": d_lit}
            summary = (f"every scale {list(scales)} divides the {H}x{W} map: nothing is padded, "
                       f"and the two readings agree (literal reference to {d_lit:.1e})")
        else:
            numbers = {"max |pad+mask - unequal regions (literal)|": d_lit,
                       "mean change in edge regions": float(diff[..., edge].mean()),
                       "mean change elsewhere": float(diff[..., ~edge].mean())}
            summary = (f"pad+mask equals unequal edge regions (the literal reference) to "
                       f"{d_lit:.1e}; without the mask the residual branch moves by "
                       f"{numbers['mean change in edge regions']:.3f} per cell in edge regions and "
                       f"{numbers['mean change elsewhere']:.3f} elsewhere")
    else:  # distribution
        s_raw = unit_steps(u_def, x, xi_reading="raw")
        spread = {}
        for name, s in (("softmax", s_def), ("raw", s_raw), ("uniform", s_alt)):
            spread[name] = _within_region_spread(s["Y"][0], scales[0])  # first scale
        numbers = {f"spread of Y inside a region ({k})": v for k, v in spread.items()}
        numbers["rel. change with raw xi"] = _rel(s_raw["added"], s_def["added"])
        size = float(s_def["Y"][0].abs().mean())
        numbers["mean |Y| (softmax)"] = size
        summary = (f"std of Y across the cells of one {scales[0]} region (mean |Y| = {size:.3f}): "
                   f"softmax xi {spread['softmax']:.3f}, raw xi {spread['raw']:.3f}, uniform xi "
                   f"{spread['uniform']:.1e} (every cell of a region gets the same vector)")

    return {"option": option, "default": default, "alternative": alternative,
            "added_default": s_def["added"], "added_alternative": s_alt["added"],
            "max_abs_diff": float((s_def["added"] - s_alt["added"]).abs().max()),
            "rel_diff": _rel(s_alt["added"], s_def["added"]), "numbers": numbers,
            "summary": summary, "scales": scales, "relation": relation}


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm().clamp_min(1e-300))


def _fmt(values: Sequence[float]) -> str:
    return "[" + ", ".join(f"{v:.3f}" for v in values) + "]"


def _within_region_spread(Y: torch.Tensor, scale: tuple[int, int]) -> float:
    """Mean over regions of the std of ``Y`` (``(B, c_mu, T, H, W)``) across a region's cells."""
    H, W = Y.shape[-2:]
    Hc, Wc = (H // scale[0]) * scale[0], (W // scale[1]) * scale[1]   # whole regions only
    r = split_regions(Y[..., :Hc, :Wc].contiguous(), scale)           # (B, T, Gh, Gw, c_mu, P)
    return float(r.std(dim=-1).mean())


def placement_table(image_size: Sequence[int] = (224, 224),
                    scales: Sequence[tuple[int, int]] = ((4, 4), (7, 7))) -> Table:
    """Where two units could sit in ResNet-50 (the paper says 2 units, not where), and what each
    place means for the unit: channels, map size, number of regions ``N`` and entries of ``R``."""
    from ..models import RESNET50_PLACEMENTS, resnet50_stage_sizes
    from ..models.resnet import RESNET50_BLOCKS
    from ..regr import count_regions

    if (len(image_size) != 2 or not all(isinstance(v, int) and v >= 32 for v in image_size)):
        raise ValueError(f"image_size must be (H, W) of integers of at least 32, "
                         f"got {image_size!r}")
    scales = check_scales("scales", scales)
    sizes = resnet50_stage_sizes(*image_size)
    channels = {"layer1": 256, "layer2": 512, "layer3": 1024, "layer4": 2048}
    names = {"layer2": "res3", "layer3": "res4"}
    rows = []
    options = {"default (res3 + res4)": RESNET50_PLACEMENTS[2],
               "alternative (both in res4)": {"layer3": (2, 4)}}
    for label, placement in options.items():
        for stage, blocks in placement.items():
            H, W = sizes[stage]
            ok = tuple(sc for sc in scales if sc[0] <= H and sc[1] <= W)
            N = count_regions((H, W), ok)
            for b in blocks:
                rows.append([label, f"{names.get(stage, stage)} ({stage}) block {b} of "
                                    f"{RESNET50_BLOCKS[stage]}", channels[stage], f"{H}x{W}", N,
                             N * N])
    return Table(["placement", "after", "C", "map", "N regions", "entries of R"], rows)


# ------------------------------------------------------------------------------------ init
def backbone_unchanged(seed: int = 0, image_size: int = 64) -> dict[str, Any]:
    """A small ResNet with and without a fresh ReGr unit, the same backbone weights: their
    logits (eval mode) and the largest difference, which is exactly zero."""
    from ..models import small_resnet
    _check_seed(seed)
    if not isinstance(image_size, int) or image_size < 32:
        raise ValueError(f"image_size must be an integer of at least 32, got {image_size!r}")
    torch.manual_seed(seed)
    plain = small_resnet(10, input_size=(image_size, image_size)).eval()
    with_unit = small_resnet(10, unit="regr", input_size=(image_size, image_size)).eval()
    missing, unexpected = with_unit.load_state_dict(plain.state_dict(), strict=False)
    assert not unexpected and all(k.startswith("units.") for k in missing)
    x = torch.randn(2, 3, image_size, image_size, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        a, b = plain(x), with_unit(x)
    return {"plain": a, "with_unit": b, "max_abs_diff": float((a - b).abs().max()),
            "unit_positions": with_unit.unit_positions(), "new_parameters": len(missing)}


def gradient_norms(unit: ReGr, x: torch.Tensor, seed: int = 0) -> dict[str, float]:
    """The gradient norm of each parameter of ``unit`` for a random regression loss on ``x``:
    with the last BatchNorm at zero, only that BatchNorm's weight and bias receive a gradient."""
    if not isinstance(unit, ReGr):
        raise TypeError(f"unit must be a regr_edu.ReGr, got {type(unit).__name__}")
    _check_seed(seed)
    unit.zero_grad(set_to_none=True)
    target = torch.randn(x.shape, generator=torch.Generator().manual_seed(seed)).to(x)
    F.mse_loss(unit(x), target).backward()
    out = {name: (0.0 if p.grad is None else float(p.grad.norm()))
           for name, p in unit.named_parameters()}
    unit.zero_grad(set_to_none=True)
    return out


# ------------------------------------------------------------------------------------ figures
def _outline(ax, gy: int, gx: int, scale, color="white", lw=2.0) -> None:
    import matplotlib.patches as patches
    h, w = scale
    ax.add_patch(patches.Rectangle((gx * w - 0.5, gy * h - 0.5), w, h, fill=False,
                                   edgecolor=color, linewidth=lw))


def _region_of(index: int, grids, scales):
    """``(scale number, t, gy, gx)`` of region ``index`` in V's order."""
    start = 0
    for k, (T, Gh, Gw) in enumerate(grids):
        n = T * Gh * Gw
        if index < start + n:
            r = index - start
            return k, r // (Gh * Gw), (r % (Gh * Gw)) // Gw, r % Gw
        start += n
    raise IndexError(index)


def gather_figure(unit: ReGr | None = None, x: torch.Tensor | None = None, region: int = 0):
    r"""Eq. 11–12 drawn as the paper's Fig. 4: the row :math:`\mathbf{r}_i` of ``R`` painted on
    every scale's regions, and :math:`\mathbf{z}_i = \sum_j r_{ij}\mathbf{v}_j` beside the
    region's own :math:`\mathbf{v}_i`. Needs a relation with a matrix (bilinear or GCN).

    Args:
        unit: default :func:`demo_unit` (bilinear, scales (4, 4) and (7, 7)).
        x: default :func:`demo_map` (image).
        region: ``i``, in ``[0, N)`` (regions of the first scale first, row by row).
    """
    import matplotlib.pyplot as plt
    from matplotlib.colors import PowerNorm

    unit = demo_unit() if unit is None else unit
    x = _demo_input(x)
    s = unit_steps(unit, x)
    if "R" not in s:
        raise ValueError(f"gather_figure needs a relation with a matrix R (bilinear or gcn), "
                         f"got relation={unit.relation_name!r}")
    N = s["V"].shape[1]
    if not isinstance(region, int) or isinstance(region, bool) or not 0 <= region < N:
        raise ValueError(f"region must be an integer in [0, {N - 1}] (N = {N} regions), "
                         f"got {region!r}")
    k, t, gy, gx = _region_of(region, s["grids"], s["scales"])
    r = s["R"][0, region]                                            # (N,)
    H, W = s["x"].shape[-2:]
    ns = len(s["scales"])
    fig = plt.figure(figsize=(2.6 * (ns + 1) + 1.2, 6.0), layout="constrained")
    grid_spec = fig.add_gridspec(2, ns + 1, height_ratios=[1.15, 1])
    maps = [fig.add_subplot(grid_spec[0, j]) for j in range(ns + 1)]
    bars = fig.add_subplot(grid_spec[1, :])
    maps[0].imshow(_channel_norm(s["x"][:, :, t:t + 1]).cpu().numpy(), cmap="gray")
    maps[0].set_title(f"input |x|, frame {t}" if s["x"].shape[2] > 1 else "input |x|",
                      fontsize=10)
    _outline(maps[0], gy, gx, s["scales"][k], "red")
    start, vmax = 0, float(r.max())
    for j, (sc, (T, Gh, Gw)) in enumerate(zip(s["scales"], s["grids"])):
        n = T * Gh * Gw
        grid = r[start:start + n].reshape(T, Gh, Gw)[t]              # (Gh, Gw)
        paint = grid.repeat_interleave(sc[0], 0).repeat_interleave(sc[1], 1)[:H, :W]
        im = maps[j + 1].imshow(paint.cpu().numpy(), cmap="magma",    # sqrt: small weights show
                                norm=PowerNorm(0.5, vmin=0.0, vmax=max(vmax, 1e-12)))
        maps[j + 1].set_title(f"$r_{{ij}}$ on the {sc} regions\n(sum {float(grid.sum()):.2f})",
                              fontsize=10)
        if j == k:
            _outline(maps[j + 1], gy, gx, sc, "cyan")
        start += n
    fig.colorbar(im, ax=maps[1:], shrink=0.85, label="$r_{ij}$ (square-root scale)")
    for ax in maps:
        ax.set_xticks([])
        ax.set_yticks([])
    M = s["V"].shape[-1]
    idx = torch.arange(M).numpy()
    bars.bar(idx - 0.2, s["V"][0, region].cpu().numpy(), width=0.4,
             label="$v_i$, the region's own vector")
    bars.bar(idx + 0.2, s["Z"][0, region].cpu().numpy(), width=0.4,
             label="$z_i = \\sum_j r_{ij} v_j$ (Eq. 12)")
    bars.axhline(0, color="black", lw=0.6)
    bars.set_xlabel(f"feature m = 0 ... {M - 1} of the vector")
    bars.legend(fontsize=9, loc="best")
    fig.suptitle(f"Eq. 11-12 for region i = {region}: scale {s['scales'][k]}, "
                 f"row {gy}, column {gx}")
    return fig


def distribution_figure(unit: ReGr | None = None, x: torch.Tensor | None = None,
                        frame: int = 0):
    r"""Eq. 13 and the merge, for one frame: which of the ``c_nu`` local descriptors each cell
    leans on (:math:`\arg\max_n \xi_n(x)`), the distributed :math:`Y` of every scale (its norm over
    the ``c_mu`` channels), their sum, and the residual branch ``BN(W_out sum Y)``."""
    import matplotlib.pyplot as plt

    unit = demo_unit() if unit is None else unit
    x = _demo_input(x)
    s = unit_steps(unit, x)
    T = s["x"].shape[2]
    if not isinstance(frame, int) or isinstance(frame, bool) or not 0 <= frame < T:
        raise ValueError(f"frame must be an integer in [0, {T - 1}], got {frame!r}")
    sl = slice(frame, frame + 1)
    panels = [(_channel_norm(s["x"][:, :, sl]), "input |x|", "gray"),
              (s["xi"][0, :, frame].argmax(0), r"$\arg\max_n\, \xi_n(x)$", "tab10")]
    for sc, Y in zip(s["scales"], s["Y"]):
        panels.append((_channel_norm(Y[:, :, sl]), f"|Y|, scale {sc}", "viridis"))
    if len(s["scales"]) > 1:
        panels.append((_channel_norm(s["Y_sum"][:, :, sl]), "|sum of Y over scales|", "viridis"))
    panels.append((_channel_norm(s["added"][:, :, sl]), "|BN(W_out sum Y)|", "viridis"))
    cols = 3
    rows = -(-len(panels) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(8.4, 2.9 * rows), layout="constrained",
                             squeeze=False)
    for ax in axes.flat[len(panels):]:
        ax.axis("off")
    for ax, (img, title, cmap) in zip(axes.flat, panels):
        kw = {"vmin": -0.5, "vmax": 9.5} if cmap == "tab10" else {}
        im = ax.imshow(img.cpu().numpy(), cmap=cmap, interpolation="nearest", **kw)
        if cmap == "viridis":
            fig.colorbar(im, ax=ax, shrink=0.8)
        ax.set_title(title, fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
    H, W = s["x"].shape[-2:]
    h, w = s["scales"][0]
    for k in range(1, -(-H // h)):                       # the first scale's region borders
        axes.flat[1].axhline(k * h - 0.5, color="white", lw=0.8)
    for k in range(1, -(-W // w)):
        axes.flat[1].axvline(k * w - 0.5, color="white", lw=0.8)
    return fig


def settings_figure(x: torch.Tensor | None = None, *, seed: int = 0,
                    scale_names: Sequence[str] = ("(1, 1)", "(4, 4)", "(7, 7)",
                                                  "(4, 4) + (7, 7)"),
                    relations: Sequence[str] = RELATIONS, refine: bool = True):
    """Small multiples: the residual branch ``BN(W_out sum Y)`` (its norm over channels) for each
    scale preset (rows) and relation (columns), same input, same seed."""
    import matplotlib.pyplot as plt

    x = _demo_input(x)
    for name in scale_names:
        _resolve_scales(name)
    for rel in relations:
        check_choice("relations[...]", rel, RELATIONS)
    fig, axes = plt.subplots(len(scale_names), len(relations),
                             figsize=(2.6 * len(relations) + 0.8, 2.5 * len(scale_names)),
                             squeeze=False)
    for i, name in enumerate(scale_names):
        for j, rel in enumerate(relations):
            size = tuple(x.shape[2:]) if rel == "gcn" else None
            u = demo_unit(x.shape[1], name, rel, refine, size, seed=seed, dtype=x.dtype)
            added = unit_steps(u, x, check=False)["added"]      # checked in the tests
            im = axes[i, j].imshow(_channel_norm(added).cpu().numpy(), cmap="viridis")
            fig.colorbar(im, ax=axes[i, j], fraction=0.046, pad=0.03)
            axes[i, j].set_xticks([])
            axes[i, j].set_yticks([])
            if i == 0:
                axes[i, j].set_title(rel)
            if j == 0:
                axes[i, j].set_ylabel(f"scales {name}")
    fig.suptitle("|BN(W_out sum Y)| per cell: what the unit adds to x", y=1.0)
    fig.tight_layout()
    return fig


def option_effects_figure(options: Sequence[str] = ("nu_softmax", "refine_context",
                                                    "refine_mode", "relation_norm",
                                                    "distribution"), *, seed: int = 0,
                          effects: Sequence[dict] | None = None):
    """Small multiples, one row per open choice: the residual branch (norm over channels) with
    the default reading, with the alternative, and their difference. ``effects`` reuses results
    of :func:`option_effect` (same order as ``options``)."""
    import matplotlib.pyplot as plt

    if effects is None:
        effects = [option_effect(o, seed=seed) for o in options]
    fig, axes = plt.subplots(len(effects), 3, figsize=(8.4, 2.5 * len(effects)), squeeze=False)
    for i, e in enumerate(effects):
        a, b = _channel_norm(e["added_default"]), _channel_norm(e["added_alternative"])
        d = _channel_norm(e["added_alternative"] - e["added_default"])
        hi_a, hi_b = float(a.max()), float(b.max())
        shared = max(hi_a, hi_b) <= 3 * min(hi_a, hi_b)       # one colour scale if comparable
        ka = {"vmin": 0, "vmax": max(hi_a, hi_b) if shared else hi_a}
        kb = {"vmin": 0, "vmax": max(hi_a, hi_b) if shared else hi_b}
        note = "" if shared else " (own colour scale)"
        for j, (img, title, kw) in enumerate((
                (a, f"{e['default']!s}{note}", ka),
                (b, f"{e['alternative']!s}{note}", kb),
                (d, f"difference (rel. {e['rel_diff']:.2f})", {"cmap": "magma"}))):
            im = axes[i, j].imshow(img.cpu().numpy(), **{"cmap": "viridis", **kw})
            fig.colorbar(im, ax=axes[i, j], fraction=0.046, pad=0.03)
            axes[i, j].set_title(title, fontsize=9)
            axes[i, j].set_xticks([])
            axes[i, j].set_yticks([])
        axes[i, 0].set_ylabel(e["option"], fontsize=10)
    fig.suptitle("each open choice: default | alternative | difference (|residual branch|)", y=1.0)
    fig.tight_layout()
    return fig


def unit_effect(scales: object = "(4, 4) + (7, 7)", relation: str = "bilinear",
                refine: bool = True, option: str | None = None, seed: int = 0,
                x: torch.Tensor | None = None) -> dict[str, Any]:
    """What the widget shows: the residual branch of the demo unit with these settings and, when
    ``option`` names an open choice, the same unit with the alternative reading."""
    scales = _resolve_scales(scales)
    check_choice("relation", relation, RELATIONS)
    if not isinstance(refine, bool):
        raise ValueError(f"refine must be True or False, got {refine!r}")
    _check_seed(seed)
    x = _demo_input(x)
    if option is None or option == "none":
        size = tuple(x.shape[2:]) if relation == "gcn" else None
        u = demo_unit(x.shape[1], scales, relation, refine, size, seed=seed, dtype=x.dtype)
        s = unit_steps(u, x)
        return {"option": None, "scales": scales, "relation": relation, "refine": refine,
                "added_default": s["added"], "added_alternative": None, "N": s["V"].shape[1],
                "summary": f"N = {s['V'].shape[1]} regions; |residual branch| / |x| = "
                           f"{float(s['added'].norm() / s['x'].norm()):.3f}"}
    e = option_effect(option, x if option != "padding" else None, scales=scales,
                      relation=relation, refine=refine, seed=seed)
    e["refine"] = refine
    return e


def effect_figure(effect: dict[str, Any]):
    """Draw a result of :func:`unit_effect`: one panel, or default | alternative | difference."""
    import matplotlib.pyplot as plt

    if effect.get("added_alternative") is None:
        fig, ax = plt.subplots(1, 1, figsize=(4.2, 3.6))
        im = ax.imshow(_channel_norm(effect["added_default"]).cpu().numpy(), cmap="viridis")
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.03)
        ax.set_title(f"{effect['relation']}, scales {list(effect['scales'])}, "
                     f"refine={effect['refine']}", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
        fig.tight_layout()
        return fig
    return option_effects_figure(effects=[effect])


# ------------------------------------------------------------------------------------ widgets
def unit_widget(seed: int = 0):
    """Pick scales, relation, refine and (optionally) one open choice to flip; see what the unit
    adds to the demo map. The dropdowns offer exactly the values :func:`unit_effect` accepts;
    ``widget.result`` holds the latest :func:`unit_effect` result."""
    import ipywidgets as widgets
    import matplotlib.pyplot as plt
    from IPython.display import display

    _check_seed(seed)
    scales = widgets.Dropdown(options=list(SCALE_PRESETS), value="(4, 4) + (7, 7)",
                              description="scales")
    relation = widgets.Dropdown(options=list(RELATIONS), value="bilinear",
                                description="relation")
    refine = widgets.Checkbox(value=True, description="refine")
    option = widgets.Dropdown(options=["none"] + applicable_options("bilinear", True),
                              value="none", description="flip")
    text = widgets.HTML()
    out = widgets.Output()
    box = widgets.VBox([widgets.HBox([scales, relation]), widgets.HBox([refine, option]), text,
                        out])
    box.controls = {"scales": scales, "relation": relation, "refine": refine, "option": option}

    def redraw(*_):
        result = unit_effect(scales.value, relation.value, refine.value,
                             None if option.value == "none" else option.value, seed)
        box.result = result
        text.value = f"<code>{result['summary']}</code>"
        out.clear_output(wait=True)
        with out:
            fig = effect_figure(result)
            display(fig)
            box.png = _png(fig)
            plt.close(fig)

    def options_changed(*_):
        allowed = ["none"] + applicable_options(relation.value, refine.value)
        keep = option.value if option.value in allowed else "none"
        with option.hold_trait_notifications():
            option.unobserve(redraw, "value")
            option.options = allowed
            option.value = keep
            option.observe(redraw, "value")
        redraw()

    scales.observe(redraw, "value")
    relation.observe(options_changed, "value")
    refine.observe(options_changed, "value")
    option.observe(redraw, "value")
    redraw()
    return with_static_fallback(box, picture=lambda: box.png)


def gather_widget(unit: ReGr | None = None, x: torch.Tensor | None = None):
    """A slider over the regions ``i`` (bounds ``[0, N-1]``) redrawing :func:`gather_figure`;
    ``widget.result`` holds the latest ``(i, z_i)``."""
    import ipywidgets as widgets
    import matplotlib.pyplot as plt
    from IPython.display import display

    unit = demo_unit() if unit is None else unit
    x = _demo_input(x)
    s = unit_steps(unit, x)
    N = s["V"].shape[1]
    slider = widgets.IntSlider(value=0, min=0, max=N - 1, description="region i")
    out = widgets.Output()
    box = widgets.VBox([slider, out])
    box.controls = {"region": slider}

    def redraw(*_):
        box.result = (slider.value, s["Z"][0, slider.value].clone())
        out.clear_output(wait=True)
        with out:
            fig = gather_figure(unit, x, slider.value)
            display(fig)
            box.png = _png(fig)
            plt.close(fig)

    slider.observe(redraw, "value")
    redraw()
    return with_static_fallback(box, picture=lambda: box.png)
