r"""Downloading and preparing the data sets: CUB-200-2011 and UCF101.

This module is the entry point (``regr_edu.data.download``, used by ``data_scripts/``): the HTTP
download and the ``prepare_*`` functions live here; checksums are in
:mod:`regr_edu.data.checksums` and safe extraction in :mod:`regr_edu.data.archives`, whose public
names this module re-exports.

Everything here is written so that a failure leaves nothing that looks complete:

* :func:`download_url` streams into ``<dest>.part`` (resumed with an HTTP ``Range`` request when a
  ``.part`` is already there, or when the connection drops midway), checks the MD5 where one is
  published, and only then renames ``.part`` to ``dest`` (``os.replace``, atomic on one file
  system). A file that fails its checksum is never deleted: it is renamed aside
  (``<name>.md5-mismatch``) or, when it was put there by hand and no download is allowed, left in
  place, and the message shows both sums (a typo in the expected MD5 must not cost a 6 GB file).
* :func:`extract_archive` (:mod:`regr_edu.data.archives`) unpacks an archive into a hidden
  temporary folder beside the target and moves it into place only when every member is out,
  refusing the whole archive if one member would land outside the target; RAR goes through
  Debian's ``unar``/``lsar`` (``apt-get install -y unar``).
* Without network, :class:`DownloadError` says which URL to fetch by hand and the exact path to put
  the file at; the ``prepare_*`` functions then pick that file up, verify it and go on.

Nothing here runs at import time, and nothing downloads during the tests: they serve bytes from a
local ``http.server`` on 127.0.0.1.
"""
from __future__ import annotations

import os
import pathlib
import shutil
import socket
import time
import urllib.error
import urllib.request
import warnings
from http.client import HTTPException
from typing import Callable, Iterable

from .._checks import check_nonnegative_int
from .archives import (CHUNK, UNAR_MISSING, CorruptArchiveError, MissingToolError,
                       UnsafeArchiveError, archive_kind, extract_archive, unar_available)
from .checksums import ChecksumError, _bar, _check_md5_string, check_md5, md5sum, set_aside_file

__all__ = ["CUB_URL", "CUB_FILENAME", "CUB_MD5", "CUB_FOLDER", "UCF101_URL", "UCF101_FILENAME",
           "UCF101_SPLITS_URL", "UCF101_SPLITS_FILENAME", "UCF101_FOLDER", "UCF101_SPLITS_FOLDER",
           "DownloadError", "ChecksumError", "CorruptArchiveError", "UnsafeArchiveError",
           "MissingToolError", "md5sum", "check_md5", "set_aside_file", "offline_message",
           "download_url", "archive_kind", "extract_archive", "unar_available", "UNAR_MISSING",
           "prepare_cub200", "prepare_ucf101", "iter_files"]

# --- where the data sets live ---------------------------------------------------------------
CUB_URL = "https://data.caltech.edu/records/65de6-vp158/files/CUB_200_2011.tgz?download=1"
CUB_FILENAME = "CUB_200_2011.tgz"
CUB_MD5 = "97eceeb196236b17998738112f37df78"
CUB_FOLDER = "CUB_200_2011"

UCF101_URL = "https://www.crcv.ucf.edu/data/UCF101/UCF101.rar"
UCF101_FILENAME = "UCF101.rar"
UCF101_SPLITS_URL = ("https://www.crcv.ucf.edu/data/UCF101/"
                     "UCF101TrainTestSplits-RecognitionTask.zip")
UCF101_SPLITS_FILENAME = "UCF101TrainTestSplits-RecognitionTask.zip"
UCF101_FOLDER = "UCF-101"
UCF101_SPLITS_FOLDER = "ucfTrainTestlist"


class DownloadError(RuntimeError):
    """A download failed (no network, HTTP error, connection dropped too often)."""


# --- downloading ----------------------------------------------------------------------------
def offline_message(url: str, dest: "str | os.PathLike[str]", md5: str | None = None,
                    reason: object = None) -> str:
    """The message shown when ``url`` cannot be fetched: what to download by hand, and where."""
    dest = pathlib.Path(dest).absolute()
    lines = [f"could not download {url}" + (f" ({reason})" if reason is not None else "") + "."]
    lines.append("Without network here: fetch that URL by hand (a browser or another machine) and "
                 f"put the file at exactly\n    {dest}")
    if md5:
        lines.append(f"Its MD5 must be {md5} (check with: md5sum {dest.name}).")
    lines.append("Then run the same command again: it finds the file, verifies it and goes on.")
    return "\n".join(lines)


