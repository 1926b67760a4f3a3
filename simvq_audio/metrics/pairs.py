"""Preparing a (reference, hypothesis) pair for scoring, and the signal that a pair is skipped.

Paper conventions: the pair is truncated to the shorter length; a silent or too-short reference
is not scored at all (it is reported with the reason, never averaged in as a zero). "Silent"
includes near-silence: a reference whose loudest 20 ms frame is below -60 dBFS RMS (e.g. room noise
at RMS 1e-4, -80 dBFS) holds no speech a codec could be judged on; every metric of it is noise
(STOI near 0, a mel distance of the noise floor).
"""

from __future__ import annotations

import numpy as np
import torch

from simvq_audio.data.audio_io import resample

SILENCE_DBFS = -60.0      # a reference whose loudest frame is quieter counts as silent
SILENCE_FRAME_SECONDS = 0.02
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
    level = loudest_frame_dbfs(ref, sample_rate)
    if level < SILENCE_DBFS:
        raise MetricSkipped(f"silent reference (loudest 20 ms at {level:.0f} dBFS, below "
                            f"{SILENCE_DBFS:.0f} dBFS)")


def loudest_frame_dbfs(wav: np.ndarray, sample_rate: int) -> float:
    """RMS level in dBFS (full scale 1.0) of the loudest non-overlapping 20 ms frame of ``wav [T]``
    (of the whole signal if shorter); ``-inf`` for digital silence."""
    frame = max(1, round(SILENCE_FRAME_SECONDS * sample_rate))
    count = max(1, len(wav) // frame)
    frames = np.asarray(wav[:count * frame] if len(wav) >= frame else wav, np.float64)
    power = np.mean(frames.reshape(count, -1) ** 2, axis=1).max()
    with np.errstate(divide="ignore"):
        return float(10 * np.log10(power))


def at_rate(wav: np.ndarray, sample_rate: int, target_rate: int) -> np.ndarray:
    """``wav [T]`` resampled to ``target_rate`` (soxr HQ); unchanged if the rates match."""
    if sample_rate == target_rate:
        return wav
    return resample(torch.from_numpy(np.ascontiguousarray(wav))[None], sample_rate,
                    target_rate)[0].numpy()
