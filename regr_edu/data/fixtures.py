r"""Tiny data sets in exactly the official on-disk formats, for tests and the book's small modes.

Nothing here can be downloaded on the build machine, so the loaders are proven on files that
look like the real ones byte for byte where it matters:

* :func:`make_cub_fixture` -- a ``CUB_200_2011/`` folder: ``images.txt``, ``image_class_labels.txt``,
  ``train_test_split.txt``, ``classes.txt``, ``bounding_boxes.txt`` (1-based ids, space
  separated), real JPEG files under ``images/NNN.Class_Name/`` named like the real ones
  (``Black_Footed_Albatross_0001_1.jpg``), one greyscale JPEG as CUB has a few. Each image shows a
  class-coloured ellipse (the "bird") whose box is the one in ``bounding_boxes.txt``, so a small
  model can learn the classes and a box crop is meaningful. :func:`make_cub_archive` packs it as
  ``CUB_200_2011.tgz``.
* :func:`make_ucf101_fixture` -- ``UCF-101/<Class>/v_<Class>_gGG_cCC.avi``: real XVID-tagged
  mpeg4 AVIs written with PyAV, 25 fps, a class-coloured disc moving in a class-specific
  direction; ``ucfTrainTestlist/`` with ``classInd.txt`` and the three ``trainlist0N.txt`` /
  ``testlist0N.txt`` with CRLF line ends, split ``N`` testing on groups ``7N-6 .. 7N`` as the
  official split. The ``HandstandPushups`` folder holds ``v_HandStandPushups_*`` files, as in the
  real set. :func:`make_ucf101_archives` packs ``UCF101.rar`` (RAR 4, "stored", written by
  :func:`write_stored_rar`: no free tool writes RAR) and the split zip.
* :func:`make_kinetics_fixture` -- Kinetics-400 as its annotation release and the ActivityNet
  crawler lay it out: ``kinetics400/train.csv``, ``validate.csv`` (header
  ``label,youtube_id,time_start,time_end,split,is_cc``) and
  ``<split>/<label>/<youtube_id>_<start:06d>_<end:06d>.mp4``, real H.264 MP4 files written with
  PyAV, label folders with spaces (``air drumming``) as the crawler makes them, YouTube ids that
  start with ``-``, and one listed clip missing from disk, as every copy of Kinetics has.

Everything is deterministic from ``seed``; sizes default to a few kilobytes so tests are fast,
and the ``size`` arguments give full-size data (500x375 JPEGs, 320x240 videos) for timing.
"""
from __future__ import annotations

import gzip
import io
import os
import pathlib
import struct
import tarfile
import zipfile
import zlib
from typing import Iterable, Sequence

import numpy as np

from .download import (CUB_FILENAME, CUB_FOLDER, UCF101_FILENAME, UCF101_FOLDER,
                       UCF101_SPLITS_FILENAME, UCF101_SPLITS_FOLDER, md5sum)

#: The first ten classes of CUB-200-2011's ``classes.txt``; further fixture classes are invented.
CUB_CLASS_NAMES = (
    "Black_footed_Albatross", "Laysan_Albatross", "Sooty_Albatross", "Groove_billed_Ani",
    "Crested_Auklet", "Least_Auklet", "Parakeet_Auklet", "Rhinoceros_Auklet",
    "Brewer_Blackbird", "Red_winged_Blackbird",
)

