"""Speech-like synthetic signals for tests and benchmarks of the metrics (no corpus needed).

A "syllable" is a voiced harmonic tone whose pitch glides, under a smooth loudness envelope;
syllables alternate with short noise bursts (unvoiced consonants) and pauses.
"""

from __future__ import annotations

import numpy as np


def voiced(seconds: float, sample_rate: int, rng: np.random.Generator,
           f0_range: tuple[float, float] = (90.0, 220.0)) -> np.ndarray:
    """Harmonic tone ``[T]`` (harmonics up to 4 kHz, 1/k amplitudes) with a random pitch glide
    inside ``f0_range``, under a Hann-shaped envelope; peak about 0.3."""
    length = int(seconds * sample_rate)
    start, end = rng.uniform(*f0_range, size=2)
    f0 = np.linspace(start, end, length) * (1 + 0.03 * np.sin(np.linspace(0, 6 * np.pi, length)))
    phase = 2 * np.pi * np.cumsum(f0) / sample_rate
    harmonics = int(min(4000, sample_rate / 2) // max(start, end))
    tone = sum(np.sin(k * phase) / k for k in range(1, harmonics + 1))
    return 0.3 * tone / np.max(np.abs(tone)) * np.hanning(length)


def unvoiced(seconds: float, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """White-noise burst ``[T]`` (RMS 0.03) under a Hann envelope."""
    length = int(seconds * sample_rate)
    return 0.03 * rng.standard_normal(length) * np.hanning(length)


def speech_like(seconds: float, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """``[T]`` float32 of ``seconds``: syllables (0.15-0.4 s voiced), noise bursts (0.05-0.12 s)
    and pauses (0-0.1 s) in sequence, cut or zero-padded to length."""
    pieces, total = [], 0
    target = int(seconds * sample_rate)
    while total < target:
        for piece in (unvoiced(rng.uniform(0.05, 0.12), sample_rate, rng),
                      voiced(rng.uniform(0.15, 0.4), sample_rate, rng),
                      np.zeros(int(rng.uniform(0.0, 0.1) * sample_rate))):
            pieces.append(piece)
            total += len(piece)
    return np.concatenate(pieces)[:target].astype(np.float32)
