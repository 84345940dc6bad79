r"""Regions that matter: baseline vs +ReGr vs +non-local vs +GloRe on the synthetic relational task.

Usage::

    python benchmarks/synthetic.py                       # 5 arms x 5 seeds, ~20 min on 2 cores
    python benchmarks/synthetic.py --seeds 0 1 --arms none nl --jobs 1

Every run is ``python -m regr_edu.train`` (``small_resnet`` with widths 16-32-64 on
:class:`regr_edu.data.synthetic.SyntheticImages`; the budget of :data:`regr_edu.experiments.TRAIN`,
in which the refine study's default took off in 8 of 8 seeds: 8,192 training images, 4 epochs,
Adam lr 3e-3, one warm-up epoch, cosine) with ``--unit`` set by the arm and
``--seed`` and ``--data-seed`` both set to the seed, so a seed changes the initialisation, the
batch order and the data. Each run uses one CPU thread; ``--jobs`` runs go side by side.

The design and the planned comparison are written in ``book/regions_matter.md`` (before the
first measurement). Output: ``benchmarks/results/synthetic.json`` (written atomically after
every run; a run whose ``summary.json`` is already in ``runs/benchmarks/synthetic/`` with the
same configuration is not repeated, and is marked ``reused``, with the time it started): the
command, the git commit, the seeds, the shared
settings, each arm's options, each run's history and final test top-1, and per arm the mean and
the sample standard deviation (n - 1) over the seeds.
"""
from __future__ import annotations

import argparse
import concurrent.futures
import datetime
import json
import os
import pathlib
import platform
import statistics
import subprocess
import sys
import time
from typing import Any

ROOT = pathlib.Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
from regr_edu.device import numerics_fingerprint             # noqa: E402
from regr_edu.training.checkpoint import write_text_atomic      # noqa: E402  the one writer
RESULTS = ROOT / "benchmarks" / "results" / "synthetic.json"
RUNS = ROOT / "runs" / "benchmarks" / "synthetic"

# Settings shared by every run: the experiments' budget (regr_edu.experiments.TRAIN) through the
# command line, a 1,024-image test set (a standard error of about 1.6 points at 50 %) evaluated
# after every epoch. The previous record (SGD, 2,048 images x 6 epochs, refine as printed) is
# kept as benchmarks/results/synthetic_replace_sgd.json.
SETTINGS: dict[str, Any] = {
    "dataset": "synthetic-image", "image_size": 64, "train_samples": 8192, "test_samples": 1024,
    "model": "small_resnet", "model_kwargs": {"widths": [16, 32, 64]}, "num_units": 1,
    "epochs": 4, "batch_size": 64, "optimizer": "adam", "lr": 3e-3, "momentum": 0.9,
    "weight_decay": 0.0, "schedule": "cosine", "warmup_epochs": 1.0, "warmup_factor": 0.1,
    "eval_every": 1, "threads": 1,
}
# arm -> (label, unit, unit options): every unit in the package's defaults
ARMS: dict[str, tuple[str, str | None, dict[str, Any]]] = {
    "none": ("small_resnet (no unit)", None, {}),
    "regr": ("+ReGr (defaults: (4,4)+(7,7), bilinear, refine added)", "regr", {}),
    "nl": ("+non-local (embedded Gaussian, official pooled form)", "nl", {}),
    "glore": ("+GloRe", "glore", {}),
    "regr_norefine": ("+ReGr w/o refine", "regr", {"refine": False}),
}


def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True,
                              timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def _argv(arm: str, seed: int, out: pathlib.Path) -> list[str]:
    from regr_edu.experiments import cli_argv
    _, unit, options = ARMS[arm]
    return cli_argv(SETTINGS, unit, options, seed, out)