#: UCF101's ``classInd.txt`` order (ids 1..101).
UCF101_CLASSES = (
    "ApplyEyeMakeup", "ApplyLipstick", "Archery", "BabyCrawling", "BalanceBeam", "BandMarching",
    "BaseballPitch", "Basketball", "BasketballDunk", "BenchPress", "Biking", "Billiards",
    "BlowDryHair", "BlowingCandles", "BodyWeightSquats", "Bowling", "BoxingPunchingBag",
    "BoxingSpeedBag", "BreastStroke", "BrushingTeeth", "CleanAndJerk", "CliffDiving",
    "CricketBowling", "CricketShot", "CuttingInKitchen", "Diving", "Drumming", "Fencing",
    "FieldHockeyPenalty", "FloorGymnastics", "FrisbeeCatch", "FrontCrawl", "GolfSwing", "Haircut",
    "Hammering", "HammerThrow", "HandstandPushups", "HandstandWalking", "HeadMassage", "HighJump",
    "HorseRace", "HorseRiding", "HulaHoop", "IceDancing", "JavelinThrow", "JugglingBalls",
    "JumpingJack", "JumpRope", "Kayaking", "Knitting", "LongJump", "Lunges", "MilitaryParade",
    "Mixing", "MoppingFloor", "Nunchucks", "ParallelBars", "PizzaTossing", "PlayingCello",
    "PlayingDaf", "PlayingDhol", "PlayingFlute", "PlayingGuitar", "PlayingPiano", "PlayingSitar",
    "PlayingTabla", "PlayingViolin", "PoleVault", "PommelHorse", "PullUps", "Punch", "PushUps",
    "Rafting", "RockClimbingIndoor", "RopeClimbing", "Rowing", "SalsaSpin", "ShavingBeard",
    "Shotput", "SkateBoarding", "Skiing", "Skijet", "SkyDiving", "SoccerJuggling",
    "SoccerPenalty", "StillRings", "SumoWrestling", "Surfing", "Swing", "TableTennisShot",
    "TaiChi", "TennisSwing", "ThrowDiscus", "TrampolineJumping", "Typing", "UnevenBars",
    "VolleyballSpiking", "WalkingWithDog", "WallPushups", "WritingOnBoard", "YoYo",
)

#: Folder name -> the spelling used inside its file names, where they differ.
UCF101_FILE_SPELLING = {"HandstandPushups": "HandStandPushups"}

DEFAULT_UCF_CLASSES = ("ApplyEyeMakeup", "HandstandPushups", "YoYo")


def _write_text(path: pathlib.Path, lines: Iterable[str], line_ending: str) -> None:
    if line_ending not in ("\n", "\r\n"):
        raise ValueError(f"line_ending must be '\\n' or '\\r\\n', got {line_ending!r}")
    data = "".join(line + line_ending for line in lines).encode("utf-8")
    path.write_bytes(data)


def _hues(k: int, count: int) -> np.ndarray:
    """A saturated RGB colour for class ``k`` of ``count`` (evenly spaced hues)."""
    import colorsys
    r, g, b = colorsys.hsv_to_rgb(k / max(1, count), 0.85, 0.95)
    return np.array([r, g, b]) * 255.0


# --- CUB-200-2011 ---------------------------------------------------------------------------
def cub_class_folder(k: int) -> str:
    """``NNN.Name`` of class ``k`` (0-based): real names for the first ten."""
    name = CUB_CLASS_NAMES[k] if k < len(CUB_CLASS_NAMES) else f"Fixture_Bird_{k + 1}"
    return f"{k + 1:03d}.{name}"


def _cub_file_stem(folder: str) -> str:
    # real files capitalise every word: 001.Black_footed_Albatross -> Black_Footed_Albatross
    return "_".join(w[:1].upper() + w[1:] for w in folder.split(".", 1)[1].split("_"))


def _bird_image(rng: np.random.Generator, width: int, height: int, colour: np.ndarray
                ) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    c0, c1 = rng.uniform(40, 215, size=(2, 3))
    t = (xx / max(1, width - 1))[..., None]
    img = c0 * (1 - t) + c1 * t + rng.normal(0, 12, size=(height, width, 3))  # background
    bw = rng.uniform(0.25, 0.6) * width
    bh = rng.uniform(0.25, 0.6) * height
    bx = rng.uniform(0, width - bw)
    by = rng.uniform(0, height - bh)
    cx, cy = bx + bw / 2, by + bh / 2
    inside = ((xx - cx) / (bw / 2)) ** 2 + ((yy - cy) / (bh / 2)) ** 2 <= 1.0
    img[inside] = colour + rng.normal(0, 10, size=(int(inside.sum()), 3))
    return np.clip(img, 0, 255).astype(np.uint8), (round(bx, 1), round(by, 1), round(bw, 1),
                                                    round(bh, 1))


