r"""What a unit costs: parameters, FLOPs, forward+backward time and memory, measured in one run.

Used by ``benchmarks/costs.py`` (which writes the record under ``benchmarks/results/``) and by the
book's chapter "Regions or pixels: peers and costs" (which runs a small version live).

What is measured, and how:

- **parameters**: ``sum(p.numel())``.
- **FLOPs**: :class:`torch.utils.flop_counter.FlopCounterMode` over one forward pass; it counts a
  multiply-add as 2 and counts only matrix products and convolutions (``mm``, ``bmm``, ``addmm``,
  ``baddbmm``, ``convolution``, attention kernels). It does **not** count softmax, normalisation,
  pooling, activations, elementwise products and sums, or indexing: CGNL's per-group scaling and
  every BatchNorm are absent from the count. ReGr's refine is counted, since its fast path moves
  the regions with one batched matrix product (``refine.shift_matrix``); the literal 3x3 sum it
  stands for costs far less (about 0.09 GFLOP of the count at C=512, 56x56 is that dense matrix).
- **time**: forward plus backward (with respect to the input and every parameter) in training
  mode, median of ``repeats`` runs after one warm-up; the candidates are run in turn inside each
  repeat ("interleaved"), so a slow moment of a shared machine hits all of them alike.
- **memory**: ``saved`` is what autograd keeps for the backward pass (distinct storages, the
  input and the parameters excluded) — the memory a unit adds to training, exact and
  deterministic; ``peak`` is the CPU allocator's high-water mark above the starting point during
  forward+backward, read from :mod:`torch.profiler` memory events.
"""
from __future__ import annotations

import contextlib
import os
import statistics
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Sequence

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from ._checks import check_choice, check_positive_int
from .models._units import stage_unit_options
from .units import create_unit

# label -> (registry name, options): the units compared (package defaults). "NL" is the block as
# the official video-nonlocal-net code builds it (input max-pooled by 2 before phi and g, scaled);
# "NL unpooled" is every position without scaling, the non-local paper's equations as printed (and
# this package's NonLocal default before issue 12): both are shown, the bars are against "NL".
COST_UNITS: dict[str, tuple[str, dict[str, Any]]] = {
    "ReGr": ("regr", {}),
    "NL": ("nl", {}),
    "NL unpooled": ("nl", {"sub_sample": False, "scale": False}),
    "CGNL": ("cgnl", {}),
    "GloRe": ("glore", {}),
}
# reported beside: options of the units above
COST_VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    "ReGr-GCN": ("regr", {"relation": "gcn"}),
    "ReGr-Att": ("regr", {"relation": "attention"}),
    "ReGr w/o refine": ("regr", {"refine": False}),
    "NL unscaled": ("nl", {"scale": False}),
}
BARS = {  # the bars on this machine, with the package's defaults
    "ReGr/NL time, C=1024 28x28": 0.5,
    "ReGr/NL time, C=512 56x56": 0.15,
    "ReGr/GloRe time, C=1024 28x28": 1.0,
    "ReGr/GloRe time, C=512 56x56": 1.0,
    "FLOP overhead +1 ReGr / +1 NL, ResNet-50 at 448": 1 / 3,
    # the same bars against the unpooled, unscaled block (every position), shown beside
    "ReGr/NL unpooled time, C=1024 28x28": 0.5,
    "ReGr/NL unpooled time, C=512 56x56": 0.15,
    "ReGr/NL unpooled FLOPs, C=1024 28x28 (unit alone)": 1 / 3,
}


METRIC_LABELS = {"gflops": "GFLOPs (forward)", "time_ms": "fwd+bwd time (ms)",
                 "saved_mb": "saved for backward (MB)", "peak_mb": "peak memory (MB)"}


@dataclass(frozen=True)
class Shape:
    """A unit's input map: ``C`` channels on ``size`` = ``(H, W)`` or ``(T, H, W)``."""

    label: str
    channels: int
    size: tuple[int, ...]

    @property
    def hw(self) -> str:
        return "x".join(str(s) for s in self.size)


def paper_shapes() -> list[Shape]:
    """res3 and res4 maps of ResNet-50 at 224 and 448 images and of C2D at 8x224 clips, worked
    out by the backbones' own size functions."""
    from .models import resnet50_stage_sizes, video_stage_sizes
    out = []
    for side in (224, 448):
        sizes = resnet50_stage_sizes(side, side)
        out += [Shape(f"{side} res3", 512, sizes["layer2"]),
                Shape(f"{side} res4", 1024, sizes["layer3"])]
    sizes = video_stage_sizes(8, 224, 224)
    out += [Shape("8x224 res3", 512, sizes["layer2"]), Shape("8x224 res4", 1024, sizes["layer3"])]
    return out


