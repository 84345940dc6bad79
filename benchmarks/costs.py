"""Costs of ReGr and its peers (non-local, CGNL, GloRe), measured in one run on this machine.

Usage::

    python benchmarks/costs.py            # full record, a few minutes on 2 CPU cores
    python benchmarks/costs.py --quick    # the bars only, under a minute

Writes ``benchmarks/results/costs.{csv,md,json}`` and ``costs_units.png``, ``costs_sweep.png``
(``costs_quick.*`` with ``--quick``, so the full record stays), and prints the bars:

- ReGr / NL forward+backward time at res4 of a 448 image (C=1024, 28x28): <= 0.5;
  at res3 (C=512, 56x56): <= 0.15;
- ReGr / GloRe time at both shapes: <= 1.0;
- FLOPs that +1 ReGr adds to ResNet-50 at 448, over what +1 NL adds: <= 1/3;
- what autograd keeps for ReGr's backward pass, over its input's size, at both shapes: <= 2.5
  (every unit's figure is in the tables, column ``saved_per_input``).

All units use the package's defaults; nothing is tuned to pass a bar. How each number is measured
(and what ``torch.utils.flop_counter`` leaves out) is in ``regr_edu/costs.py``'s docstring.
"""
from __future__ import annotations

import argparse
import csv
import datetime
import json
import os
import pathlib
import platform
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from regr_edu import costs  # noqa: E402
from regr_edu.training.checkpoint import write_atomic, write_text_atomic  # noqa: E402


def write_csv(path: pathlib.Path, rows) -> None:
    columns = list(dict.fromkeys(k for r in rows for k in r))

    def write(f):
        w = csv.DictWriter(f, fieldnames=columns)
        w.writeheader()
        w.writerows(rows)
    write_atomic(path, write, binary=False)


def save_figure(path: pathlib.Path, fig) -> None:
    write_atomic(path, lambda f: fig.savefig(f, dpi=110, format="png"))


def machine(device: str = "cpu") -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    out = dict(cpu=cpu, cores=os.cpu_count(), threads=torch.get_num_threads(),
               torch=torch.__version__, python=platform.python_version(), device=device)
    if device.startswith("cuda"):
        out["gpu"] = torch.cuda.get_device_name(device)
    return out


def report(record: costs.Record, meta: dict) -> str:
    """The markdown record: bars, then one table per measurement."""
    t = costs.markdown_table
    parts = [
        "# Costs of ReGr and its peers",
        "",
        f"Made by `{meta['command']}` on {meta['date']} ({meta['seconds']:.0f} s): "
        f"{meta['machine']['cpu']}, {meta['machine']['cores']} cores, "
        f"{meta['machine']['threads']} torch thread(s), torch {meta['machine']['torch']}"
        f"{', on ' + meta['machine']['gpu'] if 'gpu' in meta['machine'] else ''}. "
        "The package's defaults; time = median of "
        f"{meta['repeats']} interleaved forward+backward runs (training mode), batch "
        f"{meta['batch']}; FLOPs = one forward pass of the whole batch, counted by "
        "`torch.utils.flop_counter` (matrix products and convolutions only: softmax, "
        "normalisation, pooling and elementwise ops are not counted; ReGr's refine is one "
        "matrix product since issue 16, and counted; in training mode its tail also counts "
        "the small products that fold the BatchNorm).",
        "",
        "## Bars",
        "",
        t(record.bars, ["bar", "measured", "limit", "passed"]),
        "",
        "## Units at the res3/res4 maps of ResNet-50 (224, 448 images) and C2D (8x224 clips)",
        "",
        t(record.units, ["shape", "unit", "channels", "size", "params", "gflops", "time_ms",
                         "saved_mb", "saved_per_input", "peak_mb"]),
    ]
    if record.variants:
        parts += ["", "## Variants (options of the units above)", "",
                  t(record.variants, ["shape", "unit", "params", "gflops", "time_ms",
                                      "saved_mb", "saved_per_input", "peak_mb"])]
    if record.backbones:
        b = record.backbones[0]
        timing = (f"; time: forward+backward at {b['time_side']}x{b['time_side']}, batch "
                  f"{b['time_batch']}" if "time_side" in b else "")
        parts += ["", f"## ResNet-50 with 0, 1 or 5 units (FLOPs at {b['flop_side']}x"
                      f"{b['flop_side']}, batch 1{timing})", "",
                  t(record.backbones, ["unit", "num_units", "params", "gflops",
                                       "gflops_overhead", "time_ms"])]
    if record.sweep:
        parts += ["", "## Sweep over H x W (square maps, C = "
                      f"{record.sweep[0]['channels']}, batch {record.sweep[0]['batch']})", "",
                  t(record.sweep, ["size", "unit", "gflops", "time_ms", "saved_mb",
                                   "saved_per_input", "peak_mb"])]
    return "\n".join(parts) + "\n"


