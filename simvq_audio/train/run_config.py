"""The run settings every trainer shares: one schema section (``train:``) that each
modality's training section extends."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


@dataclass
class RunConfig:
    """The optimisation and run settings every trainer reads (the codec's
    :class:`~simvq_audio.codec.config.TrainConfig` and the image tokenizer's
    :class:`~simvq_audio.image.config.ImageTrainConfig` extend it): the optimizer and schedule
    of :mod:`simvq_audio.train.optim`, the GAN start, EMA, precision and the step cadences. The
    defaults are the image tokenizer's; a subclass redeclares the fields whose defaults differ.
    ``quantizer_lr_scale`` multiplies the learning rate of the quantizer's parameters (SimVQ's
    map W: Adam moves each parameter about as far per step whatever its gradient, so the d x d
    map moves the whole code cloud no faster than one encoder layer moves the latents; 1: the
    paper). ``grad_clip`` 0 turns clipping off. ``mixed_precision`` ``fp16`` needs CUDA: without it
    training runs in float32 and says so."""

    lr: float = 1e-4
    betas: list[float] = field(default_factory=lambda: [0.5, 0.9])
    weight_decay: float = 0.0
    warmup_steps: int = 1000
    scheduler: Literal["constant", "cosine"] = "cosine"
    grad_clip: float = 1.0
    batch_size: int = 20
    max_steps: int = 900_000
    ema_decay: float = 0.999
    mixed_precision: Literal["no", "bf16", "fp16"] = "bf16"
    gan_start_step: int = 0
    checkpoint_every: int = 5000
    keep_checkpoints: int = 3
    log_every: int = 100
    valid_every: int = 5000
    num_workers: int = 4
    seed: int = 0
    quantizer_lr_scale: float = 1.0


def run_config_problems(train: RunConfig) -> list[tuple[bool, str]]:
    """The ``(ok, message)`` checks of a ``train:`` section's values (for
    :func:`~simvq_audio.config_loader.check_values`), shared by every modality."""
    return [(len(train.betas) == 2, "train.betas must have two values"),
            (train.quantizer_lr_scale > 0, "train.quantizer_lr_scale must be > 0"),
            (0 <= train.ema_decay < 1, "train.ema_decay must lie in [0, 1): the weight an "
             "average keeps at each step")]
