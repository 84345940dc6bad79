r"""Data sets of the ReGr paper: CUB-200-2011 (fine-grained birds) and UCF101 (actions).

``rg.data.CUB200(root, train=True, transform=None)`` -> ``(image, label)``, labels 0-based.
``rg.data.Kinetics(root, annotation_path, train=True, frames=8, clips_per_video=1,
transform=None)`` -> Kinetics-400 clips (the paper's Table 7), as ``UCF101``.
``rg.data.UCF101(root, annotation_path, fold=1, train=True, frames=8, clips_per_video=1,
transform=None)`` -> ``(clip (3, T, H, W) float, label)`` when training, ``(views (V, 3, T, H, W),
label)`` when testing.

The paper's transforms are :func:`cub_train_transform`, :func:`cub_test_transform`,
:func:`ucf101_train_transform` and :func:`ucf101_test_transform`. Downloading and safe extraction
are in :mod:`regr_edu.data.download` (and ``data_scripts/``); the fixture makers, which write tiny
data sets in the official formats, in :mod:`regr_edu.data.fixtures`.

Importing this package does not import PyAV: only decoding a video does.
"""
from __future__ import annotations

from .cub import CUB200
from .download import (ChecksumError, DownloadError, MissingToolError, UnsafeArchiveError,
                       download_url, extract_archive, md5sum, prepare_cub200, prepare_ucf101)
from .fixtures import (make_cub_archive, make_cub_fixture, make_kinetics_fixture,
                       make_ucf101_archives, make_ucf101_fixture)
from .kinetics import Kinetics
from .synthetic import SyntheticClips, SyntheticImages  # the relational CPU-scale tasks
from .transforms import (cub_test_transform, cub_train_transform, ucf101_test_transform,
                         ucf101_train_transform)
from .ucf101 import (UCF101, CorruptVideoError, sample_test_indices, sample_train_indices,
                     video_scores)

__all__ = [
    "CUB200",
    "UCF101",
    "Kinetics",
    "cub_train_transform",
    "cub_test_transform",
    "ucf101_train_transform",
    "ucf101_test_transform",
    "video_scores",
    "sample_train_indices",
    "sample_test_indices",
    "CorruptVideoError",
    "download_url",
    "extract_archive",
    "md5sum",
    "prepare_cub200",
    "prepare_ucf101",
    "DownloadError",
    "ChecksumError",
    "UnsafeArchiveError",
    "MissingToolError",
    "make_cub_fixture",
    "make_cub_archive",
    "make_ucf101_fixture",
    "make_ucf101_archives",
    "make_kinetics_fixture",
    "SyntheticImages",
    "SyntheticClips",
]