def make_cub_fixture(root: "str | os.PathLike[str]", num_classes: int = 3,
                     images_per_class: int = 4, size: Sequence[int] = (80, 60), seed: int = 0,
                     line_ending: str = "\n", grayscale: bool = True,
                     quality: int = 90) -> pathlib.Path:
    r"""Write a CUB-200-2011 look-alike under ``root/CUB_200_2011``; return that folder.

    ``size`` is ``(width, height)`` of the largest image; heights vary down to 75% of it (CUB's
    images vary too). Images alternate train/test within a class (the first is for training), so
    each class has ``ceil(n/2)`` training images. With ``grayscale`` the last image is stored as
    a one-channel JPEG. ``line_ending`` ``"\r\n"`` writes the lists with CRLF.
    """
    if num_classes < 1 or images_per_class < 1:
        raise ValueError(f"num_classes and images_per_class must be >= 1, got {num_classes}, "
                         f"{images_per_class}")
    from PIL import Image
    rng = np.random.default_rng(seed)
    base = pathlib.Path(root) / CUB_FOLDER
    (base / "images").mkdir(parents=True, exist_ok=True)
    width, height = int(size[0]), int(size[1])
    images, labels, split, boxes, classes = [], [], [], [], []
    image_id = 0
    total = num_classes * images_per_class
    for k in range(num_classes):
        folder = cub_class_folder(k)
        classes.append(f"{k + 1} {folder}")
        (base / "images" / folder).mkdir(exist_ok=True)
        colour = _hues(k, num_classes)
        for j in range(images_per_class):
            image_id += 1
            h = int(round(height * rng.uniform(0.75, 1.0)))
            array, box = _bird_image(rng, width, h, colour)
            rel = f"{folder}/{_cub_file_stem(folder)}_{j + 1:04d}_{image_id}.jpg"
            img = Image.fromarray(array)
            if grayscale and image_id == total:
                img = img.convert("L")
            img.save(base / "images" / rel, format="JPEG", quality=quality)
            images.append(f"{image_id} {rel}")
            labels.append(f"{image_id} {k + 1}")
            split.append(f"{image_id} {1 if j % 2 == 0 else 0}")
            boxes.append(f"{image_id} " + " ".join(f"{v:.1f}" for v in box))
    _write_text(base / "images.txt", images, line_ending)
    _write_text(base / "image_class_labels.txt", labels, line_ending)
    _write_text(base / "train_test_split.txt", split, line_ending)
    _write_text(base / "classes.txt", classes, line_ending)
    _write_text(base / "bounding_boxes.txt", boxes, line_ending)
    (base / "README").write_text("CUB-200-2011 fixture written by regr_edu.data.fixtures "
                                 "(same layout as the real data set; not its images).\n")
    return base


def _add_tree_to_tar(tar: tarfile.TarFile, folder: pathlib.Path, arcname: str) -> None:
    for path in [folder, *sorted(folder.rglob("*"))]:
        info = tar.gettarinfo(str(path), arcname=arcname + "/" + path.relative_to(folder).as_posix()
                              if path != folder else arcname)
        info.mtime, info.uid, info.gid, info.uname, info.gname = 1_300_000_000, 0, 0, "", ""
        if path.is_file():
            with open(path, "rb") as f:
                tar.addfile(info, f)
        else:
            tar.addfile(info)