def download_url(url: str, dest: "str | os.PathLike[str]", md5: str | None = None, *,
                 retries: int = 5, timeout: float = 30.0, chunk_size: int = CHUNK,
                 progress: bool = True, backoff: float = 1.0,
                 opener: Callable[..., object] | None = None) -> pathlib.Path:
    r"""Download ``url`` to ``dest`` resumably and atomically; return ``dest``.

    * If ``dest`` exists it is verified against ``md5`` (when given) and returned without any
      network access; a mismatch sets it aside (``<name>.md5-mismatch``, with a warning that
      shows both sums) and downloads again.
    * Bytes go to ``dest + ".part"``. A ``.part`` left by an earlier attempt is resumed with
      ``Range: bytes=<size>-``; a server answering ``200`` instead of ``206`` ignores ranges, so the
      ``.part`` is restarted from zero. A connection that drops midway is resumed the same way, up
      to ``retries`` times (waiting ``backoff * attempt`` seconds in between).
    * When the body is complete (its length checked against ``Content-Length``/``Content-Range``
      where the server sent them) the MD5 is checked; on mismatch the ``.part`` is set aside as
      ``<name>.md5-mismatch`` and :class:`ChecksumError` raised. Only a verified file is renamed
      to ``dest``.
    * No network, DNS failure, refused connection, HTTP error: :class:`DownloadError` with
      :func:`offline_message` (which URL to fetch by hand, the exact path to put it at).
    """
    if not isinstance(url, str) or "://" not in url:
        raise ValueError(f"url must be an absolute URL string like 'https://host/file', got {url!r}")
    if md5 is not None:
        _check_md5_string(md5)
    check_nonnegative_int("retries", retries)
    dest = pathlib.Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.exists():
        if md5 is None:
            return dest
        try:
            check_md5(dest, md5, set_aside=True, progress=progress)
            return dest
        except ChecksumError as err:
            warnings.warn(f"{err}. Downloading it again.", stacklevel=2)
    part = dest.with_name(dest.name + ".part")
    open_url = opener or urllib.request.urlopen
    attempt = 0
    last_error: object = None
    while True:
        try:
            complete = _fetch_into(open_url, url, part, timeout, chunk_size, progress)
            last_error = "the server closed the connection before the end"
        except urllib.error.HTTPError as err:
            if err.code == 416 and part.exists():  # range past the end: .part may be complete
                complete = True
            else:
                raise DownloadError(offline_message(url, dest, md5, f"HTTP {err.code} {err.reason}")
                                    ) from err
        except (urllib.error.URLError, OSError, HTTPException, socket.timeout) as err:
            # Distinguish "never connected" (offline) from "connection dropped midway".
            reason = getattr(err, "reason", err)
            if isinstance(err, urllib.error.URLError) and not part.exists():
                raise DownloadError(offline_message(url, dest, md5, reason)) from err
            complete = False
            last_error = err
        if complete:
            break
        attempt += 1
        if attempt > retries:
            have = part.stat().st_size if part.exists() else 0
            raise DownloadError(
                offline_message(url, dest, md5, f"connection dropped {attempt} times, last: "
                                f"{last_error!r}; {have} bytes kept in {part} and resumed next time"))
        time.sleep(backoff * attempt)
    if md5 is not None:
        check_md5(part, md5, set_aside=True, progress=progress)  # kept aside on mismatch
    os.replace(part, dest)
    return dest


def _fetch_into(open_url, url: str, part: pathlib.Path, timeout: float, chunk_size: int,
                progress: bool) -> bool:
    """One HTTP request appending to ``part``; True when the whole body arrived."""
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "regr_edu-data/0.1"})
    if have:
        request.add_header("Range", f"bytes={have}-")
    with open_url(request, timeout=timeout) as response:
        status = getattr(response, "status", None) or response.getcode()
        length = response.headers.get("Content-Length")
        length = int(length) if length is not None and length.isdigit() else None
        if have and status == 206:
            total = _range_total(response.headers.get("Content-Range"))
            mode = "ab"
        else:  # 200: the server sent the whole file (it ignores or got no Range)
            have, mode = 0, "wb"
            total = length
        expected_body = length
        bar = _bar(total, part.name[:-len(".part")], initial=have) if progress else None
        received = 0
        try:
            with open(part, mode) as f:
                while True:
                    block = response.read(chunk_size)
                    if not block:
                        break
                    f.write(block)
                    received += len(block)
                    if bar is not None:
                        bar.update(len(block))
                f.flush()
                os.fsync(f.fileno())
        finally:
            if bar is not None:
                bar.close()
    if expected_body is not None and received < expected_body:
        return False  # server closed early without an exception
    if total is not None and part.stat().st_size < total:
        return False
    return True


def _range_total(content_range: str | None) -> int | None:
    # "bytes 100-999/1000" -> 1000
    if not content_range or "/" not in content_range:
        return None
    tail = content_range.rsplit("/", 1)[1].strip()
    return int(tail) if tail.isdigit() else None


