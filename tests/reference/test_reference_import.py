"""``import-reference`` against the SimVQ authors' own code: the fixture in tests/fixtures/reference
was made with it (see its README.md); the imported model must reproduce its ids on every frame,
its latents, its audio and its commitment loss."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from simvq_audio import model_dir as model_dir_module
from simvq_audio.cli import main
from simvq_audio.codec import SimVQCodec
from simvq_audio.errors import UserInputError
from simvq_audio.reference import import_reference_checkpoint
from simvq_audio.reference.safe_pickle import load_checkpoint

from repo_paths import FIXTURES

DATA = FIXTURES / "reference"
FIXTURE = DATA / "simvq_small.ckpt"
TAGS = ["24000", "24123"]
EXPECTED = dict(np.load(DATA / "expected.npz"))
IDS_DECODE = dict(np.load(DATA / "expected_ids_decode.npz"))


class AttributeDict(dict):
    """Like Lightning's: a dict subclass, which the reader keeps as an inert record."""


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    return import_reference_checkpoint(FIXTURE, tmp_path_factory.mktemp("import") / "model")


@pytest.fixture(scope="module")
def codec(model_dir) -> SimVQCodec:
    return SimVQCodec.from_pretrained(model_dir)


@pytest.fixture(scope="module")
def reference_state() -> dict[str, torch.Tensor]:
    return load_checkpoint(FIXTURE)["state_dict"]


def read_input(tag: str) -> np.ndarray:
    wav, rate = sf.read(DATA / f"input_{tag}.wav", dtype="float32")
    assert rate == 24000 and wav.shape == (int(tag),)
    return wav


def assert_audio_close(ours: np.ndarray, theirs: np.ndarray) -> None:
    """Within 1e-5 of the reference's peak, over ``ours``'s length."""
    theirs = theirs.reshape(-1)[:ours.size]
    error = np.abs(ours.reshape(-1) - theirs).max() / np.abs(theirs).max()
    assert error <= 1e-5, error


# -- parity with the authors' code ---------------------------------------------------------------
@pytest.mark.parametrize("tag", TAGS)
def test_ids_equal_the_reference_on_every_frame(codec, tag):
    tokens = codec.encode(read_input(tag), 24000)
    expected = EXPECTED[f"{tag}.ids"]
    assert tokens.ids.shape == (1, expected.size)
    assert np.array_equal(tokens.ids[0].numpy(), expected)


@pytest.mark.parametrize("tag", TAGS)
def test_latents_match_the_reference(codec, tag):
    with torch.inference_mode():
        z = codec.model.encoder(torch.from_numpy(read_input(tag))[None])
    expected = EXPECTED[f"{tag}.latents"]
    assert z.shape == expected.shape
    assert np.abs(z.numpy() - expected).max() <= 1e-5 * np.abs(expected).max()


@pytest.mark.parametrize("tag", TAGS)
def test_decoded_audio_matches_the_reference(codec, tag):
    wav = read_input(tag)
    decoded = codec.decode(codec.encode(wav, 24000))
    assert decoded.shape == (1, wav.size)  # ours is trimmed; theirs is 320 * T' long
    assert_audio_close(decoded.numpy(), EXPECTED[f"{tag}.decoded"])


@pytest.mark.parametrize("tag", TAGS)
def test_decoding_ids_alone_matches_the_reference(codec, tag):
    ids = IDS_DECODE[f"{tag}.ids"]
    decoded = codec.decode(torch.tensor(ids))
    assert decoded.shape == (ids.size * 320,)
    assert_audio_close(decoded.numpy(), IDS_DECODE[f"{tag}.decoded"])


@pytest.mark.parametrize("tag", TAGS)
def test_quantizer_matches_the_reference_on_its_latents(codec, tag):
    """Ids, quantized vectors and commitment loss of the reference latents (no encoder)."""
    with torch.inference_mode():
        q, ids, loss, _ = codec.model.quantizer(torch.from_numpy(EXPECTED[f"{tag}.latents"]))
    assert np.array_equal(ids[0].numpy(), EXPECTED[f"{tag}.ids"])
    assert np.abs(q.numpy() - EXPECTED[f"{tag}.quantized"]).max() <= 1e-5
    assert loss.item() == pytest.approx(float(EXPECTED[f"{tag}.commit_loss"]), rel=1e-4)


