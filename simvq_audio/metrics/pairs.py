"""Preparing a (reference, hypothesis) pair for scoring, and the signal that a pair is skipped.

Paper conventions: the pair is truncated to the shorter length; a silent or too-short reference
is not scored at all (it is reported with the reason, never averaged in as a zero).
"""

from __future__ import annotations

import numpy as np
import torch

from simvq_audio.data.audio_io import resample

SILENCE_PEAK = 1e-4       # a reference whose peak is below -80 dBFS counts as silent
MIN_SECONDS = 0.25        # shortest pair scored (PESQ needs a quarter of a second)


class MetricSkipped(Exception):
    """A metric (or a whole utterance) cannot be scored; ``str(error)`` is the reason."""


def truncate_pair(ref: np.ndarray, hyp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cut ``ref [T1]`` and ``hyp [T2]`` to ``min(T1, T2)`` samples."""
    length = min(len(ref), len(hyp))
    return ref[:length], hyp[:length]


def check_scorable(ref: np.ndarray, sample_rate: int) -> None:
    """Raise :class:`MetricSkipped` if ``ref [T]`` is too short or silent to be scored."""
    seconds = len(ref) / sample_rate
    if seconds < MIN_SECONDS:
        raise MetricSkipped(f"too short ({seconds:.3f} s < {MIN_SECONDS} s)")
    if float(np.max(np.abs(ref))) < SILENCE_PEAK:
        raise MetricSkipped("silent reference (peak below -80 dBFS)")


def at_rate(wav: np.ndarray, sample_rate: int, target_rate: int) -> np.ndarray:
    """``wav [T]`` resampled to ``target_rate`` (soxr HQ); unchanged if the rates match."""
    if sample_rate == target_rate:
        return wav
    return resample(torch.from_numpy(np.ascontiguousarray(wav))[None], sample_rate,
                    target_rate)[0].numpy()
