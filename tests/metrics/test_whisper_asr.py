"""Whisper scorer on a tiny hand-set checkpoint (no trained weights here): the checkpoint is read
safely and drives the transcript, names resolve to the package's cache files, and a missing or
unsafe file makes the scorer unavailable with the reason."""

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from simvq_audio.metrics.pairs import MetricSkipped
from simvq_audio.metrics.scorers import ScoreInput, ScorerOptions, ScorerUnavailable
from simvq_audio.metrics.whisper_asr import WhisperRecognizer, cached_checkpoint, load

whisper_model = pytest.importorskip("whisper.model")
tokenizer = pytest.importorskip("whisper.tokenizer")

RATE = 16000
N_VOCAB = 51865          # the multilingual vocabulary (99 languages)
STATE = 32
WORD = " hello"


def parrot_dims(n_vocab: int = N_VOCAB) -> "whisper_model.ModelDimensions":
    # n_audio_ctx is fixed by the 30 s window (3000 mel frames, stride 2); n_text_ctx 32 leaves
    # room for the 4 start tokens and the 16 sampled ones.
    return whisper_model.ModelDimensions(
        n_mels=80, n_audio_ctx=1500, n_audio_state=STATE, n_audio_head=2, n_audio_layer=1,
        n_vocab=n_vocab, n_text_ctx=32, n_text_state=STATE, n_text_head=2, n_text_layer=1)


def parrot_model() -> "whisper_model.Whisper":
    """A Whisper whose decoder answers every audio with WORD then end-of-text: its blocks add
    nothing to the residual stream, so each position's output is LayerNorm(its token's
    embedding) and the logits follow a bigram table set in the token embeddings:
    <|notimestamps|> -> WORD -> <|endoftext|>."""
    model = whisper_model.Whisper(parrot_dims())
    words = tokenizer.get_tokenizer(True, num_languages=model.num_languages, language="en",
                                    task="transcribe")
    (word,) = words.encode(WORD)
    with torch.no_grad():
        for block in model.decoder.blocks:
            for layer in (block.attn.out, block.cross_attn.out, block.mlp[2]):
                layer.weight.zero_()
                layer.bias.zero_()
        model.decoder.positional_embedding.zero_()
        embedding = model.decoder.token_embedding.weight
        embedding.zero_()
        axis = torch.eye(STATE)
        start, second = axis[0] - axis[1], axis[2] - axis[3]   # zero mean: LayerNorm scales only
        embedding[words.no_timestamps] = start
        embedding[word] = second + 2 * start     # after <|notimestamps|>: logit 16 > 8 (itself)
        embedding[words.eot] = 10 * second       # after WORD: logit ~36 > ~18 (WORD again)
    return model


def save_checkpoint(model, path, dtype=torch.float32) -> None:
    """The published layout (whose weights are float16: ``dtype``)."""
    state = {name: tensor.to(dtype) for name, tensor in model.state_dict().items()}
    torch.save({"dims": dataclasses.asdict(model.dims), "model_state_dict": state}, path)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("whisper") / "parrot.pt"
    save_checkpoint(parrot_model(), path, torch.float16)    # its values are exact in float16
    return path


def speech_item(text=None, language="en", seconds=1.5):
    rng = np.random.default_rng(0)
    ref = 0.1 * rng.standard_normal(int(seconds * 24000))
    return ScoreInput(ref, 0.5 * ref, 24000, text=text, language=language)


def test_transcript_comes_from_the_checkpoint(checkpoint):
    scorer = load(ScorerOptions(whisper_model=str(checkpoint)))
    assert scorer.name == "whisper_asr"
    assert [column.name for column in scorer.columns][:2] == ["wer_whisper", "cer_whisper"]
    assert scorer.columns[0].label == "WER (Whisper parrot)"
    assert "greedy" in scorer.description and str(checkpoint) in scorer.description

    values = scorer.score(speech_item(text="Hello, world!"))
    assert values["whisper_transcript"] == WORD.strip()
    assert values["whisper_ref_transcript"] == WORD.strip()
    assert values["wer_whisper"] == 0.5 and values["ref_wer_whisper"] == 0.5
    assert values["cer_whisper"] == 0.5                   # "hello" of "helloworld"
    assert all(math.isfinite(values[column.name]) for column in scorer.columns)
    assert values["whisper_words"] == 2 and values["whisper_word_errors"] == 1

    # without a transcript the reference audio's transcript is the reference
    values = scorer.score(speech_item(language="de"))
    assert values["wer_whisper"] == 0.0 and values["whisper_reference_kind"] == "audio"


