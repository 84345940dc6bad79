r"""The book's experiments on the synthetic relational task: settings, models, one run, verdicts.

The paper's ablations (Tables 1–6 and its aggregation study) and its comparison of units,
reproduced small: ``small_resnet`` (widths 16-32-64) on :class:`regr_edu.data.synthetic.
SyntheticImages` (two glyphs in two corners, "same shape" or "different"; no receptive field of
the backbone sees both corners, so the plain backbone is at chance by construction).

- :data:`TRAIN` is the budget every run gets, the one under which the refine study's default
  took off in 8 of 8 seeds (``benchmarks/RESULTS.md``, "Refine that learns"): 8,192 images,
  4 epochs, Adam at 3e-3, one warm-up epoch, cosine. The data are the same for every run
  (``data_seed`` 0); a run's seed changes the initialisation and the batch order.
- :data:`SETTINGS` names every model; :data:`TABLES` groups them as the paper's tables, with the
  paper's numbers beside them, labelled; :data:`CLAIMS` states each of the paper's claims as
  comparisons between settings, and :func:`verdicts` tests them on a record.
- :func:`train_setting` trains one setting with one seed; ``benchmarks/ablations.py`` runs the
  sweep and records it, and a chapter reruns one setting live with the same function.

On a 16 × 16 map (layer2 of a 64 × 64 input) the paper's CUB scales (4, 4) and (7, 7) of a
28 × 28 map become (2, 2) and (4, 4), the same fractions of the side; its four scales become
(2,2)+(4,4)+(2,4)+(4,2).
"""
from __future__ import annotations

import json
import math
import os
import statistics
import time
from typing import Any, Callable, Sequence

import torch

from ._checks import check_choice, check_int, check_nonnegative_int
from .stats import mann_whitney_less, took_off

__all__ = ["TRAIN", "SETTINGS", "TABLES", "CLAIMS", "CHANCE", "MEASURES", "build_model",
           "train_setting", "cli_argv", "model_cost", "measure", "holm", "verdict_rule", "verdicts",
           "setting_stats"]

CHANCE = 50.0
TRAIN: dict[str, Any] = dict(
    dataset="synthetic-image", image_size=64, train_samples=8192, test_samples=1024, data_seed=0,
    epochs=4, batch_size=64, optimizer="adam", lr=3e-3, momentum=0.9, weight_decay=0.0,
    schedule="cosine", warmup_epochs=1.0, warmup_factor=0.1)
WIDTHS = (16, 32, 64)
REF_SCALES = [[2, 2], [4, 4]]                # analogue of the paper's (4,4)+(7,7)
UNITS_BLOCKS = (1, 2, 2)                     # backbone of the number-of-units table
UNITS_PLACEMENTS = {1: {"layer2": [0]}, 2: {"layer1": [0], "layer2": [0]},
                    5: {"layer1": [0], "layer2": [0, 1], "layer3": [0, 1]}}


def _regr(label: str, **kw: Any) -> dict[str, Any]:
    return {"unit": "regr", "unit_kwargs": {"scales": REF_SCALES, **kw}, "label": label}


# name -> unit, unit_kwargs (ReGr's options; the package's defaults elsewhere: refine added,
# non-local in its official pooled form), blocks, placement, label
SETTINGS: dict[str, dict[str, Any]] = {
    "none": {"unit": None, "label": "small_resnet (no unit)"},
    "regr": _regr("+ReGr (2,2)+(4,4), bilinear, refine"),
    "scale_1x1": _regr("(1,1)", scales=[[1, 1]]),
    "scale_2x2": _regr("(2,2)", scales=[[2, 2]]),
    "scale_4x4": _regr("(4,4)", scales=[[4, 4]]),
    "scale_four": _regr("(2,2)+(4,4)+(2,4)+(4,2)", scales=[[2, 2], [4, 4], [2, 4], [4, 2]]),
    "gcn": _regr("GCN", relation="gcn"),
    "attention": _regr("attention", relation="attention"),
    "pool_avg": _regr("average pooling, same M", aggregation="avg"),
    "pool_max": _regr("max pooling, same M", aggregation="max"),
    "no_refine": _regr("ReGr w/o refine", refine=False),
    "nl": {"unit": "nl", "label": "NL"},
    "cgnl": {"unit": "cgnl", "label": "CGNL"},
    "glore": {"unit": "glore", "label": "GloRe"},
    "units_none": {"unit": None, "blocks": UNITS_BLOCKS, "label": "blocks (1,2,2), no unit"},
    "units_1": {**_regr("+1 ReGr"), "blocks": UNITS_BLOCKS, "placement": UNITS_PLACEMENTS[1]},
    "units_2": {**_regr("+2 ReGr"), "blocks": UNITS_BLOCKS, "placement": UNITS_PLACEMENTS[2]},
    "units_5": {**_regr("+5 ReGr"), "blocks": UNITS_BLOCKS, "placement": UNITS_PLACEMENTS[5]},
}

