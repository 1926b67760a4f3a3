"""Real recorded speech from Debian's archive for the CPU recipe ``egs/mini``, LibriTTS-shaped.

Sources, fetched with :mod:`simvq_audio.corpora.debian_archive` (nothing is installed):

* ``asterisk-core-sounds-{en,es,fr,it,ru}-g722``: Asterisk's studio-read telephone prompts,
  16 kHz G.722 (:mod:`simvq_audio.corpora.g722`), transcripts from
  ``asterisk-core-sounds-{en,es,fr,it,ru}``. Four professional voices (the voice folder names
  them): Allison Smith reads both en and es, June Wallack fr (Canadian), Carlo Flora it, the
  ivrvoice.ru voice ru. CC-BY-SA-3.0 (en, es, fr), CC-BY-3.0 (it, ru).
* ``pocketsphinx-testdata``: 16 kHz read English stored as PCM wav, with transcripts: five
  LibriVox sentences (Sense and Sensibility; cut from LibriVox's 64 kbit/s MP3, as their names
  say) by one reader, five card-game phrases by one CMU speaker (F0 about 100 Hz in each voiced
  clip). BSD-2-Clause (CMU); the LibriVox recordings are in the public domain.

Split: ``train`` and ``dev`` hold the four Asterisk voices (dev: other prompts of the same voices,
for validation); ``test`` holds prompts of those voices never seen in training and the two
pocketsphinx speakers, never seen at all (other people, other microphones, no G.722). Training
prompts are those with a transcript lasting ``min_clip..max_clip`` s, taken in a fixed
pseudo-random order (a hash of the utterance id) until each voice has ``train_minutes / 4``
minutes; dev takes each voice's next ``dev_utts_per_voice``, test the next
``test_utts_per_voice``. Held-out prompts make the test set large enough to measure the use of
a 1024-code codebook (the pocketsphinx speech alone is 0.6 min, about 2600 frames at 75 Hz).
Everything is resampled to 24 kHz and written, as :mod:`simvq_audio.corpora.prepare` reads
it, to ``<out>/<split>/<speaker>/<language>/<speaker>_<language>_<prompt>.wav`` with a
``.normalized.txt`` beside each wav, plus ``README.md`` (sources, licences, credits, statistics)
and ``licenses/<package>.copyright`` (each package's Debian copyright file, verbatim).

``python -m simvq_audio.corpora.debian_speech --out db/mini --archive-dir db/debian``
"""

from __future__ import annotations

import argparse
import functools
import gzip
import hashlib
import re
import shutil
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from simvq_audio.commands.arg_types import (
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
)
from simvq_audio.corpora.command import run_command
from simvq_audio.corpora.debian_archive import (
    DEFAULT_MIRROR,
    DEFAULT_SUITE,
    DebianArchive,
    deb_files,
)
from simvq_audio.corpora.g722 import SAMPLE_RATE as G722_RATE
from simvq_audio.corpora.g722 import decode_g722
from simvq_audio.data.audio_io import audio_info, read_audio, resample, write_audio
from simvq_audio.errors import UserInputError

SAMPLE_RATE = 24000
LANGUAGES = ("en", "es", "fr", "it", "ru")
POCKETSPHINX = "pocketsphinx-testdata"
SOUNDS = "usr/share/asterisk/sounds/"
G722_BYTES_PER_SECOND = 8000
POCKETSPHINX_SETS = {  # folder under test/data -> (speaker id, transcription file)
    "librivox": ("librivox", "transcription"),
    "cards": ("cards", "cards.transcription"),
}
CREDITS = {
    "allison": "Allison Smith (http://www.theivrvoice.com), for Digium, Inc.",
    "june": "June Wallack (http://www.junewallack.com); French translation by Clod Patry, "
            "Kristopher Lalletti and June Wallack",
    "carlo": "Carlo Flora (http://www.carloflora.com); Italian translation by Silvia Petrin",
    "ivrvoiceru": "the ivrvoice.ru voice, provided by Maxim Topal (http://www.ivrvoice.ru)",
    "librivox": "a LibriVox volunteer reading Sense and Sensibility (public domain)",
    "cards": "a speaker recorded by Carnegie Mellon University for CMU Sphinx",
}
LICENSES = {"en": "CC-BY-SA-3.0", "es": "CC-BY-SA-3.0", "fr": "CC-BY-SA-3.0",
            "it": "CC-BY-3.0", "ru": "CC-BY-3.0", POCKETSPHINX: "BSD-2-Clause"}


