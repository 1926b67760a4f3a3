"""ONNX export (slow): the encoder gives the torch tokens, the decoder (paper or causal) the torch
waveform."""

import numpy as np
import pytest
import torch

from simvq_audio.cli import main
from simvq_audio.codec import SimVQCodec

from repo_paths import TINY_CAUSAL_RECIPE, TINY_RECIPE


@pytest.mark.slow
@pytest.mark.parametrize("recipe", [TINY_RECIPE, TINY_CAUSAL_RECIPE], ids=["paper", "causal"])
def test_onnx_encoder_and_decoder_match_torch(tmp_path, capsys, recipe):
    onnxruntime = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    codec = SimVQCodec.from_config(recipe)
    codec.save_pretrained(tmp_path / "model")
    assert main(["export", "--model", str(tmp_path / "model"), "--onnx", str(tmp_path / "onnx")]
                ) == 0
    assert "0 of 450 tokens differ" in capsys.readouterr().err
    wav = torch.randn(1, 24000 + 320) * 0.1  # whole frames: both paddings agree with torch
    tokens = codec.encode(wav, 24000).ids
    encoder = onnxruntime.InferenceSession(str(tmp_path / "onnx" / "encoder.onnx"))
    assert np.array_equal(encoder.run(None, {"wav": wav.numpy()})[0], tokens.numpy())
    decoder = onnxruntime.InferenceSession(str(tmp_path / "onnx" / "decoder.onnx"))
    audio = decoder.run(None, {"tokens": tokens.numpy()})[0]
    np.testing.assert_allclose(audio, codec.decode(tokens).numpy(), atol=1e-4)


@pytest.mark.slow
def test_onnx_export_of_a_plain_vq_model_leaves_the_codec_alone(tmp_path, monkeypatch):
    """A VanillaVQ codec exports too (its codes are the learned codebook), and exporting does
    not move the caller's codec to another device (it works on a CPU copy)."""
    onnxruntime = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    from simvq_audio.codec.config import load_config
    from simvq_audio.codec.onnx_export import export_onnx

    model = load_config(TINY_RECIPE).model
    model.quantizer.type = "vanilla"
    model.quantizer.code_fit = "gradient"  # tiny.yaml's moments fit is SimVQ's
    codec = SimVQCodec.from_config(model)
    moved, cpu = [], torch.nn.Module.cpu
    monkeypatch.setattr(torch.nn.Module, "cpu",
                        lambda self: moved.append(self is codec.model) or cpu(self))
    results = export_onnx(codec, tmp_path / "onnx")
    assert moved and not any(moved)  # a copy went to the CPU, never the caller's generator
    assert [path.name for path, _ in results] == ["encoder.onnx", "decoder.onnx"]
    tokens = torch.randint(0, codec.codebook_size, (1, 30))
    decoder = onnxruntime.InferenceSession(str(tmp_path / "onnx" / "decoder.onnx"))
    audio = decoder.run(None, {"tokens": tokens.numpy()})[0]
    np.testing.assert_allclose(audio, codec.decode(tokens).numpy(), atol=1e-4)
