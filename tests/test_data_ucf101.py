"""UCF101 loader, clip sampling and the paper's video transforms, on real XVID AVIs written with
PyAV in the official layout (CRLF split lists, the HandstandPushups/HandStand quirk)."""
from __future__ import annotations

import logging
import pathlib
import shutil

import numpy as np
import pytest
import torch

from regr_edu.data import (UCF101, CorruptVideoError, make_ucf101_fixture, sample_test_indices,
                           sample_train_indices, ucf101_test_transform, ucf101_train_transform,
                           video_scores)
from regr_edu.data.fixtures import write_avi
from regr_edu.data.ucf101 import decode_frames, probe_frame_count


@pytest.fixture(scope="module")
def ucf(tmp_path_factory) -> pathlib.Path:
    root = tmp_path_factory.mktemp("ucf")
    make_ucf101_fixture(root)  # 3 classes x 4 groups (1, 8, 15, 22), 64x48, 24..80 frames
    return root


def _copy(ucf: pathlib.Path, tmp_path: pathlib.Path) -> pathlib.Path:
    shutil.copytree(ucf, tmp_path / "ucf")
    return tmp_path / "ucf"


# --- layout, counts, labels -------------------------------------------------------------------
def test_split_files_are_the_official_format(ucf):
    lists = ucf / "ucfTrainTestlist"
    assert (lists / "classInd.txt").read_bytes() == \
        b"1 ApplyEyeMakeup\r\n2 HandstandPushups\r\n3 YoYo\r\n"
    train = (lists / "trainlist01.txt").read_bytes().split(b"\r\n")
    assert train[0] == b"ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1"
    assert b"HandstandPushups/v_HandStandPushups_g08_c01.avi 2" in train
    assert (lists / "testlist01.txt").read_bytes().split(b"\r\n")[0] == \
        b"ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi"
    video = ucf / "UCF-101" / "HandstandPushups" / "v_HandStandPushups_g01_c01.avi"
    head = video.read_bytes()[:256]
    assert head[:4] == b"RIFF" and head[8:12] == b"AVI " and b"XVID" in head


@pytest.mark.parametrize("fold, n_train, n_test", [(1, 9, 3), (2, 9, 3), (3, 9, 3)])
def test_counts_per_fold(ucf, fold, n_train, n_test):
    train = UCF101(ucf, ucf, fold=fold, train=True)
    test = UCF101(ucf / "UCF-101", ucf / "ucfTrainTestlist", fold=fold, train=False)
    assert (len(train), len(test)) == (n_train, n_test)
    assert not {p for p, _ in train.samples} & {p for p, _ in test.samples}
    groups = {int(p.stem.split("_g")[1][:2]) for p, _ in test.samples}
    assert groups <= set(range(7 * fold - 6, 7 * fold + 1))  # split N tests groups 7N-6..7N


def test_labels_are_zero_based_and_handstand_quirk(ucf):
    train = UCF101(ucf, ucf, train=True)
    assert train.classes == ["ApplyEyeMakeup", "HandstandPushups", "YoYo"]
    assert sorted(set(train.targets)) == [0, 1, 2]
    handstand = [p for p, y in train.samples if y == 1]
    assert len(handstand) == 3 and all(p.name.startswith("v_HandStandPushups_") for p in handstand)
    assert all(p.parent.name == "HandstandPushups" for p in handstand)
    test = UCF101(ucf, ucf, train=False)  # test lists carry no label: it comes from the folder
    assert test.targets == [0, 1, 2]


def test_fixture_is_deterministic(tmp_path):
    kwargs = dict(classes=("YoYo", "HandstandPushups"), groups=(1, 22), frames=(8, 12),
                  size=(32, 24))
    a = make_ucf101_fixture(tmp_path / "a", seed=5, **kwargs)[0].parent
    b = make_ucf101_fixture(tmp_path / "b", seed=5, **kwargs)[0].parent
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert len(files) == 4 + 7
    assert all((a / f).read_bytes() == (b / f).read_bytes() for f in files)