@dataclass(frozen=True)
class Clip:
    """One utterance: ``audio`` is a raw G.722 stream (``codec`` ``"g722"``) or a wav file."""

    speaker: str
    chapter: str  # the language, as LibriTTS's chapter level
    name: str
    text: str
    audio: bytes
    codec: str
    seconds: float
    licence: str

    @property
    def utt_id(self) -> str:
        return f"{self.speaker}_{self.chapter}_{re.sub(r'[^A-Za-z0-9-]', '-', self.name)}"


def package_names() -> list[str]:
    """Every package the corpus is built from."""
    return ([f"asterisk-core-sounds-{lang}{kind}" for lang in LANGUAGES for kind in ("", "-g722")]
            + [POCKETSPHINX])


def read_transcripts(data: bytes) -> dict[str, str]:
    """``{prompt: text}`` from a gzipped ``core-sounds-<lang>.txt`` (``name: text`` lines);
    bracketed non-speech (``[ascending tones]``) is left out."""
    table = {}
    for line in gzip.decompress(data).decode("utf-8-sig").splitlines():
        name, colon, text = line.partition(":")
        text = " ".join(text.split())
        if colon and not line.startswith(";") and text and not text.startswith("["):
            table[name.strip()] = text
    return table


def asterisk_clips(lang: str, base_deb: Path, g722_deb: Path, min_clip: float, max_clip: float,
                   licenses: dict[str, bytes]) -> list[Clip]:
    """The prompts of one language with a transcript and ``min_clip..max_clip`` s of speech.

    The speaker is the voice folder's last part (``en_US_f_Allison`` -> ``allison``). Each
    package's copyright file goes into ``licenses``.
    """
    transcripts: dict[str, str] = {}
    for path, data in deb_files(base_deb, lambda path, size: path.startswith("usr/share/doc/")):
        if path.endswith(f"core-sounds-{lang}.txt.gz"):
            transcripts = read_transcripts(data)
        elif path.endswith("/copyright"):
            licenses[f"asterisk-core-sounds-{lang}"] = data
    if not transcripts:
        raise UserInputError(f"{base_deb}: has no core-sounds-{lang}.txt.gz transcripts")

    def wanted(path: str, size: int) -> bool:
        return path.endswith("/copyright") or (
            path.startswith(SOUNDS) and path.endswith(".g722")
            and min_clip <= size / G722_BYTES_PER_SECOND <= max_clip)

    clips = []
    for path, data in deb_files(g722_deb, wanted):
        if path.endswith("/copyright"):
            licenses[f"asterisk-core-sounds-{lang}-g722"] = data
            continue
        voice, name = path[len(SOUNDS):].removesuffix(".g722").split("/", 1)
        if name in transcripts:
            clips.append(Clip(voice.rsplit("_", 1)[-1].lower(), lang, name, transcripts[name],
                              data, "g722", len(data) / G722_BYTES_PER_SECOND, LICENSES[lang]))
    if not clips:
        raise UserInputError(f"{g722_deb}: no transcribed G.722 prompt lasts {min_clip}-"
                             f"{max_clip} s")
    return clips


def pocketsphinx_clips(deb: Path, licenses: dict[str, bytes]) -> list[Clip]:
    """The transcribed wav files of pocketsphinx-testdata (see ``POCKETSPHINX_SETS``)."""
    root = "usr/share/pocketsphinx/test/data/"
    files = dict(deb_files(deb, lambda path, size: path.startswith(root)
                           or path.endswith("/copyright")))
    licenses[POCKETSPHINX] = next((data for path, data in files.items()
                                   if path.endswith("/copyright")), b"")
    clips = []
    for folder, (speaker, transcription) in POCKETSPHINX_SETS.items():
        listing = files.get(f"{root}{folder}/{transcription}")
        if listing is None:
            raise UserInputError(f"{deb}: has no {root}{folder}/{transcription}")
        for line in listing.decode("utf-8").splitlines():
            match = re.fullmatch(r"\s*(?:<s>)?(.*?)(?:</s>)?\s*\((\S+)\)\s*", line)
            wav = files.get(f"{root}{folder}/{match[2]}.wav") if match else None
            if wav is None:
                continue
            clips.append(Clip(speaker, "en", match[2].rsplit("-", 1)[-1], " ".join(
                match[1].split()), wav, "wav", audio_info(wav, match[2]).duration,
                LICENSES[POCKETSPHINX]))
    if not clips:
        raise UserInputError(f"{deb}: no transcribed wav files in {root}")
    return clips


