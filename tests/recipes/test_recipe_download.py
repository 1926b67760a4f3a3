"""Stage 0 of egs/libritts: resumable, verified download and extraction from a local server."""

from __future__ import annotations

import pytest

from simvq_audio.corpora.download import fetch
from simvq_audio.corpora.libritts import COMPLETE_MARKER, download_subset, read_checksums
from simvq_audio.errors import UserInputError

from recipe_fakes import FakeServer, libritts_tarball, sha256

SUBSET = "dev-clean"


@pytest.fixture(scope="module")
def tarball(tmp_path_factory) -> bytes:
    return libritts_tarball(tmp_path_factory.mktemp("tar"), SUBSET, "84")


@pytest.fixture
def server(tarball):
    fake = FakeServer({f"/60/{SUBSET}.tar.gz": tarball})
    yield fake
    fake.close()


def download(server, db, checksum):
    download_subset(SUBSET, db, f"{server.url}/60", checksum, log=lambda message: None)


def test_download_verifies_extracts_and_skips_when_done(server, tarball, tmp_path):
    db = tmp_path / "db"
    download(server, db, sha256(tarball))
    subset = db / "LibriTTS" / SUBSET
    assert sorted(p.name for p in subset.glob("84/*/*.wav")) == [
        "84_11_000001_000001.wav", "84_11_000002_000000.wav", "84_7_000001_000000.wav"]
    assert (db / "LibriTTS" / "SPEAKERS.txt").is_file()
    assert (subset / COMPLETE_MARKER).is_file()
    assert (db / f"{SUBSET}.tar.gz").read_bytes() == tarball
    assert not list(db.glob(".extracting-*"))
    requests = len(server.requests)
    download(server, db, sha256(tarball))
    assert len(server.requests) == requests, "a finished subset must not be fetched again"


def test_resumes_a_partial_file_with_a_range_request(server, tarball, tmp_path):
    db = tmp_path / "db"
    db.mkdir()
    half = len(tarball) // 2
    (db / f"{SUBSET}.tar.gz.part").write_bytes(tarball[:half])
    download(server, db, sha256(tarball))
    assert server.requests == [(f"/60/{SUBSET}.tar.gz", f"bytes={half}-")]
    assert (db / f"{SUBSET}.tar.gz").read_bytes() == tarball
    assert (db / "LibriTTS" / SUBSET / COMPLETE_MARKER).is_file()


def test_a_dropped_connection_is_resumed(server, tarball, tmp_path):
    server.drop_after, server.drops = len(tarball) // 3, 2
    dest = tmp_path / "x.tar.gz"
    fetch(f"{server.url}/60/{SUBSET}.tar.gz", dest, log=lambda message: None)
    assert dest.read_bytes() == tarball
    third = len(tarball) // 3
    assert [r for _, r in server.requests] == [None, f"bytes={third}-", f"bytes={2 * third}-"]


def test_a_server_without_range_support_restarts_from_zero(server, tarball, tmp_path):
    server.ignore_range = True
    dest = tmp_path / "x.tar.gz"
    dest.with_name("x.tar.gz.part").write_bytes(b"stale bytes that must not stay")
    fetch(f"{server.url}/60/{SUBSET}.tar.gz", dest, log=lambda message: None)
    assert dest.read_bytes() == tarball


def test_gives_up_after_the_last_attempt_and_keeps_the_part(server, tarball, tmp_path):
    server.drop_after, server.drops = 10, 99
    dest = tmp_path / "x.tar.gz"
    with pytest.raises(UserInputError, match="run the stage again to resume"):
        fetch(f"{server.url}/60/{SUBSET}.tar.gz", dest, attempts=2, log=lambda message: None)
    assert not dest.exists()
    assert dest.with_name("x.tar.gz.part").stat().st_size == 20


def test_checksum_mismatch_is_refused_and_nothing_extracted(server, tarball, tmp_path):
    damaged = bytearray(tarball)
    damaged[len(damaged) // 2] ^= 0xFF
    server.files[f"/60/{SUBSET}.tar.gz"] = bytes(damaged)
    with pytest.raises(UserInputError, match="SHA-256 .* expected"):
        download(server, tmp_path / "db", sha256(tarball))
    assert not (tmp_path / "db" / "LibriTTS").exists()


def test_truncated_archive_without_checksum_is_refused(server, tarball, tmp_path):
    server.files[f"/60/{SUBSET}.tar.gz"] = tarball[: len(tarball) - 100]
    with pytest.raises(UserInputError, match="not a complete tar archive"):
        download(server, tmp_path / "db", None)
    assert not (tmp_path / "db" / "LibriTTS").exists()


def test_missing_file_on_the_server_is_a_clear_error(server, tmp_path):
    with pytest.raises(UserInputError, match="HTTP 404"):
        download_subset("test-other", tmp_path, f"{server.url}/60", None, log=lambda m: None)


def test_read_checksums_rejects_a_malformed_line(tmp_path):
    good = tmp_path / "good.sha256"
    good.write_text(f"{'a' * 64}  dev-clean.tar.gz\n{'B' * 64} *test-clean.tar.gz\n")
    assert read_checksums(good) == {"dev-clean.tar.gz": "a" * 64, "test-clean.tar.gz": "b" * 64}
    bad = tmp_path / "bad.sha256"
    bad.write_text("abc dev-clean.tar.gz\n")
    with pytest.raises(UserInputError, match="bad.sha256:1"):
        read_checksums(bad)
