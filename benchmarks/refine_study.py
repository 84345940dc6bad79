r"""Why refine (Eq. 3–4) stops the unit from learning, and which form of it learns.

Usage::

    python benchmarks/refine_study.py --study diagnosis       # the arms below, image task, 8 seeds
    python benchmarks/refine_study.py --study decision        # off vs the chosen form, 2 tasks x 2 opts
    python benchmarks/refine_study.py --study clips --out benchmarks/results/refine_study_clips_decision.json
    python benchmarks/refine_study.py --arms paper off --seeds 0 1 --tasks image --opts sgd

Every run is :func:`regr_edu.training.run` with the command line's defaults (``small_resnet``
16-32-64, one ReGr unit after layer2; SGD lr 0.05 momentum 0.9 wd 5e-4, one warm-up epoch,
cosine), or Adam (lr 1e-3, no weight decay, the same schedule), on the synthetic image task
(2 classes, 2,048 training images, 64x64, 6 epochs) or the synthetic clip task (3 classes, 1,024
training clips of 4 frames at 64x64, 6 epochs); 1,024 test samples, evaluated after every epoch.
A :class:`regr_edu.training.RefineMonitor` records refine's offsets, amplitudes and gradients at
every 4th step. ``--seed`` and ``--data-seed`` are both the seed. One thread per run; ``--jobs``
runs side by side. Runs whose record exists with the same settings are reused.

The protocol (arms, seeds, test, the rule that picks the default) was fixed before the first
decisive run and is written in ``benchmarks/RESULTS.md`` ("Refine that learns"). A run *takes
off* when its final test top-1 exceeds chance by 25 points (75 % on images, 58.3 % on clips).

Output: ``benchmarks/results/refine_study.json`` (atomic; commit, settings, every run's curve and
monitor rows, per arm and condition the take-off count and mean).
"""
from __future__ import annotations

import argparse
import concurrent.futures
import datetime
import json
import math
import os
import pathlib
import platform
import statistics
import subprocess
import sys
import time
from typing import Any

from synthetic import _git   # benchmarks/ is on sys.path when a script here runs

ROOT = pathlib.Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
from regr_edu.training.checkpoint import write_text_atomic      # noqa: E402  the one writer
RESULTS = ROOT / "benchmarks" / "results" / "refine_study.json"
RUNS = ROOT / "runs" / "benchmarks" / "refine_study"