def test_raw_weights_give_one_token(tmp_path, capsys, reference_state):
    out = tmp_path / "raw"
    assert main(["import-reference", str(FIXTURE), str(out), "--raw"]) == 0
    raw = SimVQCodec.from_pretrained(out)
    for tag in TAGS:
        tokens = raw.encode(read_input(tag), 24000).ids
        assert tokens.unique().numel() == 1
    linear = raw.model.quantizer.linear.weight
    assert torch.equal(linear, reference_state["quantize.embedding_proj.weight"])
    assert json.loads((out / "config.json").read_text())["training"]["weights"] == "raw"
    assert "raw weights" in capsys.readouterr().err


# -- what the conversion does --------------------------------------------------------------------
def test_sizes_are_derived_from_the_shapes(codec):
    config = codec.config
    assert config.sample_rate == 24000 and config.hop_length == 320
    encoder, quantizer, decoder = config.encoder, config.quantizer, config.decoder
    assert (encoder.channels, encoder.strides, encoder.kernel_size, encoder.last_kernel_size,
            encoder.residual_kernel_size, encoder.residual_units, encoder.lstm_layers,
            encoder.padding) == (4, [2, 4, 5, 8], 7, 7, 3, 1, 2, "reflect")
    assert (quantizer.type, quantizer.num_codes, quantizer.dim, quantizer.beta,
            quantizer.bias) == ("simvq", 1024, 64, 0.25, True)
    assert (decoder.dim, decoder.intermediate_dim, decoder.num_layers, decoder.resnet_blocks,
            decoder.attention, decoder.dropout, decoder.n_fft) == (96, 288, 2, 4, True, 0.1, 1280)


def test_ema_weights_are_taken_and_qkv_fused(codec, reference_state):
    ours = codec.model.state_dict()
    ema = {name: reference_state[f"model_ema.{name.replace('.', '')}"] for name in (
        "backbone.pos_net.2.q.weight", "backbone.pos_net.2.k.weight", "backbone.pos_net.2.v.weight",
        "backbone.pos_net.2.q.bias", "backbone.pos_net.2.k.bias", "backbone.pos_net.2.v.bias",
        "encoder.model.12.conv.conv.weight_g", "encoder.model.13.lstm.weight_hh_l1",
        "backbone.pos_net.4.conv2.weight", "backbone.convnext.1.pwconv2.weight")}
    prefix = "backbone.pos_net.2"
    for part in ("weight", "bias"):
        fused = torch.cat([ema[f"{prefix}.{x}.{part}"] for x in "qkv"])
        assert torch.equal(ours[f"decoder.backbone.context.2.qkv.{part}"], fused)
    pairs = {"encoder.downsample.12.conv.parametrizations.weight.original0":
             "encoder.model.12.conv.conv.weight_g",
             "encoder.lstm.lstm.weight_hh_l1": "encoder.model.13.lstm.weight_hh_l1",
             "decoder.backbone.context.4.block.6.weight": "backbone.pos_net.4.conv2.weight",
             "decoder.backbone.convnext.1.mlp.2.weight": "backbone.convnext.1.pwconv2.weight"}
    for our_name, their_name in pairs.items():
        assert torch.equal(ours[our_name], ema[their_name])
        assert not torch.equal(ours[our_name], reference_state[their_name])
    assert torch.equal(ours["quantizer.codebook"], reference_state["quantize.embedding.weight"])


def test_the_reference_parts_fill_our_parts_of_the_same_names(codec, reference_state):
    """Reached by name in our model, not by state-dict name: a part renamed or moved in code
    still receives the reference tensor it stands for."""
    encoder, backbone = codec.model.encoder, codec.model.decoder.backbone
    weight = "parametrizations.weight.original1"
    pairs = {
        "encoder.model.1.block.1.conv.conv.weight_v":
            encoder.downsample[1].block.dilated_conv.conv.get_parameter(weight),
        "encoder.model.10.block.3.conv.conv.weight_v":
            encoder.downsample[10].block.pointwise_conv.conv.get_parameter(weight),
        "encoder.model.15.conv.conv.weight_v": encoder.project.conv.conv.get_parameter(weight),
        **{f"backbone.pos_net.4.{part}.weight": getattr(backbone.context[4].block, part).weight
           for part in ("norm1", "conv1", "norm2", "conv2")},
        **{f"backbone.convnext.1.{part}.bias": getattr(backbone.convnext[1].mlp, part).bias
           for part in ("pwconv1", "pwconv2")}}
    for their_name, ours in pairs.items():
        ema = reference_state[f"model_ema.{their_name.replace('.', '')}"]
        assert torch.equal(ours, ema), their_name