# Each table: our settings in order, and the paper's rows (label, value in %), labelled.
TABLES: dict[str, dict[str, Any]] = {
    "scales": {
        "title": "Regional scales (paper Tables 1-2)",
        "ours": ["none", "scale_1x1", "scale_2x2", "scale_4x4", "regr", "scale_four"],
        "paper_columns": ["CUB200 top-1", "UCF101 top-1"],
        "paper": [["Res50", 84.61, 82.80], ["(1,1)", 85.40, 83.67],
                  ["(4,4) [UCF: (3,3)]", 85.69, 83.79], ["(7,7) [UCF: (5,5)]", 85.55, 83.50],
                  ["(4,4)+(7,7) [UCF: (3,3)+(5,5)]", 86.19, 83.98],
                  ["four scales", 85.47, 83.95]],
    },
    "relation": {
        "title": "Relation (paper Table 3)",
        "ours": ["regr", "gcn", "attention"],
        "paper_columns": ["CUB200 top-1", "UCF101 top-1"],
        "paper": [["bilinear pooling", 86.19, 83.98], ["GCN", 85.87, 83.10],
                  ["attention", 85.92, 82.81]],
    },
    "units": {
        "title": "Number of units (paper Table 4)",
        "ours": ["units_none", "units_1", "units_2", "units_5"],
        "paper_columns": ["CUB200 top-1", "UCF101 top-1"],
        "paper": [["Res50", 84.61, 82.80], ["+1 ReGr", 86.19, 83.98],
                  ["+2 ReGr", 86.00, 84.13], ["+5 ReGr", 86.31, 84.28]],
    },
    "aggregation": {
        "title": "Aggregation at the same length M (paper, Ablation Studies, text)",
        "ours": ["regr", "pool_avg", "pool_max"],
        "paper_columns": ["CUB200 top-1"],
        "paper": [["mu nu^T (Eq. 2)", 86.19], ["average pooling", 85.17],
                  ["max pooling", 85.07]],
    },
    "peers": {
        "title": "Refine, and ReGr vs other units (paper Tables 5-6)",
        "ours": ["none", "nl", "cgnl", "glore", "no_refine", "regr"],
        "paper_columns": ["CUB200 top-1", "UCF101 top-1"],
        "paper": [["None", 84.61, 82.80], ["NL", 85.45, 83.40], ["CGNL", 85.12, 83.33],
                  ["GloRe", 85.78, 83.30], ["ReGr w/o refine", 85.88, 83.12],
                  ["ReGr w/ refine", 86.19, 83.98]],
    },
}

# The paper's claims, each as comparisons "better > worse" between settings. The protocol,
# fixed before the sweep: primary measure the final test top-1; each comparison an exact
# one-sided Mann-Whitney test at alpha = 0.05, Holm-corrected within the claim. A claim is
# "confirmed" when every comparison passes in the paper's direction, "contradicted" when one
# passes in the opposite direction, and "undecided at this power" otherwise.
CLAIMS: dict[str, dict[str, Any]] = {
    "regions_beat_pixels": {
        "claim": "regions beat pixels: ReGr above the pixel-wise non-local units",
        "paper": "Tables 5-6: ReGr 86.19 vs NL 85.45, CGNL 85.12 (CUB)",
        "comparisons": [("regr", "nl"), ("regr", "cgnl")]},
    "two_scales": {
        "claim": "two scales beat one; four overshoot",
        "paper": "Tables 1-2: (4,4)+(7,7) 86.19 vs (1,1) 85.40, (4,4) 85.69, (7,7) 85.55, "
                 "four 85.47 (CUB)",
        "comparisons": [("regr", "scale_1x1"), ("regr", "scale_2x2"), ("regr", "scale_4x4"),
                        ("regr", "scale_four")]},
    "refine_helps": {
        "claim": "refine helps",
        "paper": "Tables 5-6: with refine 86.19 vs without 85.88 (CUB)",
        "comparisons": [("regr", "no_refine")]},
    "bilinear_best": {
        "claim": "bilinear is the best relation",
        "paper": "Table 3: bilinear 86.19 vs GCN 85.87, attention 85.92 (CUB)",
        "comparisons": [("regr", "gcn"), ("regr", "attention")]},
    "mu_nu_beats_pooling": {
        "claim": "mu nu^T aggregation beats average and max pooling",
        "paper": "text: 86.19 vs 85.17 (average), 85.07 (max) (CUB)",
        "comparisons": [("regr", "pool_avg"), ("regr", "pool_max")]},
    "more_units_help": {
        "claim": "more units help",
        "paper": "Table 4: +1 86.19, +2 86.00, +5 86.31 (CUB); 83.98, 84.13, 84.28 (UCF101)",
        "comparisons": [("units_5", "units_1"), ("units_2", "units_1")]},
}
ALPHA = 0.05


