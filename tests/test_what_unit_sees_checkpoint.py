"""what_unit_sees' "your own checkpoint" cell runs on a CUB and on a UCF101 checkpoint.

The cell is taken from ``book/what_unit_sees.md`` as it stands and run after the chapter's first
cell (its imports), with ``CHECKPOINT`` set to a checkpoint of a one-step run of
``regr_edu.train`` on a look-alike data set in the official format. It used to build a CUB data
set for every checkpoint; ``viz.checkpoint_example`` builds the checkpoint's own.
"""
from __future__ import annotations

import pathlib

import jupytext
import matplotlib
import pytest
import torch

import regr_edu as rg
from regr_edu import viz

matplotlib.use("Agg")
ROOT = pathlib.Path(__file__).resolve().parents[1]
COMMON = ["--model", "small_resnet", "--weights", "none", "--dropout", "0", "--image-size", "32",
          "--epochs", "1", "--max-steps", "1", "--max-eval-steps", "1", "--warmup-epochs", "0",
          "--lr-milestones", "1", "--batch-size", "2", "--workers", "0", "--threads", "1",
          "--seed", "0", "--no-progress"]


def chapter_cells() -> tuple[str, str]:
    nb = jupytext.read(ROOT / "book" / "what_unit_sees.md")
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    own = [c for c in code if c.startswith("if CHECKPOINT is not None:")]
    assert len(own) == 1, "the chapter's own-checkpoint cell is gone"
    imports = "\n".join(line for line in code[0].splitlines() if not line.startswith("%"))
    return imports, own[0]                     # IPython magics (%matplotlib) are not Python


def run_cell(checkpoint: pathlib.Path) -> list:
    first, own = chapter_cells()
    shown = []
    namespace = {"__name__": "__main__"}
    exec(compile(first, "what_unit_sees[0]", "exec"), namespace)
    namespace.update(CHECKPOINT=str(checkpoint), display=shown.append)
    exec(compile(own, "what_unit_sees[own]", "exec"), namespace)
    return shown


@pytest.fixture(scope="module")
def cub_checkpoint(tmp_path_factory):
    from regr_edu.train import main
    work = tmp_path_factory.mktemp("cub")
    rg.data.make_cub_fixture(work / "cub", num_classes=2, images_per_class=4, size=(48, 40))
    main(["--config", "cub_regr", "--data-path", str(work / "cub"), "--test-resize", "37",
          "--output-dir", str(work / "run"), *COMMON])
    return work / "run" / "checkpoint.pth"


@pytest.fixture(scope="module")
def ucf_checkpoint(tmp_path_factory):
    from regr_edu.train import main
    work = tmp_path_factory.mktemp("ucf")
    rg.data.make_ucf101_fixture(work, clips_per_group=1, size=(48, 40))
    main(["--config", "ucf101_c2d_regr", "--data-path", str(work), "--unit-kwargs", "{}",
          "--test-clips", "1", "--frames", "4", "--output-dir", str(work / "run"), *COMMON])
    return work / "run" / "checkpoint.pth"


def test_example_of_a_cub_checkpoint(cub_checkpoint):
    _, args = viz.load_trained_model(cub_checkpoint)
    x, label, norm = viz.checkpoint_example(args)
    assert args["dataset"] == "cub" and x.shape == (3, 32, 32) and set(norm) == {"mean", "std"}
    figures = run_cell(cub_checkpoint)
    assert len(figures) == 2 and all(hasattr(f, "savefig") for f in figures)


def test_example_of_a_ucf101_checkpoint(ucf_checkpoint):
    _, args = viz.load_trained_model(ucf_checkpoint)
    x, label, norm = viz.checkpoint_example(args)
    assert args["dataset"] == "ucf101" and x.shape == (3, 4, 32, 32)
    figures = run_cell(ucf_checkpoint)
    assert len(figures) == 2 and all(hasattr(f, "savefig") for f in figures)


def test_example_index_is_checked(cub_checkpoint):
    _, args = viz.load_trained_model(cub_checkpoint)
    with pytest.raises(ValueError, match="index must be"):
        viz.checkpoint_example(args, index=10_000)
    with pytest.raises(ValueError, match=r"index must be a non-negative integer, got -1"):
        viz.checkpoint_example(args, index=-1)