TASKS: dict[str, dict[str, Any]] = {
    "image": {"dataset": "synthetic-image", "image_size": 64, "train_samples": 8192,
              "test_samples": 1024, "epochs": 4, "chance": 50.0},
    "clip": {"dataset": "synthetic-video", "image_size": 64, "frames": 4, "train_samples": 1024,
             "test_samples": 1024, "epochs": 6, "chance": 100 / 3},
    # four times the clips: where no form took off in "clip" (recorded apart: --out)
    "clip_large": {"dataset": "synthetic-video", "image_size": 64, "frames": 4,
                   "train_samples": 4096, "test_samples": 1024, "epochs": 6, "chance": 100 / 3},
    "clip_long": {"dataset": "synthetic-video", "image_size": 64, "frames": 4,
                  "train_samples": 4096, "test_samples": 1024, "epochs": 12, "chance": 100 / 3},
    # the pilots above fit the training clips before they found the rule: more distinct clips,
    # the image task's 4 epochs (a budget where refine off learns; RESULTS.md, "Clips, ...")
    "clip_16k": {"dataset": "synthetic-video", "image_size": 64, "frames": 4,
                 "train_samples": 16384, "test_samples": 1024, "epochs": 4, "chance": 100 / 3},
    "clip_32k": {"dataset": "synthetic-video", "image_size": 64, "frames": 4,
                 "train_samples": 32768, "test_samples": 1024, "epochs": 4, "chance": 100 / 3},
    # twice the clips again: a pilot for a budget in which refine off takes off in 7 of 8 seeds
    # (RESULTS.md, "Clips, ...", budget pilot 2; record refine_study_clips_64k.json)
    "clip_64k": {"dataset": "synthetic-video", "image_size": 64, "frames": 4,
                 "train_samples": 65536, "test_samples": 1024, "epochs": 4, "chance": 100 / 3},
    # clip_32k's clips and epochs in twice the steps (batch 32): a budget for item 3 of the
    # issue (RESULTS.md, "Clips: twice the steps"; record refine_study_clips_b32.json)
    "clip_32k_b32": {"dataset": "synthetic-video", "image_size": 64, "frames": 4,
                     "train_samples": 32768, "test_samples": 1024, "epochs": 4,
                     "batch_size": 32, "chance": 100 / 3},
    # half of clip_32k_b32's clips at its batch (RESULTS.md, "Pilot 4: region scales on clips")
    "clip_16k_b32": {"dataset": "synthetic-video", "image_size": 64, "frames": 4,
                     "train_samples": 16384, "test_samples": 1024, "epochs": 4,
                     "batch_size": 32, "chance": 100 / 3},
}
OPTS: dict[str, dict[str, Any]] = {
    "sgd": {"optimizer": "sgd", "lr": 0.05, "momentum": 0.9, "weight_decay": 5e-4},
    "adam": {"optimizer": "adam", "lr": 1e-3, "weight_decay": 0.0},
    "adam3": {"optimizer": "adam", "lr": 3e-3, "weight_decay": 0.0},
    "sgd2": {"optimizer": "sgd", "lr": 0.1, "momentum": 0.9, "weight_decay": 5e-4},
}
COMMON: dict[str, Any] = {"model": "small_resnet", "model_kwargs": {"widths": [16, 32, 64]},
                          "unit": "regr", "num_units": 1, "batch_size": 64, "schedule": "cosine",
                          "warmup_epochs": 1.0, "warmup_factor": 0.1, "eval_every": 1,
                          "threads": 1, "device": "cpu", "progress": False}
