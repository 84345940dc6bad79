"""CUB-200-2011 loader and the paper's image transforms, on fixtures in the official format."""
from __future__ import annotations

import pathlib
import subprocess
import sys

import pytest
import torch
from PIL import Image

from regr_edu.data import (CUB200, cub_test_transform, cub_train_transform, make_cub_fixture)
from regr_edu.data.transforms import IMAGENET_MEAN_RGB255, RandomAreaCrop

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def cub(tmp_path_factory) -> pathlib.Path:
    return make_cub_fixture(tmp_path_factory.mktemp("cub"), num_classes=3, images_per_class=4)


def test_import_does_not_load_pyav():
    code = "import sys, regr_edu.data; assert 'av' not in sys.modules, 'av imported'"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_counts_labels_and_classes(cub):
    train, test = CUB200(cub, train=True), CUB200(cub.parent, train=False)  # folder or parent
    assert (len(train), len(test)) == (6, 6)
    assert train.classes == ["Black_footed_Albatross", "Laysan_Albatross", "Sooty_Albatross"]
    assert train.class_folders[0] == "001.Black_footed_Albatross"
    assert sorted(set(train.targets)) == [0, 1, 2] and train.targets.count(0) == 2
    for path, label in train.samples + test.samples:  # label = class_id - 1 = folder's number - 1
        assert int(path.parent.name.split(".")[0]) - 1 == label
    assert not set(train.image_ids) & set(test.image_ids)
    img, label = train[0]
    assert isinstance(img, Image.Image) and img.mode == "RGB" and label == 0


def test_lists_are_the_official_format(cub):
    lines = (cub / "images.txt").read_text().splitlines()
    assert lines[0] == "1 001.Black_footed_Albatross/Black_Footed_Albatross_0001_1.jpg"
    assert (cub / "train_test_split.txt").read_text().splitlines()[:2] == ["1 1", "2 0"]
    assert (cub / "classes.txt").read_text().splitlines()[1] == "2 002.Laysan_Albatross"
    box = (cub / "bounding_boxes.txt").read_text().splitlines()[0].split()
    assert box[0] == "1" and all("." in v for v in box[1:])
    with open(cub / "images" / lines[0].split()[1], "rb") as f:
        assert f.read(3) == b"\xff\xd8\xff"  # a real JPEG


def test_greyscale_jpeg_comes_back_rgb(cub):
    test = CUB200(cub, train=False)
    last_path = test.samples[-1][0]
    assert Image.open(last_path).mode == "L"
    assert test[len(test) - 1][0].mode == "RGB"


def test_crlf_lists_give_the_same_data_set(tmp_path, cub):
    crlf = make_cub_fixture(tmp_path, num_classes=3, images_per_class=4, line_ending="\r\n")
    assert b"\r\n" in (crlf / "images.txt").read_bytes()
    a, b = CUB200(cub), CUB200(crlf)
    assert [(p.name, y) for p, y in a.samples] == [(p.name, y) for p, y in b.samples]
    assert a.boxes == b.boxes


def test_bbox_crop(cub):
    ds = CUB200(cub, train=True, bbox_crop=True)
    x, y, w, h = ds.boxes[ds.image_ids[0]]
    img = ds[0][0]
    assert abs(img.width - w) <= 2 and abs(img.height - h) <= 2


def test_fixture_is_deterministic(tmp_path):
    a = make_cub_fixture(tmp_path / "a", num_classes=2, images_per_class=2, seed=3)
    b = make_cub_fixture(tmp_path / "b", num_classes=2, images_per_class=2, seed=3)
    c = make_cub_fixture(tmp_path / "c", num_classes=2, images_per_class=2, seed=4)
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert all((a / f).read_bytes() == (b / f).read_bytes() for f in files)
    assert any((a / f).read_bytes() != (c / f).read_bytes() for f in files if f.suffix == ".jpg")


@pytest.mark.parametrize("name", ["images.txt", "image_class_labels.txt", "train_test_split.txt",
                                  "classes.txt"])
def test_missing_list_file_is_named(tmp_path, name):
    base = make_cub_fixture(tmp_path, num_classes=2, images_per_class=2)
    (base / name).unlink()
    with pytest.raises(FileNotFoundError, match=name):
        CUB200(base)


def test_missing_image_malformed_line_and_bad_root(tmp_path):
    base = make_cub_fixture(tmp_path / "x", num_classes=2, images_per_class=2)
    victim = base / "images" / (base / "images.txt").read_text().split()[1]
    victim.unlink()
    with pytest.raises(FileNotFoundError, match=victim.name):
        CUB200(base)
    base = make_cub_fixture(tmp_path / "y", num_classes=2, images_per_class=2)
    with open(base / "image_class_labels.txt", "a") as f:
        f.write("5 1 extra\n")
    with pytest.raises(ValueError, match=r"image_class_labels.txt, line 5"):
        CUB200(base)
    with pytest.raises(FileNotFoundError, match="download_cub.py"):
        CUB200(tmp_path / "nowhere")
    base = make_cub_fixture(tmp_path / "z", num_classes=2, images_per_class=2)
    (base / "bounding_boxes.txt").unlink()
    assert len(CUB200(base)) == 2  # the boxes are optional ...
    with pytest.raises(FileNotFoundError, match="bounding_boxes.txt"):
        CUB200(base, bbox_crop=True)  # ... unless asked for


