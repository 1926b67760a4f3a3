"""LibriTTS (OpenSLR 60): download, verify and extract its subsets (egs/libritts stage 0).

They land in ``<db>/LibriTTS/<subset>/<speaker>/<chapter>/<utt>.wav`` with ``<utt>.normalized.txt``
beside each wav, the tree :mod:`simvq_audio.corpora.prepare` turns into data dirs (stage 1).

``python -m simvq_audio.corpora.libritts download --db DB [--base-url URL] [--checksums FILE]
SUBSET...``
"""

from __future__ import annotations

import argparse
import shutil
from collections.abc import Callable
from pathlib import Path

from simvq_audio.corpora.command import run_command
from simvq_audio.corpora.download import extract_archive, fetch, verify_archive
from simvq_audio.errors import UserInputError

SUBSETS = ("dev-clean", "dev-other", "test-clean", "test-other",
           "train-clean-100", "train-clean-360", "train-other-500")
DEFAULT_BASE_URL = "https://www.openslr.org/resources/60"
COMPLETE_MARKER = ".complete"
"""Written into ``<db>/LibriTTS/<subset>/`` once the subset is fully extracted."""


def read_checksums(path: Path) -> dict[str, str]:
    """Read a ``sha256sum`` file (``HEX  NAME`` lines) into ``{file name: hex digest}``."""
    if not path.is_file():
        raise UserInputError(f"{path}: no such checksum file")
    sums: dict[str, str] = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        fields = line.split()
        if len(fields) != 2 or len(fields[0]) != 64:
            raise UserInputError(f"{path}:{number}: expected 'SHA256  FILENAME', got {line!r}")
        sums[fields[1].lstrip("*")] = fields[0].lower()
    return sums


def download_subset(subset: str, db: Path, base_url: str, sha256: str | None,
                    log: Callable[[str], None] = print) -> None:
    """Download, verify and extract one subset into ``<db>/LibriTTS/<subset>``; skip if done."""
    target = db / "LibriTTS" / subset
    if (target / COMPLETE_MARKER).is_file():
        log(f"{subset}: already extracted in {target}, skipping")
        return
    archive = db / f"{subset}.tar.gz"
    db.mkdir(parents=True, exist_ok=True)
    if not archive.is_file():
        log(f"{subset}: downloading {base_url}/{archive.name}")
        fetch(f"{base_url.rstrip('/')}/{archive.name}", archive, log=log)
    how = "SHA-256" if sha256 else "reading it to the end (no published checksum)"
    log(f"{subset}: verifying {archive} ({how})")
    verify_archive(archive, sha256)
    scratch = db / f".extracting-{subset}"
    shutil.rmtree(scratch, ignore_errors=True)
    log(f"{subset}: extracting")
    try:
        extract_archive(archive, scratch)
        _move_into_place(scratch / "LibriTTS", db / "LibriTTS", subset, archive)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    (target / COMPLETE_MARKER).touch()
    log(f"{subset}: done")


def _move_into_place(extracted: Path, corpus: Path, subset: str, archive: Path) -> None:
    """Move ``extracted/<subset>`` and the corpus-level files (SPEAKERS.txt...) to ``corpus``."""
    if not (extracted / subset).is_dir():
        raise UserInputError(f"{archive}: has no LibriTTS/{subset}/ folder; is it a LibriTTS "
                             f"archive?")
    corpus.mkdir(parents=True, exist_ok=True)
    for entry in extracted.iterdir():
        destination = corpus / entry.name
        if destination.is_dir():
            shutil.rmtree(destination)
        entry.replace(destination)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m simvq_audio.corpora.libritts",
                                     description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    download = sub.add_parser("download", help="download, verify and extract subsets")
    download.add_argument("--db", type=Path, required=True, help="folder for archives + corpus")
    download.add_argument("--base-url", default=DEFAULT_BASE_URL)
    download.add_argument("--checksums", type=Path, help="sha256sum file of the archives")
    download.add_argument("subsets", nargs="+", choices=SUBSETS, metavar="SUBSET")
    args = parser.parse_args(argv)
    sums = read_checksums(args.checksums) if args.checksums else {}
    for subset in args.subsets:
        download_subset(subset, args.db, args.base_url, sums.get(f"{subset}.tar.gz"))
    return 0


if __name__ == "__main__":
    run_command("libritts", main)
