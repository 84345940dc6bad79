"""The user's files are never deleted, failed extractions clean up after themselves, and no link
in a tar archive can lead outside the target once all its links exist.

Archives are built here; nothing touches the network (a refused local port stands for offline).
"""
from __future__ import annotations

import io
import os
import pathlib
import socket
import subprocess
import sys
import tarfile

import pytest

from regr_edu.data import archives, download as dl
from regr_edu.data import fixtures

ROOT = pathlib.Path(__file__).resolve().parents[1]
WRONG_MD5 = "0123456789abcdef0123456789abcdef"


def _offline_url(name: str = "file.tgz") -> str:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"http://127.0.0.1:{port}/{name}"


@pytest.fixture(scope="module")
def cub_tgz(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cub_archive")
    return fixtures.make_cub_archive(folder, num_classes=2, images_per_class=2, size=(32, 24))


# --- the user's archive is never deleted ------------------------------------------------------
def test_hand_placed_archive_with_a_wrong_md5_is_kept_and_both_sums_shown(cub_tgz, tmp_path):
    archive, md5 = cub_tgz
    placed = tmp_path / dl.CUB_FILENAME
    placed.write_bytes(archive.read_bytes())
    with pytest.raises(dl.ChecksumError) as err:
        dl.prepare_cub200(tmp_path, download=False, md5=WRONG_MD5, progress=False)
    assert WRONG_MD5 in str(err.value) and md5 in str(err.value)
    assert placed.read_bytes() == archive.read_bytes()                # left in place


def test_download_script_no_download_with_a_typo_md5_keeps_the_archive(cub_tgz, tmp_path):
    archive, md5 = cub_tgz
    placed = tmp_path / dl.CUB_FILENAME
    placed.write_bytes(archive.read_bytes())
    done = subprocess.run([sys.executable, str(ROOT / "data_scripts" / "download_cub.py"),
                           "--root", str(tmp_path), "--no-download", "--md5", WRONG_MD5,
                           "--quiet"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr
    assert "MD5 mismatch" in done.stderr and md5 in done.stderr and "Traceback" not in done.stderr
    assert placed.read_bytes() == archive.read_bytes()


def test_existing_file_with_a_wrong_md5_is_set_aside_before_downloading(cub_tgz, tmp_path):
    archive, md5 = cub_tgz
    dest = tmp_path / "a.tgz"
    dest.write_bytes(b"an older, different file")
    with pytest.warns(UserWarning, match="kept as"), pytest.raises(dl.DownloadError):
        dl.download_url(_offline_url(), dest, md5, progress=False)
    assert (tmp_path / "a.tgz.md5-mismatch").read_bytes() == b"an older, different file"


# --- failed extractions clean up, messages name the archive -----------------------------------
def test_a_failed_preparation_removes_what_it_extracted_so_the_rerun_works(cub_tgz, tmp_path):
    archive, md5 = cub_tgz
    wrong = tmp_path / "wrong.tgz"
    with tarfile.open(wrong, "w:gz") as tar:          # a CUB_200_2011/ without images.txt
        info = tarfile.TarInfo("CUB_200_2011/README")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"hi"))
    placed = tmp_path / dl.CUB_FILENAME
    placed.write_bytes(wrong.read_bytes())
    with pytest.raises(dl.CorruptArchiveError, match="not CUB-200-2011 as published"):
        dl.prepare_cub200(tmp_path, download=False, md5=None, progress=False)
    assert not (tmp_path / "CUB_200_2011").exists()
    placed.write_bytes(archive.read_bytes())          # the right archive: the rerun works
    folder = dl.prepare_cub200(tmp_path, download=False, md5=md5, progress=False)
    assert (folder / "images.txt").is_file()


def test_random_bytes_tgz_is_a_clear_error_naming_the_archive(tmp_path):
    bad = tmp_path / "random.tgz"
    bad.write_bytes(os.urandom(4096))
    with pytest.raises(dl.CorruptArchiveError) as err:
        dl.extract_archive(bad, tmp_path / "out", progress=False)
    assert str(bad) in str(err.value) and "corrupt" in str(err.value)
    assert list((tmp_path / "out").iterdir()) == []


# --- links that escape only once later links exist --------------------------------------------
def _link(name: str, target: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = tarfile.SYMTYPE, target
    return info


def _dir(name: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    return info


def _tar(path: pathlib.Path, members: list[tarfile.TarInfo]) -> pathlib.Path:
    with tarfile.open(path, "w") as tar:
        for m in members:
            tar.addfile(m)
    return path


DEPTH = 30  # more '..' than any tmp path is deep: resolved, the chain reaches '/'


@pytest.mark.parametrize("members", [
    # b -> a/a/.../../.. is inside while 'a' does not exist; then a -> '.' makes it '/'
    [_link("b", "/".join(["a"] * DEPTH + [".."] * DEPTH)), _link("a", ".")],
    # the same, nested two folders deep
    [_dir("top"), _dir("top/sub"),
     _link("top/sub/b", "/".join(["a"] * DEPTH + [".."] * DEPTH)), _link("top/sub/a", ".")],
    # a folder swapped for a link after a link through it was checked
    [_dir("top"), _dir("top/d"), _link("top/b", "/".join(["d"] * DEPTH + [".."] * DEPTH)),
     _link("top/d", ".")],
], ids=["chained", "nested", "dir-swapping"])
def test_tar_links_are_checked_as_they_resolve(tmp_path, members):
    archive = _tar(tmp_path / "evil.tar", members)
    target = tmp_path / "sandbox" / "data"
    with pytest.raises(dl.UnsafeArchiveError, match="refused"):
        dl.extract_archive(archive, target, progress=False)
    assert list(target.iterdir()) == []               # nothing extracted, no temporary folder


def test_a_damaged_rar_that_extracts_nothing_says_so_and_names_it(tmp_path, monkeypatch):
    """unar may exit 0 on a damaged RAR and write nothing: the message says the archive is not as
    published or damaged (instead of 'extracted but UCF-101 is missing'). Runs without unar."""
    (tmp_path / "ucfTrainTestlist").mkdir()
    (tmp_path / "ucfTrainTestlist" / "classInd.txt").write_text("1 YoYo\r\n")
    rar = fixtures.write_stored_rar(tmp_path / dl.UCF101_FILENAME, [("UCF-101/a.txt", b"a")])
    monkeypatch.setattr(dl, "unar_available", lambda: True)
    monkeypatch.setattr(archives, "_extract_rar", lambda archive, tmp, progress: None)
    with pytest.raises(dl.CorruptArchiveError) as err:
        dl.prepare_ucf101(tmp_path, download=False, progress=False)
    assert str(rar) in str(err.value) and "not UCF101.rar as published (or is damaged)" \
        in str(err.value)
