r"""Downloading, verifying and safely extracting the data sets' archives.

Everything here is written so that a failure leaves nothing that looks complete:

* :func:`download_url` streams into ``<dest>.part`` (resumed with an HTTP ``Range`` request when a
  ``.part`` is already there, or when the connection drops midway), checks the MD5 where one is
  published, and only then renames ``.part`` to ``dest`` (``os.replace``, atomic on one file
  system). A file that fails its checksum is never deleted: it is renamed aside
  (``<name>.md5-mismatch``) or, when it was put there by hand and no download is allowed, left in
  place, and the message shows both sums (a typo in the expected MD5 must not cost a 6 GB file).
* :func:`extract_archive` unpacks ``.tar``/``.tgz``/``.tar.gz``/``.zip``/``.rar`` into a hidden
  temporary folder beside the target, refusing the whole archive as soon as one member would land
  outside it (an absolute path, a ``..`` component, a symbolic or hard link that points outside,
  a device file). Links are checked as they *resolve* on disk, again after every later link (a
  link that is harmless alone can point outside once a later link exists), and a member may not
  replace a link or a folder extracted before it. Only when every member is out are the
  top-level entries moved into place; on any error the temporary folder is removed, and a corrupt
  archive is a :class:`CorruptArchiveError` that names it.
* RAR (UCF101 ships as ``UCF101.rar``, RAR 3) goes through Debian's ``unar``/``lsar``
  (``apt-get install -y unar``); without them the error says so.
* Without network, :class:`DownloadError` says which URL to fetch by hand and the exact path to put
  the file at; the ``prepare_*`` functions then pick that file up, verify it and go on.

Nothing here runs at import time, and nothing downloads during the tests: they serve bytes from a
local ``http.server`` on 127.0.0.1.
"""
from __future__ import annotations

import hashlib
import json
import os
import pathlib
import shutil
import socket
import stat
import subprocess
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
import warnings
import zipfile
import zlib
from http.client import HTTPException
from typing import Callable, Iterable

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

CHUNK = 1 << 16


class DownloadError(RuntimeError):
    """A download failed (no network, HTTP error, connection dropped too often)."""


class ChecksumError(RuntimeError):
    """A file's MD5 differs from the expected one; the file is kept (aside or in place)."""


class CorruptArchiveError(RuntimeError):
    """An archive could not be read or extracted (truncated, corrupt, not an archive)."""


class UnsafeArchiveError(RuntimeError):
    """An archive member would land outside the target folder; nothing was extracted."""


class MissingToolError(RuntimeError):
    """An external program (``unar``/``lsar`` for RAR) is not installed."""


# --- checksums ------------------------------------------------------------------------------
def md5sum(path: "str | os.PathLike[str]", chunk_size: int = 1 << 20,
           progress: bool = False) -> str:
    """Return the hex MD5 of a file, reading it in chunks (optionally with a tqdm bar)."""
    path = pathlib.Path(path)
    digest = hashlib.md5()
    bar = _bar(path.stat().st_size, f"md5 {path.name}") if progress else None
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk_size), b""):
            digest.update(block)
            if bar is not None:
                bar.update(len(block))
    if bar is not None:
        bar.close()
    return digest.hexdigest()


def check_md5(path: "str | os.PathLike[str]", md5: str, *, set_aside: bool = False,
              progress: bool = False, remove_on_mismatch: bool | None = None) -> None:
    """Raise :class:`ChecksumError`, showing both sums, if the file's MD5 differs from ``md5``.

    The file is never deleted. With ``set_aside`` it is renamed to ``<name>.md5-mismatch`` (so
    that it no longer looks like the expected file and a download can take its place); otherwise
    it stays where it is. ``remove_on_mismatch`` is accepted for old callers and means
    ``set_aside``.
    """
    _check_md5_string(md5)
    if remove_on_mismatch is not None:
        set_aside = bool(remove_on_mismatch)
    path = pathlib.Path(path)
    got = md5sum(path, progress=progress)
    if got == md5.lower():
        return
    if set_aside:
        kept = set_aside_file(path)
        where = f"the file is kept as {kept} (not deleted)"
    else:
        where = f"the file is left in place at {path} (not deleted)"
    raise ChecksumError(
        f"MD5 mismatch for {path}: expected {md5.lower()}, got {got}; {where}. If the expected "
        "MD5 was typed by hand (--md5), check it; otherwise the file is corrupt or incomplete: "
        "remove it and fetch it again")


