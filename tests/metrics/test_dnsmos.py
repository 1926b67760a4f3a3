"""DNSMOS scorer: equal to ``speechmos.dnsmos.run`` on short (repeated), one-window and
multi-window audio (with the reference implementation's dropped window), lower for a noisy
hypothesis than for its clean reference, unavailable with a reason when speechmos is missing."""

import importlib.util
from types import SimpleNamespace

import numpy as np
import pytest

from simvq_audio.metrics import dnsmos
from simvq_audio.metrics.scorers import ScoreInput, ScorerOptions, ScorerUnavailable
from simvq_audio.metrics.synthetic import speech_like

from score_helpers import hide_module

RATE = dnsmos.DNSMOS_RATE

# Both sides feed the ONNX models the same float32 samples (P.835) or features that differ only
# by float32 rounding (P.808: speechmos' librosa works in the input's float32, we in float64),
# about 1e-7 relative; the models carry that through to ~1e-7 of the scores (measured: at most
# 3e-7 absolute on values of 1-4). 1e-5 relative leaves a 30x margin; a wrong window count, a
# wrong window or a wrong fit moves a score by 1e-2 or more.
RELATIVE_TOLERANCE = 1e-5
SPEECHMOS_KEYS = {"sig": "sig_mos", "bak": "bak_mos", "ovrl": "ovrl_mos", "p808": "p808_mos"}


@pytest.fixture(scope="module")
def scorer():
    return dnsmos.load(ScorerOptions())


def noise(seconds, seed=0):
    return 0.1 * np.random.default_rng(seed).standard_normal(int(seconds * RATE))


def test_windows_follow_the_reference_implementation():
    # 3.1 s is doubled twice (12.4 s: 3 windows), not tiled to 9.3 s (1 window)
    short = speech_like(3.1, RATE, np.random.default_rng(0))
    assert len(dnsmos.repeat_to_window(short)) == 4 * len(short)
    assert dnsmos.window_starts(4 * len(short)) == [0, 16000, 32000]
    # 17.5 s: 8 windows counted, the 8th (index 7) ends one sample short in float and is dropped
    assert dnsmos.window_starts(int(17.5 * RATE)) == [index * RATE for index in range(7)]
    assert dnsmos.window_starts(dnsmos.WINDOW_SAMPLES) == [0]


@pytest.mark.parametrize("seconds, signal", [(3.1, "speech"), (9.5, "noise"), (17.5, "speech")])
def test_scores_equal_speechmos(scorer, seconds, signal):
    speechmos_dnsmos = pytest.importorskip("speechmos.dnsmos")
    wav = (speech_like(seconds, RATE, np.random.default_rng(1)) if signal == "speech"
           else noise(seconds))                      # float32 speech, float64 noise
    ours = scorer.model.scores(wav)
    theirs = speechmos_dnsmos.run(wav, RATE)
    for name, key in SPEECHMOS_KEYS.items():
        assert ours[name] == pytest.approx(float(theirs[key]), rel=RELATIVE_TOLERANCE), name


def test_noisy_hypothesis_scores_below_its_clean_reference(scorer):
    assert [column.name for column in scorer.columns] == [
        "dnsmos_sig", "dnsmos_bak", "dnsmos_ovrl", "dnsmos_p808",
        "ref_dnsmos_sig", "ref_dnsmos_bak", "ref_dnsmos_ovrl", "ref_dnsmos_p808"]
    assert {column.label for column in scorer.columns} >= {"DNSMOS OVRL", "DNSMOS OVRL (ref)"}
    assert all(column.higher_is_better for column in scorer.columns)
    assert "speechmos" in scorer.description
    # at 24 kHz: both signals go through the 16 kHz resampling of ScoreInput
    clean = speech_like(2.5, 24000, np.random.default_rng(2)).astype(np.float64)
    noisy = clean + 0.05 * np.random.default_rng(3).standard_normal(len(clean))   # ~5 dB SNR
    values = scorer.score(ScoreInput(clean, noisy, 24000))
    assert set(values) == {column.name for column in scorer.columns}
    assert values["dnsmos_ovrl"] < values["ref_dnsmos_ovrl"] - 0.3
    assert values["dnsmos_bak"] < values["ref_dnsmos_bak"] - 0.5


def test_overshooting_signal_is_scored_as_is(scorer):
    wav = 4 * speech_like(2.5, RATE, np.random.default_rng(4))        # peak ~1.2
    assert np.max(np.abs(wav)) > 1
    values = scorer.model.scores(wav)
    assert all(np.isfinite(value) and 1 <= value <= 5 for value in values.values())


def test_unavailable_without_speechmos(monkeypatch, tmp_path):
    find_spec = importlib.util.find_spec
    with monkeypatch.context() as patch:
        hide_module(patch, "speechmos")
        with pytest.raises(ScorerUnavailable, match=r"speechmos is not installed.*pip install "
                                                    r"'simvq-audio\[eval\]'"):
            dnsmos.load(ScorerOptions())
    # a speechmos without its models
    (tmp_path / "__init__.py").write_text("")
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *args: SimpleNamespace(
        origin=str(tmp_path / "__init__.py")) if name == "speechmos" else find_spec(name))
    with pytest.raises(ScorerUnavailable, match="sig_bak_ovr.onnx: DNSMOS model missing"):
        dnsmos.load(ScorerOptions())


def test_unavailable_without_onnxruntime(monkeypatch):
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *args: None if name == "onnxruntime" else find_spec(name))
    with pytest.raises(ScorerUnavailable, match="onnxruntime is not installed"):
        dnsmos.load(ScorerOptions())
