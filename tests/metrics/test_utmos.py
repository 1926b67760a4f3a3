"""UTMOS scorer: the module's state dict has exactly the keys and shapes of tarepan/SpeechMOS's
UTMOS22 strong checkpoint; a random-weight checkpoint under the real file name is found in the
torch hub cache (or at an explicit path, or after an allowed download) and scores an utterance
with the file's weights; missing, foreign and code-carrying files are refused with the reason.

Numeric parity with the real weights is not tested here (they cannot be downloaded on CI)."""

import os
import shutil

import numpy as np
import pytest
import torch
from torch import nn

from simvq_audio.metrics import utmos
from simvq_audio.metrics.pairs import MetricSkipped, at_rate
from simvq_audio.metrics.scorers import ScoreInput, ScorerOptions, ScorerUnavailable
from simvq_audio.metrics.synthetic import speech_like
from simvq_audio.metrics.wav2vec2 import (
    TransformerLayer,
    WeightNormConv1d,
    num_frames,
    receptive_field,
)

RATE = 24000


def speechmos_shapes() -> dict[str, tuple[int, ...]]:
    """The state dict of tarepan/SpeechMOS's ``UTMOS22Strong`` (v1.2.0, commit
    ed25eacbfa42b99156c36ebec67a733b5dbb9b79; modules unchanged since v1.0.0, commit
    272eb8f7aab1c5396bdf3413dd71e415b4f780d8, which published utmos22_strong_step7459_v1.pt),
    written out from its speechmos/utmos22/strong/model.py and speechmos/utmos22/fairseq_alt.py:
    225 tensors."""
    shapes = {"domain_emb": (1, 128), "judge_emb": (1, 128), "wav2vec2.mask_emb": (768,)}
    # feature encoder: Sequential(Conv1d(bias=False), Dropout, [GroupNorm in block 0], GELU)
    kernels = [10, 3, 3, 3, 3, 2, 2]
    for block, kernel in enumerate(kernels):
        shapes[f"wav2vec2.feature_extractor.conv_layers.{block}.0.weight"] = (
            512, 1 if block == 0 else 512, kernel)
    shapes["wav2vec2.feature_extractor.conv_layers.0.2.weight"] = (512,)
    shapes["wav2vec2.feature_extractor.conv_layers.0.2.bias"] = (512,)
    shapes.update({"wav2vec2.layer_norm.weight": (512,), "wav2vec2.layer_norm.bias": (512,),
                   "wav2vec2.post_extract_proj.weight": (768, 512),
                   "wav2vec2.post_extract_proj.bias": (768,)})
    # nn.utils.weight_norm(Conv1d(768, 768, 128, groups=16), name="weight", dim=2)
    shapes.update({"wav2vec2.encoder.pos_conv.0.weight_g": (1, 1, 128),
                   "wav2vec2.encoder.pos_conv.0.weight_v": (768, 48, 128),
                   "wav2vec2.encoder.pos_conv.0.bias": (768,),
                   "wav2vec2.encoder.layer_norm.weight": (768,),
                   "wav2vec2.encoder.layer_norm.bias": (768,)})
    for layer in range(12):
        prefix = f"wav2vec2.encoder.layers.{layer}."
        for projection in ("q_proj", "k_proj", "v_proj", "out_proj"):
            shapes[prefix + f"self_attn.{projection}.weight"] = (768, 768)
            shapes[prefix + f"self_attn.{projection}.bias"] = (768,)
        shapes.update({prefix + "fc1.weight": (3072, 768), prefix + "fc1.bias": (3072,),
                       prefix + "fc2.weight": (768, 3072), prefix + "fc2.bias": (768,)})
        for norm in ("self_attn_layer_norm", "final_layer_norm"):
            shapes[prefix + f"{norm}.weight"] = (768,)
            shapes[prefix + f"{norm}.bias"] = (768,)
    # nn.LSTM(768 + 128 + 128, 512, bidirectional=True)
    for suffix in ("l0", "l0_reverse"):
        shapes.update({f"blstm.weight_ih_{suffix}": (2048, 1024),
                       f"blstm.weight_hh_{suffix}": (2048, 512),
                       f"blstm.bias_ih_{suffix}": (2048,), f"blstm.bias_hh_{suffix}": (2048,)})
    # Sequential(Linear(1024, 2048), ReLU, Linear(2048, 1))
    shapes.update({"projection.0.weight": (2048, 1024), "projection.0.bias": (2048,),
                   "projection.2.weight": (1, 2048), "projection.2.bias": (1,)})
    return shapes


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A random-weight state dict saved under the real name in a torch home's hub cache."""
    torch.manual_seed(1)
    path = (tmp_path_factory.mktemp("torch_home") / "hub" / "checkpoints"
            / utmos.CHECKPOINT_NAME)
    path.parent.mkdir(parents=True)
    torch.save(utmos.UTMOS22Strong().state_dict(), path)
    return path


@pytest.fixture
def no_download(monkeypatch):
    """Fail the test if anything tries to download."""
    def refuse(*args, **kwargs):
        raise AssertionError("download attempted")
    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)


