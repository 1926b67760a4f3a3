"""Voiced/unvoiced agreement: F1 of the hypothesis' voicing decisions against the reference's.

Voicing comes from librosa's pYIN (no downloaded weights) with the pYIN paper's 10-cent pitch grid
(librosa's default), F0 searched in 65-600 Hz (65 Hz is librosa's recommended floor; it stays
above 50/60 Hz mains hum), 64 ms frames and a 20 ms hop at 16 kHz, on the signal band-passed to
80-1000 Hz (4th-order Butterworth, zero phase), as pitch trackers prefilter: the band holds the
fundamental and the first harmonics, and leaves out hum below and the aperiodic upper band that
makes whole vowels of some recordings (the CMU Sphinx test clips) look unvoiced to YIN.

An earlier version searched a half-semitone grid to save time; with ~5x fewer pitch states per
voicing state, pYIN's Viterbi pass preferred "unvoiced" for every frame of such recordings.
"""

from __future__ import annotations

import numpy as np

from simvq_audio.metrics.pairs import MetricSkipped, at_rate

VOICING_RATE = 16000
FRAME_LENGTH = 1024
HOP_LENGTH = 320
F0_MIN, F0_MAX = 65.0, 600.0
PITCH_RESOLUTION = 0.1     # semitones: pYIN's 10-cent grid
BAND_HZ = (80.0, 1000.0)   # the prefilter's pass band
BAND_ORDER = 4


def voiced_frames(wav: np.ndarray, sample_rate: int) -> np.ndarray:
    """pYIN voicing decisions of ``wav [T]``: bool ``[1 + T' // 320]`` at 16 kHz (T' samples)."""
    # optional (the metrics extra): imported when used
    import librosa
    from scipy.signal import butter, sosfiltfilt

    band = butter(BAND_ORDER, BAND_HZ, btype="bandpass", fs=VOICING_RATE, output="sos")
    filtered = sosfiltfilt(band, at_rate(wav, sample_rate, VOICING_RATE))
    _, voiced, _ = librosa.pyin(filtered.astype(np.float32), fmin=F0_MIN, fmax=F0_MAX,
                                sr=VOICING_RATE, frame_length=FRAME_LENGTH,
                                hop_length=HOP_LENGTH, resolution=PITCH_RESOLUTION)
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
