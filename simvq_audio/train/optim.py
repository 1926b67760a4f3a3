"""Adam with the paper's defaults and the learning-rate schedule: linear warm-up from 0, then
constant or cosine decay to 0 at ``max_steps``.

The schedule is a pure function of the step (:func:`learning_rate`), so resuming needs no
scheduler state beyond the step counter.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch

from simvq_audio.train.run_config import RunConfig


def build_optimizer(parameters: Iterable[torch.nn.Parameter], config: RunConfig,
                    scaled: Iterable[torch.nn.Parameter] = ()) -> torch.optim.Adam:
    """Adam over the trainable ``parameters`` (lr set per step by :func:`set_learning_rate`).
    Those also in ``scaled`` (the quantizer's) form a second group whose lr is
    ``config.quantizer_lr_scale`` times the schedule's, when that is not 1."""
    trainable = [p for p in parameters if p.requires_grad]
    scaled_ids = {id(p) for p in scaled} if config.quantizer_lr_scale != 1 else set()
    groups = [{"params": [p for p in trainable if id(p) not in scaled_ids]}]
    if scaled_ids:
        groups.append({"params": [p for p in trainable if id(p) in scaled_ids],
                       "lr_scale": config.quantizer_lr_scale})
    return torch.optim.Adam(groups, lr=config.lr, betas=tuple(config.betas),
                            weight_decay=config.weight_decay)


def learning_rate(step: int, config: RunConfig) -> float:
    """Learning rate for optimizer step ``step`` (0-based): ``lr * (step + 1) / warmup_steps``
    during warm-up, then ``lr`` (constant) or ``lr * 0.5 (1 + cos(pi * progress))`` (cosine),
    ``progress`` going from 0 after warm-up to 1 at ``max_steps``."""
    if step < config.warmup_steps:
        return config.lr * (step + 1) / config.warmup_steps
    if config.scheduler == "constant":
        return config.lr
    decay_steps = max(config.max_steps - config.warmup_steps, 1)
    progress = min((step - config.warmup_steps) / decay_steps, 1.0)
    return config.lr * 0.5 * (1.0 + math.cos(math.pi * progress))


def set_learning_rate(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """``lr`` on every group, times the group's ``lr_scale`` where it has one."""
    for group in optimizer.param_groups:
        group["lr"] = lr * group.get("lr_scale", 1.0)
