"""Generator and discriminator objectives of the SimVQ reference, per discriminator family.

For a family with weight ``w``, GAN loss kind (hinge or least squares) and reduction (``mean``
or ``sum`` over its sub-discriminators ``k``):

* discriminator: ``w * reduce_k D_k``, ``D_k = mean(relu(1 - real)) + mean(relu(1 + fake))``
  (hinge) or ``mean((1 - real)^2) + mean(fake^2)`` (least squares);
* generator adversarial: ``w * reduce_k G_k``, ``G_k = mean(relu(1 - fake))`` or
  ``mean((1 - fake)^2)``;
* feature matching: ``w * reduce_k sum_l mean|real_l - fake_l|`` over the family's feature maps
  (real ones detached).

:func:`family_discriminator_loss` is the discriminators' objective, :class:`GeneratorLoss` the
generator's.

The generator's total is ``mel_weight * mel + quantizer_weight * quantizer`` plus, summed over
families, ``adversarial_weight * adversarial + feature_matching_weight * feature matching``.
With the paper config (Vocos families: hinge, mean; DAC families: least squares, sum) this is
the reference's ``VQSTFTWithDiscriminator``. The mel term is the L1 distance of natural-log mel
spectrograms (torchaudio's mel, log floored at 1e-7), averaged over the configured resolutions.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from simvq_audio.codec.config import DiscriminatorsConfig, LossConfig
from simvq_audio.codec.discriminators import FamilyOutput
from simvq_audio.codec.mel import MelSpectrogram, log_mel
from simvq_audio.errors import UserInputError

GAN_LOSSES = ("hinge", "lsgan")
REDUCTIONS = ("mean", "sum")
MEL_FLOOR = 1e-7


class FamilyLoss(NamedTuple):
    """How one discriminator family enters the losses: GAN loss ``kind`` (``"hinge"`` or
    ``"lsgan"``), ``reduction`` of its sub-discriminators' terms (``"mean"`` or ``"sum"``) and
    the ``weight`` of its adversarial, feature-matching and discriminator terms."""

    kind: str
    reduction: str
    weight: float


def check_gan_loss(kind: str) -> None:
    if kind not in GAN_LOSSES:
        raise UserInputError(f"GAN loss must be one of {GAN_LOSSES}, got {kind!r}")


def reduce_terms(terms: list[torch.Tensor], reduction: str) -> torch.Tensor:
    """Mean or sum of one term per sub-discriminator."""
    if reduction not in REDUCTIONS:
        raise UserInputError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    stacked = torch.stack(terms)
    return stacked.mean() if reduction == "mean" else stacked.sum()


def discriminator_loss(real_logits: list[torch.Tensor], fake_logits: list[torch.Tensor],
                       kind: str, reduction: str = "mean") -> torch.Tensor:
    """Loss of the discriminators: real pushed to 1, fake to -1 (hinge) or 0 (``lsgan``)."""
    check_gan_loss(kind)
    terms = []
    for real, fake in zip(real_logits, fake_logits, strict=True):
        if kind == "hinge":
            terms.append(F.relu(1 - real).mean() + F.relu(1 + fake).mean())
        else:
            terms.append((1 - real).square().mean() + fake.square().mean())
    return reduce_terms(terms, reduction)


def generator_adversarial_loss(fake_logits: list[torch.Tensor], kind: str,
                               reduction: str = "mean") -> torch.Tensor:
    """Loss of the generator for fooling the discriminators (same ``kind`` as above)."""
    check_gan_loss(kind)
    if kind == "hinge":
        terms = [F.relu(1 - fake).mean() for fake in fake_logits]
    else:
        terms = [(1 - fake).square().mean() for fake in fake_logits]
    return reduce_terms(terms, reduction)


def feature_matching_loss(real_features: list[list[torch.Tensor]],
                          fake_features: list[list[torch.Tensor]],
                          reduction: str = "mean") -> torch.Tensor:
    """Per sub-discriminator, the sum over its feature maps of the mean L1 distance between
    real (detached) and generated ones; reduced over sub-discriminators."""
    terms = [sum(F.l1_loss(fake, real.detach()) for real, fake in zip(reals, fakes, strict=True))
             for reals, fakes in zip(real_features, fake_features, strict=True)]
    return reduce_terms(terms, reduction)


class MelLoss(nn.Module):
    """Mean over resolutions of the L1 distance between the log-mel spectrograms of
    ``wav_hat [B, T]`` and ``wav [B, T]`` (torchaudio-style mel, log floored at 1e-7)."""

    def __init__(self, sample_rate: int, resolutions: list[tuple[int, int, int]]):
        super().__init__()
        self.mels = nn.ModuleList(
            MelSpectrogram(sample_rate, n_fft, hop, n_mels, style="torchaudio")
            for n_fft, hop, n_mels in resolutions)

    def forward(self, wav_hat: torch.Tensor, wav: torch.Tensor) -> torch.Tensor:
        losses = [F.l1_loss(log_mel(mel(wav_hat), MEL_FLOOR), log_mel(mel(wav), MEL_FLOOR))
                  for mel in self.mels]
        return torch.stack(losses).mean()


class GeneratorLoss(nn.Module):
    """The generator's objective (module docstring).

    ``forward(wav_hat [B, T], wav [B, T], quantizer_loss, fake=None, real=None) ->
    (total, parts)``: ``fake``/``real`` map each family name to the :class:`FamilyOutput` of
    generated/real audio; without them (before the GAN starts) only the mel and quantizer terms
    count. ``parts`` holds the unweighted ``mel`` and ``quantizer``, the family-weighted sums
    ``adversarial`` and ``feature_matching``, and each family's unweighted
    ``adversarial/<family>`` and ``feature_matching/<family>`` (all detached).

    Args:
        sample_rate: of the audio, for the mel filters.
        mel_resolutions: ``(n_fft, hop_length, n_mels)`` of each mel spectrogram
            (:class:`MelLoss`).
        families: each discriminator family's :class:`FamilyLoss`, by name (the names of the
            discriminator's outputs).
        mel_weight, quantizer_weight, adversarial_weight, feature_matching_weight: the weights
            of the total.
    """

    def __init__(self, sample_rate: int, mel_resolutions: list[tuple[int, int, int]],
                 families: dict[str, FamilyLoss], *, mel_weight: float, quantizer_weight: float,
                 adversarial_weight: float, feature_matching_weight: float):
        super().__init__()
        self.mel = MelLoss(sample_rate, mel_resolutions)
        self.families = families
        self.mel_weight, self.quantizer_weight = mel_weight, quantizer_weight
        self.adversarial_weight = adversarial_weight
        self.feature_matching_weight = feature_matching_weight

    @classmethod
    def from_hparams(cls, loss: LossConfig, discriminators: DiscriminatorsConfig,
                     sample_rate: int) -> GeneratorLoss:
        """The objective a ``loss:`` config describes, with a :class:`FamilyLoss` for each
        family that the ``discriminators:`` config enables."""
        return cls(sample_rate,
                   [(r.n_fft, r.hop_length, r.n_mels) for r in loss.mel_resolutions],
                   {name: FamilyLoss(section.loss, section.reduction, section.weight)
                    for name, section in discriminators.enabled().items()},
                   mel_weight=loss.mel_weight, quantizer_weight=loss.quantizer_weight,
                   adversarial_weight=loss.adversarial_weight,
                   feature_matching_weight=loss.feature_matching_weight)

    def forward(self, wav_hat: torch.Tensor, wav: torch.Tensor, quantizer_loss: torch.Tensor,
                fake: dict[str, FamilyOutput] | None = None,
                real: dict[str, FamilyOutput] | None = None,
                ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        parts = {"mel": self.mel(wav_hat, wav), "quantizer": quantizer_loss}
        total = self.mel_weight * parts["mel"] + self.quantizer_weight * quantizer_loss
        if fake is not None:
            adversarial, matching = [], []
            for name, settings in self.families.items():
                parts[f"adversarial/{name}"] = generator_adversarial_loss(
                    fake[name].logits, settings.kind, settings.reduction)
                parts[f"feature_matching/{name}"] = feature_matching_loss(
                    real[name].features, fake[name].features, settings.reduction)
                adversarial.append(settings.weight * parts[f"adversarial/{name}"])
                matching.append(settings.weight * parts[f"feature_matching/{name}"])
            parts["adversarial"] = torch.stack(adversarial).sum()
            parts["feature_matching"] = torch.stack(matching).sum()
            total = (total + self.adversarial_weight * parts["adversarial"]
                     + self.feature_matching_weight * parts["feature_matching"])
        return total, {name: value.detach() for name, value in parts.items()}


def family_discriminator_loss(families: dict[str, FamilyLoss],
                              real: dict[str, FamilyOutput], fake: dict[str, FamilyOutput]
                              ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The discriminators' objective: the sum over ``families`` (name -> settings, e.g.
    :attr:`GeneratorLoss.families`) of weight x the family's reduced loss on ``real`` and
    ``fake`` (from detached audio) outputs. Returns ``(total, parts)``, ``parts[<family>]`` the
    unweighted loss of each family (detached)."""
    parts = {name: discriminator_loss(real[name].logits, fake[name].logits, settings.kind,
                                      settings.reduction)
             for name, settings in families.items()}
    total = torch.stack([settings.weight * parts[name]
                         for name, settings in families.items()]).sum()
    return total, {name: value.detach() for name, value in parts.items()}
