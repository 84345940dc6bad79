r"""Tables, figures, verdicts and exercises of the ablations chapter (the paper's claims, rerun).

The chapter reads ``benchmarks/results/ablations.json``, the record ``benchmarks/ablations.py``
writes (runs of :func:`regr_edu.experiments.train_setting`). What it shares with the
regions-that-matter chapter (the record, each setting's numbers, the verdicts, learning curves,
the first-epoch comparison) lives in :mod:`regr_edu.interactive._records` and is available here
under the same names. Of its own:

- :func:`table_beside_paper`: one of the paper's tables beside ours;
- :func:`cost_figure`: accuracy against FLOPs and against time per step;
- :func:`replay_first_epoch`: one recorded run's first epoch, rerun with ``train_setting``;
- :func:`grade_holm`, :func:`grade_verdict` (and :func:`verdict_rule`): the exercises.

Plain functions validate their arguments: a ``ValueError`` names the parameter, the rule and the
value.
"""
from __future__ import annotations

import html
from typing import Any, Callable, Sequence

import matplotlib

from .. import experiments
from .._checks import check_choice
from ..exercises._runner import GradeResult
from ._display import new_figure
from ._records import (FIRST_EPOCH_KEYS, FONT, REPLAY_LOSS_TOL, RESULTS,  # noqa: F401
                       VERDICT_COLOURS, _check_runs,
                       curves_figure, first_epoch_rows, first_epoch_table, grade_plain, label,
                       load_record, replay_verdict, setting_stats, stats_cells,
                       verdict_summary, verdict_table)


# ------------------------------------------------------------------------------ tables
def table_beside_paper(runs: Sequence[dict[str, Any]], key: str,
                       settings: dict[str, Any] | None = None) -> str:
    """HTML: the paper's table ``key`` of :data:`TABLES` (labelled as the paper's, its data
    sets' columns) beside ours (each setting's final top-1, take-offs, epoch-1 top-1)."""
    check_choice("key", key, list(experiments.TABLES))
    runs = _check_runs(runs)
    t = experiments.TABLES[key]
    paper_head = "".join(f"<th>paper: {html.escape(c)}</th>" for c in t["paper_columns"])
    paper_rows = "".join("<tr><td>" + html.escape(r[0]) + "</td>" + "".join(
        f"<td>{v:.2f}</td>" for v in r[1:]) + "</tr>" for r in t["paper"])
    ours = []
    for name in t["ours"]:
        cells = stats_cells(setting_stats(runs, name))
        ours.append("<tr><td>" + html.escape(label(name, settings)) + "</td>"
                    + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    ours_head = "".join(f"<th>{html.escape(h, quote=False)}</th>" for h in (
        "ours: setting", "final top-1 %, mean ± std", "took off", "each seed",
        "top-1 after epoch 1 (mean)"))
    return (f"<h4>{html.escape(t['title'])}</h4><div style='display:flex; gap:2em; "
            f"flex-wrap:wrap; font-size:90%'><table><thead><tr><th>paper: row</th>{paper_head}"
            f"</tr></thead><tbody>{paper_rows}</tbody></table><table><thead><tr>{ours_head}"
            f"</tr></thead><tbody>{''.join(ours)}</tbody></table></div>")


def cost_figure(runs: Sequence[dict[str, Any]], costs: dict[str, dict[str, float]],
                settings: dict[str, Any] | None = None):
    """Every setting's final top-1 (mean, error bar one std) against its cost: FLOPs per image
    (left, from ``costs``: the record's ``model_cost`` of each setting) and the median time per
    training step (right, from the runs). One colour and marker per setting, named in the
    legend; the settings of the deeper backbone (blocks (1,2,2)) are drawn hollow."""
    runs = _check_runs(runs)
    if not isinstance(costs, dict) or not all(isinstance(c, dict) and "flops" in c
                                              for c in costs.values()):
        raise ValueError(f"costs must map setting names to {{'flops': ..., 'params': ...}}, "
                         f"got {type(costs).__name__}")
    fig, axes = new_figure(1, 2, figsize=(13, 5.2), sharey=True, layout="constrained")
    markers = "os^Dv<>P"
    for k, name in enumerate(experiments.SETTINGS):
        s = setting_stats(runs, name)
        if s is None or name not in costs:
            continue
        style = dict(fmt=markers[k % len(markers)], ms=7, capsize=3, alpha=0.9,
                     color=matplotlib.colormaps["tab20"](k % 20),
                     mfc="none" if "blocks" in experiments.SETTINGS[name] else None)
        for ax, x in zip(axes, (costs[name]["flops"] / 1e6, 1e3 * s["seconds_per_step"])):
            ax.errorbar(x, s["mean"], yerr=s["std"], label=f"{name}: {label(name, settings)}"
                        if ax is axes[0] else None, **style)
    fig.legend(loc="outside right center", fontsize=FONT - 2, title="setting",
               title_fontsize=FONT - 1)
    axes[0].set_xlabel("FLOPs per 64 × 64 image (millions)", fontsize=FONT)
    axes[1].set_xlabel("median time per training step, batch 64, one CPU thread (ms)",
                       fontsize=FONT)
    axes[0].set_ylabel("final test top-1 (%), mean ± std over seeds", fontsize=FONT)
    for ax in axes:
        ax.axhline(experiments.CHANCE, color="grey", lw=0.8, ls="--")
        ax.set_ylim(top=105)
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=FONT - 1)
    return fig