def write_tgz(path: "str | os.PathLike[str]", folder: "str | os.PathLike[str]",
              arcname: str | None = None) -> pathlib.Path:
    """Pack ``folder`` as a gzip'd tar with the folder itself as the top member (reproducible:
    fixed times and owners)."""
    path, folder = pathlib.Path(path), pathlib.Path(folder)
    with open(path, "wb") as raw:
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz:
            with tarfile.open(fileobj=gz, mode="w", format=tarfile.GNU_FORMAT) as tar:
                _add_tree_to_tar(tar, folder, arcname or folder.name)
    return path


def make_cub_archive(directory: "str | os.PathLike[str]", **fixture_kwargs
                     ) -> tuple[pathlib.Path, str]:
    """Write ``directory/CUB_200_2011.tgz`` holding a fixture; return ``(path, md5)``."""
    import tempfile
    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=directory) as tmp:
        folder = make_cub_fixture(tmp, **fixture_kwargs)
        archive = write_tgz(directory / CUB_FILENAME, folder, CUB_FOLDER)
    return archive, md5sum(archive)


# --- UCF101 ---------------------------------------------------------------------------------
def _checked_frames(frames) -> np.ndarray:
    """``frames`` as a ``(T, H, W, 3)`` uint8 array with even ``H`` and ``W`` (yuv420p)."""
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames must be a (T, H, W, 3) uint8 array, got shape {frames.shape} "
                         f"dtype {frames.dtype}")
    if frames.shape[1] % 2 or frames.shape[2] % 2:
        raise ValueError(f"frame height and width must be even for yuv420p, got "
                         f"{frames.shape[1]}x{frames.shape[2]}")
    return frames


