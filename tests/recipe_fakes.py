"""Test doubles for the recipe tests: LibriTTS-shaped trees and tarballs, and a local HTTP server
on 127.0.0.1 that honours ``Range`` and can drop a transfer midway."""

from __future__ import annotations

import hashlib
import http.server
import io
import tarfile
import threading
from pathlib import Path

import numpy as np
import soundfile

RATE = 24000


def write_utterance(folder: Path, utt_id: str, seconds: float, text: str | None) -> None:
    """One LibriTTS utterance: ``<utt_id>.wav`` (24 kHz noise) + ``.normalized.txt``."""
    folder.mkdir(parents=True, exist_ok=True)
    noise = np.random.default_rng(len(utt_id)).uniform(-0.1, 0.1, round(seconds * RATE))
    soundfile.write(folder / f"{utt_id}.wav", noise.astype(np.float32), RATE, subtype="PCM_16")
    if text is not None:
        (folder / f"{utt_id}.normalized.txt").write_text(text, encoding="utf-8")


def make_subset(root: Path, subset: str, speaker: str) -> list[str]:
    """A subset with one speaker, two chapters, three utterances; returns the utterance ids."""
    ids = [f"{speaker}_{chapter}" for chapter in ("11_000002_000000", "11_000001_000001",
                                                   "7_000001_000000")]
    for utt_id, seconds in zip(ids, (0.5, 1.5, 2.5)):
        chapter = utt_id.split("_")[1]
        write_utterance(root / subset / speaker / chapter, utt_id, seconds, f"Text of {utt_id}.")
    return sorted(ids)


def libritts_tarball(tmp: Path, subset: str, speaker: str) -> bytes:
    """The bytes of ``<subset>.tar.gz`` holding ``LibriTTS/<subset>/...`` and ``SPEAKERS.txt``."""
    tree = tmp / f"tree-{subset}" / "LibriTTS"
    make_subset(tree, subset, speaker)
    (tree / "SPEAKERS.txt").write_text(f"{speaker} | F | {subset} | 1.0 | Reader\n")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        tar.add(tree, arcname="LibriTTS")
    return buffer.getvalue()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class FakeServer:
    """Serves ``files`` (``{url path: bytes}``) on 127.0.0.1 with ``Range: bytes=N-`` support.

    ``drop_after`` bytes: the next transfers announce the full length but stop after that many
    bytes and close the connection, ``drops`` times. ``ignore_range`` answers every request with
    the whole file (200). ``requests`` records ``(path, range header)``.
    """

    def __init__(self, files: dict[str, bytes]):
        self.files = files
        self.requests: list[tuple[str, str | None]] = []
        self.drop_after = 0
        self.drops = 0
        self.ignore_range = False
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self):
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep pytest output clean
                pass

            def do_GET(self):
                range_header = self.headers.get("Range")
                fake.requests.append((self.path, range_header))
                data = fake.files.get(self.path)
                if data is None:
                    self.send_error(404)
                    return
                if fake.ignore_range:
                    range_header = None
                start = int(range_header.split("=")[1].rstrip("-")) if range_header else 0
                if start >= len(data):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(data)}")
                    self.end_headers()
                    return
                self.send_response(206 if range_header else 200)
                if range_header:
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                self.send_header("Content-Length", str(len(data) - start))
                self.end_headers()
                body = data[start:]
                if fake.drops > 0:
                    fake.drops -= 1
                    body = body[:fake.drop_after]
                    self.close_connection = True
                self.wfile.write(body)

        return Handler