def build_unit(name: str, channels: int, size: Sequence[int], device: str = "cpu",
               **options: Any) -> nn.Module:
    """A unit for a ``channels x size`` map, told its size and scales as a backbone would."""
    opts = stage_unit_options(name, options, tuple(size))
    return create_unit(name, channels, **opts).to(device).train()


def make_input(batch: int, channels: int, size: Sequence[int], requires_grad: bool = True,
               seed: int = 0, device: str = "cpu") -> torch.Tensor:
    """A random ``(B, C, *size)`` map."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, channels, *size, generator=g).to(device)
    return x.requires_grad_(requires_grad)


def count_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def count_flops(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
    """FLOPs of one call ``fn(*args, **kwargs)`` under ``torch.no_grad`` (multiply-add = 2) and
    their split by operator: ``count_flops(module, x)`` for a unit's forward pass, or any function
    of tensors (``count_flops(torch.softmax, a, -1)`` counts 0). The package's one FLOP counter."""
    args = tuple(a.detach() if isinstance(a, torch.Tensor) else a for a in args)
    with torch.no_grad():
        return _counted(fn, *args, **kwargs)


def _counted(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
    """``fn(*args, **kwargs)`` under :class:`FlopCounterMode`: total FLOPs and FLOPs by operator."""
    with FlopCounterMode(display=False) as counter:
        fn(*args, **kwargs)
    by_op = {str(k).replace("aten.", ""): int(v)
             for k, v in counter.get_flop_counts().get("Global", {}).items()}
    return int(counter.get_total_flops()), by_op


def forward_stats(module: nn.Module, x: torch.Tensor) -> tuple[int, dict[str, int], int]:
    """One forward pass, counted: FLOPs, FLOPs by operator, and bytes saved for backward (see
    :func:`saved_bytes`; 0 under ``torch.no_grad``)."""
    skip = {p.untyped_storage().data_ptr() for p in module.parameters()}
    skip.add(x.untyped_storage().data_ptr())
    seen: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        st = t.untyped_storage()
        if st.data_ptr() not in skip:
            seen[st.data_ptr()] = st.nbytes()
        return t

    flops, by_op = _counted(module, x)
    # the bytes from a forward of its own: the FLOP counter watches every module with global
    # hooks, and a watched ReGr leaves its fused tail to call its BatchNorm as a module (which
    # keeps its C-channel input), so under the counter the saved bytes are not training's
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        module(x)
    return flops, by_op, sum(seen.values())


def forward_backward(module: nn.Module, x: torch.Tensor,
                     grad: torch.Tensor | None = None) -> None:
    """One training step's worth of work for a unit: forward, then backward to input and weights.

    ``grad``: the gradient that arrives from the layers above (default: ones shaped like the
    output, made here). Timings pass one made beforehand: in training a layer receives its
    gradient, and filling an output-sized tensor (7 % of the unit's time at C=512, 56x56 on one
    CPU thread) is not the layer's work."""
    module.zero_grad(set_to_none=True)
    x.grad = None
    y = module(x)
    y.backward(torch.ones_like(y) if grad is None else grad)
    if x.is_cuda:
        torch.cuda.synchronize(x.device)


def time_interleaved(cases: Mapping[str, Callable[[], Any]], repeats: int = 5,
                     warmup: int = 1) -> dict[str, list[float]]:
    """Seconds per call of each case: ``warmup`` untimed rounds, then ``repeats`` rounds that
    run every case once, in turn."""
    check_positive_int("repeats", repeats)
    for _ in range(warmup):
        for fn in cases.values():
            fn()
    times: dict[str, list[float]] = {k: [] for k in cases}
    for _ in range(repeats):
        for k, fn in cases.items():
            start = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - start)
    return times


def saved_bytes(module: nn.Module, x: torch.Tensor) -> int:
    """Bytes autograd keeps for the backward pass of ``module(x)`` (distinct storages; the input
    and the parameters, which exist anyway, are excluded)."""
    return forward_stats(module, x)[2]


@contextlib.contextmanager
def _quiet_stderr():
    """Silence C++ log lines the profiler writes to file descriptor 2 (they are not ours)."""
    try:
        fd = os.dup(2)
    except OSError:                                   # no real stderr: nothing to silence
        yield
        return
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(fd, 2)
        os.close(fd)