def test_imported_weights_keep_their_hashes(model_dir, codec):
    """The weights' digest and the model hash of the authors' checkpoint as imported before the
    parts had names: state-dict names, dtypes, shapes and bytes all unchanged."""
    config = json.loads((model_dir / "config.json").read_text())
    assert config["weights_sha256"] == ("d2173a06af1333f55988ab2a1f3a77a0"
                                        "a48a7c2026c179594eda02686c2d83d7")
    assert codec.model_hash == "4f1f5dd75ccc95b6c31c18852e7a6708"


def test_model_card_and_config(model_dir):
    card = (model_dir / "README.md").read_text()
    digest = hashlib.sha256(FIXTURE.read_bytes()).hexdigest()
    for text in ("simvq_small.ckpt", digest, "weights: EMA", "epoch 49", "global step 138600",
                 "github youngsheen/SimVQ", "zyx123/SimVQ", "licence", "K = 1024",
                 "strides [2, 4, 5, 8]", "n_fft 1280", "SimVQCodec.from_pretrained",
                 "24000 Hz (hyper_parameters.sample_rate)"):
        assert text in card, text
    config = json.loads((model_dir / "config.json").read_text())
    assert set(config) == {"modality", "model", "training", "weights_sha256"}
    assert config["modality"] == "audio"
    assert config["training"]["sha256"] == digest
    assert config["model"]["encoder"]["padding"] == "reflect"
    assert sorted(p.name for p in model_dir.iterdir()) == ["README.md", "config.json",
                                                           "model.safetensors"]
    assert not [p for p in model_dir.parent.iterdir() if p.name.startswith(".")]


# -- output directory ----------------------------------------------------------------------------
def test_existing_model_needs_overwrite(tmp_path, capsys):
    """The output policy: the same import again replaces its own output; other weights (here
    the raw ones of the same checkpoint) or files of another model need --overwrite."""
    out = tmp_path / "model"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    import_reference_checkpoint(FIXTURE, out)  # a directory without a model is fine
    assert main(["import-reference", str(FIXTURE), str(out)]) == 0
    capsys.readouterr()
    code = main(["import-reference", str(FIXTURE), str(out), "--raw"])
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "--overwrite" in lines[0]
    assert main(["import-reference", str(FIXTURE), str(out), "--overwrite", "--raw"]) == 0
    assert json.loads((out / "config.json").read_text())["training"]["weights"] == "raw"
    assert (out / "notes.txt").read_text() == "mine"


