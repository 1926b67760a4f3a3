"""Voiced/unvoiced agreement: F1 of the hypothesis' voicing decisions against the reference's.

Voicing comes from librosa's pYIN (no downloaded weights), run at 16 kHz with 64 ms frames,
a 20 ms hop, F0 searched in 50-600 Hz on a half-semitone grid (the grid only matters for the
pitch value; a coarse one makes pYIN's Viterbi pass ~7x cheaper and leaves voicing intact).
"""

from __future__ import annotations

import numpy as np

from simvq_audio.metrics.pairs import MetricSkipped, at_rate

VOICING_RATE = 16000
FRAME_LENGTH = 1024
HOP_LENGTH = 320
F0_MIN, F0_MAX = 50.0, 600.0
PITCH_RESOLUTION = 0.5     # semitones


def voiced_frames(wav: np.ndarray, sample_rate: int) -> np.ndarray:
    """pYIN voicing decisions of ``wav [T]``: bool ``[1 + T' // 320]`` at 16 kHz (T' samples)."""
    import librosa

    _, voiced, _ = librosa.pyin(at_rate(wav, sample_rate, VOICING_RATE).astype(np.float32),
                                fmin=F0_MIN, fmax=F0_MAX, sr=VOICING_RATE,
                                frame_length=FRAME_LENGTH, hop_length=HOP_LENGTH,
                                resolution=PITCH_RESOLUTION)
    return voiced


def f1_score(ref_voiced: np.ndarray, hyp_voiced: np.ndarray) -> float:
    """F1 of ``hyp_voiced [F]`` against ``ref_voiced [F]`` with "voiced" as the positive class.

    Raises :class:`MetricSkipped` if the reference has no voiced frame (F1 is undefined).
    """
    true_positive = int(np.sum(ref_voiced & hyp_voiced))
    ref_count, hyp_count = int(np.sum(ref_voiced)), int(np.sum(hyp_voiced))
    if ref_count == 0:
        raise MetricSkipped("no voiced frame in the reference")
    return 2 * true_positive / (ref_count + hyp_count)


def vuv_f1(ref: np.ndarray, hyp: np.ndarray, sample_rate: int) -> float:
    """V/UV F1 of ``hyp [T]`` against ``ref [T]`` (same length); 1 when voicing agrees."""
    return f1_score(voiced_frames(ref, sample_rate), voiced_frames(hyp, sample_rate))