def test_names_match_case_insensitively(ucf, tmp_path):
    root = _copy(ucf, tmp_path)
    for name in ("trainlist01.txt", "testlist01.txt"):
        path = root / "ucfTrainTestlist" / name
        text = path.read_bytes().replace(b"HandstandPushups/v_HandStandPushups",
                                         b"handstandPUSHUPS/V_HANDSTANDPUSHUPS")
        path.write_bytes(text)
    train = UCF101(root, root, train=True)
    assert [y for _, y in train.samples].count(1) == 3
    assert all(p.is_file() for p, _ in train.samples)


def test_lf_lists_read_the_same_as_crlf(ucf, tmp_path):
    root = _copy(ucf, tmp_path)
    for path in (root / "ucfTrainTestlist").iterdir():
        path.write_bytes(path.read_bytes().replace(b"\r\n", b"\n"))
    a, b = UCF101(ucf, ucf), UCF101(root, root)
    assert [(p.name, y) for p, y in a.samples] == [(p.name, y) for p, y in b.samples]
    assert all("\r" not in str(p) for p, _ in a.samples)


# --- clips and shapes -------------------------------------------------------------------------
def test_raw_train_clip_shape_and_range(ucf):
    torch.manual_seed(0)
    train = UCF101(ucf, ucf, train=True, clips_per_video=2)
    assert len(train) == 18  # 9 videos x 2 random clips per epoch
    clip, label = train[3]
    assert clip.shape == (3, 8, 48, 64) and clip.dtype == torch.float32
    assert 0.0 <= clip.min() and clip.max() <= 1.0 and label == train.samples[1][1]


def test_paper_train_and_test_shapes(ucf):
    torch.manual_seed(0)
    train = UCF101(ucf, ucf, train=True, transform=ucf101_train_transform())
    batch, labels = next(iter(torch.utils.data.DataLoader(train, batch_size=2)))
    assert batch.shape == (2, 3, 8, 224, 224) and labels.shape == (2,)
    test = UCF101(ucf, ucf, train=False, clips_per_video=10, transform=ucf101_test_transform())
    views, label = test[1]
    assert views.shape == (30, 3, 8, 256, 256) and label == 1  # 10 clips x 3 crops
    raw = UCF101(ucf, ucf, train=False, clips_per_video=10)
    assert raw[0][0].shape == (10, 3, 8, 48, 64)  # no transform: one view per clip


def test_decoded_frames_are_the_written_frames(tmp_path):
    # frame i is a flat grey of level 20 + 4 i: the decoded order and indices must match
    frames = np.stack([np.full((32, 48, 3), 20 + 4 * i, np.uint8) for i in range(50)])
    path = write_avi(tmp_path / "v_Ramp_g01_c01.avi", frames)
    assert probe_frame_count(path) == 50
    got = decode_frames(path, [0, 7, 31, 49])
    for i, frame in got.items():
        assert frame.shape == (32, 48, 3)
        assert abs(float(frame.mean()) - (20 + 4 * i)) < 2.5, i


def test_multi_crop_covers_the_longer_side():
    clip = torch.arange(300, dtype=torch.float32).view(1, 1, 1, 300).expand(3, 2, 200, 300)
    views = ucf101_test_transform(short_side=200, normalize=False)(clip.contiguous())
    assert views.shape == (3, 3, 2, 200, 200)
    assert [v[0, 0, 0, 0].item() for v in views] == [0.0, 50.0, 100.0]  # left, centre, right
    assert views[2, 0, 0, 0, -1].item() == 299.0


