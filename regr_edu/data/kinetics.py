r"""Kinetics-400 read from its official annotation CSVs and the usual downloaded layout.

Annotations (the data set's release: ``train.csv``, ``validate.csv``, ``test.csv``; some copies
name them ``kinetics_400_train.csv`` ...), one clip per row, header first::

    label,youtube_id,time_start,time_end,split[,is_cc]
    abseiling,--07WQ2iBlw,1,11,train

Videos, as the ActivityNet crawler (``Crawler/Kinetics/download.py``) names its trimmed clips,
one folder per split and per label::

    <root>/<split>/<label>/<youtube_id>_<time_start:06d>_<time_end:06d>.mp4
    <root>/train/abseiling/--07WQ2iBlw_000001_000011.mp4

``<split>`` is the CSV's ``split`` column (``train``, ``val``); a label folder may keep the
label's spaces (``air drumming``, the crawler's way) or replace them by underscores
(``air_drumming``, as video-nonlocal-net's ``gen_py_list.py`` renames them). Both are accepted.

Classes are the sorted labels of the training CSV (400 of them), so the training and validation
sets share one label numbering. YouTube takes videos down: every copy of Kinetics misses some
(the ReGr paper trained on "about 240k" of the 246k training clips). A listed clip that is not on
disk is left out and counted (:attr:`Kinetics.missing`), not an error; a CSV that finds none is.

Clip sampling, decoding and skipping corrupt files are :class:`regr_edu.data.UCF101`'s (the shared
:class:`regr_edu.data.ucf101.ClipDataset`): 8 frames at a random interval out of 64 consecutive
frames when training, ``clips_per_video`` evenly spaced clips when testing.
"""
from __future__ import annotations

import csv
import logging
import os
import pathlib
from typing import Callable

from .ucf101 import ClipDataset, check_clip_options

log = logging.getLogger("regr_edu.data")

#: The CSV columns the loader reads (``is_cc`` and any further column are ignored).
KINETICS_COLUMNS = ("label", "youtube_id", "time_start", "time_end", "split")
#: Annotation file names tried, in order, when ``annotation_path`` is a folder.
KINETICS_CSV_NAMES = {
    True: ("train.csv", "kinetics_400_train.csv", "kinetics-400_train.csv", "kinetics_train.csv"),
    False: ("validate.csv", "val.csv", "kinetics_400_val.csv", "kinetics-400_val.csv",
            "kinetics_val.csv"),
}


def kinetics_file_name(youtube_id: str, time_start: int, time_end: int) -> str:
    """``<youtube_id>_<start:06d>_<end:06d>.mp4``, the crawler's name of a trimmed clip."""
    return f"{youtube_id}_{int(time_start):06d}_{int(time_end):06d}.mp4"


def read_kinetics_csv(path: "str | os.PathLike[str]") -> list[dict[str, object]]:
    """The rows of an official annotation CSV: ``label``, ``youtube_id``, ``time_start`` and
    ``time_end`` (whole seconds), ``split``. Errors name the file, the line and the value."""
    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Kinetics annotation CSV missing: {path}")
    rows = []
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        missing = [c for c in KINETICS_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{path}: the header must hold the columns {list(KINETICS_COLUMNS)}, "
                             f"missing {missing}; got {reader.fieldnames}")
        for line, row in enumerate(reader, start=2):
            times = []
            for key in ("time_start", "time_end"):
                try:
                    value = float(row[key])
                except (TypeError, ValueError):
                    raise ValueError(f"{path}, line {line}: {key} must be a number of seconds, "
                                     f"got {row[key]!r}") from None
                if value != int(value) or value < 0:
                    raise ValueError(f"{path}, line {line}: {key} must be a whole, non-negative "
                                     f"number of seconds (the file names use %06d), got "
                                     f"{row[key]!r}")
                times.append(int(value))
            if times[1] <= times[0]:
                raise ValueError(f"{path}, line {line}: time_end must be after time_start, got "
                                 f"{times[0]} and {times[1]}")
            if not row["label"] or not row["youtube_id"] or not row["split"]:
                raise ValueError(f"{path}, line {line}: label, youtube_id and split must not be "
                                 f"empty, got {dict(row)}")
            rows.append(dict(label=row["label"], youtube_id=row["youtube_id"],
                             time_start=times[0], time_end=times[1], split=row["split"]))
    if not rows:
        raise ValueError(f"{path} lists no clips")
    return rows


def _find_csv(annotation_path: pathlib.Path, train: bool) -> pathlib.Path:
    if annotation_path.is_file():
        return annotation_path
    if not annotation_path.is_dir():
        raise FileNotFoundError(f"annotation_path must be a Kinetics CSV or the folder holding "
                                f"them, got {annotation_path}, which does not exist")
    for name in KINETICS_CSV_NAMES[train]:
        if (annotation_path / name).is_file():
            return annotation_path / name
    raise FileNotFoundError(f"no Kinetics {'training' if train else 'validation'} CSV in "
                            f"{annotation_path}: looked for {list(KINETICS_CSV_NAMES[train])}")


