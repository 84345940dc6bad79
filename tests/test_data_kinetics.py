"""Kinetics-400 read from its official annotation CSVs and the crawler's layout, on a fixture in
exactly that format (real H.264 MP4 files); clip sampling is UCF101's, shared, not copied."""
from __future__ import annotations

import csv
import importlib.util
import pathlib
import pickle

import pytest
import torch

import regr_edu as rg
from regr_edu.data import Kinetics, UCF101, make_kinetics_fixture
from regr_edu.data.kinetics import kinetics_file_name, read_kinetics_csv
from regr_edu.data.ucf101 import ClipDataset

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def kinetics(tmp_path_factory):
    return make_kinetics_fixture(tmp_path_factory.mktemp("kinetics"))


def test_exported():
    assert "Kinetics" in rg.data.__all__ and "make_kinetics_fixture" in rg.data.__all__
    assert rg.data.Kinetics is Kinetics


def test_fixture_is_in_the_official_format(kinetics):
    root, annotations = kinetics
    with open(annotations / "train.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["label", "youtube_id", "time_start", "time_end", "split", "is_cc"]
    label, vid, start, end, split, _ = rows[1]
    assert vid.startswith("--") and len(vid) == 11 and split == "train"
    path = root / "train" / label / f"{vid}_{int(start):06d}_{int(end):06d}.mp4"
    assert path.is_file() and path.read_bytes()[4:8] == b"ftyp"          # an MP4 file
    assert (root / "train" / "air drumming").is_dir()                      # the crawler's spaces
    assert kinetics_file_name("--07WQ2iBlw", 1, 11) == "--07WQ2iBlw_000001_000011.mp4"


def test_training_set(kinetics):
    root, annotations = kinetics
    ds = Kinetics(root, annotations, train=True, frames=4)
    assert ds.classes == ["abseiling", "air drumming", "zumba"]
    assert len(ds) == 8 and len(ds.missing) == 1 and "zumba" in ds.missing[0]
    assert ds.targets == [0, 0, 0, 1, 1, 1, 2, 2]
    clip, label = ds[3]
    assert clip.shape == (3, 4, 48, 64) and clip.dtype == torch.float32 and label == 1
    assert 0.0 <= clip.min() and clip.max() <= 1.0
    assert "missing=1" in repr(ds)
    assert len(pickle.loads(pickle.dumps(ds))) == 8                    # DataLoader workers


def test_test_set_views_and_transform(kinetics):
    root, annotations = kinetics
    ds = Kinetics(root, annotations, train=False, frames=4, clips_per_video=3,
                  transform=lambda c: c[:, :, :32, :32].float())
    views, label = ds[2]
    assert views.shape == (3, 3, 4, 32, 32) and label == 2 and len(ds) == 3
    assert ds.classes == Kinetics(root, annotations).classes          # from the training CSV


def test_clip_sampling_is_ucf101s():
    assert issubclass(Kinetics, ClipDataset) and issubclass(UCF101, ClipDataset)
    for name in ("load", "__getitem__", "__len__", "_apply"):
        assert getattr(Kinetics, name) is getattr(UCF101, name), name


def test_underscore_folders_and_a_csv_file(tmp_path):
    root, annotations = make_kinetics_fixture(tmp_path, underscores=True, missing=0)
    assert (root / "val" / "air_drumming").is_dir()
    ds = Kinetics(root, annotations / "validate.csv", train=False)
    assert len(ds) == 3 and not ds.missing and ds.csv_path.name == "validate.csv"


def test_errors_name_file_line_and_value(tmp_path, kinetics):
    root, _ = kinetics
    bad = tmp_path / "bad.csv"
    bad.write_text("label,youtube_id,time_start,split\nzumba,abc,1,train\n")
    with pytest.raises(ValueError, match=r"bad.csv: the header must hold .*missing \['time_end'\]"):
        read_kinetics_csv(bad)
    bad.write_text("label,youtube_id,time_start,time_end,split\nzumba,abc,1.5,11,train\n")
    with pytest.raises(ValueError, match=r"bad.csv, line 2: time_start must be a whole.*'1.5'"):
        read_kinetics_csv(bad)
    bad.write_text("label,youtube_id,time_start,time_end,split\nzumba,abc,12,11,train\n")
    with pytest.raises(ValueError, match=r"line 2: time_end must be after time_start, got 12 "
                                         r"and 11"):
        read_kinetics_csv(bad)
    bad.write_text("label,youtube_id,time_start,time_end,split\nzumba,abc,1,11,train\n")
    with pytest.raises(FileNotFoundError, match=r"none of the 1 clips of .*bad.csv is under"):
        Kinetics(root, bad)
    with pytest.raises(FileNotFoundError, match=r"no Kinetics validation CSV in"):
        Kinetics(root, tmp_path, train=False)
    with pytest.raises(FileNotFoundError, match=r"root must be the Kinetics video folder"):
        Kinetics(tmp_path / "nowhere", bad)
    with pytest.raises(ValueError, match=r"frames must be a positive integer, got 0"):
        Kinetics(root, bad, frames=0)


def test_prepare_script_offline_and_check(tmp_path, kinetics, capsys):
    spec = importlib.util.spec_from_file_location(
        "prepare_kinetics", ROOT / "data_scripts" / "prepare_kinetics.py")
    script = importlib.util.module_from_spec(spec)
    import sys
    sys.path.insert(0, str(ROOT / "data_scripts"))
    try:
        spec.loader.exec_module(script)
        assert script.main(["--root", str(tmp_path), "--no-download", "--quiet"]) == 1
        err = capsys.readouterr().err
        assert "kinetics400.tar.gz" in err and "cannot fetch them" in err
        assert str(tmp_path / "train") in err
        root, _ = kinetics
        assert script.main(["--root", str(root), "--check-only"]) == 0
        out = capsys.readouterr().out
        assert "Kinetics train: 8 of 9 listed clips on disk (1 missing)" in out
    finally:
        sys.path.remove(str(ROOT / "data_scripts"))


def test_training_cli_knows_kinetics_and_the_table7_recipe(kinetics, capsys):
    from regr_edu.train import parse_config
    from regr_edu.training import load_recipe
    from regr_edu.training.config import DATASETS, VIDEO_DATASETS
    from regr_edu.training.data import build_datasets
    assert "kinetics" in DATASETS and "kinetics" in VIDEO_DATASETS
    recipe = load_recipe("kinetics_i3d_regr5")
    assert (recipe["dataset"], recipe["model"], recipe["num_units"], recipe["frames"]) == (
        "kinetics", "i3d_resnet50", 5, 8)
    import json
    raw = json.loads((ROOT / "regr_edu" / "configs" / "kinetics_i3d_regr5.json").read_text())
    assert "8x8" in raw["_comment"] and "75.02" in raw["_paper"]
    root, _ = kinetics
    cfg = parse_config(["--config", "kinetics_i3d_regr5", "--data-path", str(root),
                        "--weights", "none", "--image-size", "32", "--test-clips", "2"])
    data = build_datasets(cfg)
    assert isinstance(data.train, Kinetics) and isinstance(data.test, Kinetics)
    assert len(data.train) == 8 and len(data.test) == 3 and data.train.train
    clip, _ = data.train[0]
    assert clip.shape == (3, 8, 32, 32)
    with pytest.raises(SystemExit):
        parse_config(["--config", "kinetics_i3d_regr5", "--weights", "none"])
    assert "dataset 'kinetics' needs --data-path" in capsys.readouterr().err


def test_make_fixtures_script_writes_kinetics(tmp_path):
    import subprocess
    import sys
    out = subprocess.run([sys.executable, str(ROOT / "data_scripts" / "make_fixtures.py"),
                          "--out", str(tmp_path), "--dataset", "kinetics"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    ds = Kinetics(tmp_path, tmp_path / "kinetics400", train=False)
    assert len(ds) == 3 and not (tmp_path / "UCF-101").exists()
