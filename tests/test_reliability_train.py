"""Runs are never lost: the training CLI refuses to replace a run, resumes runs stopped early,
writes every file atomically and reports bad flags, folders and checkpoints in its own words.

Every run is tiny (``small_resnet`` with widths 8-16-32, one step an epoch, one thread).
"""
from __future__ import annotations

import json

import pytest
import torch

from regr_edu.train import main, parse_config
from regr_edu.training import load_checkpoint, make_config, run

TINY = ["--model-kwargs", '{"widths": [8, 16, 32]}', "--threads", "1", "--no-progress",
        "--train-samples", "16", "--test-samples", "8", "--batch-size", "8", "--max-steps", "1"]


@pytest.fixture(autouse=True)
def _restore_threads():
    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)


def _cli_error(argv, capsys) -> str:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    return capsys.readouterr().err


def test_a_new_run_refuses_a_folder_holding_a_run(tmp_path, capsys):
    out = tmp_path / "run"
    main(["--epochs", "1", "--output-dir", str(out), *TINY])
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    err = _cli_error(["--epochs", "1", "--seed", "3", "--output-dir", str(out), *TINY], capsys)
    assert "already holds a run" in err and "--resume" in err and "--overwrite" in err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before   # nothing replaced
    with pytest.raises(ValueError, match="already holds a run"):       # the Python API too
        run(make_config({"epochs": 1, "output_dir": str(out)}))
    # --overwrite replaces it
    main(["--epochs", "1", "--seed", "3", "--output-dir", str(out), "--overwrite", *TINY])
    assert load_checkpoint(out / "checkpoint.pth")["args"]["seed"] == 3


def test_resume_continues_a_run_stopped_early_and_says_so(tmp_path, capsys):
    out = tmp_path / "run"
    main(["--epochs", "2", "--stop-epoch", "1", "--output-dir", str(out), *TINY])
    assert load_checkpoint(out / "checkpoint.pth")["epoch"] == 0
    capsys.readouterr()
    summary = main(["--resume", str(out / "checkpoint.pth")])
    text = capsys.readouterr().out
    assert "stopped after epoch 1 of 2" in text and "epoch 2/2" in text
    assert load_checkpoint(out / "checkpoint.pth")["epoch"] == 1
    assert summary["epochs_run"] == 2
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [0, 1]
    # resuming the finished run says so and changes nothing
    before = (out / "checkpoint.pth").read_bytes()
    again = main(["--resume", str(out)])                 # a run's folder is accepted too
    assert again.get("finished") is True
    assert "is finished" in capsys.readouterr().out
    assert (out / "checkpoint.pth").read_bytes() == before


def test_a_run_that_fails_before_its_first_step_leaves_nothing(tmp_path):
    out = tmp_path / "run"
    cfg = make_config({"epochs": 1, "output_dir": str(out), "unit_kwargs": {"scales": [[64, 64]]},
                       "model_kwargs": {"widths": [8, 16, 32]}, "threads": 1, "progress": False,
                       "train_samples": 16, "test_samples": 8, "batch_size": 8})
    with pytest.raises(ValueError):                      # a scale larger than the unit's map
        run(cfg)
    assert not out.exists() or not any(out.iterdir())
    # so the corrected rerun is not refused
    main(["--epochs", "1", "--output-dir", str(out), *TINY])
    assert (out / "checkpoint.pth").is_file()
    assert not list(out.glob(".*.tmp"))


def test_output_dir_that_is_a_file_is_a_clear_error(tmp_path, capsys):
    f = tmp_path / "file.txt"
    f.write_text("x")
    err = _cli_error(["--output-dir", str(f), *TINY], capsys)
    assert "output_dir must be a folder" in err and str(f) in err


@pytest.mark.parametrize("content, message", [
    (b"", "empty (0 bytes)"),
    (b"\x00\x01 random bytes, not a checkpoint", "could not be read"),
])
def test_unreadable_checkpoints_are_clear_errors(tmp_path, capsys, content, message):
    path = tmp_path / "checkpoint.pth"
    path.write_bytes(content)
    err = _cli_error(["--resume", str(path)], capsys)
    assert message in err and str(path) in err
    assert "Traceback" not in err


def test_resume_of_a_folder_without_checkpoint_names_it(tmp_path, capsys):
    err = _cli_error(["--resume", str(tmp_path)], capsys)
    assert "has no checkpoint.pth" in err


def test_checkpoint_of_an_unknown_version_is_refused(tmp_path):
    path = tmp_path / "checkpoint.pth"
    torch.save({"version": 99, "epoch": 0, "model": {}}, path)
    with pytest.raises(ValueError, match="version must be 1.*version=99"):
        load_checkpoint(path)


def test_checkpoint_of_another_model_is_a_clear_error(tmp_path):
    out = tmp_path / "run"
    main(["--epochs", "1", "--output-dir", str(out), *TINY])
    with pytest.raises(ValueError, match="weights do not fit it") as err:
        main(["--resume", str(out / "checkpoint.pth"), "--unit", "nl", "--test-only"])
    assert "Unexpected key" in str(err.value) or "Missing key" in str(err.value)


@pytest.mark.parametrize("argv, message", [
    (["--lr", "nan"], "lr must be a finite non-negative number, got nan"),
    (["--momentum", "2"], "momentum must be in [0, 1), got 2.0"),
    (["--epochs", "2", "--warmup-epochs", "3"], "warmup_epochs must be at most epochs=2"),
    (["--lr-milestones", "6", "3"], "lr_milestones must be strictly increasing"),
])
def test_bad_optimisation_flags_are_refused(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        parse_config(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
