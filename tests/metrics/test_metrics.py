"""Signal metrics: maximal on identical signals, agree with pesq/pystoi, move the right way under
noise, low-pass and time shift; V/UV F1 on a constructed voiced/unvoiced signal; skipping."""

import numpy as np
import pesq
import pystoi
import pytest

from simvq_audio.metrics.mel_distance import mel_distance
from simvq_audio.metrics.pairs import MetricSkipped
from simvq_audio.metrics.pesq_wb import wideband_pesq
from simvq_audio.metrics.si_sdr import si_sdr
from simvq_audio.metrics.stoi import stoi
from simvq_audio.metrics.synthetic import speech_like, unvoiced, voiced
from simvq_audio.metrics.utterance import ALL, METRICS, score_pair
from simvq_audio.metrics.voicing import f1_score, vuv_f1

RATE = 24000


@pytest.fixture(scope="module")
def speech():
    return speech_like(2.5, RATE, np.random.default_rng(1)).astype(np.float64)


def add_noise(wav, snr_db, seed=0):
    noise = np.random.default_rng(seed).standard_normal(len(wav))
    return wav + noise * np.sqrt(np.mean(wav ** 2) / np.mean(noise ** 2)) / 10 ** (snr_db / 20)


def low_pass(wav, cutoff_hz, rate=RATE):
    spectrum = np.fft.rfft(wav)
    spectrum[np.fft.rfftfreq(len(wav), 1 / rate) > cutoff_hz] = 0
    return np.fft.irfft(spectrum, len(wav))


def delay(wav, samples):
    return np.concatenate([np.zeros(samples), wav[:-samples]])


SIGNAL_METRICS = [metric for metric in METRICS if metric.name != "vuv_f1"]


def test_identical_signals_give_maximal_scores(speech):
    scores = score_pair(speech, speech, RATE)
    assert scores.skipped == {}
    assert scores.values["pesq"] == pytest.approx(4.64, abs=0.01)
    assert scores.values["stoi"] == pytest.approx(1.0, abs=1e-6)
    assert scores.values["estoi"] == pytest.approx(1.0, abs=1e-6)
    assert scores.values["vuv_f1"] == 1.0
    assert scores.values["mel_distance"] == 0.0
    assert scores.values["si_sdr"] > 80


def test_pesq_and_stoi_agree_with_the_reference_packages(speech):
    # at the packages' own rates nothing is resampled: the numbers must be identical
    ref16 = speech_like(2.0, 16000, np.random.default_rng(2)).astype(np.float64)
    deg16 = add_noise(ref16, 15)
    assert wideband_pesq(ref16, deg16, 16000) == pytest.approx(pesq.pesq(16000, ref16, deg16, "wb"))
    ref10 = speech_like(2.0, 10000, np.random.default_rng(2)).astype(np.float64)
    deg10 = add_noise(ref10, 5)
    for extended in (False, True):
        assert stoi(ref10, deg10, 10000, extended) == pytest.approx(
            pystoi.stoi(ref10, deg10, 10000, extended=extended))
    # at 24 kHz our soxr resampling and pystoi's own resampler give nearly the same STOI
    degraded = add_noise(speech, 5)
    assert stoi(speech, degraded, RATE) == pytest.approx(pystoi.stoi(speech, degraded, RATE),
                                                         abs=0.01)


@pytest.mark.parametrize("degrade", [lambda w: add_noise(w, 20), lambda w: add_noise(w, 5),
                                     lambda w: low_pass(w, 1500)], ids=["noise", "loud-noise",
                                                                        "low-pass"])
def test_degradations_make_every_metric_worse(speech, degrade):
    degraded = degrade(speech)
    for metric in SIGNAL_METRICS:
        clean = metric.compute(speech, speech, RATE)
        worse = metric.compute(speech, degraded, RATE)
        assert (worse < clean) if metric.higher_is_better else (worse > clean), metric.name


