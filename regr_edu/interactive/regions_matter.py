r"""Figures, tables, the live rerun and the exercises of the "Regions that matter" chapter.

The chapter's record is ``benchmarks/results/synthetic.json`` (written by
``benchmarks/synthetic.py``: every run is ``python -m regr_edu.train`` with the record's
``settings`` and one arm's unit). :func:`synthetic_runs` turns its runs into the form of
:func:`regr_edu.experiments.train_setting`'s records, so that the tables, curves and verdicts
the two experiment chapters share (:mod:`regr_edu.interactive._records`, available here under
the same names: :func:`load_record`, :func:`curves_figure`, :func:`verdict_table`,
:func:`verdict_summary`, :func:`first_epoch_table`) read it too.

- :func:`samples_figure`, :func:`clip_figure`: the task;
- :func:`synthetic_runs`, :func:`arm_table`, :func:`earlier_and_now`: the record;
- :func:`cli_argv`, :func:`replay_cli_first_epoch`: one recorded run's first epoch, rerun through
  the command line's own code;
- :func:`seed_curves_figure`, :func:`rerun_table`: why some seeds stay at chance (records of
  ``benchmarks/refine_study.py``);
- :func:`receptive_field`, :func:`grade_receptive_field`: the chapter's exercise.
"""
from __future__ import annotations

import html
import pathlib
import shlex
import tempfile
from typing import Any, Callable, Sequence

from .. import experiments
from .._checks import check_choice, check_int
from ..exercises._runner import GradeResult
from ..stats import took_off
from ._display import new_figure
from ._records import (FONT, curves_figure, first_epoch_rows, first_epoch_table,  # noqa: F401
                       grade_plain, load_record, replay_verdict, setting_stats, stats_cells,
                       study_rows, study_runs, verdict_summary, verdict_table)

# The comparisons this chapter reads on its record, with the protocol's test. The protocol
# (``regr_edu.experiments.CLAIMS``) decides the paper's claims on the ablations' record; these
# are the same questions asked of this record's five seeds, a reading, not a decision.
ARM_CLAIMS: dict[str, dict[str, Any]] = {
    "units_beat_backbone": {
        "claim": "a unit beats the plain backbone",
        "paper": "Tables 5-6: every unit above Res50 (CUB 84.61; UCF101 82.80)",
        "comparisons": [("regr", "none"), ("nl", "none"), ("glore", "none")]},
    "regions_beat_pixels": {
        "claim": "regions beat pixels: ReGr above the non-local block",
        "paper": "Tables 5-6: ReGr 86.19 vs NL 85.45 (CUB); 83.98 vs 83.40 (UCF101)",
        "comparisons": [("regr", "nl")]},
    "regions_beat_nodes": {
        "claim": "ReGr above GloRe",
        "paper": "Tables 5-6: ReGr 86.19 vs GloRe 85.78 (CUB); 83.98 vs 83.30 (UCF101)",
        "comparisons": [("regr", "glore")]},
    "refine_helps": {
        "claim": "refine helps",
        "paper": "Tables 5-6: with refine 86.19 vs without 85.88 (CUB); 83.98 vs 83.12 (UCF101)",
        "comparisons": [("regr", "regr_norefine")]},
}


def _check_record(record: object) -> dict[str, Any]:
    if not isinstance(record, dict) or not {"runs", "arms", "settings"} <= record.keys():
        raise ValueError("record must be the synthetic sweep's record (a dict with 'runs', "
                         f"'arms' and 'settings'), got {type(record).__name__}")
    return record