def set_aside_file(path: "str | os.PathLike[str]") -> pathlib.Path:
    """Rename ``path`` to ``<name>.md5-mismatch`` (``.md5-mismatch-2``, ... if taken)."""
    path = pathlib.Path(path)
    kept = path.with_name(path.name.removesuffix(".part") + ".md5-mismatch")
    n = 1
    while kept.exists():
        n += 1
        kept = path.with_name(path.name.removesuffix(".part") + f".md5-mismatch-{n}")
    os.replace(path, kept)
    return kept


def _check_md5_string(md5: object) -> None:
    if not (isinstance(md5, str) and len(md5) == 32
            and all(c in "0123456789abcdefABCDEF" for c in md5)):
        raise ValueError(f"md5 must be a 32-character hex string, got {md5!r}")


def _bar(total: int | None, desc: str, initial: int = 0):
    from tqdm.auto import tqdm  # light, but keep it out of import time
    return tqdm(total=total, initial=initial, desc=desc, unit="B", unit_scale=True,
                unit_divisor=1024, dynamic_ncols=True, leave=False)


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
    if not isinstance(retries, int) or retries < 0:
        raise ValueError(f"retries must be a non-negative int, got {retries!r}")
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


# --- safe extraction ------------------------------------------------------------------------
def _inside(base: pathlib.Path, candidate: pathlib.Path) -> bool:
    base = os.path.realpath(base)
    cand = os.path.realpath(candidate)
    return cand == base or cand.startswith(base.rstrip(os.sep) + os.sep)


