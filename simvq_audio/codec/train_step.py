"""One training step of the speech codec on one batch: a generator update and a discriminator
update, in the order ``update_order`` says.

* ``generator_first`` (the SimVQ reference): the generator's loss goes through the current
  discriminators and the generator is updated; then the discriminators are updated on the same
  reconstruction, computed before the generator's update (detached).
* ``discriminator_first``: the discriminators are updated first, and the generator's loss goes
  through the updated discriminators.

Before ``gan_start_step`` the generator learns from the mel and quantizer losses only and the
discriminators are not touched. Non-finite losses are handled by
:class:`~simvq_audio.train.step.GanUpdates`: the failing update and any after it are left out.
"""

from __future__ import annotations

import torch

from simvq_audio.codec.discriminators import FamilyOutput
from simvq_audio.codec.losses import GeneratorLoss, family_discriminator_loss
from simvq_audio.train.step import GanUpdates, StepResult, frozen


def _float_outputs(outputs: dict[str, FamilyOutput]) -> dict[str, FamilyOutput]:
    return {name: FamilyOutput([x.float() for x in out.logits],
                               [[x.float() for x in maps] for maps in out.features])
            for name, out in outputs.items()}


def _halves(outputs: dict[str, FamilyOutput]) -> tuple[dict[str, FamilyOutput],
                                                       dict[str, FamilyOutput]]:
    """Outputs on ``cat([a, b])`` -> (outputs on ``a``, outputs on ``b``), logits only."""
    first, second = {}, {}
    for name, out in outputs.items():
        pairs = [x.float().chunk(2) for x in out.logits]
        first[name] = FamilyOutput([a for a, _ in pairs], [])
        second[name] = FamilyOutput([b for _, b in pairs], [])
    return first, second


class CodecGanStep:
    """Callable ``(wav [B, T], lengths [B], step) -> StepResult`` (``tokens [B, T']``), with
    ``step`` counted from 0.

    Args:
        gan: the prepared codec (``generator``: ``wav [B, T] -> (wav_hat [B, T], tokens,
            quantizer loss, stats)``), its discriminators and their optimisers.
        loss: the generator's loss; its ``families`` also give the discriminators' objective.
        update_order: ``"generator_first"`` or ``"discriminator_first"``.
    """

    def __init__(self, gan: GanUpdates, loss: GeneratorLoss,
                 update_order: str = "generator_first"):
        self.gan, self.loss, self.update_order = gan, loss, update_order

    def __call__(self, wav: torch.Tensor, lengths: torch.Tensor, step: int) -> StepResult:
        gan = self.gan
        scalars = gan.set_learning_rate(step)
        valid = torch.arange(wav.shape[-1], device=wav.device) < lengths[:, None]
        with gan.accelerator.autocast():
            wav_hat, tokens, quantizer_loss, _ = gan.generator(wav)
        wav_hat = wav_hat.float() * valid  # zero padding of short crops is not judged
        quantizer_loss = quantizer_loss.float()

        if step < gan.config.gan_start_step:
            total, parts = self.loss(wav_hat, wav, quantizer_loss)
            return gan.generator_update(total, parts, scalars, tokens)
        if self.update_order == "discriminator_first":
            skipped = self._discriminator_update(wav, wav_hat, scalars)
            if skipped:
                return StepResult(skipped, scalars, tokens)
        total, parts = self.loss(wav_hat, wav, quantizer_loss,
                                 **self._generator_gan_inputs(wav, wav_hat))
        result = gan.generator_update(total, parts, scalars, tokens)
        if result.skipped or self.update_order == "discriminator_first":
            return result
        # the reference's order: the discriminators learn from the pre-update reconstruction
        return StepResult(self._discriminator_update(wav, wav_hat, scalars), scalars, tokens)

    def _discriminator_update(self, wav: torch.Tensor, wav_hat: torch.Tensor,
                              scalars: dict[str, torch.Tensor]) -> str | None:
        with self.gan.accelerator.autocast():
            outputs = self.gan.discriminator(torch.cat([wav, wav_hat.detach()]))
        real, fake = _halves(outputs)
        loss, parts = family_discriminator_loss(self.loss.families, real, fake)
        return self.gan.discriminator_update(loss, parts, scalars)

    def _generator_gan_inputs(self, wav: torch.Tensor, wav_hat: torch.Tensor
                              ) -> dict[str, dict[str, FamilyOutput]]:
        discriminator = self.gan.raw_discriminator
        with frozen(discriminator), self.gan.accelerator.autocast():
            fake = discriminator(wav_hat)
            with torch.no_grad():
                real = discriminator(wav)
        return {"fake": _float_outputs(fake), "real": _float_outputs(real)}