def build_model(name: str, num_classes: int = 2) -> torch.nn.Module:
    """The network of setting ``name`` (initialised from the global generator: seed first)."""
    from .models import small_resnet

    check_choice("name", name, list(SETTINGS))
    s = SETTINGS[name]
    kwargs: dict[str, Any] = dict(widths=WIDTHS, input_size=(TRAIN["image_size"],) * 2)
    if "blocks" in s:
        kwargs["blocks"] = s["blocks"]
    if s["unit"] is not None:
        kwargs["unit"] = s["unit"]
        if "placement" in s:
            kwargs["placement"] = s["placement"]
        kwargs.update({k: (tuple(map(tuple, v)) if k == "scales" else v)
                       for k, v in s.get("unit_kwargs", {}).items()})
    return small_resnet(num_classes, **kwargs)


def cli_argv(settings: dict[str, Any], unit: str | None, unit_kwargs: dict[str, Any] | None,
             seed: int, output_dir: "str | os.PathLike[str]",
             stop_epoch: int | None = None) -> list[str]:
    """``python -m regr_edu.train`` arguments for one run: one flag per entry of ``settings``
    (``train_samples`` -> ``--train-samples``; dicts as JSON), the unit and its options,
    ``--seed`` and ``--data-seed`` both ``seed``, on the CPU without a progress bar;
    ``stop_epoch`` stops after that many epochs of the same schedule. How
    ``benchmarks/synthetic.py`` runs its arms and how a chapter replays one."""
    check_nonnegative_int("seed", seed)
    argv: list[str] = []
    for key, value in settings.items():
        argv += [f"--{key.replace('_', '-')}",
                 json.dumps(value) if isinstance(value, dict) else str(value)]
    argv += ["--seed", str(seed), "--data-seed", str(seed), "--unit", unit or "none",
             "--output-dir", str(output_dir), "--no-progress", "--device", "cpu"]
    if unit_kwargs:
        argv += ["--unit-kwargs", json.dumps(unit_kwargs)]
    if stop_epoch is not None:
        argv += ["--stop-epoch", str(stop_epoch)]
    return argv


def model_cost(name: str) -> dict[str, float]:
    """FLOPs of one forward pass on one image (multiply-add = 2) and the parameter count."""
    from .costs import count_flops, count_params

    model = build_model(name).eval()
    flops, _ = count_flops(model, torch.zeros(1, 3, TRAIN["image_size"], TRAIN["image_size"]))
    return {"flops": float(flops), "params": float(count_params(model))}


_DATA: dict[tuple, Any] = {}


def _datasets(train_samples: int, test_samples: int):
    """The synthetic train/test sets, drawn once per process and kept as tensors."""
    from .data.synthetic import SyntheticImages

    key = (train_samples, test_samples)
    if key not in _DATA:
        def materialise(ds):
            xs, ys = zip(*(ds[i] for i in range(len(ds))))
            return torch.utils.data.TensorDataset(torch.stack(xs), torch.tensor(ys))
        kw = dict(size=TRAIN["image_size"], seed=TRAIN["data_seed"])
        _DATA[key] = (materialise(SyntheticImages(train_samples, split="train", **kw)),
                      materialise(SyntheticImages(test_samples, split="test", **kw)))
    return _DATA[key]


