"""Where the collapse study's audio comes from: a Kaldi data dir, the espeak-ng mini corpus
(generated on demand), or a synthetic speech-like signal when espeak-ng is not installed.

Every source returns a list of ``[T]`` float32 waveforms at 24 kHz.
"""

from __future__ import annotations

import random
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from simvq_audio.corpora import espeak_corpus, prepare
from simvq_audio.data.audio_io import read_audio
from simvq_audio.data.kaldi_dir import read_data_dir
from simvq_audio.metrics.synthetic import speech_like
from simvq_audio.study.mel_windows import SAMPLE_RATE

CORPUS_SPLITS = {"train": ["train"], "heldout": ["dev", "test"]}
"""Data dirs made from the mini corpus: its 6 training speakers, and its 4 dev + test speakers."""
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


def mini_corpus_dirs(cache: Path, utts_per_speaker: int,
                     log: Callable[[str], None] = print) -> dict[str, Path]:
    """Data dirs ``{"train": ..., "heldout": ...}`` of the espeak-ng mini corpus under ``cache``,
    generated (as ``egs/mini`` stages 0-1 do) unless a previous run left them complete."""
    data = cache / f"data_{utts_per_speaker}"
    if not all((data / name / "wav.scp").is_file() for name in CORPUS_SPLITS):
        corpus = cache / f"mini_{utts_per_speaker}"
        log(f"generating the espeak-ng mini corpus in {corpus} "
            f"({utts_per_speaker} utterances per speaker)")
        espeak_corpus.generate(corpus, utts_per_speaker)
        staging = data.with_name(data.name + ".partial")
        shutil.rmtree(staging, ignore_errors=True)
        for name, subsets in CORPUS_SPLITS.items():
            prepare.prepare(corpus, staging, name, subsets, log=log)
        shutil.rmtree(data, ignore_errors=True)
        staging.replace(data)
    return {name: data / name for name in CORPUS_SPLITS}


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