# --- transforms -------------------------------------------------------------------------------
def test_train_and_test_transforms_give_448(cub):
    torch.manual_seed(0)
    train = CUB200(cub, train=True, transform=cub_train_transform())
    test = CUB200(cub, train=False, transform=cub_test_transform())
    x, y = train[0]
    assert x.shape == (3, 448, 448) and x.dtype == torch.float32 and y == 0
    assert test[0][0].shape == (3, 448, 448)
    batch = next(iter(torch.utils.data.DataLoader(train, batch_size=3)))
    assert batch[0].shape == (3, 3, 448, 448)


def test_test_transform_is_short_side_512_then_centre_448():
    import numpy as np
    yy, xx = np.mgrid[0:375, 0:500]
    wave = lambda v: 127.5 + 127 * np.sin(2 * np.pi * v / 40)  # noqa: E731, smooth but steep
    img = Image.fromarray(np.stack([wave(xx), wave(yy), np.full_like(xx, 60)], -1).astype(
        np.uint8))  # a crop off by one pixel would differ by ~0.06 somewhere
    out = cub_test_transform(normalize=False)(img)
    # shorter side 375 -> 512, longer 500 -> int(500 * 512 / 375) = 682 (torchvision truncates);
    # the centre crop 448 starts at ((682 - 448) // 2, (512 - 448) // 2) = (117, 32)
    ref = img.resize((682, 512), Image.BILINEAR).crop((117, 32, 117 + 448, 32 + 448))
    ref_t = torch.from_numpy(np.array(ref)).permute(2, 0, 1).float() / 255
    assert out.shape == (3, 448, 448)
    torch.testing.assert_close(out, ref_t, atol=2 / 255, rtol=0)


def test_area_draws_span_0_08_to_1_25_and_pad_the_excess():
    torch.manual_seed(0)
    crop = RandomAreaCrop(size=448)
    areas = []
    for _ in range(2000):
        left, top, w, h = crop.get_params(500, 375)
        areas.append(w * h / (500 * 375))
        if w > 500:  # larger than the image: the image lies inside the window
            assert left <= 0 and left + w >= 500
        else:
            assert 0 <= left and left + w <= 500
    areas_t = torch.tensor(areas)
    assert 0.07 < areas_t.min() < 0.1 and 1.2 < areas_t.max() < 1.27
    assert 0.05 < (areas_t > 1).float().mean() < 0.25  # about 0.17 / 1.17 of the draws


def test_area_above_one_pads_with_mean_or_clamps():
    img = Image.new("RGB", (100, 80), (255, 0, 0))
    torch.manual_seed(1)
    pad = RandomAreaCrop(size=50, scale=(1.25, 1.25), ratio=(1.25, 1.25))
    out = pad(img)
    assert out.size == (50, 50)
    colours = {c for _, c in out.getcolors(50 * 50)}
    assert (255, 0, 0) in colours and IMAGENET_MEAN_RGB255 in colours
    clamp = RandomAreaCrop(size=50, scale=(1.25, 1.25), ratio=(1.25, 1.25), oversize="clamp")
    assert clamp.get_params(100, 80) == (0, 0, 100, 80)  # the whole image
    assert {c for _, c in clamp(img).getcolors(50 * 50)} == {(255, 0, 0)}
    with pytest.raises(ValueError, match="oversize must be"):
        RandomAreaCrop(oversize="wrap")
    with pytest.raises(ValueError, match="scale must"):
        RandomAreaCrop(scale=(1.0, 0.5))


# --- the real recipe: 448-pixel CUB batches through the real ResNet-50 ------------------------
@pytest.mark.slow
def test_cub_448_recipe_trains_resnet50_two_iterations(tmp_path):
    models = pytest.importorskip("regr_edu.models")
    base = make_cub_fixture(tmp_path, num_classes=4, images_per_class=2, size=(500, 375))
    torch.manual_seed(0)
    train = CUB200(base, train=True, transform=cub_train_transform())
    loader = torch.utils.data.DataLoader(train, batch_size=2, shuffle=True)
    model = models.resnet50(num_classes=4, unit="regr", input_size=(448, 448))
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
    model.train()
    for step, (x, y) in zip(range(2), loader):
        assert x.shape == (2, 3, 448, 448)
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        assert torch.isfinite(loss)
    model.eval()
    test = CUB200(base, train=False, transform=cub_test_transform())
    with torch.no_grad():
        logits = model(torch.stack([test[0][0]]))
    assert logits.shape == (1, 4)
