"""Image autoencoder: shapes, the shared quantizer and search, input errors, config errors."""

import dataclasses

import pytest
import torch

import simvq_audio.quantize.base as quantizer_base
from simvq_audio.codec.config import load_config as load_audio_config
from simvq_audio.codec.model import CodecModel
from simvq_audio.errors import UserInputError
from simvq_audio.image.config import (
    ImageLossConfig,
    ImageModelConfig,
    config_from_dict,
    load_config,
)
from simvq_audio.image.discriminator import PatchDiscriminator
from simvq_audio.image.losses import ImageGeneratorLoss, PerceptualLossUnavailable
from simvq_audio.image.model import ImageAutoencoder
from simvq_audio.quantize import SimVQ, VanillaVQ
from simvq_audio.quantize.factory import QuantizerConfig
from simvq_audio.quantize.search import nearest_code

from repo_paths import RECIPES

MICRO = ImageModelConfig(resolution=16, channels=8, channel_mult=[1, 2], res_blocks=1,
                         attention=True, quantizer=QuantizerConfig(num_codes=64, dim=8))


@pytest.mark.parametrize("name,num_codes", [("image_1k", 1024), ("image_8k", 8192),
                                            ("image_65k", 65536), ("image_262k", 262144),
                                            ("image_tiny", 1024)])
def test_recipes_load(name, num_codes):
    config = load_config(RECIPES / f"{name}.yaml")
    assert config.model.quantizer.num_codes == num_codes
    if name != "image_tiny":
        assert (config.model.resolution, config.model.quantizer.dim) == (128, 128)
        assert config.model.token_grid == (16, 16)


def test_shapes_of_every_part():
    model = ImageAutoencoder.from_hparams(MICRO)
    images = torch.rand(2, 3, 16, 24) * 2 - 1  # not square: any multiple of the downsampling
    assert model.encoder(images).shape == (2, 8, 8, 12)
    reconstruction, tokens, loss, stats = model(images)
    assert reconstruction.shape == images.shape
    assert tokens.shape == (2, 8, 12) and tokens.dtype == torch.int64
    assert loss.dim() == 0 and set(stats) == {"perplexity", "used_codes"}
    assert model.decode(tokens).shape == images.shape
    logits = PatchDiscriminator(channels=8, layers=2)(images)
    assert logits.shape[:2] == (2, 1) and logits.dim() == 4


def test_paper_model_gives_16x16_tokens_for_128x128():
    config = load_config(RECIPES / "image_65k.yaml").model
    config = dataclasses.replace(config, channels=8, quantizer=QuantizerConfig(num_codes=16,
                                                                               dim=128))
    with torch.no_grad():
        model = ImageAutoencoder.from_hparams(config)
        assert model.encode(torch.zeros(1, 3, 128, 128)).shape == (1, 16, 16)


def test_image_and_audio_models_share_quantizer_class_and_search(monkeypatch):
    calls = []

    def counting_search(*args, **kwargs):
        calls.append(args[0].shape)
        return nearest_code(*args, **kwargs)

    monkeypatch.setattr(quantizer_base, "nearest_code", counting_search)
    image_model = ImageAutoencoder.from_hparams(MICRO)
    audio_model = CodecModel.from_hparams(load_audio_config(RECIPES / "tiny.yaml").model)
    assert type(image_model.quantizer) is type(audio_model.quantizer) is SimVQ
    with torch.no_grad():
        image_model.encode(torch.zeros(1, 3, 16, 16))
        audio_model.encode(torch.zeros(1, 640))
    audio_dim = audio_model.quantizer.dim
    assert calls == [(64, 8), (2, audio_dim)]  # 8x8 image tokens of d 8; 2 audio frames
    vanilla = dataclasses.replace(MICRO, quantizer=QuantizerConfig("vanilla", 64, 8))
    assert type(ImageAutoencoder.from_hparams(vanilla).quantizer) is VanillaVQ


def test_decoding_ids_goes_through_the_simvq_linear_map():
    model = ImageAutoencoder.from_hparams(MICRO).eval()
    tokens = torch.tensor([[[3, 5], [7, 9]]])
    with torch.no_grad():
        before = model.decode(tokens)
        model.quantizer.linear.weight.mul_(2)
        assert not torch.allclose(model.decode(tokens), before)


@pytest.mark.parametrize("images,message", [
    (torch.zeros(1, 1, 16, 16), r"\[B, 3, H, W\] \(3 channels\)"),
    (torch.zeros(1, 4, 16, 16), "3 channels"),
    (torch.zeros(3, 16, 16), r"\[B, 3, H, W\]"),
    (torch.zeros(1, 3, 17, 16), "multiples of 2"),
    (torch.zeros(1, 3, 16, 0), "multiples of 2"),
    (torch.zeros(1, 3, 16, 16, dtype=torch.uint8), "floating-point"),
    ("not a tensor", "floating-point"),
])
def test_wrong_images_are_refused(images, message):
    with pytest.raises(UserInputError, match=message):
        ImageAutoencoder.from_hparams(MICRO).encode(images)


def test_wrong_tokens_are_refused():
    model = ImageAutoencoder.from_hparams(MICRO)
    with pytest.raises(UserInputError, match=r"\[B, h, w\]"):
        model.decode(torch.zeros(4, 4, dtype=torch.long))
    with pytest.raises(UserInputError, match=r"\[0, 64\)"):
        model.decode(torch.full((1, 2, 2), 64))


@pytest.mark.parametrize("data,message", [
    ({"model": {"resolution": 100}}, "multiple of the downsampling 8"),
    ({"model": {"channel_mult": []}}, "channel_mult"),
    ({"model": {"colour": 3}}, "unknown key 'model.colour'"),
    ({"train": {"betas": [0.5]}}, "two values"),
    ({"loss": {"l1_weight": "big"}}, "'loss.l1_weight' must be a number"),
])
def test_config_errors_name_the_key(data, message):
    with pytest.raises(UserInputError, match=message):
        config_from_dict(data)


def test_perceptual_weights_are_refused_clearly(tmp_path):
    config = ImageLossConfig(perceptual_weights=str(tmp_path / "lpips.safetensors"))
    with pytest.raises(PerceptualLossUnavailable, match="not implemented") as caught:
        ImageGeneratorLoss.from_hparams(config)
    assert isinstance(caught.value, NotImplementedError)
    assert isinstance(caught.value, UserInputError)