def test_more_noise_is_worse_than_less_noise(speech):
    for metric in SIGNAL_METRICS:
        mild = metric.compute(speech, add_noise(speech, 25), RATE)
        loud = metric.compute(speech, add_noise(speech, 0), RATE)
        assert (loud < mild) if metric.higher_is_better else (loud > mild), metric.name


def test_time_shift_is_caught_by_si_sdr_and_mel_and_improves_nothing(speech):
    shifted = delay(speech, 48)          # 2 ms
    assert si_sdr(speech, shifted) < si_sdr(speech, speech) - 60
    assert mel_distance(speech, shifted, RATE) > 0.01
    for metric in SIGNAL_METRICS:
        clean = metric.compute(speech, speech, RATE)
        moved = metric.compute(speech, shifted, RATE)
        assert (moved <= clean + 1e-9) if metric.higher_is_better else (moved >= clean), metric.name


def test_si_sdr_is_scale_invariant_and_matches_a_known_snr(speech):
    assert si_sdr(speech, 0.3 * speech) > 80
    rng = np.random.default_rng(0)
    noise = rng.standard_normal(len(speech))
    noise -= noise.mean()
    noise -= speech * np.dot(noise, speech) / np.dot(speech, speech)   # orthogonal to speech
    noise *= np.linalg.norm(speech - speech.mean()) / np.linalg.norm(noise) / 10  # 20 dB
    assert si_sdr(speech, speech + noise) == pytest.approx(20.0, abs=0.1)


def test_f1_score_counts_voiced_frames():
    ref = np.array([1, 1, 1, 1, 0, 0, 0, 0], bool)
    hyp = np.array([1, 1, 0, 0, 1, 0, 0, 0], bool)   # tp 2, ref 4, hyp 3
    assert f1_score(ref, hyp) == pytest.approx(2 * 2 / 7)
    assert f1_score(ref, ref) == 1.0
    with pytest.raises(MetricSkipped, match="no voiced frame"):
        f1_score(np.zeros(8, bool), hyp)


def test_vuv_f1_on_a_voiced_then_unvoiced_signal():
    rng = np.random.default_rng(3)
    tone, hiss = voiced(1.0, RATE, rng), unvoiced(1.0, RATE, rng)
    tone = tone / np.hanning(len(tone)).clip(0.2)               # flatten the envelope
    ref = np.concatenate([tone, hiss])
    assert vuv_f1(ref, ref + 1e-3 * rng.standard_normal(len(ref)), RATE) > 0.95
    # voicing kept only in the first half of the voiced second: F1 = 2 * 0.5 / (1 + 0.5) = 2/3
    half = len(tone) // 2
    half_voiced = np.concatenate([tone[:half], unvoiced(half / RATE, RATE, rng) * 4, hiss])
    assert vuv_f1(ref, half_voiced, RATE) == pytest.approx(2 / 3, abs=0.07)
    assert vuv_f1(ref, np.concatenate([hiss * 4, hiss]), RATE) < 0.2


def test_silent_and_short_references_are_skipped_not_scored():
    silent = score_pair(np.zeros(RATE), np.zeros(RATE), RATE)
    assert silent.values == {} and "silent" in silent.skipped[ALL]
    short = score_pair(np.ones(RATE // 10), np.ones(RATE // 10), RATE)
    assert short.values == {} and "too short" in short.skipped[ALL]


def test_metrics_that_cannot_score_a_short_pair_are_skipped_alone():
    rng = np.random.default_rng(4)
    ref = voiced(0.3, RATE, rng)                       # too few frames for STOI
    scores = score_pair(ref, add_noise(ref, 10), RATE)
    assert "stoi" in scores.skipped and "estoi" in scores.skipped
    assert "si_sdr" in scores.values and "mel_distance" in scores.values


def test_pairs_are_truncated_to_the_shorter_length(speech):
    scores = score_pair(speech, np.concatenate([speech, np.ones(RATE)]), RATE)
    assert scores.values["si_sdr"] > 80