def test_a_failed_write_leaves_nothing(tmp_path, monkeypatch):
    def broken_save(tensors, path, **kwargs):
        Path(path).write_bytes(b"partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(model_dir_module, "save_file", broken_save)
    out = tmp_path / "new" / "deeper" / "model"
    with pytest.raises(UserInputError, match="cannot write .*No space left on device"):
        import_reference_checkpoint(FIXTURE, out)
    assert list(tmp_path.iterdir()) == []
    existing = tmp_path / "existing"
    existing.mkdir()
    with pytest.raises(UserInputError):
        import_reference_checkpoint(FIXTURE, existing)
    assert list(existing.iterdir()) == []
    assert list(tmp_path.iterdir()) == [existing]


# -- bad checkpoints: one line, exit 2, nothing written ------------------------------------------
def _edited_checkpoint(path: Path, edit) -> Path:
    root = load_checkpoint(FIXTURE)
    root["hyper_parameters"] = {"sample_rate": 24000}  # the inert DictConfig cannot be re-saved
    edit(root)
    torch.save(root, path)
    return path


def _text_file(path: Path) -> Path:
    path.write_text("hello")
    return path


def _drop(*names):
    def edit(root):
        for name in names:
            del root["state_dict"][name]
    return edit


def _replace(name, tensor):
    def edit(root):
        root["state_dict"][name] = tensor
    return edit


BAD = {
    "missing file": (lambda tmp: tmp / "nowhere.ckpt", "does not exist"),
    "not a checkpoint": (lambda tmp: _text_file(tmp / "x.ckpt"), "is not a torch checkpoint"),
    "no state_dict": (lambda tmp: _edited_checkpoint(tmp / "c.ckpt", lambda r: r.pop("state_dict")),
                      "has no 'state_dict'"),
    "missing tensor": (lambda tmp: _edited_checkpoint(
        tmp / "c.ckpt", _drop("backbone.convnext.1.gamma", "model_ema.backboneconvnext1gamma")),
        r"not filled \(1\): decoder.backbone.convnext.1.gamma"),
    "missing EMA copy": (lambda tmp: _edited_checkpoint(
        tmp / "c.ckpt", _drop("model_ema.headoutbias")),
        r"tensors without an EMA copy \(1\): head.out.bias"),
    "missing codebook": (lambda tmp: _edited_checkpoint(
        tmp / "c.ckpt", _drop("quantize.embedding.weight")), "has no quantize.embedding.weight"),
    "unknown tensor": (lambda tmp: _edited_checkpoint(
        tmp / "c.ckpt", _replace("backbone.extra.weight", torch.zeros(3))),
        r"does not know \(1\): backbone.extra.weight"),
    "residual unit layer we lack": (lambda tmp: _edited_checkpoint(
        tmp / "c.ckpt", _replace("encoder.model.1.block.2.conv.conv.weight_v", torch.zeros(3))),
        r"does not know \(1\): encoder.model.1.block.2.conv.conv.weight_v"),
    "weights on the ELU after the LSTM": (lambda tmp: _edited_checkpoint(
        tmp / "c.ckpt", _replace("encoder.model.14.weight", torch.zeros(3))),
        r"does not know \(1\): encoder.model.14.weight"),
    "wrong shape": (lambda tmp: _edited_checkpoint(
        tmp / "c.ckpt", lambda r: (_replace("backbone.convnext.1.pwconv1.weight",
                                            torch.zeros(100, 96))(r),
                                   _replace("model_ema.backboneconvnext1pwconv1weight",
                                            torch.zeros(100, 96))(r))),
        r"do not have the shapes .*decoder.backbone.convnext.1.mlp.0.weight \(checkpoint "
        r"\[100, 96\], model \[288, 96\]\)"),
    "EMA shape differs": (lambda tmp: _edited_checkpoint(
        tmp / "c.ckpt", _replace("model_ema.headoutbias", torch.zeros(5))),
        r"EMA copies shaped unlike their tensor \(1\): model_ema.headoutbias \[5\] vs \[1282\]"),
    "no EMA at all": (lambda tmp: _edited_checkpoint(tmp / "c.ckpt", lambda r: [
        r["state_dict"].pop(k) for k in list(r["state_dict"]) if k.startswith("model_ema.")]),
        "holds no EMA weights"),
    "integer weights": (lambda tmp: _edited_checkpoint(
        tmp / "c.ckpt", lambda r: [_replace(k, torch.zeros(1282, dtype=torch.int32))(r)
                                   for k in ("head.out.bias", "model_ema.headoutbias")]),
        "model_ema.headoutbias is torch.int32"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_checkpoint_is_one_line(case, tmp_path, capsys):
    make, message = BAD[case]
    ckpt = make(tmp_path)
    out = tmp_path / "out" / "model"
    code = main(["import-reference", str(ckpt), str(out)])
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(lines) == 1, lines
    assert lines[0].startswith("simvq-audio: error: ")
    assert re.search(message, lines[0]), lines[0]
    assert not out.parent.exists()


def test_non_causal_reference_is_refused(tmp_path):
    ckpt = _edited_checkpoint(tmp_path / "c.ckpt", lambda r: r["hyper_parameters"].update(
        ddconfig={"causal": False}))
    with pytest.raises(UserInputError, match=r"non-causal encoder \(ddconfig.causal = False\)"):
        import_reference_checkpoint(ckpt, tmp_path / "model")


def test_sample_rate_comes_from_the_hyper_parameters(tmp_path):
    absent = _edited_checkpoint(tmp_path / "a.ckpt", lambda r: r.pop("hyper_parameters"))
    card = (import_reference_checkpoint(absent, tmp_path / "a") / "README.md").read_text()
    assert "24000 Hz (not in the checkpoint; the reference's 24000 Hz assumed)" in card
    hparams = AttributeDict(sample_rate=16000, quantconfig={"params": {"beta": 0.5}})
    other = _edited_checkpoint(tmp_path / "b.ckpt", lambda r: r.update(hyper_parameters=hparams))
    config = SimVQCodec.from_pretrained(import_reference_checkpoint(other, tmp_path / "b")).config
    assert (config.sample_rate, config.quantizer.beta) == (16000, 0.5)
