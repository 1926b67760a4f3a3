"""Discriminators, losses and one adversarial training step of the tiny codec."""

from pathlib import Path

import pytest
import torch

from simvq_audio.audio.discriminators import build_discriminators
from simvq_audio.audio.generator import Generator
from simvq_audio.audio.losses import (GeneratorLoss, MultiResolutionMelLoss,
                                      discriminator_loss, feature_matching_loss,
                                      generator_adversarial_loss)
from simvq_audio.config import DiscriminatorsConfig, load_config
from simvq_audio.errors import UserInputError

RECIPES = Path(__file__).resolve().parents[1] / "recipes"


@pytest.fixture(scope="module")
def config():
    return load_config(RECIPES / "tiny.yaml")


@pytest.mark.parametrize("family,count", [("multi_period", 3), ("multi_resolution", 2),
                                          ("multi_band", 2)])
def test_each_discriminator_returns_logits_and_features(config, family, count):
    only = DiscriminatorsConfig(**{name: getattr(config.discriminators, name) if name == family
                                   else None for name in ("multi_period", "multi_resolution",
                                                          "multi_band")})
    discriminator = build_discriminators(only)
    assert list(discriminator.families) == [family]
    logits, features = discriminator(torch.randn(3, 4001))
    assert len(logits) == len(features) == count
    for scores, maps in zip(logits, features):
        assert scores.dim() == 2 and scores.shape[0] == 3
        assert len(maps) >= 5 and all(m.shape[0] == 3 for m in maps)


def test_no_discriminator_is_an_error():
    with pytest.raises(UserInputError, match="no discriminator"):
        build_discriminators(DiscriminatorsConfig(None, None, None))


def test_gan_losses_reward_the_right_side():
    good = [torch.full((2, 5), 1.0)]
    bad = [torch.full((2, 5), -1.0)]
    for kind in ("hinge", "lsgan"):
        assert discriminator_loss(good, bad if kind == "hinge" else [torch.zeros(2, 5)],
                                  kind) == 0
        assert discriminator_loss(bad, good, kind) > 1
        assert generator_adversarial_loss(good, kind) == 0
        assert generator_adversarial_loss(bad, kind) > 0
    with pytest.raises(UserInputError, match="GAN loss"):
        generator_adversarial_loss(good, "wgan")


def test_feature_matching_and_mel_loss_vanish_only_for_equal_inputs():
    real = [[torch.ones(2, 3), torch.zeros(2, 4)]]
    assert feature_matching_loss(real, real) == 0
    assert feature_matching_loss(real, [[torch.zeros(2, 3), torch.zeros(2, 4)]]) == 1
    mel = MultiResolutionMelLoss(16000, [(256, 64, 32), (512, 128, 40)])
    wav = torch.randn(2, 4000)
    assert mel(wav, wav) == 0
    assert mel(wav * 0.5, wav) > 0.1


def test_one_training_step_updates_w_but_not_c(config):
    generator = Generator(config.model)
    discriminator = build_discriminators(config.discriminators)
    criterion = GeneratorLoss(config.loss, config.model.sample_rate, config.train.gan_loss)
    opt_g = torch.optim.Adam(generator.parameters(), lr=1e-3)
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=1e-3)
    codebook = generator.quantizer.codebook.clone()
    weight = generator.quantizer.linear.weight.detach().clone()
    wav = torch.randn(2, 3200) * 0.1

    wav_hat, _, quantizer_loss, _ = generator(wav)
    real_logits, _ = discriminator(wav)
    fake_logits, _ = discriminator(wav_hat.detach())
    loss_d = discriminator_loss(real_logits, fake_logits, config.train.gan_loss)
    opt_d.zero_grad()
    loss_d.backward()
    opt_d.step()

    _, real_features = discriminator(wav)
    fake_logits, fake_features = discriminator(wav_hat)
    loss_g, parts = criterion(wav_hat, wav, quantizer_loss, fake_logits, real_features,
                              fake_features)
    opt_g.zero_grad()
    loss_g.backward()
    opt_g.step()

    assert torch.isfinite(loss_d) and torch.isfinite(loss_g)
    assert set(parts) == {"mel", "quantizer", "adversarial", "feature_matching"}
    assert all(torch.isfinite(v) for v in parts.values())
    assert not generator.quantizer.codebook.requires_grad
    assert torch.equal(generator.quantizer.codebook, codebook)
    assert not torch.equal(generator.quantizer.linear.weight, weight)
    assert all(p.grad is not None for p in generator.encoder.parameters())