def peak_bytes(module: nn.Module, x: torch.Tensor) -> int:
    """High-water mark of allocations (above the start) during forward+backward: the CPU
    allocator's, read from profiler memory events, or CUDA's ``max_memory_allocated``."""
    if x.is_cuda:
        torch.cuda.synchronize(x.device)
        torch.cuda.reset_peak_memory_stats(x.device)
        base = torch.cuda.memory_allocated(x.device)
        forward_backward(module, x)
        return torch.cuda.max_memory_allocated(x.device) - base
    from torch.profiler import ProfilerActivity, profile
    with _quiet_stderr(), profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        forward_backward(module, x)
    events = [e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"]
    events.sort(key=lambda e: e.start_ns())
    current = peak = 0
    for e in events:
        current += e.nbytes()
        peak = max(peak, current)
    return peak


def _threads() -> int:
    return torch.get_num_threads()


def unit_costs(shapes: Iterable[Shape], units: Mapping[str, tuple[str, dict]] = COST_UNITS,
               batch: int = 2, repeats: int = 5, memory: bool = True,
               device: str = "cpu", table: str = "units") -> list[dict[str, Any]]:
    """One row per (shape, unit): params, forward FLOPs (per batch), median forward+backward time,
    memory saved for backward and (if ``memory``) peak memory. Within a shape the units are timed
    interleaved."""
    rows = []
    for shape in shapes:
        x = make_input(batch, shape.channels, shape.size, device=device)
        mods = {label: build_unit(name, shape.channels, shape.size, device, **opts)
                for label, (name, opts) in units.items()}
        g = torch.ones_like(x)          # the gradient from above (every unit keeps x's shape)
        times = time_interleaved({k: (lambda m=m: forward_backward(m, x, g))
                                  for k, m in mods.items()}, repeats=repeats)
        for label, m in mods.items():
            flops, by_op, saved = forward_stats(m, x)
            row = dict(table=table, shape=shape.label, unit=label, channels=shape.channels,
                       size=shape.hw, batch=batch, params=count_params(m), gflops=flops / 1e9,
                       time_ms=1e3 * statistics.median(times[label]),
                       time_ms_min=1e3 * min(times[label]), repeats=repeats, threads=_threads(),
                       device=str(x.device),
                       saved_mb=saved / 2 ** 20,
                       flops_by_op=";".join(f"{k}={v}" for k, v in sorted(by_op.items())))
            if memory:
                row["peak_mb"] = peak_bytes(m, x) / 2 ** 20
            rows.append(row)
    return rows


def hw_sweep(sides: Sequence[int], channels: int = 512,
             units: Mapping[str, tuple[str, dict]] = COST_UNITS, batch: int = 1,
             repeats: int = 5, device: str = "cpu") -> list[dict[str, Any]]:
    """How each unit's cost grows with the map: square ``H = W`` maps of ``channels``."""
    shapes = [Shape(f"{s}x{s}", channels, (s, s)) for s in sides]
    rows = unit_costs(shapes, units, batch=batch, repeats=repeats, memory=True, device=device,
                      table="sweep")
    for r, s in zip(rows, [s for s in sides for _ in units]):
        r.update(side=s, positions=s * s)
    return rows


def backbone_costs(units: Sequence[str | None] = (None, "regr", "nl", "cgnl", "glore"),
                   num_units: Sequence[int] = (1, 5), flop_side: int = 448,
                   time_side: int | None = 224, batch: int = 1, repeats: int = 5,
                   device: str = "cpu") -> list[dict[str, Any]]:
    """ResNet-50 with 0, 1 or 5 units of each kind: params, forward FLOPs at ``flop_side``, and
    (if ``time_side``) median forward+backward time at ``time_side``, interleaved."""
    from .models import resnet50
    label_of: dict[str, str] = {}                                         # "nl" -> "NL"
    for label, (name, opts) in COST_UNITS.items():
        label_of.setdefault(name, label)                  # a name's first label: its defaults
    configs: dict[str, tuple[str | None, int]] = {}
    for u in units:
        for n in ((0,) if u is None else num_units):
            configs["ResNet-50" if u is None else f"+{n} {label_of[u]}"] = (u, n)
    rows = []
    flop_x = make_input(1, 3, (flop_side, flop_side), requires_grad=False)
    models = {}
    for label, (u, n) in configs.items():
        m = resnet50(1000, unit=u, num_units=max(n, 1), input_size=(flop_side, flop_side))
        flops, _ = count_flops(m.eval(), flop_x)
        rows.append(dict(table="backbones", unit=label, num_units=n, params=count_params(m),
                         gflops=flops / 1e9, flop_side=flop_side, batch=1, threads=_threads()))
        if time_side is not None:
            models[label] = resnet50(1000, unit=u, num_units=max(n, 1),
                                     input_size=(time_side, time_side)).to(device).train()
    if time_side is not None:
        x = make_input(batch, 3, (time_side, time_side), device=device)
        times = time_interleaved({k: (lambda m=m: forward_backward(m, x))
                                  for k, m in models.items()}, repeats=repeats)
        for r in rows:
            r.update(time_side=time_side, time_batch=batch, repeats=repeats,
                     time_ms=1e3 * statistics.median(times[r["unit"]]))
    base = next(r["gflops"] for r in rows if r["num_units"] == 0)
    for r in rows:
        r["gflops_overhead"] = r["gflops"] - base
    return rows


def pick(rows: Sequence[Mapping[str, Any]], unit: str, shape: str, key: str) -> Any:
    """One measurement: ``key`` of ``unit`` at ``shape`` (``KeyError`` naming them if absent)."""
    for r in rows:
        if r.get("unit") == unit and r.get("shape") == shape:
            return r[key]
    raise KeyError(f"no row for unit {unit!r} at shape {shape!r}")


def ratio(rows: Sequence[Mapping[str, Any]], shape: str, key: str, other: str,
          unit: str = "ReGr") -> float:
    """``key`` of ``unit`` over ``key`` of ``other`` at ``shape`` (ReGr's cost relative to a peer)."""
    return pick(rows, unit, shape, key) / pick(rows, other, shape, key)


def flops_split(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Each row's forward GFLOPs by operator (``convolution``, ``addmm``, ``bmm`` ...), read back
    from its ``flops_by_op`` column, with its ``shape`` and ``unit``."""
    out = []
    for r in rows:
        by_op = dict(kv.split("=") for kv in str(r["flops_by_op"]).split(";") if kv)
        out.append(dict(shape=r["shape"], unit=r["unit"],
                        **{op: int(n) / 1e9 for op, n in by_op.items()}))
    return out


def bar_ratios(unit_rows: Sequence[Mapping[str, Any]],
               backbone_rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The issue's bars from measured rows (time at the 448 res4 and res3 shapes; FLOP overhead
    of one unit on ResNet-50 at 448)."""
    def t(unit, shape):
        return pick(unit_rows, unit, shape, "time_ms")

    def flops(unit, shape):
        return pick(unit_rows, unit, shape, "gflops")

    def overhead(unit):
        return next(r["gflops_overhead"] for r in backbone_rows if r["unit"] == unit)

    measured = {
        "ReGr/NL time, C=1024 28x28": t("ReGr", "448 res4") / t("NL", "448 res4"),
        "ReGr/NL time, C=512 56x56": t("ReGr", "448 res3") / t("NL", "448 res3"),
        "ReGr/GloRe time, C=1024 28x28": t("ReGr", "448 res4") / t("GloRe", "448 res4"),
        "ReGr/GloRe time, C=512 56x56": t("ReGr", "448 res3") / t("GloRe", "448 res3"),
        "FLOP overhead +1 ReGr / +1 NL, ResNet-50 at 448": overhead("+1 ReGr") / overhead("+1 NL"),
        "ReGr/NL unpooled time, C=1024 28x28": t("ReGr", "448 res4") / t("NL unpooled", "448 res4"),
        "ReGr/NL unpooled time, C=512 56x56": t("ReGr", "448 res3") / t("NL unpooled", "448 res3"),
        "ReGr/NL unpooled FLOPs, C=1024 28x28 (unit alone)":
            flops("ReGr", "448 res4") / flops("NL unpooled", "448 res4"),
    }
    return [dict(table="bars", bar=k, measured=v, limit=BARS[k], passed=bool(v <= BARS[k]))
            for k, v in measured.items()]


def bar_shapes() -> list[Shape]:
    """The two shapes the time bars are set at: res4 and res3 of a 448 image."""
    return [s for s in paper_shapes() if s.label in ("448 res4", "448 res3")]


def explore(unit: str, channels: int = 512, side: int = 28, frames: int = 1, batch: int = 1,
            repeats: int = 3, **options: Any) -> dict[str, Any]:
    """Costs of one unit on one map (the chapter's widget calls this): ``unit`` is a label of
    :data:`COST_UNITS` or :data:`COST_VARIANTS`."""
    table = {**COST_UNITS, **COST_VARIANTS}
    check_choice("unit", unit, list(table))
    size = (side, side) if frames == 1 else (frames, side, side)
    name, opts = table[unit]
    row = unit_costs([Shape("custom", channels, size)], {unit: (name, {**opts, **options})},
                     batch=batch, repeats=repeats, memory=False)[0]
    return {k: row[k] for k in ("unit", "channels", "size", "batch", "params", "gflops",
                                "time_ms")}


def markdown_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str],
                   floatfmt: str = ".3g") -> str:
    """Rows as a markdown table (no dependency on pandas or tabulate)."""
    def fmt(v):
        if isinstance(v, bool):
            return "yes" if v else "**no**"
        if isinstance(v, float):
            return format(v, floatfmt)
        return str(v)
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(fmt(r.get(c, "")) for c in columns) + " |" for r in rows]
    return "\n".join(lines)


