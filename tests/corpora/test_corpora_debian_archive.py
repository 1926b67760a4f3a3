"""Debian packages without apt: the index, verified and resumed downloads, the cache, unpacking;
against a fake mirror on 127.0.0.1."""

from __future__ import annotations

import random
import socket

import pytest

from simvq_audio.corpora.debian_archive import DebianArchive, deb_files, parse_index
from simvq_audio.errors import UserInputError

from recipe_fakes import FakeServer, debian_mirror, make_deb

POOL = "pool/main/h/hello-data/hello-data_1.0-1_all.deb"
INDEX = "/debian/dists/bookworm/main/binary-all/Packages.xz"


BIG = random.Random(0).randbytes(20000)  # incompressible: the .deb is larger than 20 kB


@pytest.fixture
def hello():
    return make_deb({"usr/share/doc/hello-data/copyright": b"Public domain.\n",
                     "usr/share/hello/big.bin": BIG})


@pytest.fixture
def server(hello):
    fake = FakeServer(debian_mirror({"hello-data": hello, "other": make_deb({})}))
    yield fake
    fake.close()


def archive(server, tmp_path, **kwargs):
    return DebianArchive(tmp_path / "cache", f"{server.url}/debian", log=lambda message: None,
                         **kwargs)


def test_fetches_verifies_caches_and_unpacks(server, hello, tmp_path):
    path = archive(server, tmp_path).fetch(["hello-data"])["hello-data"]
    assert path == tmp_path / "cache" / POOL and path.read_bytes() == hello
    assert (tmp_path / "cache" / INDEX.removeprefix("/debian/")).is_file()
    files = dict(deb_files(path))
    assert files["usr/share/doc/hello-data/copyright"] == b"Public domain.\n"
    assert files["usr/share/hello/big.bin"] == BIG
    assert list(deb_files(path, lambda name, size: size < 100)) == [
        ("usr/share/doc/hello-data/copyright", b"Public domain.\n")]

    requests = len(server.requests)
    server.close()  # cached and verified: no network needed any more
    assert archive(server, tmp_path).fetch(["hello-data"])["hello-data"] == path
    assert len(server.requests) == requests


def test_a_wrong_checksum_is_refused_and_the_file_deleted(server, tmp_path):
    server.files[f"/debian/{POOL}"] = make_deb({"usr/share/evil": b"not what the index says"})
    with pytest.raises(UserInputError, match="SHA-256 is [0-9a-f]{64}, the index says") as error:
        archive(server, tmp_path).fetch(["hello-data"])
    assert "\n" not in str(error.value)
    assert not (tmp_path / "cache" / POOL).exists()


def test_an_interrupted_download_is_resumed(server, hello, tmp_path):
    server.drop_after, server.drops = 5000, 1
    path = archive(server, tmp_path).fetch(["hello-data"])["hello-data"]
    assert path.read_bytes() == hello
    ranges = [header for url, header in server.requests if url == f"/debian/{POOL}"]
    assert ranges == [None, "bytes=5000-"]


def test_a_damaged_cached_package_is_downloaded_again(server, hello, tmp_path):
    cached = archive(server, tmp_path).fetch(["hello-data"])["hello-data"]
    cached.write_bytes(b"!<arch>\n" + bytes(len(hello) - 8))
    assert archive(server, tmp_path).fetch(["hello-data"])["hello-data"].read_bytes() == hello
    assert [url for url, _ in server.requests].count(INDEX) == 2, "the index is refreshed too"


def test_missing_file_and_unknown_package_are_one_clear_line(server, tmp_path):
    del server.files[f"/debian/{POOL}"]
    with pytest.raises(UserInputError, match="HTTP 404") as error:
        archive(server, tmp_path).fetch(["hello-data"])
    assert "\n" not in str(error.value) and str(tmp_path / "cache" / POOL) in str(error.value)
    with pytest.raises(UserInputError, match="package nope is not in .*choose a Debian suite"):
        archive(server, tmp_path).fetch(["nope"])


def test_without_network_it_says_where_to_put_the_file(tmp_path):
    with socket.socket() as probe:  # a port where nothing listens
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    unreachable = DebianArchive(tmp_path / "cache", f"http://127.0.0.1:{port}/debian",
                                log=lambda message: None, attempts=1)
    with pytest.raises(UserInputError, match="offline, copy that file to") as error:
        unreachable.fetch(["hello-data"])
    assert str(tmp_path / "cache" / INDEX.removeprefix("/debian/")) in str(error.value)


def test_damaged_packages_and_indexes_are_refused(tmp_path):
    not_deb = tmp_path / "x.deb"
    not_deb.write_bytes(b"PK\x03\x04 a zip file")
    with pytest.raises(UserInputError, match="not a Debian package"):
        list(deb_files(not_deb))
    truncated = tmp_path / "t.deb"
    truncated.write_bytes(make_deb({"usr/a": bytes(5000)})[:-100])
    with pytest.raises(UserInputError, match="truncated|damaged"):
        list(deb_files(truncated))
    with pytest.raises(UserInputError, match="lacks a valid"):
        parse_index("Package: a\nVersion: 1\nFilename: pool/a.deb\nSize: ten\nSHA256: ab\n", "P")