def test_random_weights_do_not_say_the_word(tmp_path):
    # the parrot's word comes from its weights: a randomly initialised checkpoint says other
    path = tmp_path / "random.pt"
    torch.manual_seed(0)
    save_checkpoint(whisper_model.Whisper(parrot_dims()), path)
    values = load(ScorerOptions(whisper_model=str(path))).score(speech_item(text="hello"))
    assert isinstance(values["whisper_transcript"], str)
    assert values["whisper_transcript"].strip().lower() != WORD.strip()
    assert math.isfinite(values["wer_whisper"]) and values["wer_whisper"] > 0


def test_languages_follow_the_vocabulary(checkpoint):
    scorer = load(ScorerOptions(whisper_model=str(checkpoint)))
    with pytest.raises(MetricSkipped, match="Whisper parrot has no tlh model"):
        scorer.score(speech_item(text="hello", language="tlh"))
    multilingual = WhisperRecognizer(whisper_model.Whisper(parrot_dims()))
    assert {"en", "de", "fr", "zh"} <= set(multilingual.languages)
    english_only = WhisperRecognizer(whisper_model.Whisper(parrot_dims(N_VOCAB - 1)))
    assert english_only.languages == ["en"]


def test_missing_checkpoint_names_the_file(tmp_path, monkeypatch):
    missing = tmp_path / "nowhere" / "model.pt"
    with pytest.raises(ScorerUnavailable, match=f"{missing} not found"):
        load(ScorerOptions(whisper_model=str(missing)))

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    with pytest.raises(ScorerUnavailable) as error:
        load(ScorerOptions())                                   # the default: large-v3
    assert str(tmp_path / "cache" / "whisper" / "large-v3.pt") in str(error.value)
    assert "--allow-download" in str(error.value)
    assert cached_checkpoint("turbo") == tmp_path / "cache" / "whisper" / "large-v3-turbo.pt"
    assert cached_checkpoint("my-finetune").name == "my-finetune.pt"


def test_model_name_found_in_the_cache(checkpoint, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    (tmp_path / "whisper").mkdir()
    (tmp_path / "whisper" / "tiny.pt").write_bytes(checkpoint.read_bytes())
    scorer = load(ScorerOptions(whisper_model="tiny"))
    assert scorer.columns[0].label == "WER (Whisper tiny)"
    assert scorer.score(speech_item(text="hello"))["wer_whisper"] == 0.0


def test_download_only_when_allowed(checkpoint, tmp_path, monkeypatch):
    import whisper

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    fetched = []

    def fake_download(url, root, in_memory):
        fetched.append(url)
        target = tmp_path / "whisper" / url.rsplit("/", 1)[-1]
        target.parent.mkdir(exist_ok=True)
        target.write_bytes(checkpoint.read_bytes())
        return str(target)

    monkeypatch.setattr(whisper, "_download", fake_download)
    with pytest.raises(ScorerUnavailable):
        load(ScorerOptions(whisper_model="base"))
    assert fetched == []
    scorer = load(ScorerOptions(whisper_model="base", allow_download=True))
    assert fetched == [whisper._MODELS["base"]]
    assert scorer.score(speech_item(text="hello"))["whisper_transcript"] == WORD.strip()
    with pytest.raises(ScorerUnavailable, match="no model named"):
        load(ScorerOptions(whisper_model="no-such-model", allow_download=True))


class TouchOnLoad:
    """Pickled as a call to ``Path.touch(marker)``: a full unpickler runs it, weights_only not."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return Path.touch, (self.marker,)


def test_pickled_code_is_not_run(tmp_path):
    path, marker = tmp_path / "unsafe.pt", tmp_path / "code-ran"
    model = parrot_model()
    torch.save({"dims": dataclasses.asdict(model.dims), "model_state_dict": model.state_dict(),
                "extra": TouchOnLoad(marker)}, path)
    with pytest.raises(ScorerUnavailable, match="not a readable openai-whisper checkpoint"):
        load(ScorerOptions(whisper_model=str(path)))
    assert not marker.exists()
    not_a_checkpoint = tmp_path / "notes.pt"
    not_a_checkpoint.write_bytes(b"not a checkpoint")
    with pytest.raises(ScorerUnavailable, match="not a readable"):
        load(ScorerOptions(whisper_model=str(not_a_checkpoint)))
