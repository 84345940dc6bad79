r"""Checksums of downloaded files: MD5 in chunks, and a mismatch that never deletes the file.

A file that fails its checksum is renamed aside (``<name>.md5-mismatch``) or, when it was put
there by hand, left in place; the message shows both sums (a typo in the expected MD5 must not
cost a 6 GB file). Used by :mod:`regr_edu.data.download` and :mod:`regr_edu.data.archives`.
"""
from __future__ import annotations

import hashlib
import os
import pathlib


class ChecksumError(RuntimeError):
    """A file's MD5 differs from the expected one; the file is kept (aside or in place)."""



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
