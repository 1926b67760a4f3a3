"""Wideband PESQ (ITU-T P.862.2) through the ``pesq`` package, always at 16 kHz."""

from __future__ import annotations

import numpy as np

from simvq_audio.metrics.pairs import MetricSkipped, at_rate

PESQ_RATE = 16000


def wideband_pesq(ref: np.ndarray, hyp: np.ndarray, sample_rate: int) -> float:
    """MOS-LQO of ``hyp [T]`` against ``ref [T]`` (same length), from -0.5 to 4.64.

    Both are resampled to 16 kHz first. Raises :class:`MetricSkipped` where the ``pesq`` package
    finds no speech or too little audio.
    """
    # optional (the metrics extra): imported when used
    import pesq

    try:
        return float(pesq.pesq(PESQ_RATE, at_rate(ref, sample_rate, PESQ_RATE),
                               at_rate(hyp, sample_rate, PESQ_RATE), "wb"))
    except pesq.NoUtterancesError:
        raise MetricSkipped("pesq found no speech in the reference or hypothesis") from None
    except pesq.BufferTooShortError:
        raise MetricSkipped("too short for pesq") from None