def split_clips(clips: list[Clip], train_minutes: float, dev_utts_per_voice: int,
                test_utts_per_voice: int = 0, log: Callable[[str], None] = print
                ) -> dict[str, list[Clip]]:
    """``{"train": [...], "dev": [...], "test": [...]}``: each voice's clips in a fixed
    pseudo-random order, the first ``train_minutes / voices`` minutes for train, the next
    ``dev_utts_per_voice`` for dev, the next ``test_utts_per_voice`` for test."""
    voices = sorted({clip.speaker for clip in clips})
    budget = 60 * train_minutes / len(voices)
    splits: dict[str, list[Clip]] = {"train": [], "dev": [], "test": []}
    for voice in voices:
        ordered = sorted((clip for clip in clips if clip.speaker == voice),
                         key=lambda clip: hashlib.sha256(clip.utt_id.encode()).hexdigest())
        seconds = 0.0
        taken = 0
        while taken < len(ordered) and seconds < budget:
            seconds += ordered[taken].seconds
            taken += 1
        held_out = ordered[taken:taken + dev_utts_per_voice + test_utts_per_voice]
        if len(held_out) < dev_utts_per_voice + test_utts_per_voice:
            available = sum(clip.seconds for clip in ordered) / 60
            raise UserInputError(f"voice {voice} has {available:.1f} min of prompts: "
                                 f"--train-minutes {train_minutes:g} leaves fewer than "
                                 f"{dev_utts_per_voice} for dev and {test_utts_per_voice} for "
                                 f"test; ask for fewer minutes")
        log(f"{voice}: {taken} prompts ({seconds / 60:.1f} min) for train, "
            f"{dev_utts_per_voice} for dev, {test_utts_per_voice} for test")
        splits["train"] += ordered[:taken]
        splits["dev"] += held_out[:dev_utts_per_voice]
        splits["test"] += held_out[dev_utts_per_voice:]
    return splits


def write_clip(split_dir: Path, clip: Clip) -> float:
    """Decode, resample to 24 kHz and write one clip (wav + normalized text); its seconds."""
    if clip.codec == "g722":
        wav, rate = decode_g722(clip.audio), G722_RATE
    else:
        wav, rate = read_audio(clip.audio, what=clip.utt_id)
    wav = resample(wav, rate, SAMPLE_RATE)
    folder = split_dir / clip.speaker / clip.chapter
    folder.mkdir(parents=True, exist_ok=True)
    write_audio(folder / f"{clip.utt_id}.wav", wav, SAMPLE_RATE)
    (folder / f"{clip.utt_id}.normalized.txt").write_text(clip.text + "\n", encoding="utf-8")
    return wav.shape[-1] / SAMPLE_RATE


def build(out: Path, archive: DebianArchive, train_minutes: float = 20.0,
          dev_utts_per_voice: int = 4, min_clip: float = 2.0, max_clip: float = 20.0,
          nj: int = 2, log: Callable[[str], None] = print, test_utts_per_voice: int = 12
          ) -> dict[str, tuple[int, int, float]]:
    """Fetch, decode and write the corpus to ``out`` (built in ``out.partial``, renamed when
    complete).

    Returns:
        ``{split: (speakers, utterances, minutes)}``.
    """
    if (train_minutes <= 0 or dev_utts_per_voice < 1 or test_utts_per_voice < 0
            or not 0 <= min_clip < max_clip):
        raise UserInputError("need --train-minutes > 0, --dev-utts-per-voice >= 1, "
                             "--test-utts-per-voice >= 0 and 0 <= --min-clip < --max-clip")
    debs = archive.fetch(package_names())
    licenses: dict[str, bytes] = {}
    clips = []
    for lang in LANGUAGES:
        log(f"reading the {lang} prompts")
        clips += asterisk_clips(lang, debs[f"asterisk-core-sounds-{lang}"],
                                debs[f"asterisk-core-sounds-{lang}-g722"], min_clip, max_clip,
                                licenses)
    splits = split_clips(clips, train_minutes, dev_utts_per_voice, test_utts_per_voice, log)
    splits["test"] += pocketsphinx_clips(debs[POCKETSPHINX], licenses)
    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    stats = {}
    with ThreadPoolExecutor(max(1, nj)) as pool:
        for split, members in splits.items():
            log(f"{split}: decoding and writing {len(members)} utterances at {SAMPLE_RATE} Hz")
            seconds = sum(pool.map(functools.partial(write_clip, partial / split), members))
            stats[split] = (len({clip.speaker for clip in members}), len(members), seconds / 60)
    write_notes(partial, archive, splits, stats, licenses)
    shutil.rmtree(out, ignore_errors=True)
    partial.replace(out)
    return stats


