"""Downloads and extraction, on archives the tests build and bytes served from 127.0.0.1 only.

The local HTTP server honours ``Range`` and can be told to drop the connection midway, so the
resume path runs for real; nothing leaves the loopback interface.
"""
from __future__ import annotations

import io
import os
import pathlib
import shutil
import socket
import tarfile
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from regr_edu.data import download as dl
from regr_edu.data import fixtures
from regr_edu.data.cub import CUB200


# --- a loopback HTTP server with Range support and scripted failures -------------------------
class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # keep test output quiet
        pass

    def do_GET(self):  # noqa: N802 (http.server's naming)
        srv = self.server
        srv.requests.append((self.path, self.headers.get("Range")))
        body = srv.files.get(self.path)
        if body is None:
            self.send_error(404, "Not Found")
            return
        start = 0
        rng = self.headers.get("Range")
        if rng and srv.honour_range:
            start = int(rng.split("=", 1)[1].split("-", 1)[0])
            if start >= len(body):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(body)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        payload = body[start:]
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Connection", "close")
        self.end_headers()
        if srv.drops:  # send part of the body, then cut the connection
            cut = srv.drops.pop(0)
            self.wfile.write(payload[:cut])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.wfile.write(payload)


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.files, httpd.requests, httpd.drops, httpd.honour_range = {}, [], [], True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def _free_port_url(name: str = "file.tgz") -> str:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now: connection refused, like being offline
    return f"http://127.0.0.1:{port}/{name}"


