r"""UCF101 read from its official layout, decoded with PyAV.

Layout (``UCF101.rar`` and ``UCF101TrainTestSplits-RecognitionTask.zip`` as they extract)::

    UCF-101/<Class>/v_<Class>_g<GG>_c<CC>.avi      13,320 XVID (mpeg4) AVIs, 320x240, 25 fps
    ucfTrainTestlist/classInd.txt                  "1 ApplyEyeMakeup"            (1-based, CRLF)
    ucfTrainTestlist/trainlist0N.txt               "ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1"
    ucfTrainTestlist/testlist0N.txt                "ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi"

Split ``N`` tests on groups ``7N-6 .. 7N`` (split 1: groups 1-7; 9,537 train / 3,783 test videos).
Known quirk: the folder ``HandstandPushups/`` holds files named ``v_HandStandPushups_*``, so a
class is read from the *folder* part of a path, never from the file name, and every name is
matched case-insensitively against the files on disk.

torchvision 0.29 has no video decoding (``torchvision.io.read_video`` is gone), so PyAV is used;
it is imported inside the functions that decode, never when :mod:`regr_edu.data` is imported.
"""
from __future__ import annotations

import logging
import multiprocessing
import os
import pathlib
from typing import Any, Callable, Sequence

import numpy as np
import torch
import torch.utils.data

from .._checks import check_positive_int
from .cub import read_table
from .download import UCF101_FOLDER, UCF101_SPLITS_FOLDER
from .transforms import to_float_clip

log = logging.getLogger("regr_edu.data")

#: A decodable stream may end this many frames short of the count its AVI header declares
#: (missing frames are replaced by the last decoded one); more than that is a truncated file.
FRAME_COUNT_TOLERANCE = 2


class CorruptVideoError(RuntimeError):
    """A video cannot be opened or decoded, or is truncated; the message names the file."""

    def __init__(self, path: "str | os.PathLike[str]", reason: str) -> None:
        super().__init__(f"corrupt or truncated video {os.fspath(path)}: {reason}")
        self.path = os.fspath(path)
        self.reason = reason


def _require_av():
    try:
        import av
    except ImportError as err:  # pragma: no cover - av is in requirements.txt
        raise ImportError("decoding UCF101 needs PyAV: pip install av (torchvision 0.29 has no "
                          "video decoding)") from err
    return av


# --- decoding -------------------------------------------------------------------------------
def probe_frame_count(path: "str | os.PathLike[str]") -> int:
    """Frames in the first video stream: the AVI header's count, else a packet count."""
    av = _require_av()
    try:
        with av.open(os.fspath(path)) as container:
            if not container.streams.video:
                raise CorruptVideoError(path, "no video stream")
            stream = container.streams.video[0]
            n = int(stream.frames or 0)
            if n <= 0:  # header without a count: count the packets (no decoding)
                n = sum(1 for p in container.demux(stream) if p.size)
    except av.error.FFmpegError as err:
        raise CorruptVideoError(path, f"{type(err).__name__}: {err}") from err
    if n <= 0:
        raise CorruptVideoError(path, "no frames")
    return n


