"""A mini speech corpus spoken by espeak-ng, shaped like LibriTTS, for the CPU recipe ``egs/mini``.

Ten synthetic speakers (voice variant, speaking rate, pitch) read deterministic sentences; each
utterance gets its own small rate and pitch jitter. Audio is resampled to 24 kHz. Speakers are
split into ``train`` (6), ``dev`` (2) and ``test`` (2), written as
``<out>/<split>/<speaker>/<chapter>/<speaker>_<chapter>_<utt>_000000.wav`` with a
``.normalized.txt`` beside each wav, so :mod:`simvq_audio.corpora.prepare` reads it.

``python -m simvq_audio.corpora.espeak_corpus --out db/mini [--utts-per-speaker 10] [--nj 2]``
"""

from __future__ import annotations

import argparse
import random
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import torch

from simvq_audio.commands.arg_types import positive_int
from simvq_audio.corpora.command import run_command
from simvq_audio.data.audio_io import read_audio, write_audio
from simvq_audio.errors import UserInputError

SAMPLE_RATE = 24000
INSTALL_HINT = ("install it: sudo apt-get install espeak-ng (Debian/Ubuntu), "
                "sudo dnf install espeak-ng (Fedora) or brew install espeak-ng (macOS)")


@dataclass(frozen=True)
class Speaker:
    speaker_id: str
    voice: str  # espeak-ng voice + variant
    words_per_minute: int
    pitch: int  # 0..99
    split: str


SPEAKERS = (
    Speaker("1001", "en-us+m1", 150, 40, "train"),
    Speaker("1002", "en-us+f2", 170, 65, "train"),
    Speaker("1003", "en-gb+m3", 140, 45, "train"),
    Speaker("1004", "en-gb+f3", 160, 70, "train"),
    Speaker("1005", "en-gb-scotland+m2", 155, 35, "train"),
    Speaker("1006", "en-029+f1", 165, 60, "train"),
    Speaker("2001", "en-gb-x-rp+f4", 150, 55, "dev"),
    Speaker("2002", "en-gb-x-gbcwmd+m6", 160, 42, "dev"),
    Speaker("3001", "en-us+m4", 175, 50, "test"),
    Speaker("3002", "en-gb-x-gbclan+f5", 145, 62, "test"),
)

_ADJECTIVES = ("quiet", "bright", "old", "clever", "tired", "happy", "small", "golden", "busy",
               "gentle", "curious", "silver")
_NOUNS = ("baker", "teacher", "farmer", "sailor", "painter", "doctor", "child", "driver",
          "neighbour", "musician", "gardener", "captain")
_VERBS = ("carried", "found", "painted", "counted", "opened", "repaired", "described", "sold",
          "borrowed", "noticed")
_OBJECTS = ("seven apples", "a wooden box", "the long letter", "three blue bottles",
            "an old map", "the broken clock", "a basket of bread", "twelve candles")
_PLACES = ("near the river", "at the market", "before sunrise", "in the quiet library",
           "after the storm", "on the narrow bridge", "behind the station", "during the winter")


def sentence(rng: random.Random) -> str:
    """One grammatical sentence drawn from the word lists above."""
    return (f"The {rng.choice(_ADJECTIVES)} {rng.choice(_NOUNS)} {rng.choice(_VERBS)} "
            f"{rng.choice(_OBJECTS)} {rng.choice(_PLACES)}.")


def synthesize(text: str, voice: str, words_per_minute: int, pitch: int) -> torch.Tensor:
    """Speak ``text`` with espeak-ng; returns ``[1, T]`` float32 at 24 kHz."""
    command = ["espeak-ng", "-v", voice, "-s", str(words_per_minute), "-p", str(pitch),
               "--stdout", text]
    result = subprocess.run(command, capture_output=True, check=False)
    if result.returncode != 0 or not result.stdout:
        raise UserInputError(f"espeak-ng failed for voice {voice}: "
                             f"{result.stderr.decode(errors='replace').strip()}")
    return read_audio(result.stdout, SAMPLE_RATE, what=f"espeak-ng {voice}")[0]


def speak_utterance(out: Path, speaker: Speaker, index: int) -> float:
    """Write one utterance (wav + normalized text) and return its duration in seconds."""
    rng = random.Random(f"{speaker.speaker_id}-{index}")
    text = sentence(rng)
    wav = synthesize(text, speaker.voice, round(speaker.words_per_minute * rng.uniform(0.9, 1.1)),
                     min(99, max(0, speaker.pitch + rng.randint(-5, 5))))
    chapter = f"{speaker.speaker_id}0"
    folder = out / speaker.split / speaker.speaker_id / chapter
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"{speaker.speaker_id}_{chapter}_{index:06d}_000000"
    write_audio(folder / f"{stem}.wav", wav, SAMPLE_RATE)
    (folder / f"{stem}.normalized.txt").write_text(text + "\n", encoding="utf-8")
    return wav.shape[-1] / SAMPLE_RATE


def generate(out: Path, utts_per_speaker: int = 10, nj: int = 2) -> float:
    """Write the corpus to ``out`` (built in ``out.partial``, renamed when complete).

    Returns:
        total seconds of speech.
    """
    if shutil.which("espeak-ng") is None:
        raise UserInputError(f"espeak-ng is not installed; {INSTALL_HINT}")
    if utts_per_speaker < 1:
        raise UserInputError(f"--utts-per-speaker must be >= 1, got {utts_per_speaker}")
    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    jobs = [(speaker, index) for speaker in SPEAKERS for index in range(1, utts_per_speaker + 1)]
    with ThreadPoolExecutor(max(1, nj)) as pool:
        seconds = sum(pool.map(lambda job: speak_utterance(partial, *job), jobs))
    shutil.rmtree(out, ignore_errors=True)
    partial.replace(out)
    return seconds


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m simvq_audio.corpora.espeak_corpus",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="corpus folder to write")
    parser.add_argument("--utts-per-speaker", type=positive_int, default=10)
    parser.add_argument("--nj", type=positive_int, default=2, help="parallel espeak-ng processes")
    args = parser.parse_args(argv)
    seconds = generate(args.out, args.utts_per_speaker, args.nj)
    print(f"{args.out}: {len(SPEAKERS)} speakers x {args.utts_per_speaker} utterances, "
          f"{seconds / 60:.1f} min of speech at {SAMPLE_RATE} Hz")
    return 0


if __name__ == "__main__":
    run_command("espeak_corpus", main)