# The arms ran when refine_mode="replace" was ReGr's default; they name it (_R), so that they
# keep their meaning now that "add" is the default (the record's runs are those same runs).
_R = {"refine_mode": "replace"}
# Pilot 4 and the decision after it (RESULTS.md, "Pilot 4: region scales on clips"): the unit at
# the paper's scales as fractions of the 16 x 16 map, as the ablations use them
# (regr_edu.experiments.REF_SCALES); the arms above run ReGr's default (4,4)+(7,7)
_REF = {"scales": [[2, 2], [4, 4]]}
# arm -> (label, unit options, what of eta is frozen at its initial value: "", "all",
# "offsets" (delta stays 0) or "mask" (m stays at its start))
ARMS: dict[str, tuple[str, dict[str, Any], str]] = {
    "off": ("refine off", {"refine": False}, ""),
    "paper": ("refine as written (Eq. 3-4, eta at the base lr)", {**_R}, ""),
    "frozen": ("eta frozen at zero (delta = 0, m = 0.5)", {**_R}, "all"),
    "mask_only": ("only m learns (delta frozen at 0)", {**_R}, "offsets"),
    "offsets_only": ("only delta learns (m frozen at 0.5)", {**_R}, "mask"),
    "detach": ("eta reads the regions detached", {**_R, "refine_detach": True}, ""),
    "lr01": ("eta at 0.1x the learning rate", {**_R, "refine_lr_scale": 0.1}, ""),
    "add": ("additive refine (G + refine(G))", {"refine_mode": "add"}, ""),
    "mask09": ("m starts at 0.9", {**_R, "refine_mask_init": 0.9}, ""),
    "bound025": ("offsets bounded to 0.25 cell", {**_R, "refine_max_offset": 0.25}, ""),
    # not a stage-1 arm: named after the clip decision (RESULTS.md, "Clips, ...", amendment 2),
    # before the outcome of lr01's seeds 2-7 on clips was seen
    "add01": ("additive refine, eta at 0.1x the learning rate",
              {"refine_mode": "add", "refine_lr_scale": 0.1}, ""),
    # pilot 3 (item 3 of the issue: why a share of seeds stays at chance; RESULTS.md, "Pilot 3"):
    # the unit's last BatchNorm weight starts at 1 (PyTorch's default) instead of 0 (the paper's)
    "off_bn1": ("refine off, the unit's last BN weight starts at 1", {"refine": False}, ""),
    "add_bn1": ("additive refine, the unit's last BN weight starts at 1",
                {"refine_mode": "add"}, ""),
    # a control for the added form (RESULTS.md, "A control: the added form without its moves"):
    # its eta frozen at zero, so V = G + 0.5 G = 1.5 G, and nothing of refine learns
    "add_frozen": ("additive refine, eta frozen at zero (delta = 0, m = 0.5: V = 1.5 G)",
                   {"refine_mode": "add"}, "all"),
    # item 2's "warm-up with refine frozen", its length read from the run (RESULTS.md, "Refine
    # held until the unit leaves the plateau"): eta frozen at zero until the training loss's
    # running mean falls below HOLD[arm] x ln(classes), then learned as in "add"
    "add_hold": ("additive refine, eta held at zero until the training loss leaves the plateau",
                 {"refine_mode": "add"}, ""),
    # "normalising eta's input" (item 2; RESULTS.md, "Refine held until ..."): the region
    # vectors' norm grows about tenfold during training, and eta's offsets with it
    "add_norm": ("additive refine, eta reads each region vector divided by its norm",
                 {"refine_mode": "add", "refine_normalize": True}, ""),
    # Pilot 4 (RESULTS.md, "Pilot 4: region scales on clips") and its decision
    "off_ref": ("refine off, scales (2,2)+(4,4)", {**_REF, "refine": False}, ""),
    "add_ref": ("additive refine, scales (2,2)+(4,4)", {**_REF, "refine_mode": "add"}, ""),
    "blend_ref": ("blending refine ((1 - m) G + m B(G, delta)), scales (2,2)+(4,4)",
                  {**_REF, "refine_mode": "blend"}, ""),
    # written during the decision's clip cell, before any of its runs (RESULTS.md, "A blending
    # refine held until the unit leaves the plateau"): while held it computes what off_ref does
    "blend_hold_ref": ("blending refine, eta held at zero until the training loss leaves the "
                       "plateau, scales (2,2)+(4,4)", {**_REF, "refine_mode": "blend"}, ""),
}
# arm -> the fraction of ln(classes) (the loss of a guess at chance) that the running mean of the
# training loss (EMA, decay HOLD_DECAY, starting at ln(classes)) must fall below before eta learns
HOLD: dict[str, float] = {"add_hold": 0.9, "blend_hold_ref": 0.9}
HOLD_DECAY = 0.98
# arm -> the arm whose weights it starts from (every weight they share; refine's eta is zero
# anyway). Building refine draws random numbers (its conv's default initialisation, then
# zeroed), so without this the relation and the lift of a unit with refine start from other
# draws than the same unit without it; with it, a held blending refine computes what that arm
# computes until eta is released (RESULTS.md, "A blending refine held until ...")
SAME_START: dict[str, str] = {"blend_hold_ref": "off_ref"}
# arm -> starting weight of every ReGr unit's last BatchNorm (arms not named here: 0, the paper's)
BN_INIT: dict[str, float] = {"off_bn1": 1.0, "add_bn1": 1.0}
# arm -> the arm its decision cells compare it with (arms not named here: "off")
BASELINE: dict[str, str] = {"add_bn1": "off_bn1", "add_ref": "off_ref",
                            "blend_ref": "off_ref", "blend_hold_ref": "off_ref"}
