"""WavLM speaker similarity: a tiny random WavLMForXVector saved like a hub model directory loads
offline and scores (1 for a signal against itself, below 1 against another); a model that is
not on the machine, a directory that does not exist and a WavLM without its x-vector head are
refused with the reason and the remedy."""

import numpy as np
import pytest
import torch

from simvq_audio.metrics import wavlm_speaker
from simvq_audio.metrics.pairs import MetricSkipped
from simvq_audio.metrics.scorers import ScoreInput, ScorerOptions, ScorerUnavailable
from simvq_audio.metrics.synthetic import speech_like

transformers = pytest.importorskip("transformers")

RATE = 24000
# Two float32 x-vectors of one input agree to a relative error d far below 1e-3 (same
# computation, batch rows); the cosine, taken in float64, is then >= 1 - d**2 / 2 > 1 - 5e-7.
SELF_SIMILARITY_TOLERANCE = 1e-6


def tiny_config(**overrides):
    """WavLM with 16-dim hidden states, one layer, a 3-layer conv encoder (hop 20 samples) and a
    2-layer TDNN head with 8-dim x-vectors."""
    settings = dict(hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                    intermediate_size=32, conv_dim=(8, 8, 8), conv_kernel=(10, 3, 3),
                    conv_stride=(5, 2, 2), num_conv_pos_embeddings=16,
                    num_conv_pos_embedding_groups=2, num_buckets=8, max_bucket_distance=16,
                    tdnn_dim=(8, 8), tdnn_kernel=(3, 1), tdnn_dilation=(2, 1),
                    xvector_output_dim=8)
    return transformers.WavLMConfig(**{**settings, **overrides})


def save_feature_extractor(directory):
    transformers.Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=16000, padding_value=0.0,
                                          do_normalize=True,
                                          return_attention_mask=True).save_pretrained(directory)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("wavlm_sv")
    torch.manual_seed(5)
    transformers.WavLMForXVector(tiny_config()).save_pretrained(directory)
    save_feature_extractor(directory)
    return directory


@pytest.fixture
def offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def utterance(seconds, seed):
    return speech_like(seconds, RATE, np.random.default_rng(seed)).astype(np.float64)


def test_loads_a_local_directory_and_scores(model_dir, offline):
    assert (model_dir / "model.safetensors").is_file()
    scorer = wavlm_speaker.load(ScorerOptions(wavlm_model=str(model_dir)))
    assert str(model_dir) in scorer.description
    assert [column.name for column in scorer.columns] == ["spk_sim_wavlm"]
    assert scorer.columns[0].label == "Speaker sim. (WavLM)"
    assert scorer.sample_rate == 16000
    speech = utterance(1.0, 1)
    itself = scorer.score(ScoreInput(ref=speech, hyp=speech.copy(), sample_rate=RATE))
    assert abs(itself["spk_sim_wavlm"] - 1.0) <= SELF_SIMILARITY_TOLERANCE
    other = scorer.score(ScoreInput(ref=speech, hyp=utterance(1.0, 2) * 0.5, sample_rate=RATE))
    assert np.isfinite(other["spk_sim_wavlm"])
    assert -1.0 <= other["spk_sim_wavlm"] < 1.0 - SELF_SIMILARITY_TOLERANCE


def test_similarity_is_the_cosine_of_the_models_embeddings(model_dir, offline):
    scorer = wavlm_speaker.load(ScorerOptions(wavlm_model=str(model_dir)))
    ref, hyp = utterance(0.5, 3), utterance(0.5, 4)
    model = transformers.WavLMForXVector.from_pretrained(model_dir).eval()
    extractor = transformers.AutoFeatureExtractor.from_pretrained(model_dir)
    item = ScoreInput(ref=ref, hyp=hyp, sample_rate=RATE)
    vectors = []
    for wave in item.at(16000):          # each alone: batching must not change the result
        inputs = extractor(wave.astype(np.float32), sampling_rate=16000, return_tensors="pt")
        with torch.no_grad():
            vectors.append(model(input_values=inputs["input_values"]).embeddings[0])
    expected = torch.nn.functional.cosine_similarity(vectors[0], vectors[1], dim=0).item()
    assert scorer.score(item)["spk_sim_wavlm"] == pytest.approx(expected, abs=1e-5)


def test_too_short_is_skipped(model_dir, offline):
    scorer = wavlm_speaker.load(ScorerOptions(wavlm_model=str(model_dir)))
    # conv encoder: 10 + (3 - 1) * 5 + (3 - 1) * 10 = 40-sample frames every 20 samples; TDNN:
    # 2 pooled frames + (3 - 1) * 2 = 6 frames -> (6 - 1) * 20 + 40 = 140 samples
    assert scorer.min_samples == 140
    noise = 0.1 * np.random.default_rng(5).standard_normal(140)
    with pytest.raises(MetricSkipped, match="too short"):
        scorer.score(ScoreInput(ref=noise[:139], hyp=noise[:139], sample_rate=16000))
    enough = noise
    assert np.isfinite(scorer.score(ScoreInput(enough, enough, 16000))["spk_sim_wavlm"])


def test_missing_model_offline_names_it_and_the_remedy(offline):
    missing = "simvq-audio-tests/no-such-wavlm-model"
    with pytest.raises(ScorerUnavailable) as error:
        wavlm_speaker.load(ScorerOptions(wavlm_model=missing, allow_download=True))
    message = str(error.value)
    assert repr(missing) in message
    assert "offline" in message
    assert f"hf download {missing}" in message
    assert "config.json, preprocessor_config.json and model.safetensors" in message


def test_default_model_is_looked_up_offline_by_default(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    from huggingface_hub import try_to_load_from_cache

    if isinstance(try_to_load_from_cache(wavlm_speaker.DEFAULT_MODEL, "config.json"), str):
        pytest.skip(f"{wavlm_speaker.DEFAULT_MODEL} is in this machine's Hugging Face cache")
    with pytest.raises(ScorerUnavailable) as error:
        wavlm_speaker.load(ScorerOptions())
    assert repr(wavlm_speaker.DEFAULT_MODEL) in str(error.value)
    assert "--allow-download" in str(error.value)


def test_missing_directory_is_named(tmp_path, offline):
    with pytest.raises(ScorerUnavailable, match="no such directory"):
        wavlm_speaker.load(ScorerOptions(wavlm_model=str(tmp_path / "absent")))


def test_wavlm_without_xvector_head_is_refused(tmp_path, offline):
    transformers.WavLMModel(tiny_config()).save_pretrained(tmp_path)
    save_feature_extractor(tmp_path)
    with pytest.raises(ScorerUnavailable, match="no trained x-vector head.*projector.weight"):
        wavlm_speaker.load(ScorerOptions(wavlm_model=str(tmp_path)))


def test_without_transformers_names_the_extra(monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "transformers", None)
    with pytest.raises(ScorerUnavailable, match=r"pip install 'simvq-audio\[paper-eval\]'"):
        wavlm_speaker.load(ScorerOptions())
