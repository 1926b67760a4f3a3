"""CodecModel, encoder and decoder: shapes, hop alignment, causality, ISTFT round trip."""


import pytest
import torch

from simvq_audio.codec.config import config_from_dict, load_config
from simvq_audio.codec.istft import InverseSTFT, stft_same
from simvq_audio.codec.model import CodecModel
from simvq_audio.errors import UserInputError

from repo_paths import RECIPES


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return CodecModel.from_hparams(load_config(RECIPES / "tiny.yaml").model).eval()


@pytest.mark.parametrize("length", [1, 319, 320, 321, 1001])
def test_forward_shapes_for_odd_lengths(tiny, length):
    wav = torch.randn(2, length) * 0.1
    with torch.no_grad():
        wav_hat, tokens, loss, stats = tiny(wav)
    frames = -(-length // 320)
    assert wav_hat.shape == (2, length)
    assert tokens.shape == (2, frames) and tokens.dtype == torch.int64
    assert loss.dim() == 0 and torch.isfinite(loss)
    assert "perplexity" in stats


def test_encode_decode_paths_agree_with_forward(tiny):
    wav = torch.randn(2, 1000) * 0.1
    with torch.no_grad():
        wav_hat, tokens, _, _ = tiny(wav)
        assert torch.equal(tiny.encode(wav), tokens)
        decoded = tiny.decode_tokens(tokens)
    assert decoded.shape == (2, tokens.shape[1] * 320)
    torch.testing.assert_close(decoded[:, :1000], wav_hat)


def test_decode_maps_ids_through_the_linear_layer(tiny):
    tokens = torch.tensor([[3, 7, 7, 1]])
    with torch.no_grad():
        before = tiny.decode_tokens(tokens)
        tiny.quantizer.linear.weight.mul_(2)
        after = tiny.decode_tokens(tokens)
        tiny.quantizer.linear.weight.div_(2)
    assert not torch.allclose(before, after)


def test_encoder_frames_align_with_the_hop(tiny):
    for frames in (1, 3):
        z = tiny.encoder(torch.randn(1, frames * 320))
        assert z.shape == (1, tiny.encoder.dim, frames)
    assert tiny.encoder(torch.randn(1, 321)).shape == (1, tiny.encoder.dim, 2)  # partial frame
    with pytest.raises(UserInputError, match="multiple of 320"):
        tiny.encoder.stream(torch.randn(1, 321), None, final=False)


@pytest.mark.parametrize("padding,t", [("zeros", 4), ("reflect", 9)])
def test_encoder_is_causal(padding, t):
    """With zeros every frame is causal; with the reference's reflection, every frame from
    ``start_samples`` on (7 frames) is."""
    data = {"encoder": {"channels": 8, "lstm_layers": 1, "padding": padding},
            "quantizer": {"num_codes": 64, "dim": 16}}
    encoder = CodecModel.from_hparams(config_from_dict({"model": data}).model).encoder.eval()
    wav = torch.randn(1, 12 * 320) * 0.1
    changed = wav.clone()
    changed[:, (t + 1) * 320:] = torch.randn(1, wav.shape[1] - (t + 1) * 320)
    with torch.no_grad():
        z, z_changed = encoder(wav), encoder(changed)
    torch.testing.assert_close(z[..., :t + 1], z_changed[..., :t + 1], rtol=0, atol=0)
    assert not torch.allclose(z[..., t + 1:], z_changed[..., t + 1:])
    # the last sample of frame t's window does reach frame t
    edge = wav.clone()
    edge[:, (t + 1) * 320 - 1] += 1.0
    with torch.no_grad():
        assert not torch.allclose(encoder(edge)[..., t], z[..., t])


@pytest.mark.parametrize("n_fft,hop", [(1280, 320), (16, 4), (12, 6)])
def test_inverse_stft_reconstructs_its_own_stft(n_fft, hop):
    wav = torch.randn(3, 20 * hop, dtype=torch.float64)
    window = torch.hann_window(n_fft, dtype=torch.float64)
    spec = stft_same(wav, n_fft, hop, window)
    assert spec.shape == (3, n_fft // 2 + 1, 20)
    istft = InverseSTFT(n_fft, hop).double()
    torch.testing.assert_close(istft(spec), wav)


def test_generator_rejects_bad_input(tiny):
    with pytest.raises(UserInputError, match=r"\[B, T\]"):
        tiny.encode(torch.randn(100))
    with pytest.raises(UserInputError, match="empty"):
        tiny.encode(torch.zeros(1, 0))
    with pytest.raises(UserInputError, match=r"\[0, 1024\)"):
        tiny.decode_tokens(torch.tensor([[5, 1024]]))


def test_vanilla_quantizer_is_selected_by_config():
    config = config_from_dict({"model": {
        "quantizer": {"type": "vanilla", "num_codes": 16, "dim": 8},
        "encoder": {"channels": 2, "lstm_layers": 1},
        "decoder": {"dim": 8, "intermediate_dim": 8, "num_layers": 1, "resnet_blocks": 0}}})
    generator = CodecModel.from_hparams(config.model)
    assert type(generator.quantizer).__name__ == "VanillaVQ"
    assert isinstance(generator.quantizer.codebook, torch.nn.Parameter)