def train_setting(name: str, seed: int, *, train: dict[str, Any] | None = None,
                  stop_after: int | None = None, threads: int | None = 1,
                  callback: Callable[[dict], None] | None = None) -> dict[str, Any]:
    """Train setting ``name`` with ``seed`` under :data:`TRAIN` (or ``train``); return its record.

    Uses :mod:`regr_edu.training`: its configuration checks, seeding, optimizer
    (:func:`~regr_edu.training.build_optimizer`), LR schedule, ``train_one_epoch`` and
    ``evaluate``. The test set is evaluated after every epoch. ``stop_after`` ends the run after
    that many epochs *of the same schedule* (so its rows equal the full run's first rows, bit
    for bit): how a chapter replays the start of a recorded run in seconds.
    """
    from .training import build_optimizer
    from .training.checkpoint import seed_everything
    from .training.config import make_config
    from .training.engine import evaluate, train_one_epoch
    from .training.run import lr_lambda

    check_choice("name", name, list(SETTINGS))
    if threads:
        torch.set_num_threads(threads)
    train = dict(TRAIN if train is None else train)
    s = SETTINGS[name]
    cfg = make_config({k: v for k, v in train.items()},
                      {"seed": seed, "unit": s["unit"],
                       "unit_kwargs": s.get("unit_kwargs", {}) if s["unit"] else {},
                       "progress": False})
    if stop_after is not None:
        check_int("stop_after", stop_after, 1, cfg.epochs)
    train_set, test_set = _datasets(cfg.train_samples, cfg.test_samples)
    wall0, cpu0 = time.perf_counter(), time.process_time()
    seed_everything(cfg.seed)
    model = build_model(name)
    device = torch.device("cpu")
    generator = torch.Generator().manual_seed(cfg.seed)
    loader = torch.utils.data.DataLoader(train_set, batch_size=cfg.batch_size, shuffle=True,
                                         drop_last=True, generator=generator)
    test = torch.utils.data.DataLoader(test_set, batch_size=256)
    optimizer = build_optimizer(cfg.optimizer, model, cfg.lr, cfg.momentum, cfg.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda(cfg, len(loader)))
    scaler = torch.amp.GradScaler("cpu", enabled=False)
    history, train_seconds, steps = [], 0.0, 0
    for epoch in range(cfg.epochs if stop_after is None else stop_after):
        row = train_one_epoch(model, loader, optimizer, scheduler, scaler, device, epoch,
                              callback=callback, step0=steps)
        train_seconds += row["train_seconds"]
        steps += row["steps"]
        metrics = evaluate(model, test, device)
        history.append({"epoch": epoch, "train_loss": row["train_loss"],
                        "train_acc1": row["train_acc1"], "test_loss": metrics["test_loss"],
                        "test_acc1": metrics["test_acc1"]})
    last = history[-1]
    return {"setting": name, "seed": seed, "test_acc1": last["test_acc1"],
            "test_loss": last["test_loss"], "train_acc1": last["train_acc1"],
            "history": history, "params": sum(p.numel() for p in model.parameters()),
            "seconds_per_step": train_seconds / max(steps, 1),
            "cpu_seconds": time.process_time() - cpu0,
            "wall_seconds": time.perf_counter() - wall0, "epochs": len(history),
            "train_samples": cfg.train_samples}


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm's step-down adjustment (monotone, capped at 1)."""
    order = sorted(range(len(pvalues)), key=lambda i: pvalues[i])
    adjusted, running = [0.0] * len(pvalues), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(pvalues) - rank) * pvalues[i]))
        adjusted[i] = running
    return adjusted


MEASURES = {
    "final": "final test top-1 (the primary measure)",
    "epoch1": "test top-1 after the first of 4 epochs (secondary: how fast a unit learns; "
              "reported, it decides nothing)",
}


def measure(run: dict[str, Any], name: str = "final") -> float:
    """A run's value of measure ``name`` (:data:`MEASURES`)."""
    check_choice("name", name, list(MEASURES))
    return float(run["test_acc1"] if name == "final" else run["history"][0]["test_acc1"])


def verdict_rule(p_for: Sequence[float], p_against: Sequence[float], alpha: float = ALPHA
                 ) -> str:
    """The protocol's rule on a claim's Holm-adjusted p-values: ``"contradicted"`` if one
    comparison passes against the paper, ``"confirmed"`` if every one passes for it, else
    ``"undecided at this power"``."""
    if any(p < alpha for p in p_against):
        return "contradicted"
    return "confirmed" if all(p < alpha for p in p_for) else "undecided at this power"


