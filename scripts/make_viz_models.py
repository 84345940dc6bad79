"""Train the two small models that the chapter "What the unit sees" loads (a cached result).

Usage::

    python scripts/make_viz_models.py            # about 1-2 min of CPU per model (1 thread)

Trains ``small_resnet`` (widths 16-32-64) on the synthetic relational image task with
:func:`regr_edu.training.run` (what ``python -m regr_edu.train`` runs), once with one ReGr unit
after ``layer2`` and once without a unit, and writes their checkpoints to
``book/_data/what_unit_sees/{regr,baseline}.pth``. The recipe is that of
``benchmarks/ablations.py`` with 6 epochs instead of 3; the unit is its reference setting
(scales (2, 2) + (4, 4), bilinear) **without refine**: in this budget the unit with refine
often fails to take off at all (the ablations chapter measures it; a 10-epoch run of it with
seed 0 stayed at chance for 7 epochs), and a unit that learned nothing has nothing to show.
The files keep what a figure needs (the model's weights, the training configuration, the
metrics history, the epoch) and drop the optimizer and RNG states, so each is about 0.3 MB;
``regr_edu.viz.load_trained_model`` reads them like any checkpoint of ``regr_edu.train``. Written
atomically.
"""
from __future__ import annotations

import pathlib
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import torch                                                        # noqa: E402

from regr_edu.training import make_config, run, save_atomic         # noqa: E402

OUT = ROOT / "book" / "_data" / "what_unit_sees"
# the recipe of benchmarks/ablations.py (TRAIN), 6 epochs instead of 3, through the training
# command's configuration
RECIPE = {"dataset": "synthetic-image", "image_size": 64, "train_samples": 4096,
          "test_samples": 1024, "data_seed": 0, "epochs": 6, "batch_size": 32, "lr": 0.05,
          "weight_decay": 1e-4, "seed": 0, "threads": 1, "progress": False,
          "model_kwargs": {"widths": [16, 32, 64]}}
MODELS = {
    "regr": {"unit": "regr", "unit_kwargs": {"scales": [[2, 2], [4, 4]], "refine": False}},
    "baseline": {"unit": None},
}
KEEP = ("version", "epoch", "step", "model", "args", "history")


def main() -> int:
    for name, options in MODELS.items():
        with tempfile.TemporaryDirectory() as tmp:
            summary = run(make_config(RECIPE, options, {"output_dir": tmp}))
            ckpt = torch.load(pathlib.Path(tmp) / "checkpoint.pth", weights_only=True)
        small = {k: ckpt[k] for k in KEEP if k in ckpt}
        small["args"]["output_dir"] = f"book/_data/what_unit_sees ({name})"
        path = save_atomic(small, OUT / f"{name}.pth")
        print(f"{name}: test top-1 {summary['final'].get('test_acc1', float('nan')):.1f}% "
              f"-> {path.relative_to(ROOT)} ({path.stat().st_size / 1e6:.2f} MB)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