DIAGNOSIS_ARMS = ["off", "paper", "frozen", "mask_only", "offsets_only", "detach", "lr01", "add",
                  "mask09", "bound025"]
STUDIES = {
    # stage 1: every arm, the image task, Adam at 3e-3 (where refine off takes off most), 5 seeds
    "diagnosis": {"arms": DIAGNOSIS_ARMS, "tasks": ["image"], "opts": ["adam3"],
                  "seeds": list(range(5))},
    # stage 2: refine off against the candidate stage 1's rule picked ("add": 5/5, mean 99.9,
    # ahead of "lr01": 5/5, mean 99.4), 8 seeds, both tasks, both optimizers
    "decision": {"arms": ["off", "add"], "tasks": ["image", "clip"], "opts": ["sgd", "adam3"],
                 "seeds": list(range(8))},
    # the clip task at the budget where refine off takes off (RESULTS.md, "Clips, a budget ...");
    # its record: --out benchmarks/results/refine_study_clips_decision.json
    "clips": {"arms": ["off", "add"], "tasks": ["clip_32k"], "opts": ["adam3"],
              "seeds": list(range(8))},
    # the same cell in twice the steps (RESULTS.md, "Clips: twice the steps"); its record:
    # --out benchmarks/results/refine_study_clips_b32.json
    "clips_b32": {"arms": ["off", "add"], "tasks": ["clip_32k_b32"], "opts": ["adam3"],
                  "seeds": list(range(8))},
    # Pilot 4: does the region scale explain the slow clip runs? (RESULTS.md; its record:
    # --out benchmarks/results/refine_study_pilot4.json)
    "pilot4": {"arms": ["off", "off_ref"], "tasks": ["clip_16k_b32"], "opts": ["adam3"],
               "seeds": [100, 101]},
}
MONITOR_EVERY = 4


def config_for(arm: str, task: str, opt: str, seed: int) -> dict[str, Any]:
    t = {k: v for k, v in TASKS[task].items() if k != "chance"}
    return {**COMMON, **t, **OPTS[opt], "unit_kwargs": dict(ARMS[arm][1]), "seed": seed,
            "data_seed": seed, "output_dir": str(RUNS / f"{task}_{opt}_{arm}_seed{seed}")}


def freeze_eta(model, part: str) -> None:
    """Zero the gradient of the frozen rows of every refine's eta (rows 0-1: delta, row 2: m)."""
    import torch
    from regr_edu.refine import Refine
    rows = {"all": [0, 1, 2], "offsets": [0, 1], "mask": [2]}[part]
    for module in model.modules():
        if isinstance(module, Refine):
            for p in module.eta.parameters():
                keep = torch.ones_like(p)
                keep[rows] = 0
                p.register_hook(lambda g, keep=keep: g * keep)


class HoldEta:
    """Hold every refine's eta at its start until the unit leaves the plateau.

    A step callback: it keeps a running mean of the training loss (``decay``, starting at
    ``ln(classes)``) and, once that mean falls below ``level``, lets eta's gradient through for
    the rest of the run (``released_at`` is that step; ``None`` while held). Before that eta's
    gradient is zeroed, so eta stays at its zero start under SGD (zero stays zero under weight
    decay) and Adam (a zero gradient makes a zero step).
    """

    def __init__(self, model, level: float, start: float, decay: float = HOLD_DECAY) -> None:
        import torch
        from regr_edu.refine import Refine
        self.level, self.decay, self.mean = level, decay, start
        self.released_at: int | None = None
        for module in model.modules():
            if isinstance(module, Refine):
                for p in module.eta.parameters():
                    p.register_hook(lambda g: g if self.released_at is not None
                                    else torch.zeros_like(g))

    def __call__(self, payload: dict[str, Any]) -> None:
        self.mean = self.decay * self.mean + (1 - self.decay) * payload["loss"]
        if self.released_at is None and self.mean < self.level:
            self.released_at = payload["step"]