# --- the two data sets ----------------------------------------------------------------------
def _obtain(url: str, dest: pathlib.Path, md5: str | None, download: bool,
            progress: bool) -> pathlib.Path:
    """Use ``dest`` if present (verified), else download it (or explain how to, offline)."""
    if dest.exists():
        if md5 is not None and not download:
            check_md5(dest, md5, progress=progress)  # left in place on mismatch, then raises
        elif md5 is not None:
            return download_url(url, dest, md5, progress=progress)  # sets a mismatch aside
        return dest
    if not download:
        raise FileNotFoundError(offline_message(url, dest, md5, "download=False"))
    return download_url(url, dest, md5, progress=progress)


def prepare_cub200(root: "str | os.PathLike[str]", *, download: bool = True,
                   keep_archive: bool = True, url: str = CUB_URL,
                   md5: str | None = CUB_MD5, progress: bool = True) -> pathlib.Path:
    r"""Make ``root/CUB_200_2011/`` ready for :class:`regr_edu.data.CUB200`; return that folder.

    Skips everything if ``root/CUB_200_2011/images.txt`` exists. Otherwise uses
    ``root/CUB_200_2011.tgz`` if present (put it there by hand when offline), else downloads it
    (resumable), verifies the MD5 ``97eceeb196236b17998738112f37df78`` and extracts it safely.
    """
    root = pathlib.Path(root)
    folder = root / CUB_FOLDER
    if (folder / "images.txt").is_file():
        return folder
    archive = _obtain(url, root / CUB_FILENAME, md5, download, progress)
    created = extract_archive(archive, root, md5=None, progress=progress)  # verified above
    if not (folder / "images.txt").is_file():
        _remove(created)
        raise CorruptArchiveError(
            f"archive {archive} is not CUB-200-2011 as published: extracting it gave "
            f"{[p.name for p in created]} but no {CUB_FOLDER}/images.txt (what it gave was "
            "removed again). Remove the archive and fetch it again")
    if not keep_archive:
        archive.unlink()
    return folder


def prepare_ucf101(root: "str | os.PathLike[str]", *, download: bool = True,
                   keep_archive: bool = True, url: str = UCF101_URL,
                   splits_url: str = UCF101_SPLITS_URL, md5: str | None = None,
                   splits_md5: str | None = None,
                   progress: bool = True) -> tuple[pathlib.Path, pathlib.Path]:
    r"""Make ``root/UCF-101/`` and ``root/ucfTrainTestlist/`` ready; return both folders.

    ``UCF101.rar`` (about 6.5 GB) is extracted with ``unar`` (``apt-get install -y unar``); the
    split lists come from ``UCF101TrainTestSplits-RecognitionTask.zip``. UCF does not publish
    MD5s; pass ``md5``/``splits_md5`` to check against your own. Each step is skipped when its
    result is already there; offline, put the two files in ``root`` by hand.
    """
    root = pathlib.Path(root)
    videos, splits = root / UCF101_FOLDER, root / UCF101_SPLITS_FOLDER
    if not (splits / "classInd.txt").is_file():
        archive = _obtain(splits_url, root / UCF101_SPLITS_FILENAME, splits_md5, download,
                          progress)
        created = extract_archive(archive, root, progress=progress)
        if not (splits / "classInd.txt").is_file():
            _remove(created)
            raise CorruptArchiveError(
                f"archive {archive} is not UCF101's split lists as published: extracting it gave "
                f"{[p.name for p in created]} but no {UCF101_SPLITS_FOLDER}/classInd.txt (what it "
                "gave was removed again). Remove the archive and fetch it again")
        if not keep_archive:
            archive.unlink()
    if not videos.is_dir():
        if not unar_available():  # say so before fetching 6.5 GB
            raise MissingToolError(UNAR_MISSING.format(archive=root / UCF101_FILENAME))
        archive = _obtain(url, root / UCF101_FILENAME, md5, download, progress)
        created = extract_archive(archive, root, progress=progress)
        if not videos.is_dir():
            _remove(created)
            raise CorruptArchiveError(
                f"archive {archive} is not UCF101.rar as published (or is damaged): extracting "
                f"it gave {[p.name for p in created]} but no {UCF101_FOLDER}/ folder (what it "
                "gave was removed again). Remove the archive and fetch it again")
        if not keep_archive:
            archive.unlink()
    return videos, splits


def _remove(paths: Iterable[pathlib.Path]) -> None:
    """Remove what a failed preparation extracted, so that the rerun is not blocked by it."""
    for path in paths:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def iter_files(folder: "str | os.PathLike[str]") -> Iterable[pathlib.Path]:
    """All regular files under ``folder`` in sorted order (used by the scripts' summaries)."""
    return sorted(p for p in pathlib.Path(folder).rglob("*") if p.is_file())
