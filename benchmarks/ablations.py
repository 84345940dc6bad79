r"""The paper's ablations (Tables 1-6 and the aggregation study), reproduced small on the CPU.

Usage::

    python benchmarks/ablations.py                      # the sweep: 5 seeds, then 8 where deciding
    python benchmarks/ablations.py --only scales,relation --seeds 0 1 2
    python benchmarks/ablations.py --list               # the settings and what they stand for
    python benchmarks/ablations.py --verdicts           # the claims tested on the record

The settings, the training budget, one run and the claims' tests live in the package
(:mod:`regr_edu.experiments`), so that the ablations chapter reruns a setting with the very same
code; this script runs the sweep and records it. Every run trains ``small_resnet`` (16-32-64) on
the synthetic relational image task under ``experiments.TRAIN`` (8,192 images, 4 epochs, Adam
3e-3, one warm-up epoch, cosine: the budget in which the refine study's default took off in 8 of
8 seeds). Only the model and the seed change between runs.

The default sweep runs seeds 0-4 of every setting, then seeds 5-7 of the settings a claim
compares (``DECIDING``): 8 seeds where a claim is decided. ``--jobs`` processes (default 2) of
one thread each. The results go to ``benchmarks/results/ablations.json`` atomically after every
run, so an interrupted sweep resumes where it stopped: the command, the git commit, the seeds,
the training settings, every setting's options and cost (FLOPs per image, parameters), each
run's per-epoch curve, accuracy and time per step, per setting the mean and the sample standard
deviation, and every claim's verdict. The paper's numbers are stored beside ours, labelled.
Runs set aside with ``--redo`` stay in the file under ``superseded_runs``, with the reason.

The previous record (refine as printed, SGD, 4,096 images x 3 epochs: few runs with refine took
off) is kept as ``benchmarks/results/ablations_replace_sgd.json``.
"""
from __future__ import annotations

import argparse
import datetime
import json
import multiprocessing as mp
import os
import pathlib
import platform
import statistics
import subprocess
import sys
import time
from typing import Any

import torch

ROOT = pathlib.Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from regr_edu import experiments                                # noqa: E402
from regr_edu.device import numerics_fingerprint             # noqa: E402
from regr_edu.training.checkpoint import write_text_atomic      # noqa: E402
from regr_edu.experiments import (SETTINGS, TABLES, TRAIN, WIDTHS,  # noqa: E402
                                  model_cost, train_setting, verdicts)

RESULTS = ROOT / "benchmarks" / "results" / "ablations.json"
# Settings that decide a claim get 8 seeds; the others (references that no claim compares) 5.
DECIDING = sorted({s for c in experiments.CLAIMS.values() for pair in c["comparisons"]
                   for s in pair}, key=list(SETTINGS).index)


def _worker(job):
    name, seed, train = job
    return train_setting(name, seed, train=train, threads=1)


# ------------------------------------------------------------------------------ the sweep
def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per setting: mean and sample std (n - 1) of the test accuracy over its seeds."""
    out = {}
    for name in SETTINGS:
        s = experiments.setting_stats(runs, name)
        if s is None:
            continue
        out[name] = {"label": SETTINGS[name]["label"], "n": s["n"], "seeds": s["seeds"],
                     "mean": s["mean"], "std": s["std"], "min": min(s["values"]),
                     "max": max(s["values"]),
                     "cpu_seconds": statistics.fmean(r["cpu_seconds"] for r in runs
                                                     if r["setting"] == name),
                     "seconds_per_step": s["seconds_per_step"]}
    return out


def report(record: dict[str, Any]) -> str:
    """RESULTS.md's tables: every setting (mean ± std, take-offs, seeds' values, epoch-1 mean,
    cost) and every claim's verdict on the primary and the secondary measure."""
    runs = record["runs"]
    lines = ["| table | setting | n | final top-1 (%) | took off | after epoch 1 (%) | MFLOPs "
             "| ms/step |", "|---|---|---:|---|---:|---:|---:|---:|"]
    for table, t in TABLES.items():
        for name in t["ours"]:
            s = experiments.setting_stats(runs, name)      # the numbers the chapters show
            if s is None:
                continue
            lines.append(
                f"| {table} | {SETTINGS[name]['label']} | {s['n']} | {s['mean']:.1f} ± "
                f"{s['std']:.1f} ({', '.join(f'{v:.1f}' for v in s['values'])}) | "
                f"{s['took_off']}/{s['n']} | {s['epoch1']:.1f} | "
                f"{record['costs'][name]['flops'] / 1e6:.1f} | {1e3 * s['seconds_per_step']:.0f} |")
    lines += ["", "| claim | comparison | means (%) | p (Holm) for | p (Holm) against | verdict "
              "| epoch-1 means | epoch-1 verdict |", "|---|---|---|---:|---:|---|---|---|"]
    primary, secondary = verdicts(runs), verdicts(runs, measure_name="epoch1")
    for key, v in primary.items():
        for i, c in enumerate(v["comparisons"]):
            if c.get("missing"):
                lines.append(f"| {v['claim']} | {c['better']} > {c['worse']} | missing | | | "
                             f"{v['verdict']} | | |")
                continue
            c2 = secondary[key]["comparisons"][i]
            lines.append(
                f"| {v['claim'] if i == 0 else ''} | {SETTINGS[c['better']]['label']} > "
                f"{SETTINGS[c['worse']]['label']} | {c['mean'][0]:.1f} vs {c['mean'][1]:.1f} "
                f"(n={c['n'][0]}, {c['n'][1]}) | {c['p_for_holm']:.3g} | {c['p_against_holm']:.3g}"
                f" | {v['verdict'] if i == 0 else ''} | {c2['mean'][0]:.1f} vs {c2['mean'][1]:.1f}"
                f" | {secondary[key]['verdict'] if i == 0 else ''} |")
    return "\n".join(lines)