def read_csv(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Rows written by ``benchmarks/costs.py``, with numbers parsed back."""
    import csv

    def parse(v: str):
        for cast in (int, float):
            try:
                return cast(v)
            except ValueError:
                pass
        return {"True": True, "False": False}.get(v, v)
    with open(path, newline="", encoding="utf-8") as f:
        return [{k: parse(v) for k, v in r.items() if v != ""} for r in csv.DictReader(f)]


def plot_sweep(rows: Sequence[Mapping[str, Any]], metrics: Sequence[str] = ("gflops", "time_ms",
               "saved_mb"), title: str = ""):
    """Small multiples: one panel per metric, cost against the number of positions, log-log.
    A ``matplotlib.figure.Figure`` (no ``pyplot`` state)."""
    from matplotlib.ticker import NullLocator

    from .interactive._display import new_figure
    ncols = min(2, len(metrics))
    nrows = -(-len(metrics) // ncols)
    fig, axes = new_figure(nrows, ncols, figsize=(4.4 * ncols, 3.3 * nrows), squeeze=False,
                           layout="constrained")
    for ax in axes.flat[len(metrics):]:
        ax.set_visible(False)
    units = list(dict.fromkeys(r["unit"] for r in rows))
    for ax, metric in zip(axes.flat, metrics):
        for u in units:
            pts = sorted((r["positions"], r[metric]) for r in rows
                         if r["unit"] == u and metric in r)
            if pts:
                ax.plot(*zip(*pts), marker="o", label=u)
        ax.set(xscale="log", yscale="log", xlabel="map H x W (log of positions)",
               title=METRIC_LABELS.get(metric, metric))
        ticks = sorted({(r["positions"], r["size"]) for r in rows})
        ax.set_xticks([p for p, _ in ticks], [s for _, s in ticks], fontsize=7)
        ax.xaxis.set_minor_locator(NullLocator())
        ax.grid(True, which="both", alpha=0.3)
    axes[0][0].legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return fig


def plot_units(rows: Sequence[Mapping[str, Any]], metric: str = "time_ms", title: str = ""):
    """Small multiples: one bar panel per shape, one bar per unit. A
    ``matplotlib.figure.Figure`` (no ``pyplot`` state)."""
    from .interactive._display import new_figure
    shapes = list(dict.fromkeys(r["shape"] for r in rows))
    ncols = min(3, len(shapes))
    nrows = -(-len(shapes) // ncols)
    fig, axes = new_figure(nrows, ncols, figsize=(3.0 * ncols, 2.9 * nrows), squeeze=False,
                           layout="constrained")
    for ax in axes.flat[len(shapes):]:
        ax.set_visible(False)
    for ax, s in zip(axes.flat, shapes):
        sub = [r for r in rows if r["shape"] == s and metric in r]
        ax.bar([r["unit"] for r in sub], [r[metric] for r in sub],
               color=[f"C{i}" for i in range(len(sub))])
        ax.set_title(s, fontsize=10)
        ax.tick_params(axis="x", labelsize=9, labelrotation=35)   # long names do not overlap
        for label in ax.get_xticklabels():
            label.set_horizontalalignment("right")
    for row in axes:
        row[0].set_ylabel(METRIC_LABELS.get(metric, metric))
    if title:
        fig.suptitle(title)
    return fig


@dataclass
class Record:
    """Everything one benchmark run measured."""

    units: list[dict[str, Any]] = field(default_factory=list)
    variants: list[dict[str, Any]] = field(default_factory=list)
    backbones: list[dict[str, Any]] = field(default_factory=list)
    sweep: list[dict[str, Any]] = field(default_factory=list)
    bars: list[dict[str, Any]] = field(default_factory=list)

    def rows(self) -> list[dict[str, Any]]:
        return [*self.units, *self.variants, *self.backbones, *self.sweep, *self.bars]