@pytest.fixture
def empty_torch_home(tmp_path, monkeypatch, no_download):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty_torch_home"))
    return tmp_path / "empty_torch_home"


def utterance(seconds=1.0):
    ref = speech_like(seconds, RATE, np.random.default_rng(2)).astype(np.float64)
    hyp = ref + 0.02 * np.random.default_rng(3).standard_normal(len(ref))
    return ScoreInput(ref=ref, hyp=hyp, sample_rate=RATE)


def cheap_state(shapes):
    """A state dict with these shapes that costs nothing to save (stride-0 views of a scalar)."""
    return {name: torch.zeros(()).expand(shape) for name, shape in shapes.items()}


def test_state_dict_matches_speechmos_checkpoint():
    with torch.device("meta"):
        model = utmos.UTMOS22Strong()
    ours = {name: tuple(tensor.shape) for name, tensor in model.state_dict().items()}
    theirs = speechmos_shapes()
    assert len(theirs) == 225
    assert ours == theirs


def test_weight_norm_conv_matches_torch_weight_norm():
    """weight_g/weight_v mean what torch.nn.utils.weight_norm(dim=2) stored in the file."""
    ours = WeightNormConv1d(8, 4, groups=2)
    reference = nn.utils.parametrizations.weight_norm(
        nn.Conv1d(8, 8, 4, padding=2, groups=2), name="weight", dim=2)
    with torch.no_grad():
        ours.weight_g.uniform_(0.5, 2.0)
        ours.bias.normal_()
        reference.parametrizations.weight.original0.copy_(ours.weight_g)
        reference.parametrizations.weight.original1.copy_(ours.weight_v)
        reference.bias.copy_(ours.bias)
        x = torch.randn(2, 8, 11)
        torch.testing.assert_close(ours.weight(), reference.weight)
        torch.testing.assert_close(ours(x), reference(x))


def test_transformer_layer_is_torchs_post_norm_gelu_layer():
    """fairseq's layer_norm_first=False layer is torch's norm_first=False layer with GELU."""
    ours = TransformerLayer(dim=16, ffn_dim=24, num_heads=4).eval()
    reference = nn.TransformerEncoderLayer(16, 4, dim_feedforward=24, dropout=0.0,
                                           activation="gelu", batch_first=True).eval()
    attention = ours.self_attn
    with torch.no_grad():
        for norm in (ours.self_attn_layer_norm, ours.final_layer_norm):
            norm.weight.uniform_(0.5, 1.5)
            norm.bias.normal_()
        reference.self_attn.in_proj_weight.copy_(torch.cat(
            [attention.q_proj.weight, attention.k_proj.weight, attention.v_proj.weight]))
        reference.self_attn.in_proj_bias.copy_(torch.cat(
            [attention.q_proj.bias, attention.k_proj.bias, attention.v_proj.bias]))
        reference.self_attn.out_proj.load_state_dict(attention.out_proj.state_dict())
        reference.linear1.load_state_dict(ours.fc1.state_dict())
        reference.linear2.load_state_dict(ours.fc2.state_dict())
        reference.norm1.load_state_dict(ours.self_attn_layer_norm.state_dict())
        reference.norm2.load_state_dict(ours.final_layer_norm.state_dict())
        x = torch.randn(2, 7, 16)
        torch.testing.assert_close(ours(x), reference(x))


def test_frames_and_mos_scale(checkpoint):
    """49 frames per second of 16 kHz audio (400-sample window, 320-sample hop); the MOS is
    2 * (mean frame score) + 3."""
    assert receptive_field() == 400
    assert num_frames(16000) == 49
    model = utmos.load_model(checkpoint)
    with torch.no_grad():
        assert model.wav2vec2(torch.zeros(1, 16000)).shape == (1, 49, 768)
        model.projection[2].weight.zero_()
        model.projection[2].bias.fill_(0.25)
        torch.testing.assert_close(model(0.1 * torch.randn(2, 8000)), torch.full((2,), 3.5))


def test_loads_from_torch_home_and_scores_with_the_files_weights(checkpoint, monkeypatch,
                                                                  no_download):
    monkeypatch.setenv("TORCH_HOME", str(checkpoint.parents[2]))
    assert utmos.default_checkpoint() == checkpoint
    scorer = utmos.load(ScorerOptions())
    assert str(checkpoint) in scorer.description
    assert [column.name for column in scorer.columns] == ["utmos", "ref_utmos"]
    assert all(column.higher_is_better for column in scorer.columns)
    item = utterance()
    values = scorer.score(item)
    assert set(values) == {"utmos", "ref_utmos"}
    assert all(np.isfinite(value) for value in values.values())
    # the same numbers from a module that loads the file the ordinary way: the scorer runs the
    # file's weights (not left random or on the meta device), on the 16 kHz signal
    expected = utmos.UTMOS22Strong().eval()
    expected.load_state_dict(torch.load(checkpoint, weights_only=True), strict=True)
    ref16, hyp16 = (torch.from_numpy(at_rate(wave, RATE, 16000)).float()[None]
                    for wave in (item.ref, item.hyp))
    with torch.no_grad():
        assert values["utmos"] == pytest.approx(expected(hyp16).item(), rel=1e-5)
        assert values["ref_utmos"] == pytest.approx(expected(ref16).item(), rel=1e-5)
    assert values["utmos"] != values["ref_utmos"]


