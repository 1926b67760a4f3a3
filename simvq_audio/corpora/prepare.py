"""Kaldi data dirs from any corpus stored as a tree of speaker folders (stage 1 of every recipe).

Tree: ``<corpus>/<subset>/<speaker>/.../<utt>.wav`` (any sub-folders below the speaker's, e.g.
LibriTTS's chapters) with the transcript ``<utt><text suffix>`` beside each wav (by default
``.normalized.txt``, as LibriTTS and the mini corpora of :mod:`simvq_audio.corpora.debian_speech`
and :mod:`simvq_audio.corpora.espeak_corpus` write it). Utterance ids must start with
``<speaker>_`` (Kaldi sorts utt2spk by both). Each data dir gets ``wav.scp``, ``utt2spk``,
``text`` and ``utt2dur`` and is validated; with ``--language-folders`` (a corpus whose wavs lie
in folders named by language, as the mini corpus's ``<speaker>/<language>/``) also ``utt2lang``.

``python -m simvq_audio.corpora.prepare --corpus DIR --data-dir data [--nj N]
[--text-suffix .txt] [--language-folders] NAME=SUBSET[,SUBSET...]...``
"""

from __future__ import annotations

import argparse
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from simvq_audio.commands.arg_types import positive_int
from simvq_audio.corpora.command import run_command
from simvq_audio.data.audio_io import audio_info
from simvq_audio.data.kaldi_dir import describe_problems, validate_data_dir, write_data_dir
from simvq_audio.errors import UserInputError

TEXT_SUFFIX = ".normalized.txt"


def scan_subset(subset_dir: Path, text_suffix: str = TEXT_SUFFIX,
                log: Callable[[str], None] = print) -> Iterator[tuple[str, str, Path, str]]:
    """Yield ``(utt_id, speaker, wav path, transcript)`` for each utterance, sorted by path.

    Utterances without a transcript file or with an empty one are skipped with a warning.
    """
    if not subset_dir.is_dir():
        raise UserInputError(f"{subset_dir}: no such subset folder (run the corpus stage 0)")
    skipped = 0
    for wav in sorted(subset_dir.glob("*/**/*.wav")):
        utt_id, speaker = wav.stem, wav.relative_to(subset_dir).parts[0]
        if not utt_id.startswith(speaker + "_"):
            raise UserInputError(f"{wav}: utterance id must start with its speaker folder name "
                                 f"'{speaker}_' (Kaldi sorts utt2spk by both)")
        text_file = wav.with_name(utt_id + text_suffix)
        text = " ".join(text_file.read_text(encoding="utf-8").split()) if text_file.is_file() \
            else ""
        if not text:
            skipped += 1
            continue
        yield utt_id, speaker, wav.resolve(), text
    if skipped:
        log(f"{subset_dir}: skipped {skipped} wav files without a {text_suffix} transcript")


def prepare(corpus: Path, data_dir: Path, name: str, subsets: list[str], nj: int = 1,
            text_suffix: str = TEXT_SUFFIX, language_folders: bool = False,
            log: Callable[[str], None] = print) -> None:
    """Write and validate the data dir ``data_dir/name``: the union of ``subsets`` of ``corpus``;
    ``language_folders``: the folder holding each wav is named by its language (``utt2lang``)."""
    found = [row for subset in subsets for row in scan_subset(corpus / subset, text_suffix, log)]
    if not found:
        raise UserInputError(f"{corpus}: no utterances in {', '.join(subsets)}")
    duplicate = next((utt for utt, count in Counter(row[0] for row in found).items()
                      if count > 1), None)
    if duplicate:
        raise UserInputError(f"utterance {duplicate} appears twice in {', '.join(subsets)}")
    with ThreadPoolExecutor(max(1, nj)) as pool:
        durations = list(pool.map(lambda wav: audio_info(wav).duration,
                                  (wav for _, _, wav, _ in found)))
    out = data_dir / name
    write_data_dir(out, wav_scp={utt: str(wav) for utt, _, wav, _ in found},
                   utt2spk={utt: speaker for utt, speaker, _, _ in found},
                   text={utt: text for utt, _, _, text in found},
                   utt2dur={row[0]: seconds for row, seconds in zip(found, durations)},
                   utt2lang={utt: wav.parent.name for utt, _, wav, _ in found}
                   if language_folders else None)
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
    parser = argparse.ArgumentParser(prog="python -m simvq_audio.corpora.prepare",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, required=True, help="folder holding the subsets")
    parser.add_argument("--data-dir", type=Path, required=True, help="write data dirs under here")
    parser.add_argument("--nj", type=positive_int, default=1, help="threads reading audio headers")
    parser.add_argument("--text-suffix", default=TEXT_SUFFIX,
                        help=f"transcript file name after the utterance id [{TEXT_SUFFIX}]")
    parser.add_argument("--language-folders", action="store_true",
                        help="each wav lies in a folder named by its language (en, fr, ...): "
                        "also write utt2lang")
    parser.add_argument("sets", nargs="+", metavar="NAME=SUBSET[,SUBSET...]")
    args = parser.parse_args(argv)
    for name, subsets in map(parse_set_spec, args.sets):
        prepare(args.corpus, args.data_dir, name, subsets, args.nj, args.text_suffix,
                args.language_folders)
    return 0


if __name__ == "__main__":
    run_command("prepare", main)
