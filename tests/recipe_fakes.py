"""Test doubles for the recipe tests: LibriTTS-shaped trees and tarballs, Debian packages and a
mirror's files, and a local HTTP server on 127.0.0.1 that honours ``Range`` and can drop a
transfer midway."""

from __future__ import annotations

import gzip
import hashlib
import http.server
import io
import lzma
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

    ``drop_after`` bytes: the next transfers longer than that announce the full length but stop
    after that many bytes and close the connection, ``drops`` times. ``ignore_range`` answers
    every request with the whole file (200). ``requests`` records ``(path, range header)``.
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
                if fake.drops > 0 and len(body) > fake.drop_after:
                    fake.drops -= 1
                    body = body[:fake.drop_after]
                    self.close_connection = True
                self.wfile.write(body)

        return Handler


def ar_archive(members: dict[str, bytes]) -> bytes:
    """An ``ar`` archive (the container of a ``.deb``) holding ``members`` in order."""
    out = bytearray(b"!<arch>\n")
    for name, data in members.items():
        out += f"{name + '/':<16}{0:<12}{0:<6}{0:<6}{100644:<8}{len(data):<10}`\n".encode()
        out += data + (b"\n" if len(data) % 2 else b"")
    return bytes(out)


def make_deb(files: dict[str, bytes]) -> bytes:
    """A ``.deb`` whose ``data.tar.xz`` holds ``files`` (``{"usr/share/...": bytes}``)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:xz") as tar:
        for path, data in files.items():
            info = tarfile.TarInfo(f"./{path}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return ar_archive({"debian-binary": b"2.0\n", "control.tar.xz": b"",
                       "data.tar.xz": buffer.getvalue()})


def packages_index(debs: dict[str, tuple[str, bytes]]) -> bytes:
    """An xz-compressed ``Packages`` index of ``{name: (pool path, deb bytes)}``."""
    stanzas = [f"Package: {name}\nVersion: 1.0-1\nArchitecture: all\nFilename: {path}\n"
               f"Size: {len(data)}\nSHA256: {sha256(data)}\nDescription: test\n multi-line\n"
               for name, (path, data) in debs.items()]
    return lzma.compress("\n".join(stanzas).encode())


def debian_mirror(debs: dict[str, bytes], suite: str = "bookworm") -> dict[str, bytes]:
    """FakeServer files of a mirror under ``/debian`` serving ``{name: deb bytes}``."""
    pool = {name: (f"pool/main/{name[0]}/{name}/{name}_1.0-1_all.deb", data)
            for name, data in debs.items()}
    files = {f"/debian/{path}": data for path, data in pool.values()}
    files[f"/debian/dists/{suite}/main/binary-all/Packages.xz"] = packages_index(pool)
    return files


VOICE_FOLDERS = {"en": "en_US_f_Allison", "es": "es_MX_f_Allison", "fr": "fr_CA_f_June",
                 "it": "it_IT_m_Carlo", "ru": "ru_RU_f_IvrvoiceRU"}
PROMPT_SECONDS = {"p1": 2.5, "p2": 3.0, "p3": 3.5, "p4": 2.0, "p5": 2.8, "p6": 3.2, "p7": 2.4,
                  "p8": 3.6, "digits/7": 2.2, "beep": 3.0, "short": 1.0, "long": 25.0,
                  "untranscribed": 3.0}
"""Prompts of each fake Asterisk language; beep (bracketed text), short, long and untranscribed
are never selected with the default 2-20 s clips."""


def tone_g722(seconds: float, hz: float) -> bytes:
    """``seconds`` of a ``hz`` tone as 64 kbit/s G.722 (16 kHz)."""
    import G722

    t = np.arange(round(seconds * 16000)) / 16000
    return G722.G722(16000, 64000).encode((8000 * np.sin(2 * np.pi * hz * t)).astype(np.int16))


def asterisk_debs(lang: str) -> dict[str, bytes]:
    """``asterisk-core-sounds-<lang>`` (transcripts) and ``-g722`` (prompts) packages."""
    doc = f"usr/share/doc/asterisk-core-sounds-{lang}"
    lines = [f"; Core Asterisk Sounds ({lang})", "", "beep: [this is a simple beep tone]"]
    lines += [f"{name}: Text of {name} in {lang}." for name in PROMPT_SECONDS
              if name not in ("beep", "untranscribed")]
    base = {f"{doc}/copyright": f"Licence of {lang}.\n".encode(),
            f"{doc}/core-sounds-{lang}.txt.gz": gzip.compress("\n".join(lines).encode())}
    sounds = {f"usr/share/asterisk/sounds/{VOICE_FOLDERS[lang]}/{name}.g722":
              tone_g722(seconds, 200 + 50 * index)
              for index, (name, seconds) in enumerate(PROMPT_SECONDS.items())}
    sounds[f"{doc}-g722/copyright"] = f"Licence of {lang} G.722.\n".encode()
    return {f"asterisk-core-sounds-{lang}": make_deb(base),
            f"asterisk-core-sounds-{lang}-g722": make_deb(sounds)}


def pocketsphinx_deb() -> bytes:
    """``pocketsphinx-testdata``: two LibriVox and two card sentences (16 kHz wav)."""
    root = "usr/share/pocketsphinx/test/data"
    files = {"usr/share/doc/pocketsphinx-testdata/copyright": b"BSD-2.\n",
             f"{root}/librivox/transcription":
                 b"<s> he was not an ill disposed young man </s> (austen-0880)\n"
                 b"<s> he might even have been made amiable himself </s> (austen-0930)\n",
             f"{root}/cards/cards.transcription":
                 b"<s> ten of clubs  </s> (001)\n<s> five five  </s> (004)\n<s> gone </s> (009)\n"}
    for path, seconds in (("librivox/austen-0880", 3.0), ("librivox/austen-0930", 3.3),
                          ("cards/001", 1.1), ("cards/004", 1.6)):
        buffer = io.BytesIO()
        noise = np.random.default_rng(len(path)).uniform(-0.1, 0.1, round(seconds * 16000))
        soundfile.write(buffer, noise.astype(np.float32), 16000, format="WAV", subtype="PCM_16")
        files[f"{root}/{path}.wav"] = buffer.getvalue()
    return make_deb(files)


def mini_corpus_mirror() -> dict[str, bytes]:
    """FakeServer files of a mirror with every package of the mini corpus."""
    debs = {name: data for lang in VOICE_FOLDERS for name, data in asterisk_debs(lang).items()}
    debs["pocketsphinx-testdata"] = pocketsphinx_deb()
    return debian_mirror(debs)
