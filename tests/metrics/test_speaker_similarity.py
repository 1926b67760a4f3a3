"""Speaker similarity scorer: preprocessing and embeddings equal Resemblyzer's, 1 for a signal
with itself, lower for another synthetic speaker than for another sentence of the same one;
skipped when too short; unavailable with a reason when resemblyzer is missing."""

import importlib.util
import sys
import types
import warnings

import numpy as np
import pytest
import torch

from simvq_audio.metrics import speaker_similarity
from simvq_audio.metrics.pairs import MetricSkipped
from simvq_audio.metrics.scorers import ScoreInput, ScorerOptions, ScorerUnavailable
from simvq_audio.metrics.synthetic import speech_like

from score_helpers import hide_module

RATE = speaker_similarity.ENCODER_RATE

# The encoder's inputs agree to float32 rounding (the package computes its mel spectrogram in
# float32, we in float64: 2e-7 relative, measured), and a float32 LSTM with saturating gates
# does not amplify an input error beyond its own rounding over 160 steps and 3 layers (~1e-6 at
# most); the unit embeddings differ by at most 1.5e-7 per component (measured). 1e-5 on the L2
# norm of the difference leaves a margin of 10x over the estimate; a partial utterance shifted
# by one frame moves the embedding by 2e-2. A cosine moves by at most the sum of its two
# vectors' errors.
EMBEDDING_TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def scorer():
    return speaker_similarity.load(ScorerOptions())


@pytest.fixture(scope="module")
def resemblyzer():
    """The package, importable even where its webrtcvad wrapper's ``import pkg_resources``
    fails (setuptools >= 81 no longer ships it): a stub stands in for that import only."""
    with pytest.MonkeyPatch.context() as patch:
        if importlib.util.find_spec("pkg_resources") is None:
            stub = types.ModuleType("pkg_resources")
            stub.get_distribution = lambda name: types.SimpleNamespace(version="unknown")
            patch.setitem(sys.modules, "pkg_resources", stub)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)   # scipy.ndimage.morphology
            package = pytest.importorskip("resemblyzer")
            pytest.importorskip("webrtcvad")
    return package


def with_pause(seed):
    """~9 s: speech, 1.5 s of silence, speech (the pause is trimmed to 6 VAD windows)."""
    rng = np.random.default_rng(seed)
    return np.concatenate([speech_like(3.0, RATE, rng), np.zeros(int(1.5 * RATE), np.float32),
                           speech_like(4.5, RATE, rng)])


@pytest.mark.parametrize("wav", [speech_like(2.5, RATE, np.random.default_rng(1)),
                                 with_pause(2)], ids=["2.5s", "pause"])
def test_embedding_equals_resemblyzer(scorer, resemblyzer, wav):
    theirs = resemblyzer.preprocess_wav(wav, source_sr=RATE)
    ours = speaker_similarity.preprocess(wav)
    assert len(ours) == len(theirs)                 # same VAD decisions, same trimming
    np.testing.assert_allclose(ours, theirs, rtol=1e-6)
    encoder = resemblyzer.VoiceEncoder("cpu", verbose=False)
    expected = encoder.embed_utterance(theirs)
    (embedding,) = scorer.embedder.embed([wav])
    assert np.linalg.norm(embedding - expected) < EMBEDDING_TOLERANCE


def test_trimming_removes_the_pause():
    wav = with_pause(2)
    trimmed = speaker_similarity.preprocess(wav)
    removed = (len(wav) - len(trimmed)) / RATE
    # 1.5 s of silence less the widening on both sides and the majority vote's reach
    assert 0.9 < removed < 1.5


def test_score_at_another_rate_equals_resemblyzer(scorer, resemblyzer):
    ref = speech_like(3.0, 24000, np.random.default_rng(3)).astype(np.float64)
    hyp = ref + 0.02 * np.random.default_rng(4).standard_normal(len(ref))
    encoder = resemblyzer.VoiceEncoder("cpu", verbose=False)
    expected_ref, expected_hyp = (encoder.embed_utterance(resemblyzer.preprocess_wav(
        wav, source_sr=24000)).astype(np.float64) for wav in (ref, hyp))
    expected = expected_ref @ expected_hyp / (np.linalg.norm(expected_ref)
                                              * np.linalg.norm(expected_hyp))
    value = scorer.score(ScoreInput(ref, hyp, 24000))["spk_sim"]
    assert value == pytest.approx(expected, abs=2 * EMBEDDING_TOLERANCE)
    assert value < 0.999                                         # the noise did change it


def test_same_signal_gives_one_and_another_speaker_less(scorer):
    assert [(column.name, column.label, column.higher_is_better) for column in scorer.columns
            ] == [("spk_sim", "Speaker sim. (Resemblyzer)", True)]
    assert "resemblyzer" in scorer.description
    speaker = speech_like(3.0, RATE, np.random.default_rng(5)).astype(np.float64)
    same_speaker = speech_like(3.0, RATE, np.random.default_rng(6)).astype(np.float64)
    # another speaker: speech made at 10 kHz played at 16 kHz (pitch and formants x1.6)
    other_speaker = speech_like(4.8, 10000, np.random.default_rng(7)).astype(np.float64)
    # two identical signals: identical partials, identical embeddings up to float32 rounding
    assert scorer.score(ScoreInput(speaker, speaker, RATE))["spk_sim"] == pytest.approx(
        1.0, abs=1e-6)
    same = scorer.score(ScoreInput(speaker, same_speaker, RATE))["spk_sim"]
    other = scorer.score(ScoreInput(speaker, other_speaker, RATE))["spk_sim"]
    assert other < same - 0.1


def test_too_short_is_skipped(scorer):
    speech = speech_like(3.0, RATE, np.random.default_rng(8)).astype(np.float64)
    short = np.concatenate([speech[:RATE], np.zeros(2 * RATE)])      # 1 s of speech, 2 s pause
    with pytest.raises(MetricSkipped, match=r"hypothesis too short for speaker_similarity: "
                                            r"1\.\d\d s after silence trimming < 1\.2 s"):
        scorer.score(ScoreInput(speech, short, RATE))
    with pytest.raises(MetricSkipped, match="silent signal"):
        scorer.score(ScoreInput(np.zeros(3 * RATE), speech, RATE))


def test_weights_are_loaded_without_executing_pickle_code(monkeypatch):
    calls = []
    load = torch.load
    monkeypatch.setattr(torch, "load", lambda *args, **kwargs: calls.append(kwargs) or load(
        *args, **kwargs))
    speaker_similarity.load_encoder(speaker_similarity.weights_path())
    assert calls == [{"map_location": "cpu", "weights_only": True}]


def test_unavailable_without_resemblyzer(monkeypatch):
    with monkeypatch.context() as patch:
        hide_module(patch, "resemblyzer")
        with pytest.raises(ScorerUnavailable, match=r"resemblyzer is not installed.*pip install "
                                                    r"--no-deps resemblyzer==0.1.4"):
            speaker_similarity.load(ScorerOptions())
    hide_module(monkeypatch, "_webrtcvad")
    with pytest.raises(ScorerUnavailable, match="webrtcvad is not installed"):
        speaker_similarity.load(ScorerOptions())