# --- temporal sampling ------------------------------------------------------------------------
def test_train_indices_follow_the_recipe():
    gen = torch.Generator().manual_seed(0)
    strides = set()
    for _ in range(300):
        idx = sample_train_indices(175, frames=8, window=64, generator=gen)
        steps = {b - a for a, b in zip(idx, idx[1:])}
        assert len(idx) == 8 and len(steps) == 1 and 0 <= idx[0] and idx[-1] < 175
        assert idx[-1] - idx[0] < 64  # inside one 64-frame window
        strides |= steps
    assert strides == set(range(1, 9))  # random interval 1..8
    assert sample_train_indices(175, stride=8, generator=gen)[1:3] != []  # fixed stride works
    short = sample_train_indices(20, frames=8, window=64, stride=8, generator=gen)
    assert short[-1] < 20 and short == sorted(short)  # stride shrunk to fit
    assert sample_train_indices(5, frames=8, generator=gen)[5:] == [0, 1, 2]  # loops


def test_test_indices_are_evenly_spaced():
    clips = sample_test_indices(175, frames=8, clips=10, window=64)
    assert len(clips) == 10 and clips[0][0] == 0 and clips[-1][-1] == 174
    starts = [c[0] for c in clips]
    assert max(np.diff(starts)) - min(np.diff(starts)) <= 1
    assert all(c[1] - c[0] == 8 for c in clips)
    assert sample_test_indices(175, clips=1)[0][0] == (175 - 57) // 2


