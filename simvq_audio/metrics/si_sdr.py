"""Scale-invariant signal-to-distortion ratio (Le Roux et al., 2019)."""

from __future__ import annotations

import numpy as np

_EPS = 1e-8


def si_sdr(ref: np.ndarray, hyp: np.ndarray, sample_rate: int | None = None) -> float:
    """SI-SDR in dB of ``hyp [T]`` against ``ref [T]`` (same length), both made zero-mean.

    ``sample_rate`` is unused (kept so that every metric has the same signature). Very large
    for identical signals; very negative for a silent hypothesis; sensitive to time shifts.
    """
    ref = np.asarray(ref, dtype=np.float64) - np.mean(ref)
    hyp = np.asarray(hyp, dtype=np.float64) - np.mean(hyp)
    target = ref * (np.dot(hyp, ref) / (np.dot(ref, ref) + _EPS))
    noise = hyp - target
    return float(10 * np.log10((np.dot(target, target) + _EPS) / (np.dot(noise, noise) + _EPS)))