def write_notes(out: Path, archive: DebianArchive, splits: dict[str, list[Clip]],
                stats: dict[str, tuple[int, int, float]], licenses: dict[str, bytes]) -> None:
    """``README.md`` (sources, licences, credits, statistics) and ``licenses/``."""
    (out / "licenses").mkdir(parents=True, exist_ok=True)
    for package, text in licenses.items():
        (out / "licenses" / f"{package}.copyright").write_bytes(text)
    lines = ["# Mini speech corpus from Debian's archive", "",
             f"Built by `python -m simvq_audio.corpora.debian_speech` from Debian {archive.suite} "
             f"({archive.mirror}). The recordings were modified: G.722 decoded, resampled from "
             f"16 to {SAMPLE_RATE // 1000} kHz, a selection of prompts kept. Each package's "
             "copyright file, with the full licence texts, is in `licenses/`.", "",
             "| split | speaker | language | utterances | licence | credit |",
             "|---|---|---|---|---|---|"]
    for split, members in splits.items():
        for speaker, chapter, licence in sorted({(clip.speaker, clip.chapter, clip.licence)
                                                 for clip in members}):
            count = sum(clip.speaker == speaker and clip.chapter == chapter for clip in members)
            lines.append(f"| {split} | {speaker} | {chapter} | {count} | {licence} | "
                         f"{CREDITS.get(speaker, 'see licenses/')} |")
    lines += ["", "| split | speakers | utterances | minutes |", "|---|---|---|---|"]
    lines += [f"| {split} | {speakers} | {count} | {minutes:.2f} |"
              for split, (speakers, count, minutes) in stats.items()]
    (out / "README.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m simvq_audio.corpora.debian_speech",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="corpus folder to write")
    parser.add_argument("--archive-dir", type=Path, required=True,
                        help="cache of the index and .deb files (the archive's layout)")
    parser.add_argument("--mirror", default=DEFAULT_MIRROR, help="Debian mirror URL")
    parser.add_argument("--suite", default=DEFAULT_SUITE, help="Debian suite (release)")
    parser.add_argument("--train-minutes", type=positive_float, default=20.0,
                        help="minutes of training speech, shared by the 4 voices")
    parser.add_argument("--dev-utts-per-voice", type=positive_int, default=4)
    parser.add_argument("--test-utts-per-voice", type=non_negative_int, default=12,
                        help="held-out prompts per voice in test, beside the unseen speakers")
    parser.add_argument("--min-clip", type=non_negative_float, default=2.0, help="seconds")
    parser.add_argument("--max-clip", type=positive_float, default=20.0, help="seconds")
    parser.add_argument("--nj", type=positive_int, default=2, help="parallel decoding threads")
    args = parser.parse_args(argv)
    archive = DebianArchive(args.archive_dir, args.mirror, args.suite)
    stats = build(args.out, archive, args.train_minutes, args.dev_utts_per_voice, args.min_clip,
                  args.max_clip, args.nj, test_utts_per_voice=args.test_utts_per_voice)
    for split, (speakers, count, minutes) in stats.items():
        print(f"{args.out}/{split}: {speakers} speakers, {count} utterances, {minutes:.1f} min "
              f"at {SAMPLE_RATE} Hz")
    print(f"{args.out}/README.md: sources, licences and credits")
    return 0


if __name__ == "__main__":
    run_command("debian_speech", main)
