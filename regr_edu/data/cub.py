r"""CUB-200-2011 (Caltech-UCSD Birds), read from its official files.

Layout (as ``CUB_200_2011.tgz`` extracts; every list is space separated with 1-based ids)::

    CUB_200_2011/
        images.txt               <image_id> <class folder>/<file>.jpg
        image_class_labels.txt   <image_id> <class_id>
        train_test_split.txt     <image_id> <is_training_image: 1 or 0>
        classes.txt              <class_id> <NNN.Class_Name>
        bounding_boxes.txt       <image_id> <x> <y> <width> <height>   (pixels, floats; optional)
        images/<NNN.Class_Name>/<Name>_<nnnn>_<id>.jpg

The full set: 11,788 images, 200 classes, 5,994 train / 5,794 test.
"""
from __future__ import annotations

import os
import pathlib
from typing import Any, Callable

import torch.utils.data

from .download import CUB_FOLDER

REQUIRED = ("images.txt", "image_class_labels.txt", "train_test_split.txt", "classes.txt")


def read_table(path: pathlib.Path, columns: int, what: str) -> list[list[str]]:
    r"""Rows of a whitespace-separated list file, each exactly ``columns`` fields.

    LF and CRLF line ends, a UTF-8 byte-order mark, blank lines and trailing spaces are all
    accepted; a row with another number of fields is a ``ValueError`` naming file and line.
    """
    if not path.is_file():
        raise FileNotFoundError(f"{what}: missing file {path}")
    rows = []
    text = path.read_text(encoding="utf-8-sig")
    for number, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != columns:
            raise ValueError(f"{path}, line {number}: expected {columns} space-separated fields, "
                             f"got {len(fields)}: {line.strip()!r}")
        rows.append(fields)
    return rows


def _int(path: pathlib.Path, field: str, what: str) -> int:
    try:
        return int(field)
    except ValueError:
        raise ValueError(f"{path}: {what} must be an integer, got {field!r}") from None


def resolve_cub_root(root: "str | os.PathLike[str]") -> pathlib.Path:
    """The folder holding ``images.txt``: ``root`` itself or ``root/CUB_200_2011``."""
    root = pathlib.Path(root)
    for candidate in (root, root / CUB_FOLDER):
        if (candidate / "images.txt").is_file():
            return candidate
    raise FileNotFoundError(
        f"root must be the CUB-200-2011 folder or its parent: found neither {root / 'images.txt'} "
        f"nor {root / CUB_FOLDER / 'images.txt'}. Get the data with "
        f"`python data_scripts/download_cub.py --root {root}` (or put CUB_200_2011.tgz there "
        "by hand when offline).")