def start_from(model, other: str, build, before, cfg, *args, **kwargs) -> None:
    """Give ``model`` the starting weights of arm ``other`` built from the same random state
    ``before`` (where they share a name), and leave the global random state as that build
    leaves it, so that what follows draws what ``other``'s run draws."""
    import dataclasses

    import torch
    torch.set_rng_state(before)
    twin = build(dataclasses.replace(cfg, unit_kwargs=dict(ARMS[other][1])), *args, **kwargs)
    theirs = twin.state_dict()
    with torch.no_grad():
        for name, value in model.state_dict().items():
            if name in theirs:
                value.copy_(theirs[name])


def set_bn_init(model, weight: float) -> None:
    """Start the last BatchNorm of every ReGr unit at ``weight`` (its bias stays 0)."""
    import torch
    from regr_edu.regr import ReGr
    for module in model.modules():
        if isinstance(module, ReGr):
            torch.nn.init.constant_(module.bn.weight, weight)


def train(arm: str, task: str, opt: str, seed: int) -> dict[str, Any]:
    """One run in this process (the worker): returns its record."""
    import importlib

    import torch
    from regr_edu.training import RefineMonitor, make_config, run as run_training
    run_module = importlib.import_module("regr_edu.training.run")   # the module, not the function
    original_build = run_module.build_model
    torch.set_num_threads(1)
    cfg = make_config(config_for(arm, task, opt, seed))
    frozen, bn_init = ARMS[arm][2], BN_INIT.get(arm)
    held: list[HoldEta] = []
    if frozen or bn_init is not None or arm in HOLD or arm in SAME_START:
        build = run_module.build_model

        def build_changed(*args, **kwargs):
            before = torch.get_rng_state()
            model = build(*args, **kwargs)       # built from the seed: the same draws as "off"
            if arm in SAME_START:
                start_from(model, SAME_START[arm], build, before, *args, **kwargs)
            if frozen:
                freeze_eta(model, frozen)
            if bn_init is not None:
                set_bn_init(model, bn_init)
            if arm in HOLD:
                plateau = math.log(round(100 / TASKS[task]["chance"]))
                held.append(HoldEta(model, HOLD[arm] * plateau, start=plateau))
            return model
        run_module.build_model = build_changed
    monitor = RefineMonitor(every=MONITOR_EVERY)

    def callback(payload: dict[str, Any]) -> None:
        monitor(payload)
        for hold in held:
            hold(payload)
    started = time.perf_counter()
    try:
        summary = run_training(cfg, callback=callback)
    finally:                        # another run in this process builds its model unchanged
        run_module.build_model = original_build
    history = [json.loads(line) for line in
               (pathlib.Path(cfg.output_dir) / "metrics.jsonl").read_text().splitlines()]
    keep = ("epoch", "train_loss", "train_acc1", "test_loss", "test_acc1")
    from regr_edu.device import numerics_fingerprint
    return {"arm": arm, "task": task, "opt": opt, "seed": seed,
            "final_test_acc1": summary["final"]["test_acc1"],
            "numerics": numerics_fingerprint(),    # what a replay of this run compares
            "wall_seconds": time.perf_counter() - started,
            "history": [{k: r[k] for k in keep if k in r} for r in history],
            "monitor": monitor.rows,
            **({"released_at_step": held[0].released_at} if held else {})}


