"""Where the collapse study's audio comes from: Kaldi data dirs, a mini corpus built on demand
(real speech from Debian's archive, the default, or synthetic espeak-ng speech), or a synthetic
speech-like signal.

Every source returns a list of ``[T]`` float32 waveforms at 24 kHz.
"""

from __future__ import annotations

import functools
import random
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from simvq_audio.corpora import debian_speech, espeak_corpus, prepare
from simvq_audio.corpora.debian_archive import DebianArchive
from simvq_audio.data.audio_io import read_audio
from simvq_audio.data.kaldi_dir import read_data_dir
from simvq_audio.metrics.synthetic import speech_like
from simvq_audio.study.mel_windows import SAMPLE_RATE

CORPUS_SPLITS = {"train": ["train"], "heldout": ["dev", "test"]}
"""Data dirs made from a mini corpus (both corpora have train, dev and test subsets)."""
SYNTHETIC_UTTERANCE_S = 4.0


def read_waveforms(data_dir: Path, max_seconds: float | None, seed: int) -> list[torch.Tensor]:
    """The utterances of ``data_dir`` in an order shuffled by ``seed``, read (mono, resampled
    to 24 kHz) until ``max_seconds`` of audio are in (all of them when ``None``)."""
    utterances = read_data_dir(data_dir, check_audio=False)
    random.Random(seed).shuffle(utterances)
    waveforms, total = [], 0.0
    for utterance in utterances:
        if max_seconds is not None and total >= max_seconds:
            break
        wav, _ = read_audio(utterance.path, SAMPLE_RATE)
        waveforms.append(wav[0])
        total += wav.shape[-1] / SAMPLE_RATE
    return waveforms


def corpus_dirs(cache: Path, name: str, build: Callable[[Path], object],
                log: Callable[[str], None] = print,
                splits: dict[str, list[str]] = CORPUS_SPLITS) -> dict[str, Path]:
    """Data dirs ``{"train": ..., "heldout": ...}`` (``splits``: each made of those subsets of
    the corpus) of the mini corpus ``cache/name``, built by ``build(corpus folder)`` and
    prepared as ``egs/mini`` stages 0-1 do, unless a previous run left them complete."""
    data = cache / f"data_{name}"
    if not all((data / split / "wav.scp").is_file() for split in splits):
        corpus = cache / name
        log(f"building the mini corpus {corpus}")
        build(corpus)
        staging = data.with_name(data.name + ".partial")
        shutil.rmtree(staging, ignore_errors=True)
        for split, subsets in splits.items():
            prepare.prepare(corpus, staging, split, subsets, log=log)
        shutil.rmtree(data, ignore_errors=True)
        staging.replace(data)
    return {split: data / split for split in splits}


def debian_builder(archive_dir: Path, train_minutes: float, dev_utts_per_voice: int,
                   log: Callable[[str], None] = print, test_utts_per_voice: int = 0
                   ) -> Callable[[Path], object]:
    """``build(folder)`` for :func:`corpus_dirs`: the real-speech corpus of ``egs/mini`` stage 0
    (:func:`simvq_audio.corpora.debian_speech.build`), its packages cached in ``archive_dir``.
    By default every held-out prompt of the training voices goes to dev (none to test, which
    keeps only the unseen speakers): the study measures on dev and test together."""
    return functools.partial(debian_speech.build, archive=DebianArchive(archive_dir),
                             train_minutes=train_minutes,
                             dev_utts_per_voice=dev_utts_per_voice,
                             test_utts_per_voice=test_utts_per_voice, log=log)


def espeak_builder(utts_per_speaker: int) -> Callable[[Path], object]:
    """``build(folder)`` for :func:`corpus_dirs`: the espeak-ng mini corpus."""
    return functools.partial(espeak_corpus.generate, utts_per_speaker=utts_per_speaker)


def espeak_available() -> bool:
    return shutil.which("espeak-ng") is not None


def synthetic_waveforms(split: str, seconds: float, seed: int) -> list[torch.Tensor]:
    """``seconds`` of speech-like signal (harmonic syllables with pitch glides, noise bursts,
    pauses) cut into 4 s utterances; ``split`` ("train" or "heldout") picks an independent
    random stream."""
    rng = np.random.default_rng([seed, list(CORPUS_SPLITS).index(split)])
    count = max(1, round(seconds / SYNTHETIC_UTTERANCE_S))
    return [torch.from_numpy(speech_like(SYNTHETIC_UTTERANCE_S, SAMPLE_RATE, rng))
            for _ in range(count)]