def git_commit() -> dict[str, Any]:
    def git(*args):
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout
    return {"commit": git("rev-parse", "HEAD").strip(),
            "dirty_files": [l[3:] for l in git("status", "--porcelain", "--",
                                                "benchmarks/ablations.py", "regr_edu").splitlines()
                            if not l.startswith("??")]}


def _span(sweeps: list[dict[str, Any]]) -> float:
    """Seconds from the first sweep's start to the last one's end (sweeps may overlap)."""
    t = datetime.datetime.fromisoformat
    starts = [t(w["started"]) for w in sweeps if w.get("started")]
    ends = [t(w["finished"]) for w in sweeps if w.get("finished")]
    return (max(ends) - min(starts)).total_seconds() if starts and ends else 0.0


def write_json(obj: dict[str, Any], path: pathlib.Path) -> None:
    """Atomically (the package's one atomic writer)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(json.dumps(obj, indent=1) + "\n", path)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=None,
                    help="seeds of every chosen setting (default: 0-4, then 5-7 of DECIDING)")
    ap.add_argument("--only", default=None,
                    help=f"comma-separated tables ({','.join(TABLES)}) or settings")
    ap.add_argument("--epochs", type=int, default=TRAIN["epochs"])
    ap.add_argument("--train-samples", type=int, default=TRAIN["train_samples"])
    ap.add_argument("--jobs", type=int, default=2, help="parallel processes, one thread each")
    ap.add_argument("--out", type=pathlib.Path, default=RESULTS)
    ap.add_argument("--fresh", action="store_true", help="ignore runs already in --out")
    ap.add_argument("--redo", default=None,
                    help="comma-separated tables or settings whose runs in --out are set aside "
                         "(kept under 'superseded_runs') and run again, e.g. after a fix")
    ap.add_argument("--redo-reason", default="", help="why --redo was needed (recorded)")
    ap.add_argument("--list", action="store_true", help="print the settings and stop")
    ap.add_argument("--verdicts", action="store_true",
                    help="print the claims' verdicts on --out and stop")
    ap.add_argument("--report", action="store_true",
                    help="print RESULTS.md's tables (settings, verdicts) from --out and stop")
    args = ap.parse_args(argv)
    if args.list:
        for name, s in SETTINGS.items():
            print(f"{name:12s} {s['label']}")
        return 0
    if args.report:
        print(report(json.loads(args.out.read_text(encoding="utf-8"))))
        return 0
    if args.verdicts:
        old = json.loads(args.out.read_text(encoding="utf-8"))
        for key, v in verdicts(old["runs"]).items():
            print(f"{v['verdict']:>24}  {v['claim']}")
            for c in v["comparisons"]:
                if not c.get("missing"):
                    print(f"{'':26}{c['better']} {c['mean'][0]:.1f} vs {c['worse']} "
                          f"{c['mean'][1]:.1f} (n={c['n']}), p={c['p_for_holm']:.3g} "
                          f"against {c['p_against_holm']:.3g}")
        return 0

    def pick(text, flag):
        picked: list[str] = []
        for item in text.split(","):
            if item in TABLES:
                picked += TABLES[item]["ours"]
            elif item in SETTINGS:
                picked.append(item)
            else:
                ap.error(f"{flag} must name tables {list(TABLES)} or settings {list(SETTINGS)}, "
                         f"got {item!r}")
        return [n for n in SETTINGS if n in picked]

    names = pick(args.only, "--only") if args.only else list(SETTINGS)
    redo = set(pick(args.redo, "--redo")) if args.redo else set()
    commit = git_commit()

    train = {**TRAIN, "epochs": args.epochs, "train_samples": args.train_samples}
    settings = experiments.settings_json()              # as the JSON file holds them
    previous: list[dict[str, Any]] = []
    superseded: list[dict[str, Any]] = []
    sweeps: list[dict[str, Any]] = []          # every invocation that added runs
    if args.out.exists() and not args.fresh:
        old = json.loads(args.out.read_text(encoding="utf-8"))
        superseded = old.get("superseded_runs", [])
        sweeps = old.get("sweeps") or [{k: old.get(k) for k in (
            "command", "started", "finished", "sweep_wall_seconds")} | {
            "commit": old.get("git", {}).get("commit"), "runs_added": len(old.get("runs", []))}]
        if old.get("train") == train and old.get("widths") == list(WIDTHS):
            for r in old.get("runs", []):
                r.setdefault("commit", old.get("git", {}).get("commit"))
                if old.get("settings", {}).get(r["setting"]) != settings[r["setting"]]:
                    continue
                if r["setting"] in redo:
                    superseded.append({**r, "superseded_because": args.redo_reason})
                else:
                    previous.append(r)
    done = {(r["setting"], r["seed"]) for r in previous}
    # seed-major order: every setting gets its first seed before any gets its second
    if args.seeds is None:
        plan = [(n, s) for s in range(5) for n in names] + [
            (n, s) for s in range(5, 8) for n in names if n in DECIDING]
        args.seeds = list(range(8))
    else:
        plan = [(n, s) for s in args.seeds for n in names]
    jobs = [(n, s, train) for n, s in plan if (n, s) not in done]
    print(f"{len(jobs)} runs to do ({len(done)} already in {args.out}), {args.jobs} processes",
          flush=True)
    started = time.perf_counter()
    record = {
        "what": "ReGr ablations reproduced small: small_resnet on the synthetic relational "
                "image task (regr_edu.data.synthetic.SyntheticImages), test top-1 in %",
        "command": " ".join([os.path.relpath(sys.executable, ROOT)
                             if sys.executable.startswith(str(ROOT)) else "python",
                             *sys.argv]) if argv is None else "main(" + repr(argv) + ")",
        "git": commit, "seeds": args.seeds, "train": train, "widths": list(WIDTHS),
        "device": f"cpu ({platform.processor() or platform.machine()}), {args.jobs} processes "
                  f"x 1 thread, {os.cpu_count()} cores, shared",
        "torch": torch.__version__, "python": platform.python_version(),
        "numerics": numerics_fingerprint(),      # what the chapter's replay compares
        "settings": settings, "tables": TABLES,
        "started": datetime.datetime.now().isoformat(timespec="seconds"),
    }
    runs = list(previous)
    costs = {n: model_cost(n) for n in SETTINGS}
    if jobs:
        experiments._datasets(args.train_samples, TRAIN["test_samples"])  # drawn once, forked

    def save():
        now = datetime.datetime.now().isoformat(timespec="seconds")
        this = {"command": record["command"], "started": record["started"], "finished": now,
                "sweep_wall_seconds": time.perf_counter() - started,
                "commit": commit["commit"], "runs_added": len(runs) - len(previous)}
        every = [*sweeps, this] if this["runs_added"] else sweeps
        record.update(runs=runs, summary=summarise(runs), verdicts=verdicts(runs),
                      costs=costs, superseded_runs=superseded,
                      commits=sorted({r["commit"] for r in runs}), sweeps=every,
                      sweep_wall_seconds=sum(w["sweep_wall_seconds"] or 0 for w in every),
                      span_seconds=_span(every),
                      finished=now)
        write_json(record, args.out)

    ctx = mp.get_context("spawn" if sys.platform == "darwin" else "fork")
    with ctx.Pool(args.jobs) as pool:
        for r in pool.imap_unordered(_worker, jobs):
            r["commit"] = commit["commit"]
            runs.append(r)
            runs.sort(key=lambda r: (list(SETTINGS).index(r["setting"]), r["seed"]))
            save()
            print(f"[{time.perf_counter() - started:6.0f} s] {r['setting']:11s} seed {r['seed']}"
                  f"  test {r['test_acc1']:5.1f}%  train {r['train_acc1']:5.1f}%"
                  f"  {r['cpu_seconds']:.0f} cpu-s", flush=True)
    save()
    for name, s in record["summary"].items():
        print(f"{name:12s} {s['mean']:6.2f} ± {s['std']:5.2f}  (n={s['n']})  {s['label']}")
    print(f"sweep: {time.perf_counter() - started:.0f} s wall -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