def run_one(arm: str, task: str, opt: str, seed: int, fresh: bool = False) -> dict[str, Any]:
    """Run one setting in a fresh process (one thread) or reuse its record (not with ``fresh``)."""
    out = RUNS / f"{task}_{opt}_{arm}_seed{seed}"
    record_path = out / "record.json"
    wanted = config_for(arm, task, opt, seed)
    if record_path.is_file() and not fresh:
        old = json.loads(record_path.read_text())
        if (old.get("config") == wanted and old.get("frozen") == ARMS[arm][2]
                and old.get("bn_init") == BN_INIT.get(arm) and old.get("hold") == HOLD.get(arm)
                and old.get("same_start") == SAME_START.get(arm)):
            return {**old["record"], "reused": True}
    if out.exists():
        import shutil
        shutil.rmtree(out)
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
               OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    code = (f"import json, sys; sys.path.insert(0, {str(ROOT / 'benchmarks')!r}); "
            f"import refine_study as s; "
            f"print(json.dumps(s.train({arm!r}, {task!r}, {opt!r}, {seed})))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                          text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{task} {opt} {arm} seed {seed} failed:\n{done.stderr[-3000:]}")
    record = json.loads(done.stdout.strip().splitlines()[-1])
    write_text_atomic(json.dumps({"config": wanted, "frozen": ARMS[arm][2],
                                  "bn_init": BN_INIT.get(arm), "hold": HOLD.get(arm),
                                  "same_start": SAME_START.get(arm),
                                  "record": record}), record_path)
    return {**record, "reused": False}


def took_off(record: dict[str, Any]) -> bool:
    return record["final_test_acc1"] > TASKS[record["task"]]["chance"] + 25


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for r in runs:
        key = f"{r['task']}/{r['opt']}/{r['arm']}"
        out.setdefault(key, []).append(r)
    summary = {}
    for key, rs in sorted(out.items()):
        values = [r["final_test_acc1"] for r in sorted(rs, key=lambda r: r["seed"])]
        summary[key] = {"n": len(values), "values": values, "mean": statistics.fmean(values),
                        "std": statistics.stdev(values) if len(values) > 1 else None,
                        "took_off": sum(took_off(r) for r in rs)}
    return summary