def plots(out: pathlib.Path, stem: str, units, sweep) -> None:
    """``<stem>_units.png`` (time per map) and ``<stem>_sweep.png`` (costs against H x W)."""
    save_figure(out / f"{stem}_units.png",
                costs.plot_units(units, "time_ms", "forward+backward time (ms)"))
    if sweep:
        save_figure(out / f"{stem}_sweep.png",
                    costs.plot_sweep(sweep, ("gflops", "time_ms", "saved_mb", "peak_mb"),
                                     f"C = {sweep[0]['channels']}, batch {sweep[0]['batch']}"))


SAVED_BARS = {"448 res4": "ReGr saved activations / input, C=1024 28x28",  # issue 16
              "448 res3": "ReGr saved activations / input, C=512 56x56"}
SAVED_LIMIT = 2.5


def add_saved_ratio(rows) -> None:
    """``saved_per_input``: bytes autograd keeps for the backward pass over the input's bytes
    (float32 maps of ``batch x channels x size``)."""
    for r in rows:
        if r.get("saved_mb") is None or "channels" not in r:
            continue
        cells = 1
        for v in str(r["size"]).split("x"):
            cells *= int(v)
        r["saved_per_input"] = r["saved_mb"] * 2 ** 20 / (4 * r["batch"] * r["channels"] * cells)


def saved_bars(unit_rows) -> list[dict]:
    out = []
    for shape, bar in SAVED_BARS.items():
        for r in unit_rows:
            if r["unit"] == "ReGr" and r["shape"] == shape:
                v = r["saved_per_input"]
                out.append(dict(table="bars", bar=bar, measured=v, limit=SAVED_LIMIT,
                                passed=bool(v <= SAVED_LIMIT)))
    return out


def run(quick: bool, batch: int, repeats: int, device: str) -> costs.Record:
    rec = costs.Record()
    shapes = costs.bar_shapes() if quick else costs.paper_shapes()
    print(f"units at {[s.label for s in shapes]} ...", flush=True)
    rec.units = costs.unit_costs(shapes, batch=batch, repeats=repeats, memory=not quick,
                                 device=device)
    if not quick:
        print("variants ...", flush=True)
        rec.variants = costs.unit_costs(costs.bar_shapes(), costs.COST_VARIANTS, batch=batch,
                                        repeats=repeats, memory=True, device=device,
                                        table="variants")
    print("backbones ...", flush=True)
    if quick:
        rec.backbones = costs.backbone_costs(units=(None, "regr", "nl"), num_units=(1,),
                                             time_side=None)
    else:
        rec.backbones = costs.backbone_costs(num_units=(1, 5), time_side=224, batch=1,
                                             repeats=repeats, device=device)
        print("sweep ...", flush=True)
        rec.sweep = costs.hw_sweep((14, 28, 42, 56, 70), channels=512, batch=1,
                                   repeats=repeats, device=device)
    for rows in (rec.units, rec.variants, rec.sweep):
        add_saved_ratio(rows)
    rec.bars = costs.bar_ratios(rec.units, rec.backbones) + saved_bars(rec.units)
    return rec


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="the bars only (under a minute)")
    p.add_argument("--batch", type=int, default=None,
                   help="batch size of the unit measurements (default 2; 1 with --quick)")
    p.add_argument("--repeats", type=int, default=5, help="timed runs per case (median)")
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads (1: steadier on a shared machine)")
    p.add_argument("--device", default="cpu", help="cpu (the bars' machine) or cuda")
    p.add_argument("--out", type=pathlib.Path, default=ROOT / "benchmarks" / "results")
    p.add_argument("--replot", action="store_true",
                   help="redraw the figures from the CSV record without measuring")
    args = p.parse_args(argv)
    stem = "costs_quick" if args.quick else "costs"
    if args.replot:
        rows = costs.read_csv(args.out / f"{stem}.csv")
        plots(args.out, stem, [r for r in rows if r.get("table") == "units"],
              [r for r in rows if r.get("table") == "sweep"])
        print(f"redrew {args.out / stem}_*.png")
        return 0
    if args.repeats < 5:
        p.error("--repeats must be at least 5 (median of >= 5 interleaved runs)")
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    start = time.perf_counter()
    batch = args.batch or (1 if args.quick else 2)
    record = run(args.quick, batch, args.repeats, args.device)
    seconds = time.perf_counter() - start
    command = "python benchmarks/costs.py" + "".join(
        f" {a}" for a in (argv if argv is not None else sys.argv[1:]))
    meta = dict(command=command, date=datetime.date.today().isoformat(), seconds=seconds,
                batch=batch, repeats=args.repeats, machine=machine(args.device),
                quick=args.quick)
    stem += "" if args.device == "cpu" else f"_{args.device.split(':')[0]}"
    write_csv(args.out / f"{stem}.csv", record.rows())
    write_text_atomic(report(record, meta), args.out / f"{stem}.md")
    write_text_atomic(json.dumps(dict(meta=meta, bars=record.bars), indent=2) + "\n",
                      args.out / f"{stem}.json")
    plots(args.out, stem, record.units, record.sweep)
    print()
    print(costs.markdown_table(record.bars, ["bar", "measured", "limit", "passed"]))
    print(f"\n{seconds:.0f} s; wrote {args.out / stem}.*")
    return 0


if __name__ == "__main__":
    sys.exit(main())
