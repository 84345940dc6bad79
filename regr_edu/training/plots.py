r"""Loss and accuracy curves from ``metrics.jsonl`` files (matplotlib is imported here only)."""
from __future__ import annotations

import os
from typing import Any, Mapping, Sequence

from .run import read_metrics

History = Sequence[Mapping[str, Any]]


def _as_history(run: "str | os.PathLike[str] | History") -> list[Mapping[str, Any]]:
    if isinstance(run, (str, os.PathLike)):
        return read_metrics(run)
    return list(run)


def plot_history(runs: "Mapping[str, str | os.PathLike[str] | History] | str | os.PathLike[str]"
                 " | History", *, title: str | None = None, video: bool | None = None, axes=None):
    r"""Two panels: training and test loss; training and test top-1 (and video-level top-1).

    Args:
        runs: one run (a ``metrics.jsonl`` path, its folder, or a list of rows) or a dict
            ``{label: run}`` to overlay several.
        video: also draw the video-level test accuracy (default: when the rows have it).
        axes: two matplotlib axes to draw into (default: a new 1 x 2 figure).

    Returns the matplotlib figure.
    """
    import matplotlib.pyplot as plt
    if isinstance(runs, Mapping):
        named = {str(k): _as_history(v) for k, v in runs.items()}
    else:
        named = {"": _as_history(runs)}
    if axes is None:
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), constrained_layout=True)
    else:
        fig = axes[0].figure
    loss_ax, acc_ax = axes
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (label, rows) in enumerate(named.items()):
        c = colours[i % len(colours)]
        prefix = f"{label} " if label else ""
        ep = [r["epoch"] + 1 for r in rows]
        loss_ax.plot(ep, [r["train_loss"] for r in rows], "--", color=c,
                     label=f"{prefix}train")
        acc_ax.plot(ep, [r["train_acc1"] for r in rows], "--", color=c, label=f"{prefix}train")
        tested = [r for r in rows if "test_acc1" in r]
        if tested:
            te = [r["epoch"] + 1 for r in tested]
            loss_ax.plot(te, [r["test_loss"] for r in tested], "-o", ms=3, color=c,
                         label=f"{prefix}test")
            acc_ax.plot(te, [r["test_acc1"] for r in tested], "-o", ms=3, color=c,
                        label=f"{prefix}test" + (" (clip)" if "test_video_acc1" in tested[0]
                                                 else ""))
            show_video = video if video is not None else "test_video_acc1" in tested[0]
            if show_video and "test_video_acc1" in tested[0]:
                acc_ax.plot(te, [r["test_video_acc1"] for r in tested], ":s", ms=3, color=c,
                            label=f"{prefix}test (video)")
    loss_ax.set_xlabel("epoch")
    loss_ax.set_ylabel("cross-entropy")
    acc_ax.set_xlabel("epoch")
    acc_ax.set_ylabel("top-1 accuracy (%)")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return fig