def test_explicit_checkpoint_path(checkpoint, tmp_path, empty_torch_home):
    elsewhere = tmp_path / "weights" / "my_utmos.pt"
    elsewhere.parent.mkdir()
    os.symlink(checkpoint, elsewhere)
    scorer = utmos.load(ScorerOptions(utmos_checkpoint=str(elsewhere)))
    assert str(elsewhere) in scorer.description
    assert np.isfinite(scorer.score(utterance(0.5))["utmos"])


def test_missing_checkpoint_names_the_path_and_the_file_to_get(empty_torch_home):
    expected = empty_torch_home / "hub" / "checkpoints" / utmos.CHECKPOINT_NAME
    with pytest.raises(ScorerUnavailable) as error:
        utmos.load(ScorerOptions())
    assert str(expected) in str(error.value)
    assert utmos.CHECKPOINT_URL in str(error.value)
    with pytest.raises(ScorerUnavailable, match="/nowhere/utmos.pt.*no such file"):
        utmos.load(ScorerOptions(utmos_checkpoint="/nowhere/utmos.pt"))


def test_download_only_when_allowed(checkpoint, empty_torch_home, monkeypatch):
    calls = []

    def fake_download(url, destination, progress=True):
        calls.append((url, destination))
        shutil.copyfile(checkpoint, destination)

    monkeypatch.setattr(torch.hub, "download_url_to_file", fake_download)
    with pytest.raises(ScorerUnavailable):
        utmos.load(ScorerOptions())
    assert calls == []
    scorer = utmos.load(ScorerOptions(allow_download=True))
    target = empty_torch_home / "hub" / "checkpoints" / utmos.CHECKPOINT_NAME
    assert calls == [(utmos.CHECKPOINT_URL, str(target))]
    assert np.isfinite(scorer.score(utterance(0.5))["utmos"])


def test_wrong_keys_and_shapes_are_named(tmp_path, no_download):
    shapes = speechmos_shapes()
    renamed = cheap_state(shapes)
    renamed["lstm.weight_ih_l0"] = renamed.pop("blstm.weight_ih_l0")
    torch.save(renamed, tmp_path / "renamed.pt")
    with pytest.raises(ScorerUnavailable) as error:
        utmos.load(ScorerOptions(utmos_checkpoint=str(tmp_path / "renamed.pt")))
    message = str(error.value)
    assert "missing keys: blstm.weight_ih_l0" in message
    assert "unexpected keys: lstm.weight_ih_l0" in message

    misshapen = cheap_state({**shapes, "projection.0.weight": (1024, 1024)})
    torch.save(misshapen, tmp_path / "misshapen.pt")
    with pytest.raises(ScorerUnavailable,
                       match=r"projection\.0\.weight \(1024, 1024\) \(expected \(2048, 1024\)\)"):
        utmos.load(ScorerOptions(utmos_checkpoint=str(tmp_path / "misshapen.pt")))

    wrapped = {"state_dict": cheap_state(shapes), "epoch": 3}     # a trainer's checkpoint
    torch.save(wrapped, tmp_path / "wrapped.pt")
    with pytest.raises(ScorerUnavailable, match="not a state dict"):
        utmos.load(ScorerOptions(utmos_checkpoint=str(tmp_path / "wrapped.pt")))


CALLED = []


def record_call(note):
    CALLED.append(note)
    return note


class RunsCodeWhenUnpickled:
    def __reduce__(self):
        return record_call, ("unpickling ran code",)


def test_a_file_that_would_run_code_is_refused_without_running_it(tmp_path, no_download):
    torch.save({"domain_emb": torch.zeros(1, 128), "payload": RunsCodeWhenUnpickled()},
               tmp_path / "code.pt")
    with pytest.raises(ScorerUnavailable, match="weights_only"):
        utmos.load(ScorerOptions(utmos_checkpoint=str(tmp_path / "code.pt")))
    assert CALLED == []
    (tmp_path / "garbage.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ScorerUnavailable, match="garbage.pt"):
        utmos.load(ScorerOptions(utmos_checkpoint=str(tmp_path / "garbage.pt")))


def test_too_short_is_skipped(checkpoint):
    scorer = utmos.UtmosScorer(utmos.load_model(checkpoint), checkpoint)
    short = np.zeros(utmos.MIN_SAMPLES - 1)
    with pytest.raises(MetricSkipped, match="too short"):
        scorer.score(ScoreInput(ref=short, hyp=short, sample_rate=16000))
    just_enough = 0.1 * np.random.default_rng(4).standard_normal(utmos.MIN_SAMPLES)
    assert np.isfinite(scorer.score(ScoreInput(just_enough, just_enough, 16000))["utmos"])