def verdicts(runs: Sequence[dict[str, Any]], claims: dict[str, dict[str, Any]] | None = None,
             alpha: float = ALPHA, measure_name: str = "final") -> dict[str, dict[str, Any]]:
    """Each claim of :data:`CLAIMS` tested on ``runs`` (records of :func:`train_setting`).

    Returns, per claim: its comparisons (both settings' values of ``measure_name``, means,
    take-offs, the one-sided p-values in the paper's direction and against it, Holm-adjusted)
    and the verdict: ``"confirmed"``, ``"contradicted"`` or ``"undecided at this power"``.
    The protocol decides on the final top-1; ``measure_name="epoch1"`` is its secondary read.
    """
    claims = CLAIMS if claims is None else claims
    check_choice("measure_name", measure_name, list(MEASURES))
    by: dict[str, list[float]] = {}
    for r in sorted(runs, key=lambda r: r["seed"]):
        by.setdefault(r["setting"], []).append(measure(r, measure_name))
    out: dict[str, dict[str, Any]] = {}
    for key, c in claims.items():
        rows = []
        for better, worse in c["comparisons"]:
            a, b = by.get(better, []), by.get(worse, [])
            if not a or not b:
                rows.append({"better": better, "worse": worse, "missing": True})
                continue
            rows.append({"better": better, "worse": worse, "n": [len(a), len(b)],
                         "mean": [statistics.fmean(a), statistics.fmean(b)],
                         "took_off": [sum(took_off(v, CHANCE) for v in a),
                                      sum(took_off(v, CHANCE) for v in b)],
                         "values": [a, b],
                         "p_for": mann_whitney_less(b, a), "p_against": mann_whitney_less(a, b)})
        done = [r for r in rows if not r.get("missing")]
        if len(done) < len(rows):
            verdict = "missing runs"
        else:
            p_for = holm([r["p_for"] for r in done])
            p_against = holm([r["p_against"] for r in done])
            for r, pf, pa in zip(done, p_for, p_against):
                r["p_for_holm"], r["p_against_holm"] = pf, pa
            verdict = verdict_rule(p_for, p_against, alpha)
        out[key] = {**{k: v for k, v in c.items() if k != "comparisons"}, "comparisons": rows,
                    "verdict": verdict, "alpha": alpha, "measure": measure_name}
    return out


def settings_json() -> dict[str, Any]:
    """:data:`SETTINGS` as the record's JSON holds it (lists, not tuples)."""
    return json.loads(json.dumps(SETTINGS))


def _check_runs(runs: object) -> list[dict[str, Any]]:
    if not isinstance(runs, (list, tuple)) or not all(
            isinstance(r, dict) and {"setting", "seed", "test_acc1"} <= r.keys() for r in runs):
        raise ValueError("runs must be a list of run records (dicts with 'setting', 'seed' and "
                         f"'test_acc1'), got {type(runs).__name__}")
    return list(runs)


def setting_stats(runs: Sequence[dict[str, Any]], name: str) -> dict[str, Any] | None:
    """One setting's numbers over its seeds, or ``None`` when the record has no run of it:
    ``n``, ``seeds``, ``values`` (final top-1), ``mean``, ``std`` (sample, n - 1; 0 for one run),
    ``took_off`` (final top-1 above chance + 25), ``epoch1`` (the secondary measure's mean;
    ``None`` where a run was not tested after its first epoch), ``seconds_per_step`` (median)."""
    mine = sorted((r for r in _check_runs(runs) if r["setting"] == name), key=lambda r: r["seed"])
    if not mine:
        return None
    values = [measure(r) for r in mine]
    return {"n": len(mine), "seeds": [r["seed"] for r in mine], "values": values,
            "mean": statistics.fmean(values),
            "std": statistics.stdev(values) if len(values) > 1 else 0.0,
            "took_off": sum(took_off(v, CHANCE) for v in values),
            "epoch1": statistics.fmean(measure(r, "epoch1") for r in mine)
            if all("test_acc1" in (r.get("history") or [{}])[0] for r in mine) else None,
            "seconds_per_step": statistics.median(r.get("seconds_per_step", math.nan)
                                                  for r in mine)}
