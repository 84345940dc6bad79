"""Cost of one ReGr unit beside a ResNet bottleneck block and its peers at the same shape
(issue 16: a unit that costs what its FLOPs say).

Usage:  python benchmarks/units.py [--repeats 9] [--threads 1] [--device cpu|cuda]
                                   [--no-compile] [--profile] [--out FILE.json]

For each shape it prints FLOPs (``torch.utils.flop_counter``, which counts a multiply-add as 2
and does not count softmax, element-wise ops or the BatchNorm) and the median forward+backward
time (training mode; the gradient from above is made once, outside the timings) over
interleaved repeats of: the unit, a torchvision ``Bottleneck``, GloRe and the non-local block
(its default, the official pooled form); then the unit under ``torch.compile`` against eager,
interleaved as a pair (``--no-compile`` leaves it out). Ratios are measured in one run, so they
hold on a noisy shared machine better than absolute times do. ``--profile`` adds the unit's top
operators (``torch.profiler``, self time) at each shape.

Bars (issue 16): unit / bottleneck <= 0.40 at C=1024 28x28 and <= 0.45 at C=512 56x56;
ReGr / GloRe <= 0.5 at both; ReGr / non-local <= 0.35 at 28x28.
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import statistics
import sys
import time

import torch
from torchvision.models.resnet import Bottleneck

ROOT = pathlib.Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import regr_edu as rg  # noqa: E402
from regr_edu.costs import count_flops, forward_backward, time_interleaved  # noqa: E402

SHAPES = [  # (name, B, C, H, W)
    ("res4 of 448 (C=1024, 28x28)", 2, 1024, 28, 28),
    ("res3 of 448 (C=512, 56x56)", 2, 512, 56, 56),
]
BARS = {  # (numerator, denominator, shape index) -> limit
    ("unit", "bottleneck", 0): 0.40,
    ("unit", "bottleneck", 1): 0.45,
    ("unit", "GloRe", 0): 0.5,
    ("unit", "GloRe", 1): 0.5,
    ("unit", "NL", 0): 0.35,
}


def _trained(module: torch.nn.Module) -> torch.nn.Module:
    """Last BatchNorm weight one: a trained block, not the identity shortcut."""
    for m in module.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            torch.nn.init.ones_(m.weight)
    return module


def profile_top(module: torch.nn.Module, x: torch.Tensor, rows: int = 8,
                grad: torch.Tensor | None = None) -> list[dict]:
    """The operators with the most self time in three forward+backward passes."""
    from torch.profiler import ProfilerActivity, profile
    for _ in range(2):
        forward_backward(module, x, grad)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(3):
            forward_backward(module, x, grad)
    events = [e for e in prof.key_averages() if not e.key.startswith(("autograd::", "_"))]
    total = sum(e.self_cpu_time_total for e in events)
    events.sort(key=lambda e: -e.self_cpu_time_total)
    return [dict(op=e.key, share=e.self_cpu_time_total / total, calls=e.count // 3)
            for e in events[:rows]]


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=9, help="interleaved repeats (median is kept)")
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    ap.add_argument("--device", default=rg.device())
    ap.add_argument("--no-compile", action="store_true", help="leave out the compiled unit")
    ap.add_argument("--profile", action="store_true", help="print the unit's top operators")
    ap.add_argument("--out", default=None, help="write the figures to this JSON file")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    dev = torch.device(args.device)
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else platform.processor() or "cpu"
    load = f", load {os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else ""
    print(f"device: {dev} ({name}), torch {torch.__version__}, threads {torch.get_num_threads()}"
          f"{load}, repeats {args.repeats} (median of interleaved fwd+bwd runs)", flush=True)
    result: dict = {"device": f"{dev} ({name})", "torch": torch.__version__,
                    "threads": torch.get_num_threads(), "repeats": args.repeats, "shapes": []}
    for i, (label, B, C, H, W) in enumerate(SHAPES):
        torch.manual_seed(0)
        mods = {"unit": _trained(rg.ReGr(C)), "bottleneck": Bottleneck(C, C // 4),
                "GloRe": _trained(rg.GloRe(C)), "NL": _trained(rg.NonLocal(C))}
        mods = {k: m.to(dev).train() for k, m in mods.items()}
        x = torch.randn(B, C, H, W, device=dev, requires_grad=True)
        g = torch.ones_like(x)      # the gradient from above, made once (not the blocks' work)
        cases = {k: (lambda m=m: forward_backward(m, x, g)) for k, m in mods.items()}
        flops = {k: count_flops(m, x)[0] for k, m in mods.items()}
        times = time_interleaved(cases, repeats=args.repeats, warmup=2)
        ms = {k: 1e3 * statistics.median(v) for k, v in times.items()}
        compile_s = None
        if not args.no_compile:     # its own interleaved pair: eager and compiled unit
            compiled = torch.compile(mods["unit"])
            start = time.perf_counter()
            forward_backward(compiled, x)                      # compiles forward and backward
            compile_s = time.perf_counter() - start
            pair = time_interleaved({"eager": cases["unit"],
                                     "compiled": lambda: forward_backward(compiled, x, g)},
                                    repeats=args.repeats, warmup=1)
            ms["unit compiled"] = 1e3 * statistics.median(pair["compiled"])
            ms["unit (pair)"] = 1e3 * statistics.median(pair["eager"])
        row = dict(shape=label, batch=B, channels=C, size=[H, W], ms=ms,
                   gflops={k: v / 1e9 for k, v in flops.items()}, compile_s=compile_s,
                   ratios={f"unit/{k}": ms["unit"] / ms[k] for k in ms
                           if k not in ("unit", "unit (pair)")})
        print(f"\n{label}, batch {B}")
        print(f"{'':16s} {'GFLOP':>8s} {'ms':>8s} {'unit / it':>10s}")
        for k, t in ms.items():
            if k == "unit (pair)":
                continue
            f = flops.get(k, flops["unit"])
            print(f"{k:16s} {f / 1e9:8.3f} {t:8.1f} {ms['unit'] / t:10.3f}")
        if compile_s is not None:
            row["compile_speedup"] = ms["unit (pair)"] / ms["unit compiled"]
            print(f"torch.compile: first call {compile_s:.0f} s; speed-up over eager "
                  f"{row['compile_speedup']:.2f}x (eager {ms['unit (pair)']:.1f} ms, compiled "
                  f"{ms['unit compiled']:.1f} ms, interleaved)")
        if args.profile:
            row["profile"] = profile_top(mods["unit"], x, grad=g)
            print("unit's top operators (self time, fwd+bwd): " + ", ".join(
                f"{p['op']} {100 * p['share']:.0f}% ({p['calls']})" for p in row["profile"]))
        result["shapes"].append(row)
    print("\nbars (one run):")
    result["bars"] = []
    for (num, den, i), limit in BARS.items():
        r = result["shapes"][i]["ms"][num] / result["shapes"][i]["ms"][den]
        ok = r <= limit
        result["bars"].append(dict(bar=f"{num} / {den}, {SHAPES[i][0]}", measured=r,
                                   limit=limit, passed=ok))
        print(f"  {num} / {den:10s} {SHAPES[i][0]:30s} {r:6.3f}  (<= {limit})  "
              f"{'ok' if ok else 'MISSED'}")
    if args.out:
        from regr_edu.training.checkpoint import write_text_atomic
        write_text_atomic(json.dumps(result, indent=1) + "\n", pathlib.Path(args.out))
    return result


if __name__ == "__main__":
    main()
