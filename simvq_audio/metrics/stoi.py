"""STOI and extended STOI through ``pystoi``, computed at its native 10 kHz."""

from __future__ import annotations

import warnings

import numpy as np

from simvq_audio.metrics.pairs import MetricSkipped, at_rate

STOI_RATE = 10000


def stoi(ref: np.ndarray, hyp: np.ndarray, sample_rate: int, extended: bool = False) -> float:
    """Short-time objective intelligibility of ``hyp [T]`` against ``ref [T]`` (same length).

    Both are resampled to 10 kHz with soxr (instead of pystoi's own resampler). ``extended``
    gives ESTOI. Raises :class:`MetricSkipped` where pystoi would silently return 1e-5 because
    fewer than 30 speech frames remain after its silent-frame removal.
    """
    # optional (the metrics extra): imported when used
    from pystoi import stoi as pystoi_stoi

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        value = pystoi_stoi(at_rate(ref, sample_rate, STOI_RATE),
                            at_rate(hyp, sample_rate, STOI_RATE), STOI_RATE, extended=extended)
    if any("Not enough STFT frames" in str(warning.message) for warning in caught):
        raise MetricSkipped("fewer than 30 speech frames for stoi (about 0.4 s of speech)")
    return float(value)
