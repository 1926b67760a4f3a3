"""Shared set-up of the scoring tests: reference and hypothesis folders of generated speech."""

import importlib.util
from pathlib import Path

import numpy as np
import soundfile

from simvq_audio.metrics.synthetic import speech_like

RATE = 16000


def write(path: Path, wav: np.ndarray, rate: int = RATE) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(str(path), wav, rate)


def write_score_corpus(root: Path) -> Path:
    """ROOT/ref/ and ROOT/hyp/ with utterances spk/a (1.5 s), b (1.2 s) and a silent one; the
    hypotheses are noisy copies at 24 kHz (resampled to the reference rate when scored)."""
    rng = np.random.default_rng(0)
    for utt_id, seconds in (("spk/a", 1.5), ("b", 1.2)):
        write(root / "ref" / f"{utt_id}.wav", speech_like(seconds, RATE, rng))
        hyp = speech_like(seconds, 24000, np.random.default_rng(len(utt_id)))
        write(root / "hyp" / f"{utt_id}.flac", hyp + 0.01 * rng.standard_normal(len(hyp)),
              24000)
    write(root / "ref" / "silent.wav", np.zeros(RATE))
    write(root / "hyp" / "silent.wav", np.zeros(RATE))
    return root


def hide_module(monkeypatch, name: str) -> None:
    """Make ``importlib.util.find_spec(name)`` answer None, as if the module were not installed
    (the scorers look their packages up that way, without importing them)."""
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda module, *args: None if module == name else find_spec(module, *args))