def report(results: dict[str, Any]) -> str:
    """Markdown tables of the record: stage 1 (the diagnosis arms, image task, Adam 3e-3, its
    seeds 0-4) and, for every other arm, each cell where it and ``off`` both ran the 8 decision
    seeds, with the protocol's tests (runs outside those seeds, e.g. pilots, are left out)."""
    sys.path.insert(0, str(ROOT))
    from regr_edu.stats import fisher_greater, mann_whitney_less
    diag_seeds = set(STUDIES["diagnosis"]["seeds"])
    decision_seeds = set(STUDIES["decision"]["seeds"])
    stage1 = summarise([r for r in results["runs"] if r["seed"] in diag_seeds])
    summary = summarise([r for r in results["runs"] if r["seed"] in decision_seeds])
    lines = []
    rows = [(arm, stage1.get(f"image/adam3/{arm}")) for arm in STUDIES["diagnosis"]["arms"]]
    if any(s for _, s in rows):
        lines += ["| arm | took off | mean top-1 | per seed (0-4) |", "|---|---:|---:|---|"]
        lines += [f"| `{arm}`: {ARMS[arm][0]} | {s['took_off']}/{s['n']} | {s['mean']:.1f} "
                  f"| {' '.join(f'{v:.1f}' for v in s['values'])} |" for arm, s in rows if s]
    for new in [a for a in ARMS if a != "off"]:
        base = BASELINE.get(new, "off")
        cells = [(task, opt, summary[f"{task}/{opt}/{base}"], summary[f"{task}/{opt}/{new}"])
                 for task in TASKS for opt in OPTS
                 if summary.get(f"{task}/{opt}/{base}", {}).get("n") == len(decision_seeds)
                 and summary.get(f"{task}/{opt}/{new}", {}).get("n") == len(decision_seeds)]
        stopped = {a for sweep in results.get("sweeps", []) if "stopped" in sweep
                   for a in sweep["plan"]["arms"]}     # arms whose sweep says it was stopped
        partial = [(task, opt, summary[f"{task}/{opt}/{new}"]) for task in TASKS for opt in OPTS
                   if new in stopped
                   and summary.get(f"{task}/{opt}/{base}", {}).get("n") == len(decision_seeds)
                   and 0 < summary.get(f"{task}/{opt}/{new}", {}).get("n", 0) < len(decision_seeds)]
        for task, opt, s in partial:                    # an arm stopped early (see the record)
            seeds = sorted(r["seed"] for r in results["runs"] if (r["arm"], r["task"], r["opt"])
                           == (new, task, opt) and r["seed"] in decision_seeds)
            lines += ["", f"`{new}` on {task} / {opt}, stopped after seeds {seeds}: took off "
                      f"{s['took_off']}/{s['n']}, mean {s['mean']:.1f} "
                      f"({' '.join(f'{v:.1f}' for v in s['values'])})."]
        if not cells:
            continue
        lines += ["", f"| task | optimizer | {base}: took off | {base}: mean | {new}: took off | "
                  f"{new}: mean | p ({new} lower) | passes |", "|---|---|---:|---:|---:|---:|---:|---|"]
        pooled = {base: [0, 0], new: [0, 0]}
        for task, opt, a, b in cells:
            p = mann_whitney_less(b["values"], a["values"])
            ok = b["took_off"] >= a["took_off"] and p >= 0.05
            for arm, s in ((base, a), (new, b)):
                pooled[arm][0] += s["took_off"]
                pooled[arm][1] += s["n"]
            lines.append(f"| {task} | {opt} | {a['took_off']}/{a['n']} | {a['mean']:.1f} | "
                         f"{b['took_off']}/{b['n']} | {b['mean']:.1f} | {p:.3f} | "
                         f"{'yes' if ok else 'no'} |")
        p = fisher_greater(pooled[base][0], pooled[base][1], pooled[new][0], pooled[new][1])
        lines += ["", f"Pooled over these cells: {base} {pooled[base][0]}/{pooled[base][1]}, {new} "
                  f"{pooled[new][0]}/{pooled[new][1]}; one-sided Fisher p({base} takes off more "
                  f"often) = {p:.3f}."]
    lines += pilot3_reading(summary)
    return "\n".join(lines).lstrip("\n")