def _encode(path: "str | os.PathLike[str]", frames, container_format: str, codec: str, fps: int,
            **stream_settings) -> pathlib.Path:
    """Encode ``frames`` (checked by :func:`_checked_frames`) with PyAV, one thread (the same
    bytes every time); ``stream_settings`` are set on the stream (``codec_tag``, ``bit_rate``,
    ``options``)."""
    import av
    frames = _checked_frames(frames)
    T, H, W, _ = frames.shape
    path = pathlib.Path(path)
    with av.open(str(path), mode="w", format=container_format) as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        stream.thread_count = 1  # reproducible bytes
        for name, value in stream_settings.items():
            setattr(stream, name, value)
        for array in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(array, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():  # flush
            container.mux(packet)
    return path


def write_avi(path: "str | os.PathLike[str]", frames: np.ndarray, fps: int = 25,
              bit_rate: int = 400_000) -> pathlib.Path:
    r"""Write ``frames`` ``(T, H, W, 3)`` uint8 RGB as an mpeg4 AVI tagged ``XVID`` (UCF101's
    codec), with PyAV. ``H`` and ``W`` must be even (yuv420p)."""
    return _encode(path, frames, "avi", "mpeg4", fps, codec_tag="XVID", bit_rate=bit_rate)


def _moving_disc(rng: np.random.Generator, T: int, width: int, height: int, colour: np.ndarray,
                 angle: float) -> np.ndarray:
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    c0, c1 = rng.uniform(30, 200, size=(2, 3))
    t = (yy / max(1, height - 1))[..., None]
    background = c0 * (1 - t) + c1 * t + rng.normal(0, 8, size=(height, width, 3))
    radius = rng.uniform(0.12, 0.2) * min(width, height)
    speed = rng.uniform(0.6, 1.2) * min(width, height) / 40.0
    x, y = rng.uniform(radius, width - radius), rng.uniform(radius, height - radius)
    vx, vy = speed * np.cos(angle), speed * np.sin(angle)
    out = np.empty((T, height, width, 3), np.uint8)
    for i in range(T):
        frame = background.copy()
        frame[(xx - x) ** 2 + (yy - y) ** 2 <= radius ** 2] = colour
        out[i] = np.clip(frame, 0, 255).astype(np.uint8)
        x, y = x + vx, y + vy
        if not radius <= x <= width - radius:
            vx = -vx
            x = min(max(x, radius), width - radius)
        if not radius <= y <= height - radius:
            vy = -vy
            y = min(max(y, radius), height - radius)
    return out


def ucf101_file_name(class_name: str, group: int, clip: int) -> str:
    """``v_<Class>_gGG_cCC.avi`` with the real set's spelling (``v_HandStandPushups_...``)."""
    return f"v_{UCF101_FILE_SPELLING.get(class_name, class_name)}_g{group:02d}_c{clip:02d}.avi"


def make_ucf101_fixture(root: "str | os.PathLike[str]",
                        classes: Sequence[str] = DEFAULT_UCF_CLASSES,
                        groups: Sequence[int] = (1, 8, 15, 22), clips_per_group: int = 1,
                        size: Sequence[int] = (64, 48), frames: Sequence[int] = (24, 80),
                        fps: int = 25, seed: int = 0, line_ending: str = "\r\n"
                        ) -> tuple[pathlib.Path, pathlib.Path]:
    r"""Write ``root/UCF-101/`` and ``root/ucfTrainTestlist/``; return both folders.

    ``classes`` are numbered ``1..K`` in ``classInd.txt`` in the order given (names from the real
    list keep their spelling quirks). Every class gets ``clips_per_group`` videos in each of
    ``groups`` (1..25); split ``N`` tests on groups ``7N-6 .. 7N``, so the default groups put
    one group in each split's test list and group 22 always in training. Each video has a
    length drawn from ``frames = (low, high)`` (inclusive) and ``size = (width, height)``.
    """
    if not classes:
        raise ValueError("classes must name at least one class, got an empty sequence")
    if any(not 1 <= g <= 25 for g in groups):
        raise ValueError(f"groups must lie in 1..25 (UCF101's groups), got {tuple(groups)}")
    rng = np.random.default_rng(seed)
    root = pathlib.Path(root)
    videos, splits = root / UCF101_FOLDER, root / UCF101_SPLITS_FOLDER
    splits.mkdir(parents=True, exist_ok=True)
    width, height = int(size[0]), int(size[1])
    low, high = int(frames[0]), int(frames[1])
    entries: list[tuple[str, int, int]] = []  # (relative path, 1-based label, group)
    for k, name in enumerate(classes):
        (videos / name).mkdir(parents=True, exist_ok=True)
        angle = 2 * np.pi * k / len(classes)
        colour = _hues(k, len(classes))
        for g in sorted(groups):
            for c in range(1, clips_per_group + 1):
                T = int(rng.integers(low, high + 1))
                rel = f"{name}/{ucf101_file_name(name, g, c)}"
                write_avi(videos / rel, _moving_disc(rng, T, width, height, colour, angle), fps)
                entries.append((rel, k + 1, g))
    _write_text(splits / "classInd.txt", [f"{k + 1} {n}" for k, n in enumerate(classes)],
                line_ending)
    for fold in (1, 2, 3):
        test_groups = range(7 * fold - 6, 7 * fold + 1)
        _write_text(splits / f"trainlist0{fold}.txt",
                    [f"{rel} {label}" for rel, label, g in entries if g not in test_groups],
                    line_ending)
        _write_text(splits / f"testlist0{fold}.txt",
                    [rel for rel, _, g in entries if g in test_groups], line_ending)
    return videos, splits


# --- archives -------------------------------------------------------------------------------
def _dos_time(year: int = 2012, month: int = 10, day: int = 1) -> int:
    return ((year - 1980) << 25) | (month << 21) | (day << 16)


def write_stored_rar(path: "str | os.PathLike[str]",
                     members: Sequence[tuple[str, bytes | None]]) -> pathlib.Path:
    r"""Write a RAR 4 (the 1.5-4.x format UCF101.rar uses) archive with "stored" members.

    ``members`` is a list of ``(name, data)``; ``data=None`` makes a directory entry. Names are
    written with ``\`` separators and Windows attributes, as WinRAR writes them. Each block is
    ``HEAD_CRC(2) HEAD_TYPE(1) HEAD_FLAGS(2) HEAD_SIZE(2) ...`` with ``HEAD_CRC`` the low 16 bits
    of the CRC-32 of the rest of the header; file blocks add ``PACK_SIZE UNP_SIZE HOST_OS
    FILE_CRC FTIME UNP_VER METHOD NAME_SIZE ATTR NAME``, method ``0x30`` = stored.
    """
    def block(head_type: int, flags: int, body: bytes) -> bytes:
        rest = struct.pack("<BHH", head_type, flags, 7 + len(body)) + body
        return struct.pack("<H", zlib.crc32(rest) & 0xFFFF) + rest

    out = io.BytesIO()
    out.write(b"Rar!\x1a\x07\x00")  # marker block
    out.write(block(0x73, 0x0000, struct.pack("<HI", 0, 0)))  # main archive header
    for name, data in members:
        raw_name = name.replace("/", "\\").encode("utf-8")
        if any(ord(ch) > 127 for ch in name):
            raise ValueError(f"member names must be ASCII here, got {name!r}")
        is_dir = data is None
        payload = b"" if is_dir else data
        flags = 0x8000 | (0x00E0 if is_dir else 0x0000)  # LONG_BLOCK; E0 = directory
        body = struct.pack("<IIBIIBBHI", len(payload), len(payload), 2,  # host OS: Win32
                           zlib.crc32(payload) & 0xFFFFFFFF, _dos_time(), 20, 0x30,
                           len(raw_name), 0x10 if is_dir else 0x20) + raw_name
        out.write(block(0x74, flags, body))
        out.write(payload)
    out.write(block(0x7B, 0x4000, b""))  # end of archive
    path = pathlib.Path(path)
    path.write_bytes(out.getvalue())
    return path


def write_zip(path: "str | os.PathLike[str]", folder: "str | os.PathLike[str]",
              arcname: str | None = None) -> pathlib.Path:
    """Zip ``folder`` (with its own name, or ``arcname``, as the top directory)."""
    path, folder = pathlib.Path(path), pathlib.Path(folder)
    top = arcname or folder.name
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(zipfile.ZipInfo(top + "/", date_time=(2012, 10, 1, 0, 0, 0)), b"")
        for file in sorted(folder.rglob("*")):
            name = top + "/" + file.relative_to(folder).as_posix()
            if file.is_dir():
                zf.writestr(zipfile.ZipInfo(name + "/", date_time=(2012, 10, 1, 0, 0, 0)), b"")
            else:
                info = zipfile.ZipInfo(name, date_time=(2012, 10, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                zf.writestr(info, file.read_bytes())
    return path


def make_ucf101_archives(directory: "str | os.PathLike[str]", **fixture_kwargs
                         ) -> tuple[pathlib.Path, pathlib.Path]:
    """Write ``UCF101.rar`` (``UCF-101/...``) and ``UCF101TrainTestSplits-RecognitionTask.zip``
    (``ucfTrainTestlist/...``) holding a fixture into ``directory``; return both paths."""
    import tempfile
    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=directory) as tmp:
        videos, splits = make_ucf101_fixture(tmp, **fixture_kwargs)
        members: list[tuple[str, bytes | None]] = [(UCF101_FOLDER, None)]
        for path in sorted(videos.rglob("*")):
            rel = UCF101_FOLDER + "/" + path.relative_to(videos).as_posix()
            members.append((rel, None if path.is_dir() else path.read_bytes()))
        rar = write_stored_rar(directory / UCF101_FILENAME, members)
        zipped = write_zip(directory / UCF101_SPLITS_FILENAME, splits, UCF101_SPLITS_FOLDER)
    return rar, zipped


# --- Kinetics-400 ---------------------------------------------------------------------------
DEFAULT_KINETICS_CLASSES = ("abseiling", "air drumming", "zumba")
KINETICS_ANNOTATION_FOLDER = "kinetics400"


def write_mp4(path: "str | os.PathLike[str]", frames: np.ndarray, fps: int = 30) -> pathlib.Path:
    r"""Write ``frames`` ``(T, H, W, 3)`` uint8 RGB as an H.264 MP4 (Kinetics' YouTube clips),
    with PyAV. ``H`` and ``W`` must be even (yuv420p)."""
    return _encode(path, frames, "mp4", "libx264", fps,
                   options={"preset": "ultrafast", "crf": "23"})


def _youtube_id(rng: np.random.Generator, k: int) -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    tail = "".join(alphabet[i] for i in rng.integers(0, len(alphabet), size=11))
    return ("--" + tail[2:]) if k == 0 else tail  # some real ids start with "-"


def make_kinetics_fixture(root: "str | os.PathLike[str]",
                          classes: Sequence[str] = DEFAULT_KINETICS_CLASSES,
                          train_per_class: int = 3, val_per_class: int = 1,
                          size: Sequence[int] = (64, 48), frames: Sequence[int] = (24, 80),
                          fps: int = 30, seed: int = 0, missing: int = 1,
                          underscores: bool = False) -> tuple[pathlib.Path, pathlib.Path]:
    r"""Write ``root/train/``, ``root/val/`` and ``root/kinetics400/{train,validate}.csv``;
    return ``(root, root / "kinetics400")``, the ``root`` and ``annotation_path`` of
    :class:`regr_edu.data.Kinetics`.

    Each class gets ``train_per_class`` training and ``val_per_class`` validation clips (a
    class-coloured disc moving in a class-specific direction, as the UCF101 fixture), each with a
    length drawn from ``frames = (low, high)`` and ``size = (width, height)``. The last
    ``missing`` training rows are listed in the CSV but not written. ``underscores`` names the
    label folders ``air_drumming`` (video-nonlocal-net's renaming) instead of ``air drumming``.
    """
    if not classes:
        raise ValueError("classes must name at least one class, got an empty sequence")
    for name, value in (("train_per_class", train_per_class), ("val_per_class", val_per_class)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    if not 0 <= missing < train_per_class * len(classes):
        raise ValueError(f"missing must be in [0, {train_per_class * len(classes)}), got "
                         f"{missing!r}")
    rng = np.random.default_rng(seed)
    root = pathlib.Path(root)
    annotations = root / KINETICS_ANNOTATION_FOLDER
    annotations.mkdir(parents=True, exist_ok=True)
    width, height = int(size[0]), int(size[1])
    low, high = int(frames[0]), int(frames[1])
    rows: dict[str, list[str]] = {"train": [], "val": []}
    count = 0
    for split, per_class in (("train", train_per_class), ("val", val_per_class)):
        for k, label in enumerate(classes):
            angle = 2 * np.pi * k / len(classes)
            colour = _hues(k, len(classes))
            folder = root / split / (label.replace(" ", "_") if underscores else label)
            folder.mkdir(parents=True, exist_ok=True)
            for _ in range(per_class):
                vid = _youtube_id(rng, count)
                start = int(rng.integers(0, 300))
                end = start + 10
                label_field = f'"{label}"' if "," in label else label
                rows[split].append(f"{label_field},{vid},{start},{end},{split},0")
                T = int(rng.integers(low, high + 1))
                clip = _moving_disc(rng, T, width, height, colour, angle)
                # the last `missing` training rows stay listed but absent from disk
                if not (split == "train" and count >= train_per_class * len(classes) - missing):
                    write_mp4(folder / f"{vid}_{start:06d}_{end:06d}.mp4", clip, fps)
                count += 1
    header = "label,youtube_id,time_start,time_end,split,is_cc"
    _write_text(annotations / "train.csv", [header, *rows["train"]], "\n")
    _write_text(annotations / "validate.csv", [header, *rows["val"]], "\n")
    return root, annotations