def decode_frames(path: "str | os.PathLike[str]", indices: Sequence[int],
                  declared: int | None = None) -> dict[int, np.ndarray]:
    r"""Decode the frames at ``indices`` (0-based) as ``{index: (H, W, 3) uint8 RGB}``.

    The stream is decoded from the start to its end (mpeg4 decoding at 320x240 is cheap; only the
    frames asked for are converted to RGB), so a file that ends early is noticed: fewer frames
    than the ``declared`` count (the header's) minus :data:`FRAME_COUNT_TOLERANCE` raises
    :class:`CorruptVideoError`; within the tolerance, an index past the end gets the last frame.
    """
    av = _require_av()
    wanted = sorted(set(int(i) for i in indices))
    if not wanted:
        return {}
    if wanted[0] < 0:
        raise ValueError(f"indices must be >= 0, got {wanted[0]}")
    out: dict[int, np.ndarray] = {}
    count = 0
    last_frame = None  # the latest decoded frame, converted only if padding needs it
    try:
        with av.open(os.fspath(path)) as container:
            if not container.streams.video:
                raise CorruptVideoError(path, "no video stream")
            stream = container.streams.video[0]
            if declared is None:
                declared = int(stream.frames or 0)
            want = set(wanted)
            for frame in container.decode(stream):
                if count in want:
                    out[count] = frame.to_ndarray(format="rgb24")  # (H, W, 3) uint8
                last_frame = frame
                count += 1
            missing = [i for i in wanted if i not in out]
            if missing and last_frame is not None:
                pad = out.get(count - 1)
                if pad is None:
                    pad = last_frame.to_ndarray(format="rgb24")
                for i in missing:
                    out[i] = pad
    except av.error.FFmpegError as err:
        raise CorruptVideoError(path, f"{type(err).__name__}: {err}") from err
    if count == 0:
        raise CorruptVideoError(path, "no frame could be decoded")
    if declared and count < declared - FRAME_COUNT_TOLERANCE:
        raise CorruptVideoError(path, f"the header declares {declared} frames but only {count} "
                                "decode (truncated file?)")
    return out