@pytest.fixture(scope="module")
def cub_tgz(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cub_archive")
    path, md5 = fixtures.make_cub_archive(folder, num_classes=2, images_per_class=2,
                                          size=(32, 24))
    return path, md5


def _leftovers(folder: pathlib.Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


# --- download ---------------------------------------------------------------------------------
def test_download_verifies_and_renames_atomically(server, cub_tgz, tmp_path):
    archive, md5 = cub_tgz
    server.files["/CUB_200_2011.tgz"] = archive.read_bytes()
    dest = tmp_path / "CUB_200_2011.tgz"
    out = dl.download_url(server.url + "/CUB_200_2011.tgz", dest, md5, progress=False)
    assert out == dest and dl.md5sum(dest) == md5
    assert _leftovers(tmp_path) == ["CUB_200_2011.tgz"]  # no .part left


def test_interrupted_download_resumes_with_range(server, cub_tgz, tmp_path):
    archive, md5 = cub_tgz
    data = archive.read_bytes()
    server.files["/a.tgz"] = data
    server.drops = [len(data) // 3]  # first response is cut a third of the way in
    dest = tmp_path / "a.tgz"
    dl.download_url(server.url + "/a.tgz", dest, md5, retries=2, backoff=0, progress=False)
    assert dest.read_bytes() == data
    assert server.requests[0][1] is None
    assert server.requests[1][1] == f"bytes={len(data) // 3}-"  # resumed, not restarted
    assert _leftovers(tmp_path) == ["a.tgz"]


def test_interrupted_download_keeps_part_and_next_call_resumes(server, cub_tgz, tmp_path):
    archive, md5 = cub_tgz
    data = archive.read_bytes()
    server.files["/a.tgz"] = data
    server.drops = [1000]
    dest = tmp_path / "a.tgz"
    with pytest.raises(dl.DownloadError, match="1000 bytes kept"):
        dl.download_url(server.url + "/a.tgz", dest, md5, retries=0, progress=False)
    assert not dest.exists()  # nothing that looks complete
    assert (tmp_path / "a.tgz.part").stat().st_size == 1000
    dl.download_url(server.url + "/a.tgz", dest, md5, retries=0, progress=False)
    assert server.requests[-1][1] == "bytes=1000-"
    assert dest.read_bytes() == data and not (tmp_path / "a.tgz.part").exists()


def test_server_ignoring_range_restarts_from_zero(server, cub_tgz, tmp_path):
    archive, md5 = cub_tgz
    data = archive.read_bytes()
    server.files["/a.tgz"] = data
    server.honour_range = False
    (tmp_path / "a.tgz.part").write_bytes(b"junk that must not be kept")
    dl.download_url(server.url + "/a.tgz", tmp_path / "a.tgz", md5, progress=False)
    assert (tmp_path / "a.tgz").read_bytes() == data


def test_corrupt_download_fails_checksum_and_leaves_nothing(server, cub_tgz, tmp_path):
    archive, md5 = cub_tgz
    data = bytearray(archive.read_bytes())
    data[len(data) // 2] ^= 0xFF
    server.files["/a.tgz"] = bytes(data)
    with pytest.raises(dl.ChecksumError, match=f"expected {md5}"):
        dl.download_url(server.url + "/a.tgz", tmp_path / "a.tgz", md5, progress=False)
    # neither the file nor its .part: the bad bytes are kept aside, under a name that does not
    # look like the archive
    assert _leftovers(tmp_path) == ["a.tgz.md5-mismatch"]


def test_existing_file_is_verified_without_network(cub_tgz, tmp_path):
    archive, md5 = cub_tgz
    dest = tmp_path / "CUB_200_2011.tgz"
    shutil.copy(archive, dest)
    assert dl.download_url(_free_port_url(), dest, md5, progress=False) == dest


def test_offline_message_names_url_and_exact_path(tmp_path):
    url = _free_port_url("CUB_200_2011.tgz")
    dest = tmp_path / "data" / "CUB_200_2011.tgz"
    with pytest.raises(dl.DownloadError) as info:
        dl.download_url(url, dest, dl.CUB_MD5, progress=False)
    message = str(info.value)
    assert url in message and str(dest.absolute()) in message and dl.CUB_MD5 in message
    assert "by hand" in message
    assert not dest.exists() and not dest.with_name(dest.name + ".part").exists()


def test_http_error_is_a_download_error(server, tmp_path):
    with pytest.raises(dl.DownloadError, match="HTTP 404"):
        dl.download_url(server.url + "/missing.tgz", tmp_path / "m.tgz", progress=False)


def test_bad_arguments_name_the_parameter(tmp_path):
    with pytest.raises(ValueError, match="url must be"):
        dl.download_url("not a url", tmp_path / "x")
    with pytest.raises(ValueError, match="md5 must be a 32-character"):
        dl.download_url("http://127.0.0.1/x", tmp_path / "x", md5="abc")
    with pytest.raises(ValueError, match="retries must be"):
        dl.download_url("http://127.0.0.1/x", tmp_path / "x", retries=-1)


# --- extraction -------------------------------------------------------------------------------
def test_good_tgz_extracts_and_loads(cub_tgz, tmp_path):
    archive, md5 = cub_tgz
    created = dl.extract_archive(archive, tmp_path / "data", md5=md5, progress=False)
    assert [p.name for p in created] == ["CUB_200_2011"]
    assert _leftovers(tmp_path / "data") == ["CUB_200_2011"]  # no temporary folder left
    assert len(CUB200(tmp_path / "data", train=True)) == 2


def test_prepare_cub200_downloads_extracts_then_skips(server, cub_tgz, tmp_path):
    archive, md5 = cub_tgz
    server.files["/cub.tgz"] = archive.read_bytes()
    folder = dl.prepare_cub200(tmp_path, url=server.url + "/cub.tgz", md5=md5, progress=False)
    assert (folder / "images.txt").is_file()
    n = len(server.requests)
    dl.prepare_cub200(tmp_path, url=server.url + "/cub.tgz", md5=md5, progress=False)
    assert len(server.requests) == n  # already prepared: no request


def test_prepare_cub200_offline_says_where_to_put_the_file(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        dl.prepare_cub200(tmp_path, download=False, progress=False)
    assert dl.CUB_URL in str(info.value) and str((tmp_path / "CUB_200_2011.tgz").absolute()) \
        in str(info.value)


@pytest.mark.parametrize("damage", ["flip", "truncate"])
def test_corrupt_tgz_leaves_nothing_behind(cub_tgz, tmp_path, damage):
    archive, md5 = cub_tgz
    data = bytearray(archive.read_bytes())
    if damage == "flip":
        data[len(data) // 2] ^= 0x55
    else:
        data = data[: len(data) * 2 // 3]
    bad = tmp_path / "CUB_200_2011.tgz"
    bad.write_bytes(bytes(data))
    target = tmp_path / "data"
    with pytest.raises(dl.ChecksumError):  # with the published MD5: refused before extracting
        dl.extract_archive(bad, target, md5=md5, progress=False)
    assert _leftovers(target) == []
    with pytest.raises(dl.CorruptArchiveError, match=str(bad)):
        dl.extract_archive(bad, target, progress=False)  # without: the stream's own checks
    assert _leftovers(target) == []  # no half-extracted folder


def _tar_with(path: pathlib.Path, member: tarfile.TarInfo, data: bytes = b"x") -> pathlib.Path:
    with tarfile.open(path, "w:gz") as tar:
        ok = tarfile.TarInfo("top/ok.txt")
        ok.size = 2
        tar.addfile(ok, io.BytesIO(b"ok"))
        if member.isfile():
            member.size = len(data)
            tar.addfile(member, io.BytesIO(data))
        else:
            tar.addfile(member)
    return path


def _sym(name: str, target: str, hard: bool = False) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = tarfile.LNKTYPE if hard else tarfile.SYMTYPE
    info.linkname = target
    return info


@pytest.mark.parametrize("member", [
    tarfile.TarInfo("../evil.txt"),
    tarfile.TarInfo("top/../../evil.txt"),
    tarfile.TarInfo("/tmp/regr_edu_evil.txt"),
    _sym("top/link", "../../outside"),
    _sym("top/abslink", "/etc/passwd"),
    _sym("top/hard", "../outside.txt", hard=True),
], ids=["dotdot", "nested-dotdot", "absolute", "symlink-out", "symlink-abs", "hardlink-out"])
def test_tar_member_outside_target_is_refused(tmp_path, member):
    archive = _tar_with(tmp_path / "evil.tgz", member)
    target = tmp_path / "sandbox" / "data"
    with pytest.raises(dl.UnsafeArchiveError, match="refused"):
        dl.extract_archive(archive, target, progress=False)
    assert _leftovers(target) == []  # not even the good member
    assert _leftovers(tmp_path / "sandbox") == ["data"]
    assert not pathlib.Path("/tmp/regr_edu_evil.txt").exists()


def test_tar_symlink_inside_target_is_allowed(tmp_path):
    archive = _tar_with(tmp_path / "ok.tgz", _sym("top/link", "ok.txt"))
    dl.extract_archive(archive, tmp_path / "data", progress=False)
    assert (tmp_path / "data" / "top" / "link").read_text() == "ok"


@pytest.mark.parametrize("name", ["../evil.txt", "top/../../evil.txt", "/abs/evil.txt",
                                  "..\\evil.txt"])
def test_zip_member_outside_target_is_refused(tmp_path, name):
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("top/ok.txt", "ok")
        zf.writestr(zipfile.ZipInfo(name), "evil")
    target = tmp_path / "sandbox" / "data"
    with pytest.raises(dl.UnsafeArchiveError, match="refused"):
        dl.extract_archive(archive, target, progress=False)
    assert _leftovers(target) == [] and _leftovers(tmp_path / "sandbox") == ["data"]


def test_zip_symlink_outside_is_refused(tmp_path):
    archive = tmp_path / "link.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        info = zipfile.ZipInfo("top/link")
        info.external_attr = (0o120777 << 16)
        zf.writestr(info, "../../outside")
    with pytest.raises(dl.UnsafeArchiveError, match="symbolic link"):
        dl.extract_archive(archive, tmp_path / "data", progress=False)


def test_split_zip_extracts(tmp_path):
    _, zipped = fixtures.make_ucf101_archives(tmp_path / "arch", classes=("YoYo",), groups=(1,),
                                              frames=(4, 4), size=(16, 16))
    created = dl.extract_archive(zipped, tmp_path / "data", progress=False)
    assert [p.name for p in created] == ["ucfTrainTestlist"]
    assert (tmp_path / "data" / "ucfTrainTestlist" / "classInd.txt").read_bytes() == b"1 YoYo\r\n"


def test_existing_entry_is_not_overwritten(cub_tgz, tmp_path):
    archive, _ = cub_tgz
    (tmp_path / "CUB_200_2011").mkdir()
    (tmp_path / "CUB_200_2011" / "mine.txt").write_text("keep")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        dl.extract_archive(archive, tmp_path, progress=False)
    assert (tmp_path / "CUB_200_2011" / "mine.txt").read_text() == "keep"
    dl.extract_archive(archive, tmp_path, overwrite=True, progress=False)
    assert (tmp_path / "CUB_200_2011" / "images.txt").is_file()


def test_unknown_archive_kind(tmp_path):
    path = tmp_path / "data.bin"
    path.write_bytes(b"nothing known")
    with pytest.raises(ValueError, match="archive must be"):
        dl.extract_archive(path, tmp_path / "out", progress=False)


# --- RAR through unar -------------------------------------------------------------------------
def test_rar_without_unar_says_how_to_install(tmp_path, monkeypatch):
    rar = fixtures.write_stored_rar(tmp_path / "UCF101.rar", [("UCF-101/a.txt", b"a")])
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    with pytest.raises(dl.MissingToolError, match="apt-get install -y unar"):
        dl.extract_archive(rar, tmp_path / "data", progress=False)
    assert _leftovers(tmp_path / "data") == []
    # prepare_ucf101 says so before fetching 6.5 GB
    (tmp_path / "root" / "ucfTrainTestlist").mkdir(parents=True)
    (tmp_path / "root" / "ucfTrainTestlist" / "classInd.txt").write_text("1 YoYo\r\n")
    with pytest.raises(dl.MissingToolError, match="apt-get install -y unar"):
        dl.prepare_ucf101(tmp_path / "root", url=_free_port_url("UCF101.rar"), progress=False)


needs_unar = pytest.mark.skipif(not dl.unar_available(),
                                reason="needs Debian's unar: apt-get install -y unar")


@needs_unar
def test_rar_extracts_with_unar(tmp_path):
    members = [("UCF-101", None), ("UCF-101/YoYo", None), ("UCF-101/YoYo/v_YoYo_g01_c01.avi",
                                                           b"\x00\x01" * 500)]
    rar = fixtures.write_stored_rar(tmp_path / "UCF101.rar", members)
    created = dl.extract_archive(rar, tmp_path / "data", progress=False)
    assert [p.name for p in created] == ["UCF-101"]
    assert (tmp_path / "data/UCF-101/YoYo/v_YoYo_g01_c01.avi").read_bytes() == b"\x00\x01" * 500
    assert _leftovers(tmp_path / "data") == ["UCF-101"]


@needs_unar
def test_rar_with_dotdot_member_is_refused(tmp_path):
    rar = fixtures.write_stored_rar(tmp_path / "evil.rar", [("ok.txt", b"ok"),
                                                            ("..\\evil.txt", b"evil")])
    target = tmp_path / "sandbox" / "data"
    with pytest.raises(dl.UnsafeArchiveError, match="refused"):
        dl.extract_archive(rar, target, progress=False)
    assert _leftovers(target) == [] and _leftovers(tmp_path / "sandbox") == ["data"]


@needs_unar
def test_corrupt_rar_leaves_nothing(tmp_path):
    rar = fixtures.write_stored_rar(tmp_path / "UCF101.rar",
                                    [("UCF-101/a.bin", bytes(range(256)) * 8)])
    data = bytearray(rar.read_bytes())
    data[-200] ^= 0xFF  # inside the stored payload: its CRC-32 no longer matches
    rar.write_bytes(bytes(data))
    with pytest.raises(RuntimeError, match="unar failed"):
        dl.extract_archive(rar, tmp_path / "data", progress=False)
    assert _leftovers(tmp_path / "data") == []


@needs_unar
def test_prepare_ucf101_from_local_server(server, tmp_path):
    from regr_edu.data.ucf101 import UCF101
    rar, zipped = fixtures.make_ucf101_archives(tmp_path / "arch", size=(32, 24), frames=(9, 12))
    server.files["/UCF101.rar"] = rar.read_bytes()
    server.files["/splits.zip"] = zipped.read_bytes()
    videos, splits = dl.prepare_ucf101(tmp_path / "root", url=server.url + "/UCF101.rar",
                                       splits_url=server.url + "/splits.zip", progress=False)
    train = UCF101(videos, splits, fold=1, train=True)
    test = UCF101(tmp_path / "root", tmp_path / "root", fold=1, train=False)
    assert (len(train), len(test)) == (9, 3)
    assert train[0][0].shape == (3, 8, 24, 32)
