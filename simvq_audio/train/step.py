"""What every GAN step shares, whatever the modality: the result of a step, the learning-rate
schedule on both optimisers, and the guarded update of either model.

An update whose loss (or, except under fp16 where the gradient scaler handles overflow, gradient
norm) is not finite on any process is skipped on every process, and the step reports why: the
caller then leaves out any update after it and the trainer counts the step. ``grad_clip`` 0
measures the gradient norm without clipping. The steps themselves (the forward pass, the losses,
the order of the two updates) are the tasks': :class:`~simvq_audio.codec.train_step.CodecGanStep`
and :class:`~simvq_audio.image.train_step.ImageGanStep`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from typing import NamedTuple

import torch
from accelerate import Accelerator
from torch import nn

from simvq_audio.train.optim import learning_rate, set_learning_rate
from simvq_audio.train.run_config import RunConfig


class StepResult(NamedTuple):
    """``skipped``: why the step was skipped (``None`` if it was applied); ``scalars``: detached
    losses (``loss/...``), gradient norms (``grad_norm/...``) and ``lr``; ``tokens [B, ...]``
    (``[B, T']`` for audio, ``[B, h, w]`` for images)."""

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


class GanUpdates:
    """The generator and discriminator with their optimisers, all as returned by
    ``accelerator.prepare``, and the updates a GAN step makes on them. ``raw_discriminator`` is
    the unwrapped discriminator (for the generator's loss, which must not synchronise its
    gradients); ``config`` gives the lr schedule, ``grad_clip`` and ``gan_start_step``."""

    def __init__(self, accelerator: Accelerator, generator: nn.Module, discriminator: nn.Module,
                 generator_optimizer: torch.optim.Optimizer,
                 discriminator_optimizer: torch.optim.Optimizer, config: RunConfig):
        self.accelerator = accelerator
        self.generator, self.discriminator = generator, discriminator
        self.raw_discriminator = accelerator.unwrap_model(discriminator)
        self.generator_optimizer = generator_optimizer
        self.discriminator_optimizer = discriminator_optimizer
        self.config = config

    def set_learning_rate(self, step: int) -> dict[str, torch.Tensor]:
        """Set the schedule's lr for ``step`` on both optimizers; the step's first scalars."""
        lr = learning_rate(step, self.config)
        for optimizer in (self.generator_optimizer, self.discriminator_optimizer):
            set_learning_rate(optimizer, lr)
        return {"lr": torch.tensor(lr)}

    def generator_update(self, total: torch.Tensor, parts: dict[str, torch.Tensor],
                         scalars: dict[str, torch.Tensor], tokens: torch.Tensor) -> StepResult:
        """Record the generator's losses (``total``, a scalar, as ``loss/generator`` and its
        ``parts`` as ``loss/<name>``) in ``scalars`` and update the generator."""
        scalars.update({f"loss/{name}": value for name, value in parts.items()})
        scalars["loss/generator"] = total.detach()
        skipped = self._update(total, self.generator, self.generator_optimizer, "generator",
                               scalars)
        return StepResult(skipped, scalars, tokens)

    def discriminator_update(self, total: torch.Tensor, parts: dict[str, torch.Tensor],
                             scalars: dict[str, torch.Tensor]) -> str | None:
        """Record the discriminators' losses (``total`` as ``loss/discriminator``, ``parts`` as
        ``loss/discriminator/<name>``) and update them; why the update was skipped, if it was."""
        scalars["loss/discriminator"] = total.detach()
        scalars.update({f"loss/discriminator/{name}": value for name, value in parts.items()})
        return self._update(total, self.discriminator, self.discriminator_optimizer,
                            "discriminator", scalars)

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
