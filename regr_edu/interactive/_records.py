r"""What the two experiment chapters share: a sweep's record, each setting's numbers, the
claims' verdicts, learning curves, a recorded first epoch beside its rerun, and a grader for
exercises on plain Python values.

A *record* is the JSON file a sweep writes into ``benchmarks/results/`` (found next to the
package, never through the working directory); its ``runs`` are records of
:func:`regr_edu.experiments.train_setting` (``setting``, ``seed``, ``test_acc1``, ``history``
with one row per epoch, ``seconds_per_step``), or are turned into that form
(:func:`regr_edu.interactive.regions_matter.synthetic_runs`). The verdicts are
:func:`regr_edu.experiments.verdicts` on those runs; nothing here decides a claim on its own.
Plain functions validate their arguments: a ``ValueError`` names the parameter, the rule and the
value.
"""
from __future__ import annotations

import html
import json
import math
import pathlib
import statistics
import textwrap
from typing import Any, Callable, Sequence

from matplotlib.ticker import MaxNLocator

from .. import experiments
from ..device import numerics_fingerprint
from ..experiments import _check_runs, setting_stats
from ..exercises._runner import GradeResult
from ..stats import took_off
from ._display import new_figure

RESULTS = pathlib.Path(__file__).resolve().parents[1].parent / "benchmarks" / "results"
FIRST_EPOCH_KEYS = ("train_loss", "train_acc1", "test_acc1")
#: how far a rerun's first-epoch training loss may lie from the record's on a machine whose
#: numerics differ from the recording one (:func:`replay_verdict`); runs here drifted by
#: 0.001-0.012 after one epoch, while their test top-1 moved by up to 17 points
REPLAY_LOSS_TOL = 0.03
VERDICT_COLOURS = {"confirmed": "#1a7f37", "contradicted": "#cf222e",
                   "undecided at this power": "#9a6700", "missing runs": "#6e7781"}
FONT = 10


# ------------------------------------------------------------------------------ the record
def load_record(name: str = "ablations", results: "str | pathlib.Path | None" = None
                ) -> dict[str, Any]:
    """The record ``<results>/<name>.json`` (default folder: ``benchmarks/results`` beside the
    package). A ``FileNotFoundError`` says which file and which script writes it."""
    if not isinstance(name, str) or not name or "/" in name or name.endswith(".json"):
        raise ValueError(f"name must be a record's file name without '.json' (e.g. "
                         f"'ablations'), got {name!r}")
    path = pathlib.Path(RESULTS if results is None else results) / f"{name}.json"
    if not path.is_file():
        raise FileNotFoundError(f"no record at {path}: benchmarks/{name.split('_')[0]}.py "
                                f"writes it")
    record = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(record.get("runs"), list):
        raise ValueError(f"record {path} must hold a list 'runs', got "
                         f"{type(record.get('runs')).__name__}")
    return record


def label(name: str, settings: dict[str, Any] | None = None) -> str:
    """A setting's label (from ``settings``, e.g. the record's, else :data:`SETTINGS`)."""
    settings = experiments.SETTINGS if settings is None else settings
    return settings.get(name, {}).get("label", name)


