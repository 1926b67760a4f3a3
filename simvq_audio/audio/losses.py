"""Generator and discriminator losses: multi-resolution log-mel L1, hinge / least-squares GAN,
feature matching, and their weighted sum.

Adversarial and feature-matching terms are averaged over sub-discriminators (each period,
resolution and FFT size counts once); feature matching sums the per-layer mean L1 distances.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from simvq_audio.audio.mel import MelSpectrogram, log_mel
from simvq_audio.config import LossConfig
from simvq_audio.errors import UserInputError

GAN_LOSSES = ("hinge", "lsgan")


def check_gan_loss(kind: str) -> None:
    if kind not in GAN_LOSSES:
        raise UserInputError(f"GAN loss must be one of {GAN_LOSSES}, got {kind!r}")


class MultiResolutionMelLoss(nn.Module):
    """Mean over resolutions of the L1 distance between log-mel spectrograms of
    ``wav_hat [B, T]`` and ``wav [B, T]``; mel filters are built once."""

    def __init__(self, sample_rate: int, resolutions: list[tuple[int, int, int]]):
        super().__init__()
        self.mels = nn.ModuleList(
            MelSpectrogram(sample_rate, n_fft, hop, n_mels) for n_fft, hop, n_mels in resolutions)

    def forward(self, wav_hat: torch.Tensor, wav: torch.Tensor) -> torch.Tensor:
        losses = [F.l1_loss(log_mel(mel(wav_hat)), log_mel(mel(wav))) for mel in self.mels]
        return torch.stack(losses).mean()


def discriminator_loss(real_logits: list[torch.Tensor], fake_logits: list[torch.Tensor],
                       kind: str) -> torch.Tensor:
    """Loss of the discriminators: real pushed to 1, fake to -1 (hinge) or 0 (``lsgan``)."""
    check_gan_loss(kind)
    losses = []
    for real, fake in zip(real_logits, fake_logits, strict=True):
        if kind == "hinge":
            losses.append(F.relu(1 - real).mean() + F.relu(1 + fake).mean())
        else:
            losses.append((1 - real).square().mean() + fake.square().mean())
    return torch.stack(losses).mean()


def generator_adversarial_loss(fake_logits: list[torch.Tensor], kind: str) -> torch.Tensor:
    """Loss of the generator for fooling the discriminators (same ``kind`` as above)."""
    check_gan_loss(kind)
    if kind == "hinge":
        losses = [F.relu(1 - fake).mean() for fake in fake_logits]
    else:
        losses = [(1 - fake).square().mean() for fake in fake_logits]
    return torch.stack(losses).mean()


def feature_matching_loss(real_features: list[list[torch.Tensor]],
                          fake_features: list[list[torch.Tensor]]) -> torch.Tensor:
    """Per sub-discriminator, the sum over layers of the mean L1 distance between the feature
    maps of real (detached) and generated audio; averaged over sub-discriminators."""
    losses = [sum(F.l1_loss(fake, real.detach()) for real, fake in zip(reals, fakes, strict=True))
              for reals, fakes in zip(real_features, fake_features, strict=True)]
    return torch.stack(losses).mean()


class GeneratorLoss(nn.Module):
    """Weighted generator objective:
    ``mel_weight * mel + quantizer_weight * quantizer + adversarial_weight * adversarial +
    feature_matching_weight * feature_matching``.

    ``forward`` returns ``(total, parts)``, ``parts`` holding each unweighted term (detached).
    Without discriminator outputs (before the GAN starts) only mel and quantizer terms count.
    """

    def __init__(self, config: LossConfig, sample_rate: int, gan_loss: str):
        super().__init__()
        check_gan_loss(gan_loss)
        self.config = config
        self.gan_loss = gan_loss
        self.mel = MultiResolutionMelLoss(
            sample_rate, [(r.n_fft, r.hop_length, r.n_mels) for r in config.mel_resolutions])

    def forward(self, wav_hat: torch.Tensor, wav: torch.Tensor, quantizer_loss: torch.Tensor,
                fake_logits: list[torch.Tensor] | None = None,
                real_features: list[list[torch.Tensor]] | None = None,
                fake_features: list[list[torch.Tensor]] | None = None,
                ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        c = self.config
        parts = {"mel": self.mel(wav_hat, wav), "quantizer": quantizer_loss}
        total = c.mel_weight * parts["mel"] + c.quantizer_weight * quantizer_loss
        if fake_logits is not None:
            parts["adversarial"] = generator_adversarial_loss(fake_logits, self.gan_loss)
            parts["feature_matching"] = feature_matching_loss(real_features, fake_features)
            total = (total + c.adversarial_weight * parts["adversarial"]
                     + c.feature_matching_weight * parts["feature_matching"])
        return total, {name: value.detach() for name, value in parts.items()}
