r"""Safe extraction of the data sets' archives (``.tar``/``.tgz``/``.tar.gz``/``.zip``/``.rar``).

:func:`extract_archive` unpacks into a hidden temporary folder beside the target, refusing the
whole archive as soon as one member would land outside it (an absolute path, a ``..``
component, a symbolic or hard link that points outside, a device file). Links are checked as
they *resolve* on disk, again after every later link (a link that is harmless alone can point
outside once a later link exists), and a member may not replace a link or a folder extracted
before it. Only when every member is out are the top-level entries moved into place; on any
error the temporary folder is removed, and a corrupt archive is a :class:`CorruptArchiveError`
that names it.

RAR (UCF101 ships as ``UCF101.rar``, RAR 3) goes through Debian's ``unar``/``lsar``
(``apt-get install -y unar``); without them the error says so (:class:`MissingToolError`).
"""
from __future__ import annotations

import json
import os
import pathlib
import shutil
import stat
import subprocess
import tarfile
import tempfile
import zipfile
import zlib

from .checksums import check_md5

CHUNK = 1 << 16


class CorruptArchiveError(RuntimeError):
    """An archive could not be read or extracted (truncated, corrupt, not an archive)."""


class UnsafeArchiveError(RuntimeError):
    """An archive member would land outside the target folder; nothing was extracted."""


class MissingToolError(RuntimeError):
    """An external program (``unar``/``lsar`` for RAR) is not installed."""


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