# --- errors and corrupt videos ----------------------------------------------------------------
def _damage(path: pathlib.Path, how: str) -> None:
    data = path.read_bytes()
    path.write_bytes({"garbage": b"RIFF" + bytes(range(256)) * 4, "truncated": data[:len(data) // 3],
                      "empty": b""}[how])


@pytest.mark.parametrize("how", ["garbage", "truncated", "empty"])
def test_corrupt_video_is_skipped_in_training_and_fatal_in_testing(ucf, tmp_path, how, caplog):
    root = _copy(ucf, tmp_path)
    train = UCF101(root, root, train=True)
    victim = train.samples[0][0]
    if how == "truncated":  # make sure the file is long enough for truncation to show
        assert probe_frame_count(victim) > 6
    _damage(victim, how)
    with caplog.at_level(logging.WARNING, logger="regr_edu.data"):
        clip, label = train[0]
    assert clip.shape[:2] == (3, 8) and label == train.samples[1][1]  # the next video
    assert train.skipped == 1 and train.skipped_files == [str(victim)]
    assert victim.name in caplog.text and victim.name in train.skip_report()
    test_list = root / "ucfTrainTestlist" / "testlist01.txt"
    test_list.write_bytes(test_list.read_bytes() + f"ApplyEyeMakeup/{victim.name}\r\n".encode())
    test = UCF101(root, root, train=False)
    with pytest.raises(CorruptVideoError, match=victim.name):
        test[len(test) - 1]


def test_skips_are_counted_across_fork_workers(ucf, tmp_path):
    root = _copy(ucf, tmp_path)
    train = UCF101(root, root, train=True)
    _damage(train.samples[2][0], "garbage")
    loader = torch.utils.data.DataLoader(train, batch_size=3, num_workers=1,
                                         multiprocessing_context="fork")
    assert sum(len(y) for _, y in loader) == 9
    assert train.skipped == 1
    import pickle  # spawn-style workers get a copy that keeps the count so far
    assert pickle.loads(pickle.dumps(train)).skipped == 1


def test_all_corrupt_raises_after_max_skips(ucf, tmp_path):
    root = _copy(ucf, tmp_path)
    train = UCF101(root, root, train=True, max_skips=2)
    for path, _ in train.samples:
        _damage(path, "empty")
    with pytest.raises(RuntimeError, match="3 corrupt videos in a row"):
        train[0]


def test_missing_files_and_folders_are_named(ucf, tmp_path):
    root = _copy(ucf, tmp_path)
    victim = root / "UCF-101" / "YoYo" / "v_YoYo_g08_c01.avi"
    victim.unlink()
    with pytest.raises(FileNotFoundError, match="v_YoYo_g08_c01.avi"):
        UCF101(root, root, train=True)
    for f in (root / "UCF-101" / "YoYo").iterdir():
        f.unlink()
    with pytest.raises(FileNotFoundError, match=r"YoYo holds no \.avi"):
        UCF101(root, root, train=True)
    (root / "UCF-101" / "YoYo").rmdir()
    with pytest.raises(FileNotFoundError, match="'YoYo'.*has no folder"):
        UCF101(root, root, train=True)
    (root / "ucfTrainTestlist" / "trainlist02.txt").unlink()
    shutil.copytree(ucf / "UCF-101" / "YoYo", root / "UCF-101" / "YoYo")
    with pytest.raises(FileNotFoundError, match="trainlist02.txt"):
        UCF101(root, root, fold=2)
    with pytest.raises(FileNotFoundError, match="classInd.txt"):
        UCF101(root, tmp_path / "nowhere")


def test_bad_lines_and_arguments(ucf, tmp_path):
    root = _copy(ucf, tmp_path)
    path = root / "ucfTrainTestlist" / "trainlist01.txt"
    path.write_bytes(path.read_bytes().replace(b"v_YoYo_g08_c01.avi 3", b"v_YoYo_g08_c01.avi 1"))
    with pytest.raises(ValueError, match="label 1 disagrees"):
        UCF101(root, root)
    with pytest.raises(ValueError, match="fold must be 1, 2 or 3"):
        UCF101(ucf, ucf, fold=4)
    with pytest.raises(ValueError, match="frames must be a positive int"):
        UCF101(ucf, ucf, frames=0)
    with pytest.raises(ValueError, match="stride must fit"):
        UCF101(ucf, ucf, stride=10)


def test_video_scores_average_softmax_over_views():
    class Fixed(torch.nn.Module):
        def forward(self, x):  # (N, 3, T, H, W) -> (N, 2): logits from the mean intensity
            m = x.mean(dim=(1, 2, 3, 4))
            return torch.stack([m, -m], dim=1)

    views = torch.zeros(2, 4, 3, 2, 4, 4)
    views[0, :2] = 1.0
    scores = video_scores(Fixed(), views, chunk=3)
    assert scores.shape == (2, 2)
    expected0 = (torch.tensor([1.0, -1.0]).softmax(0) + torch.tensor([0.0, 0.0]).softmax(0)) / 2
    torch.testing.assert_close(scores[0], expected0)
    torch.testing.assert_close(scores.sum(1), torch.ones(2))


# --- the real recipe: 8 x 224 clips through the real C2D ResNet-50 ----------------------------
@pytest.mark.slow
def test_ucf101_8x224_recipe_trains_c2d_two_iterations(tmp_path):
    models = pytest.importorskip("regr_edu.models")
    make_ucf101_fixture(tmp_path, size=(320, 240), frames=(70, 90), groups=(1, 8, 22))
    torch.manual_seed(0)
    train = UCF101(tmp_path, tmp_path, train=True, transform=ucf101_train_transform())
    loader = torch.utils.data.DataLoader(train, batch_size=2, shuffle=True)
    model = models.c2d_resnet50(num_classes=3, unit="regr", input_size=(8, 224, 224),
                                scales=((3, 3), (5, 5)))  # the paper's video scales
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
    model.train()
    for step, (x, y) in zip(range(2), loader):
        assert x.shape == (2, 3, 8, 224, 224)
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        assert torch.isfinite(loss)
    model.eval()  # video-level test on 1 of the 10 clips (x 3 crops) to keep it short on a CPU
    test = UCF101(tmp_path, tmp_path, train=False, clips_per_video=1,
                  transform=ucf101_test_transform())
    views, label = test[0]
    assert views.shape == (3, 3, 8, 256, 256)
    with torch.no_grad():
        scores = video_scores(model, views.unsqueeze(0), chunk=3)
    assert scores.shape == (1, 3)