def _check_member_name(archive: pathlib.Path, name: str) -> pathlib.PurePosixPath:
    """Refuse absolute names, drive letters and any ``..`` component; return the clean path."""
    unified = name.replace("\\", "/")
    if unified.startswith("/") or (len(unified) > 1 and unified[1] == ":"):
        raise UnsafeArchiveError(
            f"archive {archive} has member {name!r} with an absolute path: refused, nothing "
            "extracted")
    parts = [p for p in unified.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise UnsafeArchiveError(
            f"archive {archive} has member {name!r} with a '..' component that would land outside "
            "the target folder: refused, nothing extracted")
    return pathlib.PurePosixPath(*parts) if parts else pathlib.PurePosixPath(".")


def _tar_members(archive: pathlib.Path, tar: tarfile.TarFile, tmp: pathlib.Path):
    """Yield each checked member (streaming: works for a gzip stream read once)."""
    for member in tar:
        rel = _check_member_name(archive, member.name)
        where = tmp / rel
        if not _inside(tmp, where):
            raise UnsafeArchiveError(
                f"archive {archive} member {member.name!r} resolves outside the target: refused")
        if member.issym():
            link = member.linkname.replace("\\", "/")
            target = (where.parent / link) if not link.startswith("/") else pathlib.Path(link)
            if link.startswith("/") or not _inside(tmp, target):
                raise UnsafeArchiveError(
                    f"archive {archive} member {member.name!r} is a symbolic link to "
                    f"{member.linkname!r}, outside the target folder: refused")
        elif member.islnk():
            _check_member_name(archive, member.linkname)
            if not _inside(tmp, tmp / member.linkname):
                raise UnsafeArchiveError(
                    f"archive {archive} member {member.name!r} is a hard link to "
                    f"{member.linkname!r}, outside the target folder: refused")
        elif not (member.isfile() or member.isdir()):
            raise UnsafeArchiveError(
                f"archive {archive} member {member.name!r} is a device, FIFO or other special file: "
                "refused")
        yield member


def _check_links(archive: pathlib.Path, tmp: pathlib.Path, links: list[pathlib.Path]) -> None:
    """Every link extracted so far must still resolve inside ``tmp``, now that more exist.

    A link checked alone can be harmless and point outside once a later link exists
    (``b -> a/a/../..`` then ``a -> .``), so each new link re-checks all of them as they resolve
    on disk (``os.path.realpath`` follows every link in the chain)."""
    for link in links:
        if os.path.islink(link) and not _inside(tmp, link):
            raise UnsafeArchiveError(
                f"archive {archive} member {link.relative_to(tmp).as_posix()!r} is a link to "
                f"{os.readlink(link)!r}, which resolves outside the target folder once the "
                "archive's other links exist: refused, nothing extracted")


def _extract_tar(archive: pathlib.Path, tmp: pathlib.Path, progress: bool) -> None:
    bar = _count_bar(f"extract {archive.name}") if progress else None
    links: list[pathlib.Path] = []
    with tarfile.open(archive, mode="r:*") as tar:
        for member in _tar_members(archive, tar, tmp):
            where = tmp / _check_member_name(archive, member.name)
            if os.path.islink(where) or (os.path.isdir(where) and not member.isdir()):
                what = "link" if os.path.islink(where) else "folder"
                raise UnsafeArchiveError(
                    f"archive {archive} member {member.name!r} would replace the {what} that an "
                    "earlier member created there: refused, nothing extracted")
            if hasattr(tarfile, "data_filter"):  # Python >= 3.11.4: a second, independent guard
                tar.extract(member, tmp, filter="data")
            else:  # pragma: no cover - older Pythons; our own checks above still ran
                tar.extract(member, tmp)
            if member.issym() or member.islnk():
                links.append(where)
                _check_links(archive, tmp, links)
            if bar is not None:
                bar.update(1)
        # tarfile stops at the end-of-archive blocks, before the gzip/bz2/xz trailer: read the
        # compressed stream to its end so its checksum (gzip's CRC-32) is verified too
        stream = tar.fileobj
        if stream is not None and hasattr(stream, "read"):
            while stream.read(CHUNK):
                pass
    if bar is not None:
        bar.close()


def _extract_zip(archive: pathlib.Path, tmp: pathlib.Path, progress: bool) -> None:
    with zipfile.ZipFile(archive) as zf:
        infos = zf.infolist()
        for info in infos:  # check all before writing any
            rel = _check_member_name(archive, info.filename)
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                link = zf.read(info).decode("utf-8", "replace")
                target = (tmp / rel).parent / link
                if link.startswith("/") or not _inside(tmp, target):
                    raise UnsafeArchiveError(
                        f"archive {archive} member {info.filename!r} is a symbolic link to "
                        f"{link!r}, outside the target folder: refused")
        bad = zf.testzip()  # CRC of every member
        if bad is not None:
            raise zipfile.BadZipFile(f"archive {archive}: member {bad!r} fails its CRC check")
        bar = _count_bar(f"extract {archive.name}", len(infos)) if progress else None
        for info in infos:
            rel = _check_member_name(archive, info.filename)
            out = tmp / rel
            if info.is_dir():
                out.mkdir(parents=True, exist_ok=True)
            else:
                out.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, open(out, "wb") as dst:
                    shutil.copyfileobj(src, dst, CHUNK)
            if bar is not None:
                bar.update(1)
        if bar is not None:
            bar.close()


def _count_bar(desc: str, total: int | None = None):
    from tqdm.auto import tqdm
    return tqdm(total=total, desc=desc, unit="file", dynamic_ncols=True, leave=False)


UNAR_MISSING = ("extracting {archive} needs Debian's 'unar' and 'lsar' (free RAR extractors), "
                "which are not installed. Install them with:\n    apt-get install -y unar\n"
                "(or on macOS: brew install unar), then run again. 'unrar' is not used.")


def unar_available() -> bool:
    """True when both ``unar`` and ``lsar`` are on ``PATH``."""
    return shutil.which("unar") is not None and shutil.which("lsar") is not None


def _extract_rar(archive: pathlib.Path, tmp: pathlib.Path, progress: bool) -> None:
    if not unar_available():
        raise MissingToolError(UNAR_MISSING.format(archive=archive))
    # 1) list the members with lsar and refuse unsafe names before writing anything
    listing = subprocess.run(["lsar", "-j", str(archive)], capture_output=True, text=True)
    if listing.returncode != 0:
        raise CorruptArchiveError(f"lsar could not read {archive} (corrupt or not a RAR archive): "
                                  f"{(listing.stderr or listing.stdout).strip()[-500:]}")
    try:
        contents = json.loads(listing.stdout).get("lsarContents", [])
    except json.JSONDecodeError as err:
        raise CorruptArchiveError(f"lsar gave unreadable output for {archive}: {err}") from None
    for entry in contents:
        name = entry.get("XADFileName", "")
        _check_member_name(archive, name)
        if entry.get("XADIsLink") or entry.get("XADLinkDestination"):
            raise UnsafeArchiveError(f"archive {archive} member {name!r} is a link: refused")
    # 2) extract into the temporary folder, no extra containing directory
    cmd = ["unar", "-q", "-f", "-D", "-o", str(tmp), str(archive)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise CorruptArchiveError(f"unar failed on {archive} (exit {done.returncode}): "
                                  f"{(done.stderr or done.stdout).strip()[-500:]}")
    # 3) second guard: nothing on disk may point outside
    for path in tmp.rglob("*"):
        if path.is_symlink() and not _inside(tmp, path.resolve()):
            raise UnsafeArchiveError(f"archive {archive} produced {path}, a link outside the "
                                     "target folder: refused")


def archive_kind(path: "str | os.PathLike[str]") -> str:
    """``"tar"``, ``"zip"`` or ``"rar"`` from the file's magic bytes (the name is a fallback)."""
    path = pathlib.Path(path)
    with open(path, "rb") as f:
        head = f.read(8)
    if head.startswith(b"Rar!\x1a\x07"):
        return "rar"
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        return "zip"
    if head.startswith(b"\x1f\x8b") or head.startswith(b"BZh") or head.startswith(b"\xfd7zXZ"):
        return "tar"
    name = path.name.lower()
    for suffix, kind in ((".rar", "rar"), (".zip", "zip"), (".tar", "tar"), (".tgz", "tar"),
                         (".tar.gz", "tar"), (".tar.bz2", "tar"), (".tar.xz", "tar")):
        if name.endswith(suffix):
            return kind
    raise ValueError(f"archive must be a .tar/.tgz/.tar.gz/.zip/.rar file, got {path} "
                     f"(first bytes {head!r})")


def extract_archive(archive: "str | os.PathLike[str]", target: "str | os.PathLike[str]",
                    md5: str | None = None, *, overwrite: bool = False,
                    progress: bool = True) -> list[pathlib.Path]:
    r"""Safely extract ``archive`` into ``target``; return the top-level paths created.

    The archive is verified first when ``md5`` is given (a mismatch raises
    :class:`ChecksumError` and leaves the archive in place: it is the user's file). Members are
    checked one by one and written into a hidden temporary folder beside the target; a member
    that would land outside (absolute path, ``..``, a link pointing outside, a device file)
    raises :class:`UnsafeArchiveError`, a corrupt stream raises its reader's error, and in both
    cases the temporary folder is removed, so nothing is left half-extracted. Only a complete
    extraction is moved into ``target`` entry by entry (``os.replace``). An entry that already
    exists in ``target`` is a ``FileExistsError`` unless ``overwrite=True``.
    """
    archive = pathlib.Path(archive)
    target = pathlib.Path(target)
    if not archive.is_file():
        raise FileNotFoundError(f"archive {archive} does not exist (or is not a file)")
    if md5 is not None:
        check_md5(archive, md5, remove_on_mismatch=False, progress=progress)
    kind = archive_kind(archive)
    target.mkdir(parents=True, exist_ok=True)
    tmp = pathlib.Path(tempfile.mkdtemp(prefix=f".extract-{archive.name}-", dir=target))
    try:
        extract = {"tar": _extract_tar, "zip": _extract_zip, "rar": _extract_rar}[kind]
        try:
            extract(archive, tmp, progress)
        except (UnsafeArchiveError, MissingToolError, CorruptArchiveError):
            raise
        except getattr(tarfile, "FilterError", ()) as err:  # tarfile's own "data" filter
            raise UnsafeArchiveError(f"archive {archive}: {err}: refused, nothing "
                                     "extracted") from None
        except (tarfile.TarError, zipfile.BadZipFile, EOFError, zlib.error, OSError) as err:
            raise CorruptArchiveError(
                f"archive {archive} could not be extracted: it is truncated, corrupt or not a "
                f"{kind} archive ({type(err).__name__}: {err}); nothing was extracted. Remove it "
                "and fetch it again") from None
        entries = sorted(tmp.iterdir())
        for entry in entries:
            final = target / entry.name
            if final.exists() or final.is_symlink():
                if not overwrite:
                    raise FileExistsError(
                        f"{final} already exists; extracting {archive} would overwrite it. Remove "
                        "it or pass overwrite=True")
        moved = []
        for entry in entries:
            final = target / entry.name
            if final.is_dir() and not final.is_symlink():
                shutil.rmtree(final)
            elif final.exists() or final.is_symlink():
                final.unlink()
            os.replace(entry, final)
            moved.append(final)
        return moved
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


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
