"""LibriTTS (OpenSLR 60): download its subsets and turn a LibriTTS-shaped tree into data dirs.

Tree: ``<corpus>/<subset>/<speaker>/<chapter>/<utt>.wav`` with ``<utt>.normalized.txt`` beside
each wav and utterance ids ``<speaker>_<chapter>_<paragraph>_<sentence>``. The mini corpora
(:mod:`simvq_audio.corpora.debian_speech`, :mod:`simvq_audio.corpora.espeak_corpus`) have the same
shape, so they are prepared by this code too.

Commands::

    python -m simvq_audio.corpora.libritts download --db DB [--base-url URL]
        [--checksums FILE] SUBSET...
    python -m simvq_audio.corpora.libritts prepare --corpus DB/LibriTTS --data-dir data
        [--nj N] NAME=SUBSET[,SUBSET...]...
"""

from __future__ import annotations

import argparse
import shutil
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from simvq_audio.corpora.command import run_command
from simvq_audio.corpora.download import extract_archive, fetch, verify_archive
from simvq_audio.data.audio_io import audio_info
from simvq_audio.data.kaldi_dir import describe_problems, validate_data_dir, write_data_dir
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


def scan_subset(subset_dir: Path, log: Callable[[str], None] = print
                ) -> Iterator[tuple[str, str, Path, str]]:
    """Yield ``(utt_id, speaker, wav path, normalized text)`` for each utterance, sorted by path.

    Utterances without a ``.normalized.txt`` or with an empty one are skipped with a warning.
    """
    if not subset_dir.is_dir():
        raise UserInputError(f"{subset_dir}: no such subset folder (run the download stage)")
    skipped = 0
    for wav in sorted(subset_dir.glob("*/*/*.wav")):
        utt_id, speaker = wav.stem, wav.parent.parent.name
        if not utt_id.startswith(speaker + "_"):
            raise UserInputError(f"{wav}: utterance id must start with its speaker folder name "
                                 f"'{speaker}_' (Kaldi sorts utt2spk by both)")
        text_file = wav.with_name(utt_id + ".normalized.txt")
        text = " ".join(text_file.read_text(encoding="utf-8").split()) if text_file.is_file() \
            else ""
        if not text:
            skipped += 1
            continue
        yield utt_id, speaker, wav.resolve(), text
    if skipped:
        log(f"{subset_dir}: skipped {skipped} wav files without a normalized transcript")


def duration_of(wav: Path) -> float:
    """Length of an audio file in seconds, from its header."""
    return audio_info(wav).duration


def prepare(corpus: Path, data_dir: Path, name: str, subsets: list[str], nj: int = 1,
            log: Callable[[str], None] = print) -> None:
    """Write and validate the data dir ``data_dir/name``: the union of ``subsets`` of ``corpus``."""
    found = [row for subset in subsets for row in scan_subset(corpus / subset, log)]
    if not found:
        raise UserInputError(f"{corpus}: no utterances in {', '.join(subsets)}")
    duplicate = next((utt for utt, count in Counter(row[0] for row in found).items()
                      if count > 1), None)
    if duplicate:
        raise UserInputError(f"utterance {duplicate} appears twice in {', '.join(subsets)}")
    with ThreadPoolExecutor(max(1, nj)) as pool:
        durations = list(pool.map(duration_of, (wav for _, _, wav, _ in found)))
    out = data_dir / name
    write_data_dir(out, wav_scp={utt: str(wav) for utt, _, wav, _ in found},
                   utt2spk={utt: speaker for utt, speaker, _, _ in found},
                   text={utt: text for utt, _, _, text in found},
                   utt2dur={row[0]: seconds for row, seconds in zip(found, durations)})
    problems = validate_data_dir(out, check_audio=False)
    if problems:
        raise UserInputError(describe_problems(out, problems))
    log(f"{out}: {len(found)} utterances, {sum(durations) / 3600:.2f} h "
        f"from {', '.join(subsets)}")


def parse_set_spec(spec: str) -> tuple[str, list[str]]:
    """``"train=train-clean-100,train-clean-360"`` -> ``("train", [...])``."""
    name, _, subsets = spec.partition("=")
    if not name or not subsets or "/" in name:
        raise UserInputError(f"expected NAME=SUBSET[,SUBSET...], got {spec!r}")
    return name, subsets.split(",")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m simvq_audio.corpora.libritts",
                                     description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    download = sub.add_parser("download", help="download, verify and extract subsets")
    download.add_argument("--db", type=Path, required=True, help="folder for archives + corpus")
    download.add_argument("--base-url", default=DEFAULT_BASE_URL)
    download.add_argument("--checksums", type=Path, help="sha256sum file of the archives")
    download.add_argument("subsets", nargs="+", choices=SUBSETS, metavar="SUBSET")
    prep = sub.add_parser("prepare", help="write Kaldi data dirs from a LibriTTS-shaped tree")
    prep.add_argument("--corpus", type=Path, required=True, help="folder holding the subsets")
    prep.add_argument("--data-dir", type=Path, required=True, help="write data dirs under here")
    prep.add_argument("--nj", type=int, default=1, help="threads reading audio headers")
    prep.add_argument("sets", nargs="+", metavar="NAME=SUBSET[,SUBSET...]")
    args = parser.parse_args(argv)
    if args.command == "download":
        sums = read_checksums(args.checksums) if args.checksums else {}
        for subset in args.subsets:
            download_subset(subset, args.db, args.base_url, sums.get(f"{subset}.tar.gz"))
    else:
        for name, subsets in map(parse_set_spec, args.sets):
            prepare(args.corpus, args.data_dir, name, subsets, args.nj)
    return 0


if __name__ == "__main__":
    run_command("libritts", main)
