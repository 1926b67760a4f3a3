"""PocketSphinx WER on real English speech (tests/fixtures/speech/: a LibriVox reader and a CMU
speaker): low on the clean recordings, high on noisy and low-passed copies; decodes do not depend
on each other; non-English utterances are skipped."""

import numpy as np
import pytest
import soundfile

from simvq_audio.metrics.asr import corpus_error_rates
from simvq_audio.metrics.pairs import MetricSkipped, at_rate
from simvq_audio.metrics.scorers import ScoreInput, ScorerOptions
from simvq_audio.metrics.sphinx_asr import SphinxRecognizer, load

from repo_paths import FIXTURES

pytest.importorskip("pocketsphinx")

SPEECH = FIXTURES / "speech"
RATE = 16000
CLEAN_WER_BOUND = 0.25     # measured: 1/8 (librivox_0930: "the amiable"), 0/9 (cards_005)
DEGRADED_WER_FLOOR = 0.5   # measured: 0.76-1.0 at 10 dB SNR, 1.0 below 1 kHz


def recordings() -> dict[str, tuple[np.ndarray, str]]:
    """utt_id -> (waveform [T] float64 at 16 kHz, transcript)."""
    texts = dict(line.split(" ", 1) for line in (SPEECH / "text").read_text().splitlines())
    speech = {}
    for utt_id, text in sorted(texts.items()):
        wav, rate = soundfile.read(SPEECH / f"{utt_id}.wav")
        assert rate == RATE
        speech[utt_id] = wav, text
    return speech


def white_noise(wav: np.ndarray, snr_db: float) -> np.ndarray:
    noise = np.random.default_rng(0).standard_normal(len(wav))
    return wav + noise * np.sqrt(np.mean(wav ** 2) / np.mean(noise ** 2)) / 10 ** (snr_db / 20)


def low_pass(wav: np.ndarray, cutoff_hz: float) -> np.ndarray:
    spectrum = np.fft.rfft(wav)
    spectrum[np.fft.rfftfreq(len(wav), 1 / RATE) > cutoff_hz] = 0
    return np.fft.irfft(spectrum, len(wav))


@pytest.fixture(scope="module")
def scorer():
    return load(ScorerOptions())


@pytest.fixture(scope="module")
def speech():
    return recordings()


def test_describes_the_model(scorer):
    assert scorer.name == "sphinx_asr"
    assert "PocketSphinx 5." in scorer.description and "en-us" in scorer.description
    assert [column.name for column in scorer.columns][:2] == ["wer_sphinx", "cer_sphinx"]
    assert scorer.columns[0].label == "WER (PocketSphinx, en)"


def test_clean_speech_is_recognised(scorer, speech):
    rows = []
    for wav, text in speech.values():
        # the codec pipeline's rate: resampled to 16 kHz inside the scorer
        wav24k = at_rate(wav, RATE, 24000)
        rows.append(scorer.score(ScoreInput(wav24k, wav24k, 24000, text=text)))
    for row in rows:
        assert row["wer_sphinx"] <= CLEAN_WER_BOUND, row
        assert row["ref_wer_sphinx"] == row["wer_sphinx"]          # the same audio twice
        assert row["sphinx_transcript"] == row["sphinx_ref_transcript"]
    assert corpus_error_rates(rows, "sphinx")["wer_sphinx"] <= 0.1   # 1 error in 17 words


@pytest.mark.parametrize("degrade", [lambda wav: white_noise(wav, 10.0),
                                     lambda wav: low_pass(wav, 1000.0)],
                         ids=["noise_10dB", "low_pass_1kHz"])
def test_degraded_speech_has_higher_wer(scorer, speech, degrade):
    for utt_id, (wav, text) in speech.items():
        row = scorer.score(ScoreInput(wav, degrade(wav), RATE, text=text))
        assert row["wer_sphinx"] >= DEGRADED_WER_FLOOR, (utt_id, row["sphinx_transcript"])
        assert row["wer_sphinx"] > row["ref_wer_sphinx"]
        assert row["cer_sphinx"] > row["ref_cer_sphinx"]


def test_without_transcript_the_reference_audio_is_the_reference(scorer, speech):
    wav, _ = speech["librivox_0930"]
    same = scorer.score(ScoreInput(wav, wav.copy(), RATE))
    assert same["wer_sphinx"] == 0.0 and same["sphinx_reference_kind"] == "audio"
    assert same["sphinx_reference"].startswith("he might even have been made")
    noisy = scorer.score(ScoreInput(wav, white_noise(wav, 10.0), RATE))
    assert noisy["wer_sphinx"] >= DEGRADED_WER_FLOOR


def test_decodes_are_independent(speech):
    (first, _), (second, _) = speech.values()
    fresh = SphinxRecognizer()(second.astype(np.float32))
    used = SphinxRecognizer()
    used(first.astype(np.float32))                  # another speaker and channel before
    assert used(second.astype(np.float32)) == fresh


def test_other_languages_are_skipped(scorer, speech):
    wav, _ = speech["cards_005"]
    with pytest.raises(MetricSkipped, match="PocketSphinx has no fr model"):
        scorer.score(ScoreInput(wav, wav, RATE, text="huit de pique", language="fr"))
