"""All metrics of one (reference, hypothesis) pair: the signal metrics, then the model metrics
(:mod:`simvq_audio.metrics.scorers`), with per-metric skip reasons."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from simvq_audio.metrics.mel_distance import mel_distance
from simvq_audio.metrics.pairs import MetricSkipped, at_rate, check_scorable, truncate_pair
from simvq_audio.metrics.pesq_wb import PESQ_RATE, wideband_pesq
from simvq_audio.metrics.scorers import LoadedScorers, ScoreInput
from simvq_audio.metrics.si_sdr import si_sdr
from simvq_audio.metrics.stoi import STOI_RATE, stoi
from simvq_audio.metrics.voicing import VOICING_RATE, vuv_f1


@dataclass(frozen=True)
class Metric:
    """A signal metric: ``compute(ref [T], hyp [T], sample_rate) -> float``, evaluated at
    ``rate`` (``None``: the reference's own rate)."""

    name: str
    label: str
    higher_is_better: bool
    compute: Callable[[np.ndarray, np.ndarray, int], float]
    rate: int | None = None


METRICS: tuple[Metric, ...] = (
    Metric("pesq", "PESQ-wb", True, wideband_pesq, PESQ_RATE),
    Metric("stoi", "STOI", True, stoi, STOI_RATE),
    Metric("estoi", "ESTOI", True, functools.partial(stoi, extended=True), STOI_RATE),
    Metric("vuv_f1", "V/UV F1", True, vuv_f1, VOICING_RATE),
    Metric("si_sdr", "SI-SDR (dB)", True, si_sdr),
    Metric("mel_distance", "Mel distance", False, mel_distance),
)
ALL = "all"   # the metric name under which a skip of the whole utterance is recorded


@dataclass
class UtteranceScores:
    """``values``: metric name -> score (and scorer details such as transcripts); ``skipped``:
    metric or scorer name (or ``"all"``) -> reason."""

    values: dict[str, float | int | str] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)


def score_pair(ref: np.ndarray, hyp: np.ndarray, sample_rate: int,
               metrics: tuple[Metric, ...] = METRICS, scorers: LoadedScorers | None = None,
               text: str | None = None, language: str = "en") -> UtteranceScores:
    """Score ``hyp [T2]`` against ``ref [T1]``, both at ``sample_rate``, after truncating them to
    the shorter length, with ``metrics`` and then ``scorers`` (which also see the transcript
    ``text`` and the ``language``, and their reference cache). Every metric that cannot be
    computed is recorded in ``skipped`` (a scorer under its name); ``values`` also holds the
    scorers' details."""
    ref, hyp = truncate_pair(np.asarray(ref, np.float64), np.asarray(hyp, np.float64))
    scores = UtteranceScores()
    try:
        check_scorable(ref, sample_rate)
    except MetricSkipped as reason:
        scores.skipped[ALL] = str(reason)
        return scores
    resampled = {sample_rate: (ref, hyp)}
    for metric in metrics:
        rate = metric.rate or sample_rate
        if rate not in resampled:
            resampled[rate] = (at_rate(ref, sample_rate, rate), at_rate(hyp, sample_rate, rate))
        try:
            scores.values[metric.name] = metric.compute(*resampled[rate], rate)
        except MetricSkipped as reason:
            scores.skipped[metric.name] = str(reason)
    if scorers is None:
        return scores
    item = ScoreInput(ref, hyp, sample_rate, text, language, scorers.reference_cache,
                      _resampled=resampled)
    for scorer in scorers.scorers:
        try:
            scores.values.update(scorer.score(item))
        except MetricSkipped as reason:
            scores.skipped[scorer.name] = str(reason)
    return scores