# --- temporal sampling ----------------------------------------------------------------------
def _fit_stride(n: int, frames: int, stride: int) -> int:
    """The largest stride <= ``stride`` whose span fits in ``n`` frames (at least 1)."""
    if frames == 1:
        return stride
    return max(1, min(stride, (n - 1) // (frames - 1)))


def _clip(start: int, n: int, frames: int, stride: int) -> list[int]:
    # indices past the end (a video shorter than `frames`) loop back to the start
    return [(start + k * stride) % n for k in range(frames)]


def sample_train_indices(n: int, frames: int = 8, window: int = 64, stride: int | None = None,
                         generator: torch.Generator | None = None) -> list[int]:
    r"""One training clip: ``frames`` indices out of a video of ``n`` frames.

    The paper: "randomly crop out 64 consecutive frames from the full-length video and then
    extract 8 frames with random interval". Our reading (**open**): a window of ``window``
    consecutive frames at a random place, a stride drawn uniformly from ``1 .. window // frames``
    (``stride`` fixes it; ``stride=8`` is the non-local network's recipe), and the ``frames``
    frames at that stride from a random offset inside the window. The other reading, 8 sorted
    random frames of the window, is not implemented. Videos shorter than the window use all of
    their frames as the window, with the stride reduced until the clip fits; a video shorter than
    ``frames`` loops.
    """
    def rand(low: int, high: int) -> int:  # inclusive
        return int(torch.randint(low, high + 1, (), generator=generator)) if high > low else low

    win = min(window, n)
    step = stride if stride is not None else rand(1, max(1, window // frames))
    step = _fit_stride(win, frames, step)
    span = (frames - 1) * step + 1
    w0 = rand(0, n - win)
    start = w0 + rand(0, max(0, win - span))
    return _clip(start, n, frames, step)


def sample_test_indices(n: int, frames: int = 8, clips: int = 10, window: int = 64,
                        stride: int | None = None) -> list[list[int]]:
    r"""``clips`` evenly spaced clips of ``frames`` frames at stride ``stride`` (default
    ``window // frames``, i.e. 8 frames spread over 64), first clip at the start and last at the
    end of the video (one clip: centred). Deterministic."""
    step = _fit_stride(n, frames, stride if stride is not None else max(1, window // frames))
    span = (frames - 1) * step + 1
    room = max(0, n - span)
    if clips == 1:
        starts = [room // 2]
    else:
        starts = [round(k * room / (clips - 1)) for k in range(clips)]
    return [_clip(s, n, frames, step) for s in starts]


def _to_clip(frames: Sequence[np.ndarray]) -> torch.Tensor:
    """``T`` arrays ``(H, W, 3)`` uint8 -> a ``(3, T, H, W)`` uint8 view (channels last in
    memory, as decoded)."""
    array = np.stack(frames)  # (T, H, W, 3) uint8
    return torch.from_numpy(array).permute(3, 0, 1, 2)  # (3, T, H, W) uint8, a view


def _new_counter(value: int = 0):
    # shared memory: DataLoader workers started by fork (Linux' default) add to the same count
    counter = multiprocessing.Value("i", value)
    return counter


# --- the data set ---------------------------------------------------------------------------
def resolve_ucf101_paths(root: "str | os.PathLike[str]",
                         annotation_path: "str | os.PathLike[str]"
                         ) -> tuple[pathlib.Path, pathlib.Path]:
    """``(videos folder, split-list folder)``; each may also be given as its parent."""
    root, annotation_path = pathlib.Path(root), pathlib.Path(annotation_path)
    videos = None
    for candidate in (root / UCF101_FOLDER, root):
        if candidate.is_dir() and candidate.name == UCF101_FOLDER:
            videos = candidate
            break
    if videos is None:
        if root.is_dir():
            videos = root
        else:
            raise FileNotFoundError(
                f"root must be the UCF-101 video folder (with one sub-folder per class) or its "
                f"parent, got {root}, which does not exist. Get the data with "
                f"`python data_scripts/download_ucf101.py --root {root}`.")
    splits = None
    for candidate in (annotation_path, annotation_path / UCF101_SPLITS_FOLDER):
        if (candidate / "classInd.txt").is_file():
            splits = candidate
            break
    if splits is None:
        raise FileNotFoundError(
            f"annotation_path must be the ucfTrainTestlist folder or its parent: found neither "
            f"{annotation_path / 'classInd.txt'} nor "
            f"{annotation_path / UCF101_SPLITS_FOLDER / 'classInd.txt'}")
    return videos, splits


def check_clip_options(train: object, frames: object, clips_per_video: object, window: object,
                       stride: object, max_skips: object) -> None:
    """The clip options every :class:`ClipDataset` takes; errors name the option and value."""
    if not isinstance(train, bool):
        raise TypeError(f"train must be a bool, got {train!r}")
    for name, value in (("frames", frames), ("clips_per_video", clips_per_video),
                        ("window", window), ("max_skips", max_skips)):
        check_positive_int(name, value)
    if window < frames:
        raise ValueError(f"window must be >= frames, got window={window}, frames={frames}")
    if stride is not None:
        if not isinstance(stride, int) or isinstance(stride, bool) or stride < 1:
            raise ValueError(f"stride must be None or a positive int, got {stride!r}")
        if (frames - 1) * stride + 1 > window:
            raise ValueError(f"stride must fit frames in the window: (frames-1)*stride+1 <= "
                             f"window, got frames={frames}, stride={stride}, window={window}")


class ClipDataset(torch.utils.data.Dataset):
    r"""What every clip data set shares once its videos are listed: clip sampling
    (:func:`sample_train_indices`, :func:`sample_test_indices`), decoding, the transform, and
    skipping corrupt videos. A subclass fills ``samples`` (``[(path, label)]``), ``train``,
    ``frames``, ``clips_per_video``, ``transform``, ``window``, ``stride``, ``skip_corrupt``,
    ``max_skips`` and calls :meth:`_init_skips`; :class:`UCF101` and
    :class:`regr_edu.data.Kinetics` do.
    """

    samples: list[tuple[pathlib.Path, int]]

    def _init_skips(self) -> None:
        self._skip_counter = _new_counter()
        self.skipped_files: list[str] = []

    # -- bookkeeping --------------------------------------------------------------------------
    @property
    def skipped(self) -> int:
        """Corrupt videos skipped so far (see the class docstring about workers)."""
        return int(self._skip_counter.value)

    def skip_report(self) -> str:
        """One line for a training log: how many videos were skipped, and which (this process)."""
        if not self.skipped:
            return f"{type(self).__name__}: no corrupt video skipped"
        names = ", ".join(self.skipped_files[:5]) or "see the worker log lines"
        return f"{type(self).__name__}: skipped {self.skipped} corrupt video(s): {names}"

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_skip_counter"] = self.skipped  # a shared Value cannot be pickled: keep the count
        return state

    def __setstate__(self, state: dict) -> None:
        count = state.pop("_skip_counter")
        self.__dict__.update(state)
        self._skip_counter = _new_counter(count)

    # -- samples ------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.samples) * (self.clips_per_video if self.train else 1)

    def _apply(self, clip: torch.Tensor) -> torch.Tensor:
        if self.transform is None:
            return to_float_clip(clip)  # (3, T, H, W) float32 in [0, 1]
        return self.transform(clip)

    def load(self, video: int) -> torch.Tensor:
        """Decode video ``video`` into the training clip or the stacked test views."""
        path, _ = self.samples[video]
        n = probe_frame_count(path)
        if self.train:
            indices = sample_train_indices(n, self.frames, self.window, self.stride)
            decoded = decode_frames(path, indices, declared=n)
            return self._apply(_to_clip([decoded[i] for i in indices]))
        clips = sample_test_indices(n, self.frames, self.clips_per_video, self.window, self.stride)
        decoded = decode_frames(path, [i for c in clips for i in c], declared=n)
        views = []
        for c in clips:
            out = self._apply(_to_clip([decoded[i] for i in c]))
            views.append(out.unsqueeze(0) if out.dim() == 4 else out)  # (crops, 3, T, h, w)
        return torch.cat(views)  # (clips * crops, 3, T, h, w)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, Any]:
        if not -len(self) <= index < len(self):
            raise IndexError(f"index must be in [0, {len(self)}), got {index}")
        index %= len(self)
        video = index // self.clips_per_video if self.train else index
        for attempt in range(self.max_skips + 1):
            try:
                return self.load(video), self.samples[video][1]
            except CorruptVideoError as err:
                if not self.skip_corrupt:
                    raise
                with self._skip_counter.get_lock():
                    self._skip_counter.value += 1
                self.skipped_files.append(err.path)
                log.warning("%s: skipping %s (%s); %d skipped so far", type(self).__name__,
                            err.path, err.reason, self.skipped)
                video = (video + 1) % len(self.samples)
        raise RuntimeError(f"{type(self).__name__}: {self.max_skips + 1} corrupt videos in a row "
                           f"around index {index} (last: {self.skipped_files[-1]}); is the data "
                           "set damaged?")


class UCF101(ClipDataset):
    r"""UCF101 clips for action recognition; labels 0-based from ``classInd.txt``.

    Args:
        root: the ``UCF-101`` folder (one sub-folder of ``.avi`` files per class) or its parent.
        annotation_path: the ``ucfTrainTestlist`` folder (``classInd.txt``, ``trainlist0N.txt``,
            ``testlist0N.txt``) or its parent.
        fold: the official split, 1, 2 or 3 (the paper reports split 1).
        train: ``trainlist0{fold}.txt`` (random clips) or ``testlist0{fold}.txt`` (fixed clips).
        frames: ``T``, frames per clip (8 in the paper).
        clips_per_video: training: random clips drawn per video per epoch (``len`` is videos x
            clips_per_video); testing: evenly spaced clips per video, all returned together
            (10 in the paper).
        transform: called on each decoded clip, a ``(3, T, H, W)`` **uint8** tensor at the
            video's own size (resizing in uint8 is much faster); it returns ``(3, T, h, w)`` or,
            for multi-crop, ``(crops, 3, T, h, w)``, float. ``None`` returns the decoded clip as
            float32 in ``[0, 1]``. :func:`regr_edu.data.ucf101_train_transform` and
            :func:`regr_edu.data.ucf101_test_transform` are the paper's.
        window: consecutive frames a training clip is drawn from (64), see
            :func:`sample_train_indices`.
        stride: frame interval; ``None`` draws it per clip in training (``1 .. window//frames``)
            and uses ``window // frames`` in testing.
        skip_corrupt: on a video that cannot be decoded, log a warning naming it, count it in
            :attr:`skipped` and return the next video instead (up to ``max_skips`` in a row).
            Default: ``True`` when training, ``False`` (raise :class:`CorruptVideoError`) when
            testing, as a skipped test video would bias the accuracy.

    Shape contract of ``dataset[i]``:

    * training: ``(clip, label)``, ``clip`` of shape ``(3, T, H, W)`` (``(3, 8, 224, 224)`` with
      the paper's transform); a DataLoader batches it to ``(B, 3, T, H, W)``.
    * testing: ``(views, label)``, ``views`` of shape ``(V, 3, T, H, W)`` with ``V =
      clips_per_video * crops`` ordered clip-major (clip 0's crops, then clip 1's, ...);
      ``crops = 1`` when the transform returns a single clip. With the paper's test transform
      that is ``(30, 3, 8, 256, 256)``. Batched: ``(B, V, 3, T, H, W)``;
      :func:`video_scores` averages the softmax over ``V`` for video-level accuracy.

    Errors at construction name the file: a missing list file, a malformed line, a class of
    ``classInd.txt`` without a folder or with an empty folder, a listed video that is not on disk,
    a train-list label that disagrees with ``classInd.txt``.

    :attr:`skipped` counts skips across DataLoader workers started by ``fork`` (Linux' default),
    through shared memory; with ``spawn``/``forkserver`` each worker counts its own and only the
    log lines reach the main process. :attr:`skipped_files` lists the skips of this process.
    """

    def __init__(self, root: "str | os.PathLike[str]", annotation_path: "str | os.PathLike[str]",
                 fold: int = 1, train: bool = True, frames: int = 8, clips_per_video: int = 1,
                 transform: Callable | None = None, *, window: int = 64,
                 stride: int | None = None, skip_corrupt: bool | None = None,
                 max_skips: int = 10) -> None:
        if fold not in (1, 2, 3) or isinstance(fold, bool):
            raise ValueError(f"fold must be 1, 2 or 3 (the official splits), got {fold!r}")
        check_clip_options(train, frames, clips_per_video, window, stride, max_skips)
        self.videos_root, self.annotation_path = resolve_ucf101_paths(root, annotation_path)
        self.fold, self.train, self.frames = fold, train, frames
        self.clips_per_video, self.transform = clips_per_video, transform
        self.window, self.stride, self.max_skips = window, stride, max_skips
        self.skip_corrupt = train if skip_corrupt is None else bool(skip_corrupt)
        self._init_skips()

        # classes, 1-based in classInd.txt -> 0-based labels
        class_ind = self.annotation_path / "classInd.txt"
        rows = read_table(class_ind, 2, "UCF101 class index")
        if not rows:
            raise ValueError(f"{class_ind} lists no classes")
        ids = []
        for cid, name in rows:
            try:
                ids.append((int(cid), name))
            except ValueError:
                raise ValueError(f"{class_ind}: class id must be an integer, got {cid!r}") from None
        ids.sort()
        if [i for i, _ in ids] != list(range(1, len(ids) + 1)):
            raise ValueError(f"{class_ind}: class ids must be 1..{len(ids)} without gaps, got "
                             f"{[i for i, _ in ids][:10]}...")
        self.classes = [name for _, name in ids]
        self.class_to_idx = {name: k for k, name in enumerate(self.classes)}
        lower_to_idx = {name.lower(): k for k, name in enumerate(self.classes)}

        # the files on disk, case-insensitively: "class/file.avi" (lower case) -> real path
        on_disk: dict[str, pathlib.Path] = {}
        folders: dict[str, pathlib.Path] = {}
        with os.scandir(self.videos_root) as entries:
            for entry in entries:
                if entry.is_dir():
                    folders[entry.name.lower()] = pathlib.Path(entry.path)
        for name in self.classes:
            folder = folders.get(name.lower())
            if folder is None:
                raise FileNotFoundError(f"class {name!r} of {class_ind} has no folder "
                                        f"{self.videos_root / name}")
            count = 0
            with os.scandir(folder) as entries:
                for entry in entries:
                    if entry.is_file() and entry.name.lower().endswith(".avi"):
                        on_disk[f"{name.lower()}/{entry.name.lower()}"] = pathlib.Path(entry.path)
                        count += 1
            if count == 0:
                raise FileNotFoundError(f"class folder {folder} holds no .avi video (empty class "
                                        "folder: incomplete extraction?)")

        list_name = f"{'train' if train else 'test'}list0{fold}.txt"
        list_path = self.annotation_path / list_name
        if not list_path.is_file():
            raise FileNotFoundError(f"UCF101 split list missing: {list_path}")
        text = list_path.read_text(encoding="utf-8-sig")
        samples: list[tuple[pathlib.Path, int]] = []
        absent: list[str] = []
        for number, line in enumerate(text.splitlines(), start=1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) not in ((2,) if train else (1, 2)):
                raise ValueError(f"{list_path}, line {number}: expected "
                                 f"{'<path> <label>' if train else '<path>'}, got {line.strip()!r}")
            rel = fields[0].replace("\\", "/")
            if "/" not in rel:
                raise ValueError(f"{list_path}, line {number}: path must be <Class>/<file>.avi, "
                                 f"got {rel!r}")
            folder_name = rel.split("/", 1)[0]
            label = lower_to_idx.get(folder_name.lower())
            if label is None:
                raise ValueError(f"{list_path}, line {number}: class folder {folder_name!r} is not "
                                 f"in {class_ind}")
            if len(fields) == 2:
                try:
                    given = int(fields[1])
                except ValueError:
                    raise ValueError(f"{list_path}, line {number}: label must be an integer, got "
                                     f"{fields[1]!r}") from None
                if given - 1 != label:
                    raise ValueError(f"{list_path}, line {number}: label {given} disagrees with "
                                     f"{class_ind}, which gives {folder_name!r} the id {label + 1}")
            path = on_disk.get(rel.lower())
            if path is None:
                absent.append(str(self.videos_root / rel))
                continue
            samples.append((path, label))
        if absent:
            raise FileNotFoundError(f"{len(absent)} video(s) listed in {list_path} are missing, "
                                    f"e.g. {', '.join(absent[:3])}")
        if not samples:
            raise ValueError(f"{list_path} lists no videos")
        self.samples = samples
        self.targets = [label for _, label in samples]
        self.list_path = list_path

    def __repr__(self) -> str:
        return (f"UCF101(root={str(self.videos_root)!r}, fold={self.fold}, train={self.train}, "
                f"videos={len(self.samples)}, classes={len(self.classes)}, frames={self.frames}, "
                f"clips_per_video={self.clips_per_video})")


def video_scores(model: torch.nn.Module, views: torch.Tensor, chunk: int = 0) -> torch.Tensor:
    r"""Video-level scores from test views: ``(B, V, 3, T, H, W) -> (B, classes)``, the softmax
    averaged over the ``V`` views (the paper averages "the softmax scores of all clips").

    ``chunk > 0`` runs at most ``chunk`` views through the model at a time (memory)."""
    if views.dim() != 6:
        raise ValueError(f"views must be a (B, V, 3, T, H, W) tensor, got shape "
                         f"{tuple(views.shape)}")
    B, V = views.shape[:2]
    flat = views.flatten(0, 1)  # (B*V, 3, T, H, W)
    if chunk and chunk < flat.shape[0]:
        logits = torch.cat([model(flat[i:i + chunk]) for i in range(0, flat.shape[0], chunk)])
    else:
        logits = model(flat)  # (B*V, classes)
    return logits.softmax(-1).view(B, V, -1).mean(1)  # (B, classes)
