"""GAN losses per family (kind, reduction, weight), feature matching, the mel loss and the
generator's and discriminators' objectives.

Values against the SimVQ reference's own code: tests/codec/test_audio_parity.py.
"""


import pytest
import torch

from simvq_audio.codec.config import load_config
from simvq_audio.codec.discriminators import FamilyOutput
from simvq_audio.codec.losses import (
    GeneratorLoss,
    MelLoss,
    discriminator_loss,
    family_discriminator_loss,
    feature_matching_loss,
    generator_adversarial_loss,
)
from simvq_audio.errors import UserInputError

from repo_paths import RECIPES


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


def test_hinge_and_least_squares_formulas_and_their_reductions():
    real = [torch.tensor([[0.5, 2.0]]), torch.tensor([[-1.0, 0.0]])]
    fake = [torch.tensor([[-0.5, 1.0]]), torch.tensor([[0.0, -3.0]])]
    hinge = [(0.25 + 0) + (0.25 + 1.0), (2 + 1) / 2 + (1 + 0) / 2]       # relu(1-r), relu(1+f)
    lsgan = [(0.25 + 1) / 2 + (0.25 + 1) / 2, (4 + 1) / 2 + (0 + 9) / 2]  # (1-r)^2, f^2
    assert discriminator_loss(real, fake, "hinge") == pytest.approx(sum(hinge) / 2)
    assert discriminator_loss(real, fake, "hinge", "sum") == pytest.approx(sum(hinge))
    assert discriminator_loss(real, fake, "lsgan", "sum") == pytest.approx(sum(lsgan))
    assert generator_adversarial_loss(fake, "hinge", "sum") == pytest.approx(
        (1.5 + 0) / 2 + (1 + 4) / 2)
    assert generator_adversarial_loss(fake, "lsgan") == pytest.approx(
        ((2.25 + 0) / 2 + (1 + 16) / 2) / 2)
    with pytest.raises(UserInputError, match="reduction"):
        generator_adversarial_loss(fake, "hinge", "max")


def test_feature_matching_sums_layers_and_reduces_sub_discriminators():
    real = [[torch.ones(2, 3), torch.zeros(2, 4)], [torch.ones(1, 2)]]
    assert feature_matching_loss(real, real) == 0
    fake = [[torch.zeros(2, 3), torch.ones(2, 4)], [torch.full((1, 2), 4.0)]]
    assert feature_matching_loss(real, fake, "sum") == pytest.approx(1 + 1 + 3)
    assert feature_matching_loss(real, fake, "mean") == pytest.approx((2 + 3) / 2)
    real_grad = [[torch.ones(2, 3, requires_grad=True)]]
    feature_matching_loss(real_grad, [[torch.zeros(2, 3, requires_grad=True)]]).backward()
    assert real_grad[0][0].grad is None  # real features are targets, never trained towards


def test_mel_loss_is_log_mel_l1_with_the_reference_floor():
    mel = MelLoss(16000, [(256, 64, 32), (512, 128, 40)])
    wav = torch.randn(2, 4000)
    assert mel(wav, wav) == 0
    assert mel(wav * 0.5, wav) == pytest.approx(torch.log(torch.tensor(2.0)).item(), rel=1e-4)
    silent = torch.zeros(1, 4000)
    assert mel(silent, silent + 1e-3) > 0  # log(1e-7) floor, not -inf
    assert torch.isfinite(mel(silent, torch.randn(1, 4000)))


def _outputs(value: float, subs: int = 2) -> FamilyOutput:
    return FamilyOutput([torch.full((2, 3), value)] * subs, [[torch.full((2, 4), value)]] * subs)


def test_generator_objective_weights_each_family_and_both_gan_terms():
    config = load_config(RECIPES / "simvq_65k.yaml")
    config.loss.adversarial_weight, config.loss.feature_matching_weight = 2.0, 3.0
    config.discriminators.multi_resolution.weight = 0.5
    criterion = GeneratorLoss.from_hparams(config.loss, config.discriminators, 24000)
    wav = torch.randn(1, 4800)
    names = ("multi_period", "multi_resolution", "dac_multi_period", "dac_multi_band")
    fake = {name: _outputs(0.0) for name in names}   # hinge 1 and lsgan 1 per sub-discriminator
    real = {name: _outputs(1.0) for name in names}   # feature distance 1 per sub-discriminator
    total, parts = criterion(wav * 0.5, wav, torch.tensor(0.01), fake=fake, real=real)
    # mean over 2 subs for the Vocos families (1 each), sum for the DAC ones (2 each)
    assert [float(parts[f"adversarial/{n}"]) for n in names] == [1, 1, 2, 2]
    assert [float(parts[f"feature_matching/{n}"]) for n in names] == [1, 1, 2, 2]
    assert float(parts["adversarial"]) == float(parts["feature_matching"]) == 1 + 0.5 + 2 + 2
    expected = 45 * parts["mel"] + 1000 * 0.01 + 2.0 * 5.5 + 3.0 * 5.5
    assert float(total) == pytest.approx(float(expected), rel=1e-6)
    mel_only, parts = criterion(wav * 0.5, wav, torch.tensor(0.01))
    assert set(parts) == {"mel", "quantizer"}
    assert float(mel_only) == pytest.approx(float(45 * parts["mel"] + 10), rel=1e-6)


def test_discriminator_objective_weights_and_reduces_each_family():
    config = load_config(RECIPES / "simvq_65k.yaml")
    config.discriminators.dac_multi_band.weight = 0.25
    families = GeneratorLoss.from_hparams(config.loss, config.discriminators, 24000).families
    real = {name: _outputs(1.0) for name in families}  # hinge/lsgan: real part 0
    fake = {name: _outputs(0.0) for name in families}  # hinge 1, lsgan 0 per sub
    total, parts = family_discriminator_loss(families, real, fake)
    assert [float(parts[n]) for n in families] == [1, 1, 0, 0]
    fake = {name: _outputs(1.0) for name in families}  # hinge 2, lsgan 1 per sub
    total, parts = family_discriminator_loss(families, real, fake)
    assert [float(parts[n]) for n in families] == [2, 2, 2, 2]
    assert float(total) == pytest.approx(2 + 2 + 2 + 0.25 * 2)