class CUB200(torch.utils.data.Dataset):
    r"""CUB-200-2011 as ``(image, label)`` pairs; ``label`` is 0-based.

    Args:
        root: the ``CUB_200_2011`` folder (with ``images.txt``) or the folder that contains it.
        train: the images marked ``1`` in ``train_test_split.txt`` (5,994) or ``0`` (5,794).
        transform: called on the RGB ``PIL.Image``; ``None`` returns the PIL image (torchvision's
            convention). :func:`regr_edu.data.cub_train_transform` and
            :func:`regr_edu.data.cub_test_transform` are the paper's.
        target_transform: called on the integer label.
        bbox_crop: crop each image to its box from ``bounding_boxes.txt`` first (the box is
            rounded outwards to whole pixels and clipped to the image).

    Labels: ``classes.txt`` ids sorted, the ``k``-th id -> label ``k``; with the official ids
    ``1..200`` that is ``class_id - 1``.

    Attributes: ``classes`` (names without the ``NNN.`` prefix, e.g. ``Black_footed_Albatross``,
    in label order), ``class_folders`` (``001.Black_footed_Albatross``), ``class_to_idx``,
    ``samples`` (list of ``(path, label)``), ``targets``, ``image_ids``, ``boxes`` (``image_id ->
    (x, y, w, h)``, empty without ``bounding_boxes.txt``), ``root``.

    Every missing list file, malformed line, id mentioned in one list but not another, and image
    file that is not on disk is an error that names the file, at construction.
    """

    def __init__(self, root: "str | os.PathLike[str]", train: bool = True,
                 transform: Callable | None = None, *, target_transform: Callable | None = None,
                 bbox_crop: bool = False) -> None:
        if not isinstance(train, bool):
            raise TypeError(f"train must be a bool, got {train!r}")
        self.root = resolve_cub_root(root)
        self.train = train
        self.transform = transform
        self.target_transform = target_transform
        self.bbox_crop = bool(bbox_crop)
        base = self.root
        for name in REQUIRED:
            if not (base / name).is_file():
                raise FileNotFoundError(f"CUB-200-2011 file missing: {base / name} "
                                        f"(the data set needs all of {', '.join(REQUIRED)})")

        classes_path = base / "classes.txt"
        class_rows = read_table(classes_path, 2, "CUB class list")
        if not class_rows:
            raise ValueError(f"{classes_path} lists no classes")
        class_ids = {}
        for cid, folder in class_rows:
            cid_int = _int(classes_path, cid, "class_id")
            if cid_int in class_ids:
                raise ValueError(f"{classes_path}: class_id {cid_int} appears twice")
            class_ids[cid_int] = folder
        ordered = sorted(class_ids)
        id_to_label = {cid: k for k, cid in enumerate(ordered)}
        self.class_folders = [class_ids[cid] for cid in ordered]
        self.classes = [f.split(".", 1)[1] if "." in f and f.split(".", 1)[0].isdigit() else f
                        for f in self.class_folders]
        self.class_to_idx = {name: k for k, name in enumerate(self.classes)}

        images_path = base / "images.txt"
        paths = {}
        for iid, rel in read_table(images_path, 2, "CUB image list"):
            iid_int = _int(images_path, iid, "image_id")
            if iid_int in paths:
                raise ValueError(f"{images_path}: image_id {iid_int} appears twice")
            paths[iid_int] = rel
        labels_path = base / "image_class_labels.txt"
        labels = {_int(labels_path, i, "image_id"): _int(labels_path, c, "class_id")
                  for i, c in read_table(labels_path, 2, "CUB label list")}
        split_path = base / "train_test_split.txt"
        split = {}
        for i, flag in read_table(split_path, 2, "CUB train/test split"):
            if flag not in ("0", "1"):
                raise ValueError(f"{split_path}: is_training_image must be 0 or 1, got {flag!r} "
                                 f"for image_id {i}")
            split[_int(split_path, i, "image_id")] = flag == "1"
        for other, table in ((labels_path, labels), (split_path, split)):
            missing = sorted(set(paths) - set(table))
            if missing:
                raise ValueError(f"{other} has no line for image_id(s) {missing[:5]} listed in "
                                 f"{images_path}" + (" ..." if len(missing) > 5 else ""))
        unknown = sorted({c for c in labels.values() if c not in id_to_label})
        if unknown:
            raise ValueError(f"{labels_path} uses class_id(s) {unknown[:5]} that {classes_path} "
                             "does not define")

        self.boxes: dict[int, tuple[float, float, float, float]] = {}
        boxes_path = base / "bounding_boxes.txt"
        if boxes_path.is_file():
            for row in read_table(boxes_path, 5, "CUB bounding boxes"):
                try:
                    self.boxes[_int(boxes_path, row[0], "image_id")] = tuple(
                        float(v) for v in row[1:])  # type: ignore[assignment]
                except ValueError:
                    raise ValueError(f"{boxes_path}: x y w h must be numbers, got {row[1:]}"
                                     ) from None
        elif self.bbox_crop:
            raise FileNotFoundError(f"bbox_crop=True needs {boxes_path}, which is missing")

        self.image_ids = [i for i in sorted(paths) if split[i] == train]
        self.samples = [(base / "images" / paths[i], id_to_label[labels[i]])
                        for i in self.image_ids]
        self.targets = [label for _, label in self.samples]
        if self.bbox_crop:
            lacking = [i for i in self.image_ids if i not in self.boxes]
            if lacking:
                raise ValueError(f"{boxes_path} has no box for image_id(s) {lacking[:5]}")
        absent = [str(p) for p, _ in self.samples if not p.is_file()]
        if absent:
            raise FileNotFoundError(
                f"{len(absent)} image file(s) listed in {images_path} are missing, e.g. "
                + ", ".join(absent[:3]))

    def __len__(self) -> int:
        return len(self.samples)

    def load_image(self, index: int):
        """The RGB ``PIL.Image`` of sample ``index`` (bounding-box crop applied if asked)."""
        from PIL import Image, UnidentifiedImageError
        path, _ = self.samples[index]
        try:
            with Image.open(path) as img:
                img = img.convert("RGB")  # a few CUB images are greyscale
        except (UnidentifiedImageError, OSError) as err:
            raise RuntimeError(f"cannot read image {path}: {err}") from err
        if self.bbox_crop:
            x, y, w, h = self.boxes[self.image_ids[index]]
            import math
            box = (max(0, math.floor(x)), max(0, math.floor(y)),
                   min(img.width, math.ceil(x + w)), min(img.height, math.ceil(y + h)))
            if box[2] <= box[0] or box[3] <= box[1]:
                raise ValueError(f"bounding box {(x, y, w, h)} of {path} is empty inside the "
                                 f"{img.width}x{img.height} image")
            img = img.crop(box)
        return img

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        if not -len(self) <= index < len(self):
            raise IndexError(f"index must be in [0, {len(self)}), got {index}")
        index %= len(self)
        img = self.load_image(index)
        label = self.samples[index][1]
        if self.transform is not None:
            img = self.transform(img)
        if self.target_transform is not None:
            label = self.target_transform(label)
        return img, label

    def __repr__(self) -> str:
        return (f"CUB200(root={str(self.root)!r}, train={self.train}, samples={len(self)}, "
                f"classes={len(self.classes)}, bbox_crop={self.bbox_crop})")