def run_one(arm: str, seed: int) -> dict[str, Any]:
    """Train one arm with one seed (or reuse a finished identical run); return its record."""
    out = RUNS / f"{arm}_seed{seed}"
    argv = _argv(arm, seed, out)
    summary_path = out / "summary.json"
    from regr_edu.train import parse_config
    wanted = parse_config(argv).to_dict()
    reused = False
    if summary_path.is_file():
        old = json.loads(summary_path.read_text())
        reused = old.get("config") == wanted and old.get("epochs_run") == SETTINGS["epochs"]
    if not reused:
        env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
        # a changed or unfinished run in the folder is replaced on purpose: the trainer refuses
        # to overwrite a run unless told to
        rerun = argv + (["--overwrite"] if out.exists() else [])
        done = subprocess.run([sys.executable, "-m", "regr_edu.train", *rerun], cwd=ROOT, env=env,
                              capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"{arm} seed {seed} failed:\n{done.stderr[-3000:]}")
    summary = json.loads(summary_path.read_text())
    history = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    keep = ("epoch", "lr", "train_loss", "train_acc1", "test_loss", "test_acc1", "epoch_seconds",
            "train_images_per_s")
    started = datetime.datetime.fromtimestamp((out / "config.json").stat().st_mtime,
                                              datetime.timezone.utc)
    return {"arm": arm, "seed": seed, "final_test_acc1": summary["final"]["test_acc1"],
            "started_utc": started.isoformat(timespec="seconds"),
            "final_test_loss": summary["final"]["test_loss"],
            "final_train_acc1": summary["final"]["train_acc1"],
            "wall_seconds": summary["wall_seconds"], "reused": reused,
            "history": [{k: r[k] for k in keep if k in r} for r in history]}


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    out = {}
    for arm in ARMS:
        values = [r["final_test_acc1"] for r in sorted(runs, key=lambda r: r["seed"])
                  if r["arm"] == arm]
        if values:
            out[arm] = {"label": ARMS[arm][0], "n": len(values), "values": values,
                        "mean": statistics.fmean(values),
                        "std": statistics.stdev(values) if len(values) > 1 else None,
                        "min": min(values), "max": max(values)}
    return out


def write(results: dict[str, Any]) -> None:
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(json.dumps(results, indent=1) + "\n", RESULTS)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    p.add_argument("--arms", nargs="+", choices=list(ARMS), default=list(ARMS))
    p.add_argument("--jobs", type=int, default=2, help="runs side by side (one thread each)")
    p.add_argument("--note", default="", help="free text stored with the results")
    args = p.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    import torch
    started = time.perf_counter()
    commit = _git("rev-parse", "HEAD")
    dirty = bool(_git("status", "--porcelain", "--", "regr_edu", "benchmarks/synthetic.py"))
    results: dict[str, Any] = {
        "what": "final test top-1 (%) on the synthetic relational image task "
                "(regr_edu.data.synthetic.SyntheticImages: same or different glyph shapes in two "
                "corners); chance is 50 %",
        "command": " ".join([os.path.relpath(sys.argv[0], ROOT) if sys.argv[0] else
                             "benchmarks/synthetic.py", *(argv if argv is not None else
                                                          sys.argv[1:])]),
        "git_commit": commit, "git_dirty": dirty, "note": args.note,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "processor": platform.processor() or platform.machine(),
                    "load_average_at_start": os.getloadavg()[0], "jobs": args.jobs},
        "torch": torch.__version__, "numerics": numerics_fingerprint(),
        "seeds": args.seeds, "settings": SETTINGS,
        "arms": {a: {"label": ARMS[a][0], "unit": ARMS[a][1], "unit_kwargs": ARMS[a][2]}
                 for a in args.arms},
        "example_command": "python -m regr_edu.train " + " ".join(
            _argv("regr", 0, pathlib.Path("runs/benchmarks/synthetic/regr_seed0"))),
        "runs": [], "summary": {},
    }
    jobs = [(arm, seed) for seed in args.seeds for arm in args.arms]
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
        futures = {pool.submit(run_one, arm, seed): (arm, seed) for arm, seed in jobs}
        for future in concurrent.futures.as_completed(futures):
            record = future.result()
            results["runs"].append(record)
            results["runs"].sort(key=lambda r: (list(ARMS).index(r["arm"]), r["seed"]))
            results["summary"] = summarise(results["runs"])
            results["wall_seconds"] = time.perf_counter() - started
            write(results)
            print(f"{record['arm']:>14} seed {record['seed']}: {record['final_test_acc1']:.1f}% "
                  f"({record['wall_seconds']:.0f} s{', reused' if record['reused'] else ''})",
                  flush=True)
    for arm, s in results["summary"].items():
        std = f" ± {s['std']:.1f}" if s["std"] is not None else ""
        print(f"{s['label']:<52} {s['mean']:.1f}{std}  (n={s['n']}: "
              f"{', '.join(f'{v:.1f}' for v in s['values'])})")
    print(f"total {results['wall_seconds']:.0f} s -> {RESULTS.relative_to(ROOT)}")
    return results


if __name__ == "__main__":
    main()
