"""One training step of the image tokenizer: PatchGAN update, then autoencoder update.

The learning rate schedule, the skipping of non-finite losses/gradients on every process and
gradient clipping are the shared :class:`~simvq_audio.train.step.GanUpdates`; before
``gan_start_step`` the autoencoder learns from L1 and the quantizer loss only.
"""

from __future__ import annotations

import torch

from simvq_audio.image.losses import ImageGeneratorLoss, patch_discriminator_loss
from simvq_audio.train.step import GanUpdates, StepResult, frozen


class ImageGanStep:
    """Callable ``(images [B, 3, H, W] in [-1, 1], step) -> StepResult`` (``tokens [B, h, w]``),
    with ``step`` counted from 0. ``gan``: the prepared autoencoder, PatchGAN and optimisers."""

    def __init__(self, gan: GanUpdates, loss: ImageGeneratorLoss):
        self.gan, self.loss = gan, loss

    def __call__(self, images: torch.Tensor, step: int) -> StepResult:
        gan = self.gan
        scalars = gan.set_learning_rate(step)
        with gan.accelerator.autocast():
            reconstruction, tokens, quantizer_loss, _ = gan.generator(images)
        reconstruction = reconstruction.float()

        fake_logits = None
        if step >= gan.config.gan_start_step:
            skipped = self._patch_update(images, reconstruction, scalars)
            if skipped:
                return StepResult(skipped, scalars, tokens)
            with frozen(gan.raw_discriminator), gan.accelerator.autocast():
                fake_logits = gan.raw_discriminator(reconstruction).float()
        total, parts = self.loss(reconstruction, images, quantizer_loss.float(), fake_logits)
        return gan.generator_update(total, parts, scalars, tokens)

    def _patch_update(self, images: torch.Tensor, reconstruction: torch.Tensor,
                      scalars: dict[str, torch.Tensor]) -> str | None:
        with self.gan.accelerator.autocast():
            real, fake = self.gan.discriminator(torch.cat([images, reconstruction.detach()])
                                                ).float().chunk(2)
        return self.gan.discriminator_update(patch_discriminator_loss(real, fake), {}, scalars)