def replay_first_epoch(runs: Sequence[dict[str, Any]], name: str, seed: int,
                       **train_kwargs: Any) -> dict[str, Any]:
    """Rerun the first epoch of the recorded run (``name``, ``seed``) with
    ``experiments.train_setting(name, seed, stop_after=1)``; return ``live`` (its record),
    ``recorded`` and ``rows`` (:func:`first_epoch_rows`)."""
    recorded = [r for r in _check_runs(runs) if r["setting"] == name and r["seed"] == seed]
    if not recorded:
        have = sorted({(r["setting"], r["seed"]) for r in runs})
        raise ValueError(f"(name, seed) must be a recorded run, got {(name, seed)!r}; the "
                         f"record has {len(have)} runs")
    live = experiments.train_setting(name, seed, stop_after=1, **train_kwargs)
    return {"live": live, "recorded": recorded[0],
            "rows": first_epoch_rows(recorded[0]["history"][0], live["history"][0])}


# ------------------------------------------------------------------------------ exercises
HOLM_CASES = [([0.03],), ([0.01, 0.04, 0.03],), ([0.02, 0.02],), ([0.04, 0.3, 0.001, 0.012],),
              ([0.5, 0.6, 0.9],), ([0.011, 0.012],)]


def grade_holm(student_fn: Callable, verbose: bool = True) -> GradeResult:
    """Check ``student_fn(pvalues)`` (a list of p-values) against Holm's step-down adjustment:
    sort ascending, multiply the k-th smallest (k from 0) by ``m - k``, keep the running
    maximum, cap at 1, return the adjusted values in the input's order."""
    def close(got, want):
        return len(got) == len(want) and all(abs(g - w) <= 1e-12 for g, w in zip(got, want))
    return grade_plain(student_fn, experiments.holm, HOLM_CASES, what="Holm's adjustment",
                       convert=lambda v: [float(x) for x in v], equal=close, verbose=verbose)


verdict_rule = experiments.verdict_rule       # the protocol's rule, as the sweep applies it


VERDICT_CASES = [([0.01], [0.99], 0.05), ([0.01, 0.2], [0.9, 0.6], 0.05), ([0.7], [0.03], 0.05),
                 ([0.04, 0.01], [0.9, 0.8], 0.05), ([0.01, 0.9], [0.99, 0.02], 0.05),
                 ([0.05], [0.95], 0.05), ([0.03], [0.97], 0.01)]


def grade_verdict(student_fn: Callable, verbose: bool = True) -> GradeResult:
    """Check ``student_fn(p_for, p_against, alpha)`` (Holm-adjusted p-values of a claim's
    comparisons, in the paper's direction and against it) against the protocol's rule
    (:func:`verdict_rule`): ``"contradicted"`` if one comparison passes against the paper,
    else ``"confirmed"`` if all pass in its direction, else ``"undecided at this power"``."""
    return grade_plain(student_fn, verdict_rule, VERDICT_CASES, what="verdict rule",
                       verbose=verbose)
