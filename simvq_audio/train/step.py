"""One training step on one batch: a generator update and a discriminator update, in the order
``train.update_order`` says.

* ``generator_first`` (the SimVQ reference): the generator's loss goes through the current
  discriminators and the generator is updated; then the discriminators are updated on the same
  reconstruction, computed before the generator's update (detached).
* ``discriminator_first``: the discriminators are updated first, and the generator's loss goes
  through the updated discriminators.

Before ``gan_start_step`` the generator learns from the mel and quantizer losses only and the
discriminators are not touched. A step whose losses (or, except under fp16 where the gradient
scaler handles overflow, gradient norms) are not finite on any process is skipped on every
process: the update whose loss is not finite and any update after it are left out, and the
caller counts the step. ``grad_clip`` 0 measures the gradient norm without clipping.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from typing import NamedTuple

import torch
from accelerate import Accelerator
from torch import nn

from simvq_audio.audio.discriminators import FamilyOutput
from simvq_audio.audio.losses import GeneratorLoss, family_discriminator_loss
from simvq_audio.audio.config import TrainConfig
from simvq_audio.train.optim import learning_rate, set_learning_rate


class StepResult(NamedTuple):
    """``skipped``: why the step was skipped (``None`` if it was applied); ``scalars``: detached
    losses (``loss/...``), gradient norms (``grad_norm/...``) and ``lr``; ``tokens [B, T']``."""

    skipped: str | None
    scalars: dict[str, torch.Tensor]
    tokens: torch.Tensor


@contextlib.contextmanager
def frozen(module: nn.Module) -> Iterator[None]:
    """Parameters of ``module`` need no gradient inside the block (the generator's loss then
    flows through the discriminators without touching their gradients)."""
    module.requires_grad_(False)
    try:
        yield
    finally:
        module.requires_grad_(True)


def gradient_norm(parameters: Iterable[nn.Parameter]) -> torch.Tensor:
    """The 2-norm of all gradients of ``parameters`` together (those without one count 0)."""
    norms = [p.grad.detach().float().norm() for p in parameters if p.grad is not None]
    return torch.linalg.vector_norm(torch.stack(norms)) if norms else torch.zeros(())


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


class GanStep:
    """Callable ``(wav [B, T], lengths [B], step, inject_nan) -> StepResult``.

    ``generator``, ``discriminator`` and the optimizers are as returned by
    ``accelerator.prepare``; ``loss`` is the generator's (its ``families`` also give the
    discriminators' objective); ``inject_nan`` makes the generator loss NaN (testing only).
    """

    def __init__(self, accelerator: Accelerator, generator: nn.Module, discriminator: nn.Module,
                 generator_optimizer: torch.optim.Optimizer,
                 discriminator_optimizer: torch.optim.Optimizer, loss: GeneratorLoss,
                 config: TrainConfig):
        self.accelerator = accelerator
        self.generator, self.discriminator = generator, discriminator
        self.raw_discriminator = accelerator.unwrap_model(discriminator)
        self.generator_optimizer = generator_optimizer
        self.discriminator_optimizer = discriminator_optimizer
        self.loss = loss
        self.config = config

    def __call__(self, wav: torch.Tensor, lengths: torch.Tensor, step: int,
                 inject_nan: bool = False) -> StepResult:
        scalars = self._set_learning_rate(step)
        valid = torch.arange(wav.shape[-1], device=wav.device) < lengths[:, None]
        with self.accelerator.autocast():
            wav_hat, tokens, quantizer_loss, _ = self.generator(wav)
        wav_hat = wav_hat.float() * valid  # zero padding of short crops is not judged
        quantizer_loss = quantizer_loss.float()

        if step < self.config.gan_start_step:
            total, parts = self.loss(wav_hat, wav, quantizer_loss)
            return self._generator_update(total, parts, scalars, tokens, inject_nan)
        if self.config.update_order == "discriminator_first":
            skipped = self._discriminator_update(wav, wav_hat, scalars)
            if skipped:
                return StepResult(skipped, scalars, tokens)
        total, parts = self.loss(wav_hat, wav, quantizer_loss,
                                 **self._generator_gan_inputs(wav, wav_hat))
        result = self._generator_update(total, parts, scalars, tokens, inject_nan)
        if result.skipped or self.config.update_order == "discriminator_first":
            return result
        # the reference's order: the discriminators learn from the pre-update reconstruction
        return StepResult(self._discriminator_update(wav, wav_hat, scalars), scalars, tokens)

    def _set_learning_rate(self, step: int) -> dict[str, torch.Tensor]:
        """Set the schedule's lr for ``step`` on both optimizers; the step's first scalars."""
        lr = learning_rate(step, self.config)
        for optimizer in (self.generator_optimizer, self.discriminator_optimizer):
            set_learning_rate(optimizer, lr)
        return {"lr": torch.tensor(lr)}

    def _generator_update(self, total: torch.Tensor, parts: dict[str, torch.Tensor],
                          scalars: dict[str, torch.Tensor], tokens: torch.Tensor,
                          inject_nan: bool) -> StepResult:
        """Record the generator's losses (``total`` and its ``parts``) and update it."""
        if inject_nan:
            total = total * float("nan")
        scalars.update({f"loss/{name}": value for name, value in parts.items()})
        scalars["loss/generator"] = total.detach()
        skipped = self._update(total, self.generator, self.generator_optimizer, "generator",
                               scalars)
        return StepResult(skipped, scalars, tokens)

    def _discriminator_update(self, wav: torch.Tensor, wav_hat: torch.Tensor,
                              scalars: dict[str, torch.Tensor]) -> str | None:
        with self.accelerator.autocast():
            outputs = self.discriminator(torch.cat([wav, wav_hat.detach()]))
        real, fake = _halves(outputs)
        loss, parts = family_discriminator_loss(self.loss.families, real, fake)
        scalars["loss/discriminator"] = loss.detach()
        scalars.update({f"loss/discriminator/{name}": value for name, value in parts.items()})
        return self._update(loss, self.discriminator, self.discriminator_optimizer,
                            "discriminator", scalars)

    def _generator_gan_inputs(self, wav: torch.Tensor, wav_hat: torch.Tensor
                              ) -> dict[str, dict[str, FamilyOutput]]:
        with frozen(self.raw_discriminator), self.accelerator.autocast():
            fake = self.raw_discriminator(wav_hat)
            with torch.no_grad():
                real = self.raw_discriminator(wav)
        return {"fake": _float_outputs(fake), "real": _float_outputs(real)}

    def _update(self, loss: torch.Tensor, model: nn.Module, optimizer: torch.optim.Optimizer,
                name: str, scalars: dict[str, torch.Tensor]) -> str | None:
        """Backward, clip (``grad_clip`` > 0) and step unless ``loss`` is not finite on some
        process; returns the reason when the update was skipped."""
        if not self._finite_everywhere(loss):
            return f"{name} loss is {loss.item()}"
        optimizer.zero_grad(set_to_none=True)
        self.accelerator.backward(loss)
        self.accelerator.unscale_gradients(optimizer)
        if self.config.grad_clip > 0:
            norm = torch.nn.utils.clip_grad_norm_(model.parameters(), self.config.grad_clip)
        else:
            norm = gradient_norm(model.parameters())
        scalars[f"grad_norm/{name}"] = norm.detach()
        if not torch.isfinite(norm) and self.accelerator.mixed_precision != "fp16":
            optimizer.zero_grad(set_to_none=True)  # identical on all ranks: grads are reduced
            return f"{name} gradient norm is {norm.item()}"
        optimizer.step()
        return None

    def _finite_everywhere(self, value: torch.Tensor) -> bool:
        finite = torch.isfinite(value.detach()).all().float().reshape(1)
        return bool(self.accelerator.reduce(finite, reduction="sum").item()
                    == self.accelerator.num_processes)
