r"""Backing module of the chapter "Regions or pixels: peers and costs" (``book/peers_costs.md``).

The measuring is :mod:`regr_edu.costs` (shared with ``benchmarks/costs.py``); this module holds
what only the chapter needs around it: the recorded benchmark run it reads, its tables, the
"try a map" widget, and the grader of its exercise.

- :func:`load_record`: the run ``benchmarks/costs.py`` wrote (its meta and its rows by table).
- :func:`show_table`: rows of measurements displayed as a markdown table.
- :func:`costs_widget`: choose a unit and a map, see what it costs (:func:`regr_edu.costs.explore`).
- :func:`grade_count_regions`: the exercise "count the regions", checked against the unit itself.
"""
from __future__ import annotations

import json
import pathlib
from typing import Any, Callable, Mapping, Sequence

from .. import costs
from ..exercises import GradeResult
from ._display import table_html, with_static_fallback

RESULTS = pathlib.Path(__file__).resolve().parents[2] / "benchmarks" / "results"
TABLES = ("units", "variants", "backbones", "sweep", "bars")


def load_record(folder: "str | pathlib.Path" = RESULTS,
                stem: str = "costs") -> tuple[dict[str, Any], dict[str, list[dict[str, Any]]]]:
    """The recorded run: ``meta`` (command, date, machine ...) from ``<stem>.json`` and the rows
    of ``<stem>.csv`` grouped by their ``table`` (:data:`TABLES`)."""
    folder = pathlib.Path(folder)
    meta = json.loads((folder / f"{stem}.json").read_text(encoding="utf-8"))["meta"]
    rows = costs.read_csv(folder / f"{stem}.csv")
    return meta, {t: [r for r in rows if r.get("table") == t] for t in TABLES}


def show_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> None:
    """Display rows of measurements as a markdown table (:func:`regr_edu.costs.markdown_table`)."""
    from IPython.display import Markdown, display
    display(Markdown(costs.markdown_table(rows, columns)))


def costs_widget(channels: Sequence[int] = (256, 512, 1024), repeats: int = 3):
    """A unit (:data:`~regr_edu.costs.COST_UNITS` and variants), a channel count, a square map and
    a number of frames; each setting is measured by :func:`regr_edu.costs.explore` (batch 1,
    ``repeats`` timed runs) and shown as a table. Displayed on a static page, it is a picture of
    its first setting (:func:`~regr_edu.interactive.with_static_fallback`)."""
    import ipywidgets as widgets

    def measure(unit="ReGr", channels=512, side=28, frames=1):
        out = costs.explore(unit, channels=channels, side=side, frames=frames, repeats=repeats)
        show_table([out], list(out))
        return out

    explorer = widgets.interactive(
        measure, unit=list({**costs.COST_UNITS, **costs.COST_VARIANTS}),
        channels=widgets.Dropdown(options=list(channels), value=512 if 512 in channels
                                  else channels[0]),
        side=widgets.IntSlider(value=28, min=7, max=56, step=7),
        frames=widgets.IntSlider(value=1, min=1, max=8))
    return with_static_fallback(
        explorer, picture=lambda: table_html([explorer.result], list(explorer.result)))


COUNT_CASES = [(28, ((4, 4), (7, 7))), (14, ((3, 3), (5, 5))), (56, ((1, 1),)), (7, ((2, 2),)),
               (16, ((2, 2), (4, 4))), (9, ((4, 4),))]


def grade_count_regions(student_fn: Callable[[int, tuple], int], *,
                        verbose: bool = True) -> GradeResult:
    """Check ``student_fn(side, scales)``, the number of regions ``N`` a unit with ``scales``
    relates on a ``side x side`` map (a scale that does not divide the map is padded), against
    the ``num_regions`` of the unit itself on :data:`COUNT_CASES`."""
    from ..regr import ReGr

    for k, (side, scales) in enumerate(COUNT_CASES):
        want = ReGr(64, scales=scales, input_size=(side, side)).num_regions
        try:
            got = student_fn(side, scales)
        except Exception as err:                    # the learner's code: report, do not raise
            result = GradeResult(False, f"count_regions({side}, {scales}) raised "
                                        f"{type(err).__name__}: {err}", k + 1)
            break
        if got != want:
            result = GradeResult(False, f"count_regions({side}, {scales}): expected N = "
                                        f"{want}, got {got!r}", k + 1)
            break
    else:
        result = GradeResult(True, f"PASS: N matches the unit's on {len(COUNT_CASES)} maps",
                             len(COUNT_CASES))
    if verbose:
        print(result)
    return result