def _num(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


def stats_cells(s: dict[str, Any] | None) -> list[str]:
    """A table row's cells for :func:`setting_stats`' result: mean ± std, take-offs out of
    runs, every seed's value, the epoch-1 mean; "not run yet" for ``None``."""
    if s is None:
        return ["not run yet", "—", "—", "—"]
    return [f"{s['mean']:.1f} ± {s['std']:.1f}", f"{s['took_off']}/{s['n']}",
            " ".join(f"{v:.1f}" for v in s["values"]), _num(s["epoch1"])]


def _cell(s: dict[str, Any] | None) -> str:
    if s is None:
        return "not run yet"
    return f"{s['mean']:.1f} ± {s['std']:.1f} (n={s['n']}, {s['took_off']} took off)"


# ------------------------------------------------------------------------------ verdicts
def _p(value: float | None) -> str:
    return "—" if value is None else f"{value:.2g}" if value < 0.01 else f"{value:.3f}"


def _verdict_span(verdict: str) -> str:
    colour = VERDICT_COLOURS.get(verdict, "#000")
    return f"<b style='color:{colour}'>{html.escape(verdict)}</b>"


def verdict_table(runs: Sequence[dict[str, Any]], claims: dict[str, dict] | None = None,
                  settings: dict[str, Any] | None = None) -> str:
    """The claims' verdicts as an HTML table, one row per comparison: the claim and the paper's
    numbers; both settings' final top-1 (mean ± std, n, take-offs); the Holm-adjusted one-sided
    p-values in the paper's direction and against it; the verdict (primary: final top-1) and,
    labelled secondary, the verdict of the same test on the top-1 after epoch 1."""
    runs = _check_runs(runs)
    primary = experiments.verdicts(runs, claims)
    secondary = experiments.verdicts(runs, claims, measure_name="epoch1")
    head = ["claim", "the paper's numbers (ResNet-50; CUB200 / UCF101)", "comparison",
            "ours: A, final top-1 %", "ours: B, final top-1 %", "p (A > B), Holm",
            "p (A < B), Holm", "verdict (primary: final top-1)",
            "secondary: top-1 after epoch 1 (A vs B means, verdict)"]
    rows = []
    for key, v in primary.items():
        comps, second = v["comparisons"], secondary[key]
        for k, c in enumerate(comps):
            a, b = setting_stats(runs, c["better"]), setting_stats(runs, c["worse"])
            s = second["comparisons"][k]
            sec = ("—" if s.get("missing") else f"{s['mean'][0]:.1f} vs {s['mean'][1]:.1f}")
            cells = [html.escape(label(c["better"], settings)) + " &gt; "
                     + html.escape(label(c["worse"], settings)), html.escape(_cell(a)),
                     html.escape(_cell(b)), _p(c.get("p_for_holm")), _p(c.get("p_against_holm"))]
            lead = []
            if k == 0:
                span = f" rowspan='{len(comps)}'"
                lead = [f"<td{span}>{html.escape(v['claim'])}</td>",
                        f"<td{span}>{html.escape(v['paper'])}</td>"]
            tail = ([f"<td rowspan='{len(comps)}'>{_verdict_span(v['verdict'])}</td>"]
                    if k == 0 else [])
            sec_cell = f"<td>{sec}" + (f"<br>{_verdict_span(second['verdict'])}" if k == 0
                                       else "") + "</td>"
            rows.append("<tr>" + "".join(lead) + "".join(f"<td>{x}</td>" for x in cells)
                        + "".join(tail) + sec_cell + "</tr>")
    header = "".join(f"<th>{html.escape(h, quote=False)}</th>" for h in head)
    return (f"<div style='overflow-x:auto'><table style='font-size:85%'><thead><tr>{header}"
            f"</tr></thead><tbody>" + "".join(rows) + "</tbody></table></div>")


def verdict_summary(runs: Sequence[dict[str, Any]], claims: dict[str, dict] | None = None
                    ) -> str:
    """The verdicts in a Markdown list, each claim with its primary verdict and, labelled, the
    secondary one; and a note where both sides of a comparison sit near the ceiling."""
    runs = _check_runs(runs)
    primary = experiments.verdicts(runs, claims)
    secondary = experiments.verdicts(runs, claims, measure_name="epoch1")
    lines = []
    for key, v in primary.items():
        line = (f"- **{v['claim']}**: {v['verdict']} (final top-1); secondary, top-1 after "
                f"epoch 1: {secondary[key]['verdict']}.")
        means = [m for c in v["comparisons"] if not c.get("missing") for m in c["mean"]]
        if v["verdict"] != "missing runs" and min(means) > 97.0:
            line += (" Every mean compared here is above 97 %: the final top-1 sits at its "
                     "ceiling and cannot separate these settings.")
        lines.append(line)
    return "\n".join(lines)


# ------------------------------------------------------------------------------ figures
def curves_figure(runs: Sequence[dict[str, Any]], names: Sequence[str],
                  settings: dict[str, Any] | None = None, columns: int = 6):
    """Test top-1 after every epoch, one panel per setting of ``names``: every seed (thin) and
    the mean over seeds (thick); chance dashed. A setting without runs gets an empty panel."""
    runs = _check_runs(runs)
    if isinstance(names, str) or not names or not all(isinstance(n, str) for n in names):
        raise ValueError(f"names must be a non-empty list of setting names, got {names!r}")
    if not isinstance(columns, int) or isinstance(columns, bool) or columns < 1:
        raise ValueError(f"columns must be an integer >= 1, got {columns!r}")
    cols = min(columns, len(names))
    rows = math.ceil(len(names) / cols)
    fig, axes = new_figure(rows, cols, figsize=(2.6 * cols + 0.6, 2.5 * rows + 0.4),
                           squeeze=False, sharey=True, layout="constrained")
    for ax in axes.flat[len(names):]:
        ax.set_visible(False)
    for ax, name in zip(axes.flat, names):
        mine = [r for r in runs if r["setting"] == name and r.get("history")]
        curves = [[(h["epoch"] + 1, h["test_acc1"]) for h in r["history"] if "test_acc1" in h]
                  for r in mine]
        for curve in curves:
            ax.plot(*zip(*curve), color="C0", lw=0.9, alpha=0.45)
        full = [c for c in curves if len(c) == max(map(len, curves), default=0)]
        if full:
            ax.plot([e for e, _ in full[0]], [statistics.fmean(v for _, v in rows)
                                              for rows in zip(*full)],
                    color="C3", lw=2.4, marker="o", ms=4, label="mean")
        if not mine:
            ax.text(0.5, 0.5, "not run yet", ha="center", va="center", transform=ax.transAxes,
                    fontsize=FONT, color="grey")
        ax.axhline(experiments.CHANCE, color="grey", lw=0.8, ls="--")
        ax.set_ylim(40, 102)
        ax.set_xlim(0.7, max((e for c in curves for e, _ in c),
                             default=experiments.TRAIN["epochs"]) + 0.3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(textwrap.fill(f"{label(name, settings)} (n={len(mine)})", 26),
                     fontsize=FONT)
        ax.set_xlabel("epoch", fontsize=FONT)
        ax.tick_params(labelsize=FONT - 1)
        ax.grid(alpha=0.3)
    for ax in axes[:, 0]:
        ax.set_ylabel("test top-1 (%)", fontsize=FONT)
    return fig


# ---------------------------------------------------------------------- refine_study's records
# (``benchmarks/refine_study.py``: runs with ``task``, ``opt``, ``arm``, ``seed``,
# ``final_test_acc1``, ``history`` and ``monitor``; the refine and regions chapters read them)
def study_runs(record: dict, task: str, opt: str, arm: str,
               seeds: Sequence[int] | None = None) -> list[dict]:
    """The runs of one arm under one condition, by seed (``seeds``: only these)."""
    runs = [r for r in record["runs"] if (r["task"], r["opt"], r["arm"]) == (task, opt, arm)
            and (seeds is None or r["seed"] in seeds)]
    if not runs:
        have = sorted({(r["task"], r["opt"], r["arm"]) for r in record["runs"]})
        raise ValueError(f"no run of arm {arm!r} on task {task!r} with optimizer {opt!r} in the "
                         f"record; it holds {have}")
    return sorted(runs, key=lambda r: r["seed"])


def study_rows(record: dict, task: str, opt: str, arms: Sequence[str],
               seeds: Sequence[int] | None = None) -> list[dict]:
    """Per arm: its label, the final top-1 of each seed (``seeds``: only these), their mean and
    how many took off (:func:`regr_edu.stats.took_off`)."""
    chance = record["tasks"][task]["chance"]
    rows = []
    for arm in arms:
        values = [r["final_test_acc1"] for r in study_runs(record, task, opt, arm, seeds)]
        rows.append({"arm": arm, "label": record["arms"][arm]["label"], "values": values,
                     "mean": sum(values) / len(values),
                     "took_off": sum(took_off(v, chance) for v in values), "n": len(values)})
    return rows


# ------------------------------------------------------------------------------ replay
def first_epoch_rows(recorded: dict[str, Any], live: dict[str, Any]) -> list[dict[str, Any]]:
    """The first epoch's ``train_loss``, ``train_acc1`` and ``test_acc1`` of a recorded run and
    a live one (rows of their ``history``), each with ``equal``: the same float, bit for bit."""
    for arg, row in (("recorded", recorded), ("live", live)):
        if not isinstance(row, dict) or not set(FIRST_EPOCH_KEYS) <= row.keys():
            raise ValueError(f"{arg} must be a history row with {list(FIRST_EPOCH_KEYS)}, "
                             f"got {row!r}")
    return [{"quantity": k, "recorded": recorded[k], "live": live[k],
             "equal": float(recorded[k]) == float(live[k])} for k in FIRST_EPOCH_KEYS]


def replay_verdict(rows: Sequence[dict[str, Any]], recorded_numerics: dict | None = None,
                   here: dict | None = None) -> str:
    """Judge a live rerun of a recorded first epoch (:func:`first_epoch_rows`' rows) and say so
    in a sentence; raise ``AssertionError`` where it fails.

    Bit for bit it passes anywhere. Otherwise it depends on where it runs. On a machine with the
    record's numerics (``recorded_numerics``, the record's
    :func:`~regr_edu.device.numerics_fingerprint`), only the package's numbers can have changed,
    and that fails. On another one (or when the record does not say) floating-point sums may
    be taken in another order, and training amplifies the difference: the check is then that
    the first epoch's mean training loss lies within :data:`REPLAY_LOSS_TOL` of the record's.
    Accuracies after one epoch are shown but not compared, since a run near its take-off turns
    a rounding difference into many points."""
    here = numerics_fingerprint() if here is None else here
    if all(r["equal"] for r in rows):
        return "bit for bit: the recorded numbers, every digit"
    if recorded_numerics is not None and dict(recorded_numerics) == dict(here):
        raise AssertionError(f"the record was written with these numerics ({here}), yet the "
                             f"rerun differs: the package's numbers changed; rows: {list(rows)}")
    loss = {r["quantity"]: r for r in rows}["train_loss"]
    gap = abs(float(loss["live"]) - float(loss["recorded"]))
    where = ("the record does not say which CPU wrote it" if recorded_numerics is None
             else f"the record was written with {recorded_numerics}")
    if not gap <= REPLAY_LOSS_TOL:
        raise AssertionError(f"the rerun's first-epoch training loss is {loss['live']}, "
                             f"{gap:.4f} from the record's {loss['recorded']} (tolerance "
                             f"{REPLAY_LOSS_TOL}; {where}; this machine: {here})")
    return (f"not bit for bit: {where}, and this machine ({here['cpu_capability']}, torch "
            f"{here['torch']}) may sum in another order; the first epoch's training loss "
            f"agrees within {gap:.4f} (tolerance {REPLAY_LOSS_TOL})")


def first_epoch_table(rows: Sequence[dict[str, Any]], title: str) -> str:
    """HTML: :func:`first_epoch_rows`' rows, recorded beside rerun (every digit, ``repr``)."""
    body = "".join(f"<tr><td>{html.escape(r['quantity'])}</td><td>{r['recorded']!r}</td>"
                   f"<td>{r['live']!r}</td><td>{r['equal']}</td></tr>" for r in rows)
    return (f"<table><thead><tr><th>{html.escape(title)}</th><th>recorded</th><th>rerun now</th>"
            f"<th>equal</th></tr></thead><tbody>{body}</tbody></table>")


# ------------------------------------------------------------------------------ exercises
def grade_plain(student_fn: Callable, reference: Callable, cases: Sequence[tuple], *, what: str,
                convert: Callable[[Any], Any] = lambda v: v,
                equal: Callable[[Any, Any], bool] = lambda a, b: a == b,
                verbose: bool = True) -> GradeResult:
    """Call ``student_fn(*case)`` and ``reference(*case)`` on every case (plain Python values,
    not tensors); the student's result goes through ``convert`` (an error there fails the case)
    and must be ``equal`` to the reference's. Stops at the first mismatch or exception."""
    if not callable(student_fn):
        raise TypeError(f"student_fn must be callable, got {type(student_fn).__name__}")
    result = GradeResult(True, f"{what}: all {len(cases)} cases match", len(cases))
    for n, case in enumerate(cases, 1):
        want = reference(*case)
        shown = ", ".join(repr(a) for a in case)
        try:
            got = convert(student_fn(*json.loads(json.dumps(case))))   # the student's own copy
        except Exception as exc:                     # the student's error is part of the report
            result = GradeResult(False, f"{what}: case {n} ({shown}) raised "
                                        f"{type(exc).__name__}: {exc}", n)
            break
        if not equal(got, want):
            result = GradeResult(False, f"{what}: case {n} ({shown}): expected {want!r}, got "
                                        f"{got!r}", n)
            break
    if verbose:
        print(("PASS " if result.passed else "FAIL ") + result.message)
    return result