def pilot3_reading(summary: dict[str, Any]) -> list[str]:
    """Pilot 3's reading (RESULTS.md, "Pilot 3"), once its two image cells are in: does the
    unit's last BatchNorm starting at 1 explain the seeds that stay at chance?"""
    from regr_edu.stats import fisher_greater
    cells = {opt: (summary.get(f"image/{opt}/off"), summary.get(f"image/{opt}/off_bn1"))
             for opt in ("sgd", "adam3")}
    if not all(a and b and a["n"] == b["n"] == 8 for a, b in cells.values()):
        return []
    (sgd_off, sgd_bn1), (adam_off, adam_bn1) = cells["sgd"], cells["adam3"]
    p = fisher_greater(sgd_bn1["took_off"], 8, sgd_off["took_off"], 8)
    explains = (sgd_bn1["took_off"] >= 7 and p < 0.05
                and adam_bn1["took_off"] >= adam_off["took_off"])
    return ["", f"Pilot 3: with SGD `off_bn1` took off in {sgd_bn1['took_off']}/8 against `off`'s "
            f"{sgd_off['took_off']}/8 (one-sided Fisher p = {p:.3f}); with Adam "
            f"{adam_bn1['took_off']}/8 against {adam_off['took_off']}/8. The initialisation "
            f"{'explains' if explains else 'does not explain'} the stuck seeds by the reading "
            "fixed before the runs."]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--study", choices=list(STUDIES))
    p.add_argument("--arms", nargs="+", choices=list(ARMS))
    p.add_argument("--tasks", nargs="+", choices=list(TASKS))
    p.add_argument("--opts", nargs="+", choices=list(OPTS))
    p.add_argument("--seeds", type=int, nargs="+")
    p.add_argument("--jobs", type=int, default=2, help="runs side by side (one thread each)")
    p.add_argument("--report", action="store_true", help="print the record's tables and exit")
    p.add_argument("--fresh", action="store_true",
                   help="run again even where a run's record exists (e.g. to record a column "
                        "the monitor did not have; the same settings give the same numbers)")
    p.add_argument("--out", type=pathlib.Path, default=RESULTS,
                   help=f"the record (default {RESULTS.relative_to(ROOT)})")
    args = p.parse_args(argv)
    out = args.out
    if args.report:
        print(report(json.loads(out.read_text())))
        return {}
    plan = dict(STUDIES[args.study]) if args.study else {"arms": ["paper", "off"],
                                                          "tasks": ["image"], "opts": ["sgd"],
                                                          "seeds": [0]}
    for key in ("arms", "tasks", "opts", "seeds"):
        if getattr(args, key):
            plan[key] = getattr(args, key)
    results = json.loads(out.read_text()) if out.is_file() else {"runs": []}
    results.update({
        "what": "final test top-1 (%) of small_resnet + one ReGr unit on the synthetic tasks, "
                "per form of refine",
        "tasks": TASKS, "optimizers": OPTS, "common": COMMON,
        "arms": {a: {"label": ARMS[a][0], "unit_kwargs": ARMS[a][1], "frozen": ARMS[a][2],
                     **({"bn_init": BN_INIT[a]} if a in BN_INIT else {}),
                     **({"hold": HOLD[a], "hold_decay": HOLD_DECAY} if a in HOLD else {}),
                     **({"same_start": SAME_START[a]} if a in SAME_START else {})}
                 for a in ARMS},
        "took_off_rule": "final test top-1 > chance + 25 points",
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "monitor_every": MONITOR_EVERY})
    results.setdefault("sweeps", []).append({
        "plan": plan, "git_commit": _git("rev-parse", "HEAD"),
        "git_dirty": bool(_git("status", "--porcelain", "--", "regr_edu",
                               "benchmarks/refine_study.py")),
        "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")})
    jobs = [(a, t, o, s) for s in plan["seeds"] for t in plan["tasks"] for o in plan["opts"]
            for a in plan["arms"]]
    done_keys = {(r["arm"], r["task"], r["opt"], r["seed"]) for r in results["runs"]}

    def write() -> None:
        results["runs"].sort(key=lambda r: (r["task"], r["opt"], list(ARMS).index(r["arm"]),
                                            r["seed"]))
        results["summary"] = summarise(results["runs"])
        out.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(json.dumps(results) + "\n", out)

    failed: list[tuple] = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
        futures = {pool.submit(run_one, *job, fresh=args.fresh): job for job in jobs}
        for future in concurrent.futures.as_completed(futures):
            try:
                record = future.result()
            except RuntimeError as err:
                print(f"FAILED {futures[future]}: {err}", flush=True)
                failed.append(futures[future])
                continue
            key = (record["arm"], record["task"], record["opt"], record["seed"])
            results["runs"] = [r for r in results["runs"]
                               if (r["arm"], r["task"], r["opt"], r["seed"]) != key]
            record.pop("reused", None)
            results["runs"].append(record)
            write()
            curve = " ".join(f"{h['test_acc1']:.0f}" for h in record["history"]
                             if "test_acc1" in h)
            print(f"{record['task']:>5} {record['opt']:>4} {record['arm']:>12} seed "
                  f"{record['seed']}: {record['final_test_acc1']:.1f}%  [{curve}]  "
                  f"({record['wall_seconds']:.0f} s)", flush=True)
    for key, s in results["summary"].items():
        print(f"{key:<28} took off {s['took_off']}/{s['n']}  mean {s['mean']:.1f}")
    if failed:
        raise SystemExit(f"{len(failed)} run(s) failed: {failed}")
    return results


if __name__ == "__main__":
    main()