class Kinetics(ClipDataset):
    r"""Kinetics-400 clips for action recognition (the ReGr paper's Table 7); labels 0-based in
    the sorted order of the training CSV's labels.

    Args:
        root: the folder holding one folder per split (``train/``, ``val/``), each holding one
            folder per label.
        annotation_path: the folder holding ``train.csv`` and ``validate.csv`` (or the other
            names of :data:`KINETICS_CSV_NAMES`), or one CSV file. With a folder the classes come
            from the training CSV whichever set is read; with a file, from that file.
        train: the training CSV (random clips) or the validation CSV (fixed clips).
        frames, clips_per_video, transform: as :class:`regr_edu.data.UCF101` (and the same shape
            contract: ``(clip (3, T, H, W), label)`` training, ``(views (V, 3, T, H, W), label)``
            testing).
        window, stride, skip_corrupt, max_skips: as :class:`regr_edu.data.UCF101`.

    Attributes: ``classes``, ``class_to_idx``, ``samples`` (``[(path, label)]``), ``targets``,
    ``missing`` (the listed clips not on disk), ``csv_path``.
    """

    def __init__(self, root: "str | os.PathLike[str]", annotation_path: "str | os.PathLike[str]",
                 train: bool = True, frames: int = 8, clips_per_video: int = 1,
                 transform: Callable | None = None, *, window: int = 64,
                 stride: int | None = None, skip_corrupt: bool | None = None,
                 max_skips: int = 10) -> None:
        check_clip_options(train, frames, clips_per_video, window, stride, max_skips)
        self.videos_root = pathlib.Path(root)
        if not self.videos_root.is_dir():
            raise FileNotFoundError(f"root must be the Kinetics video folder (holding train/ and "
                                    f"val/), got {self.videos_root}, which is not a folder")
        annotation_path = pathlib.Path(annotation_path)
        self.train, self.frames = train, frames
        self.clips_per_video, self.transform = clips_per_video, transform
        self.window, self.stride, self.max_skips = window, stride, max_skips
        self.skip_corrupt = train if skip_corrupt is None else bool(skip_corrupt)
        self._init_skips()

        self.csv_path = _find_csv(annotation_path, train)
        rows = read_kinetics_csv(self.csv_path)
        class_rows = rows
        if annotation_path.is_dir() and not train:
            class_rows = read_kinetics_csv(_find_csv(annotation_path, True))
        self.classes = sorted({r["label"] for r in class_rows})
        self.class_to_idx = {name: k for k, name in enumerate(self.classes)}

        samples: list[tuple[pathlib.Path, int]] = []
        self.missing: list[str] = []
        folders: dict[tuple[str, str], pathlib.Path | None] = {}
        for line, r in enumerate(rows, start=2):
            label = self.class_to_idx.get(r["label"])
            if label is None:
                raise ValueError(f"{self.csv_path}, line {line}: label {r['label']!r} is not a "
                                 f"class of the training CSV")
            key = (str(r["split"]), str(r["label"]))
            if key not in folders:
                split_dir = self.videos_root / key[0]
                folders[key] = next((d for d in (split_dir / key[1],
                                                 split_dir / key[1].replace(" ", "_"))
                                     if d.is_dir()), None)
            name = kinetics_file_name(str(r["youtube_id"]), int(r["time_start"]),
                                      int(r["time_end"]))
            folder = folders[key]
            path = None if folder is None else folder / name
            if path is None or not path.is_file():
                self.missing.append(str(self.videos_root / key[0] / key[1] / name))
                continue
            samples.append((path, label))
        if not samples:
            raise FileNotFoundError(
                f"none of the {len(rows)} clips of {self.csv_path} is under {self.videos_root} "
                f"as <split>/<label>/<youtube_id>_<start:06d>_<end:06d>.mp4, e.g. "
                f"{self.missing[0]}")
        if self.missing:
            log.warning("Kinetics: %d of %d clips listed in %s are not on disk (YouTube takes "
                        "videos down; every copy misses some), e.g. %s", len(self.missing),
                        len(rows), self.csv_path, self.missing[0])
        self.samples = samples
        self.targets = [label for _, label in samples]

    def __repr__(self) -> str:
        return (f"Kinetics(root={str(self.videos_root)!r}, train={self.train}, "
                f"videos={len(self.samples)}, missing={len(self.missing)}, "
                f"classes={len(self.classes)}, frames={self.frames}, "
                f"clips_per_video={self.clips_per_video})")