# ------------------------------------------------------------------------------ the task
def samples_figure(data, count: int = 12):
    """The first ``count`` images of a :class:`~regr_edu.data.synthetic.SyntheticImages`, each
    titled with its label and its two glyphs' shapes."""
    check_int("count", count, 1, len(data))
    cols = min(6, count)
    rows = -(-count // cols)
    fig, axes = new_figure(rows, cols, figsize=(1.9 * cols, 2.1 * rows), squeeze=False,
                           layout="constrained")
    for k, ax in enumerate(axes.flat):
        ax.axis("off")
        if k < count:
            image, y = data[k]
            shapes = data.meta(k)["shapes"]
            ax.imshow(image.permute(1, 2, 0).numpy())
            ax.set_title(f"{data.classes[y]}\n{shapes[0]} / {shapes[1]}", fontsize=FONT)
    return fig


def clip_figure(clips, index: int = 0):
    """The frames of clip ``index`` of a :class:`~regr_edu.data.synthetic.SyntheticClips`,
    titled with its class and the two squares' directions."""
    check_int("index", index, 0, len(clips) - 1)
    clip, y = clips[index]
    frames = clip.shape[1]
    fig, axes = new_figure(1, frames, figsize=(1.6 * frames, 2.1), layout="constrained")
    for t, ax in enumerate(axes):
        ax.imshow(clip[:, t].permute(1, 2, 0).numpy())
        ax.set_title(f"t={t}", fontsize=FONT)
        ax.axis("off")
    fig.suptitle(f"{clips.classes[y]}: {clips.meta(index)['directions']}", fontsize=FONT)
    return fig


# ------------------------------------------------------------------------------ the record
def synthetic_runs(record: dict[str, Any]) -> list[dict[str, Any]]:
    """The record's runs as :func:`regr_edu.experiments.train_setting` writes them: ``setting``
    (the arm), ``seed``, ``test_acc1`` (the final one), ``history``; ``seconds_per_step`` from
    the epochs' times."""
    record = _check_record(record)
    steps = record["settings"]["train_samples"] // record["settings"]["batch_size"]
    out = []
    for r in record["runs"]:
        seconds = [h["epoch_seconds"] for h in r["history"] if "epoch_seconds" in h]
        out.append({"setting": r["arm"], "seed": r["seed"], "test_acc1": r["final_test_acc1"],
                    "history": r["history"],
                    "seconds_per_step": sum(seconds) / (steps * len(seconds)) if seconds
                    else float("nan")})
    return out


def arm_labels(record: dict[str, Any]) -> dict[str, dict[str, str]]:
    """``{arm: {"label": ...}}`` from the record, in the form the ablations helpers take."""
    return {a: {"label": v["label"]} for a, v in _check_record(record)["arms"].items()}


def arm_table(record: dict[str, Any]) -> str:
    """HTML: per arm, final top-1 (mean ± std), take-offs, every seed, and the top-1 after
    epoch 1 (mean)."""
    runs = synthetic_runs(record)
    head = "".join(f"<th>{html.escape(h, quote=False)}</th>" for h in (
        "model", "final test top-1 %, mean ± std", "took off", "each seed (0, 1, ...)",
        "top-1 after epoch 1 (mean)"))
    rows = []
    for arm, a in record["arms"].items():
        cells = stats_cells(setting_stats(runs, arm))
        rows.append(f"<tr><td>{html.escape(a['label'])}</td>"
                    + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return (f"<table style='font-size:90%'><thead><tr>{head}</tr></thead><tbody>"
            + "".join(rows) + "</tbody></table>")


def earlier_and_now(earlier: dict[str, Any], now: dict[str, Any]) -> str:
    """HTML: each arm's final top-1 and take-offs in the earlier record and in this one, with
    each record's budget in the header."""
    def budget(r):
        s = r["settings"]
        return (f"{s['train_samples']} images × {s['epochs']} epochs, "
                f"{s.get('optimizer', 'sgd')} lr {s['lr']:g}")
    old_runs, new_runs = synthetic_runs(earlier), synthetic_runs(now)
    head = "".join(f"<th>{html.escape(h, quote=False)}</th>" for h in (
        "model", f"earlier record ({budget(earlier)}; refine as printed)",
        f"this record ({budget(now)}; refine added)"))
    rows = []
    for arm, a in now["arms"].items():
        cells = []
        for runs in (old_runs, new_runs):
            s = setting_stats(runs, arm)
            cells.append("—" if s is None else
                         f"{s['mean']:.1f} ± {s['std']:.1f}, {s['took_off']}/{s['n']} took off")
        rows.append(f"<tr><td>{html.escape(a['label'])}</td>"
                    + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return (f"<table style='font-size:90%'><thead><tr>{head}</tr></thead><tbody>"
            + "".join(rows) + "</tbody></table>")


# ------------------------------------------------------------------------------ the rerun
def cli_argv(record: dict[str, Any], arm: str, seed: int, output_dir: "str | pathlib.Path",
             stop_epoch: int | None = None) -> list[str]:
    """The ``python -m regr_edu.train`` arguments of the recorded run (``arm``, ``seed``): one
    flag per entry of the record's ``settings`` (``train_samples`` -> ``--train-samples``),
    the arm's unit and options, ``--seed`` and ``--data-seed`` both ``seed``; ``stop_epoch``
    stops after that many epochs of the same schedule."""
    record = _check_record(record)
    check_choice("arm", arm, list(record["arms"]))
    a = record["arms"][arm]
    return experiments.cli_argv(record["settings"], a["unit"], a["unit_kwargs"], seed,
                                output_dir, stop_epoch)


def replay_cli_first_epoch(record: dict[str, Any], arm: str, seed: int) -> dict[str, Any]:
    """Rerun the first epoch of the recorded run (``arm``, ``seed``) through the command line's
    code (:func:`regr_edu.train.main` with :func:`cli_argv` and ``--stop-epoch 1``, in a
    temporary folder); return ``argv``, ``command`` (the same arguments for a shell, the folder
    shown as ``RUN_FOLDER``), ``live`` (its first metrics row), ``recorded`` (the record's) and
    ``rows`` (:func:`~regr_edu.interactive.ablations.first_epoch_rows`)."""
    from ..train import main
    from ..training import read_metrics

    recorded = [r for r in _check_record(record)["runs"] if r["arm"] == arm and r["seed"] == seed]
    if not recorded:
        raise ValueError(f"(arm, seed) must be a recorded run, got {(arm, seed)!r}")
    with tempfile.TemporaryDirectory(prefix="regions_matter_") as folder:
        argv = cli_argv(record, arm, seed, pathlib.Path(folder) / "run", stop_epoch=1)
        main(argv)
        live = read_metrics(pathlib.Path(folder) / "run")[0]
    shown = cli_argv(record, arm, seed, "RUN_FOLDER", stop_epoch=1)
    return {"argv": argv, "command": shlex.join(shown), "live": live,
            "recorded": recorded[0]["history"][0],
            "rows": first_epoch_rows(recorded[0]["history"][0], live)}


# ------------------------------------------------------------------------------ stuck seeds
def _running_mean(values: Sequence[float], width: int) -> list[float]:
    out, total = [], 0.0
    for i, v in enumerate(values):
        total += v - (values[i - width] if i >= width else 0.0)
        out.append(total / min(i + 1, width))
    return out


def seed_curves_figure(record: dict[str, Any], task: str, opt: str, arms: Sequence[str],
                       smooth: int = 8):
    """One column per arm of a ``refine_study`` record: the training loss (top, a running mean
    over ``smooth`` monitor records) and the mean ``|weight|`` of the unit's last BatchNorm
    (bottom, the monitor's ``bn_weight``) over the training steps, one line per seed: blue for
    the runs that took off, red for the others."""
    check_int("smooth", smooth, 1)
    if isinstance(arms, str) or not arms:
        raise ValueError(f"arms must be a non-empty list of arm names, got {arms!r}")
    chance = record["tasks"][task]["chance"]
    fig, axes = new_figure(2, len(arms), figsize=(3.4 * len(arms) + 0.6, 5.2), squeeze=False,
                           sharex=True, sharey="row", layout="constrained")
    for col, arm in enumerate(arms):
        runs = study_runs(record, task, opt, arm)
        if not all(r["monitor"] and "bn_weight" in r["monitor"][-1] for r in runs):
            raise ValueError(f"the runs of arm {arm!r} must have the monitor's bn_weight column "
                             "(recorded since the monitor has it; rerun with --fresh)")
        for run in runs:
            up = took_off(run["final_test_acc1"], chance)
            steps = [row["step"] for row in run["monitor"]]
            style = dict(color="C0" if up else "C3", lw=1.0, alpha=0.75)
            axes[0, col].plot(steps, _running_mean([row["loss"] for row in run["monitor"]],
                                                   smooth), **style)
            axes[1, col].plot(steps, [row["bn_weight"] for row in run["monitor"]], **style)
        ups = sum(took_off(r["final_test_acc1"], chance) for r in runs)
        axes[0, col].set_title(f"{arm}: {ups} of {len(runs)} took off", fontsize=FONT)
        axes[1, col].set_xlabel("training step", fontsize=FONT)
        for ax in axes[:, col]:
            ax.grid(alpha=0.3)
            ax.tick_params(labelsize=FONT - 1)
    axes[0, 0].set_ylabel("training loss", fontsize=FONT)
    axes[1, 0].set_ylabel("last BatchNorm, mean |weight|", fontsize=FONT)
    return fig


def rerun_table(first: dict[str, Any], second: dict[str, Any], task: str, opt: str,
                arms: Sequence[str], names: Sequence[str] = ("first", "second")) -> str:
    """HTML: per arm and seed, the final top-1 in two records of the same settings (the same
    seeds run twice, e.g. at two commits; ``names`` label the records), the runs whose take-off
    differs in bold, and each record's count."""
    if isinstance(names, str) or len(names) != 2:
        raise ValueError(f"names must be two labels, one per record, got {names!r}")
    chance = first["tasks"][task]["chance"]
    head = "".join(f"<th>{html.escape(h, quote=False)}</th>" for h in (
        "arm", "record", "took off", "final test top-1 % by seed (0, 1, ...)"))
    rows = []
    for arm in arms:
        a, b = (study_runs(r, task, opt, arm) for r in (first, second))
        if [r["seed"] for r in a] != [r["seed"] for r in b]:
            raise ValueError(f"the two records must hold the same seeds of arm {arm!r}, got "
                             f"{[r['seed'] for r in a]} and {[r['seed'] for r in b]}")
        flips = [took_off(x["final_test_acc1"], chance) != took_off(y["final_test_acc1"], chance)
                 for x, y in zip(a, b)]
        for runs, name in zip((a, b), names):
            values = " ".join(f"<b>{r['final_test_acc1']:.1f}</b>" if flip
                              else f"{r['final_test_acc1']:.1f}" for r, flip in zip(runs, flips))
            ups = sum(took_off(r["final_test_acc1"], chance) for r in runs)
            rows.append(f"<tr><td>{html.escape(arm)}</td><td>{html.escape(str(name))}</td>"
                        f"<td>{ups}/{len(runs)}</td><td>{values}</td></tr>")
    return (f"<table style='font-size:90%'><thead><tr>{head}</tr></thead><tbody>"
            + "".join(rows) + "</tbody></table>")


# ------------------------------------------------------------------------------ exercise
def _check_layers(layers: object) -> list[tuple[int, int]]:
    ok = isinstance(layers, (list, tuple)) and all(
        isinstance(p, (list, tuple)) and len(p) == 2 and all(
            isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in p) for p in layers)
    if not ok:
        raise ValueError(f"layers must be a list of (kernel, stride) pairs of positive integers, "
                         f"got {layers!r}")
    return [tuple(p) for p in layers]  # type: ignore[misc]


def receptive_field(layers: Sequence[tuple[int, int]]) -> tuple[int, int]:
    """``(size, jump)`` of one output cell of a stack of convolutions ``[(kernel, stride)]``,
    input first: the side of the input window the cell sees and the input distance between two
    neighbouring cells (away from the borders)."""
    size, jump = 1, 1
    for kernel, stride in _check_layers(layers):
        size += (kernel - 1) * jump
        jump *= stride
    return size, jump


RF_CASES = [[], [(3, 1)], [(3, 2)], [(3, 1), (3, 1)], [(7, 2), (3, 2), (3, 1)],
            [(3, 2), (3, 1), (3, 1), (3, 2), (3, 1), (3, 2), (3, 1)], [(1, 2), (5, 1)]]


def grade_receptive_field(student_fn: Callable, verbose: bool = True) -> GradeResult:
    """Check ``student_fn(layers)`` against :func:`receptive_field` on stacks of convolutions
    (the empty stack, one layer, strides early and late, the backbone's main path)."""
    return grade_plain(student_fn, receptive_field, [(c,) for c in RF_CASES],
                       what="receptive field (size, jump)",
                       convert=lambda v: tuple(int(x) for x in v), verbose=verbose)
