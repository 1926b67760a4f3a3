"""Image tokenizer losses: L1 reconstruction, quantizer loss, hinge PatchGAN.

The GAN terms are the audio codec's (:mod:`simvq_audio.codec.losses`, which take lists of
logits); here the list holds the single PatchGAN's logits. The perceptual (LPIPS) loss of the
paper needs VGG weights, which cannot be downloaded here and are not shipped: a configured
weights file is refused with :class:`PerceptualLossUnavailable` rather than silently ignored.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from simvq_audio.codec.losses import discriminator_loss, generator_adversarial_loss
from simvq_audio.errors import UserInputError
from simvq_audio.image.config import ImageLossConfig


class PerceptualLossUnavailable(UserInputError, NotImplementedError):
    """A perceptual-loss weights file was configured, but LPIPS is not implemented yet."""


def patch_discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor
                             ) -> torch.Tensor:
    """Hinge loss of the PatchGAN on ``[B, 1, H', W']`` logits: real -> >= 1, fake -> <= -1."""
    return discriminator_loss([real_logits], [fake_logits], "hinge")


class ImageGeneratorLoss(nn.Module):
    """``l1_weight * L1 + quantizer_weight * quantizer + adversarial_weight * hinge_G``.

    ``forward(reconstruction, images, quantizer_loss, fake_logits=None) -> (total, parts)``;
    images ``[B, C, H, W]`` in [-1, 1], ``fake_logits [B, 1, H', W']``, ``parts`` the
    unweighted terms (detached). Without ``fake_logits`` (before the GAN starts) the
    adversarial term is left out.
    """

    def __init__(self, *, l1_weight: float, quantizer_weight: float, adversarial_weight: float):
        super().__init__()
        self.l1_weight, self.quantizer_weight = l1_weight, quantizer_weight
        self.adversarial_weight = adversarial_weight

    @classmethod
    def from_hparams(cls, config: ImageLossConfig) -> ImageGeneratorLoss:
        """The objective a ``loss:`` config section describes; a configured perceptual loss is
        refused with :class:`PerceptualLossUnavailable`."""
        if config.perceptual_weights is not None and config.perceptual_weight > 0:
            raise PerceptualLossUnavailable(
                f"loss.perceptual_weights is set ({config.perceptual_weights}), but the "
                f"perceptual (LPIPS) loss is not implemented in this version; remove "
                f"loss.perceptual_weights to train with L1 + PatchGAN + quantizer loss only")
        return cls(l1_weight=config.l1_weight, quantizer_weight=config.quantizer_weight,
                   adversarial_weight=config.adversarial_weight)

    def forward(self, reconstruction: torch.Tensor, images: torch.Tensor,
                quantizer_loss: torch.Tensor, fake_logits: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        parts = {"l1": F.l1_loss(reconstruction, images), "quantizer": quantizer_loss}
        total = self.l1_weight * parts["l1"] + self.quantizer_weight * quantizer_loss
        if fake_logits is not None:
            parts["adversarial"] = generator_adversarial_loss([fake_logits], "hinge")
            total = total + self.adversarial_weight * parts["adversarial"]
        return total, {name: value.detach() for name, value in parts.items()}
