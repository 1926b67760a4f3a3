"""One training step of the image tokenizer: PatchGAN update, then autoencoder update.

It is the audio :class:`~simvq_audio.train.step.GanStep` with image inputs: the same learning
rate schedule, skipping of non-finite losses/gradients on every process, gradient clipping and
``gan_start_step``; only the forward pass and the losses differ.
"""

from __future__ import annotations

import torch

from simvq_audio.image.losses import patch_discriminator_loss
from simvq_audio.train.step import GanStep, StepResult, frozen


class ImageGanStep(GanStep):
    """Callable ``(images [B, 3, H, W] in [-1, 1], step, inject_nan) -> StepResult``
    (``tokens [B, h, w]``); ``loss`` is an :class:`~simvq_audio.image.losses.ImageGeneratorLoss`."""

    def __call__(self, images: torch.Tensor, step: int, inject_nan: bool = False) -> StepResult:
        scalars = self._set_learning_rate(step)
        with self.accelerator.autocast():
            reconstruction, tokens, quantizer_loss, _ = self.generator(images)
        reconstruction = reconstruction.float()

        fake_logits = None
        if step >= self.config.gan_start_step:
            skipped = self._patch_update(images, reconstruction, scalars)
            if skipped:
                return StepResult(skipped, scalars, tokens)
            with frozen(self.raw_discriminator), self.accelerator.autocast():
                fake_logits = self.raw_discriminator(reconstruction).float()
        total, parts = self.loss(reconstruction, images, quantizer_loss.float(), fake_logits)
        return self._generator_update(total, parts, scalars, tokens, inject_nan)

    def _patch_update(self, images: torch.Tensor, reconstruction: torch.Tensor,
                      scalars: dict[str, torch.Tensor]) -> str | None:
        with self.accelerator.autocast():
            real, fake = self.discriminator(torch.cat([images, reconstruction.detach()])
                                            ).float().chunk(2)
        loss = patch_discriminator_loss(real, fake)
        scalars["loss/discriminator"] = loss.detach()
        return self._update(loss, self.discriminator, self.discriminator_optimizer,
                            "discriminator", scalars)
