"""Exponential moving average of a model's weights (the generator used for validation/export)."""

from __future__ import annotations

import copy

import torch
from torch import nn


class EMA:
    """Keeps ``average = decay * average + (1 - decay) * weights`` after every :meth:`update`.

    ``module`` is a frozen copy of the model in eval mode; floating-point parameters and buffers
    are averaged, other buffers (counters) copied.
    """

    def __init__(self, model: nn.Module, decay: float):
        if not 0.0 <= decay < 1.0:  # configs are checked on load: a caller's bug
            raise ValueError(f"EMA decay must be in [0, 1), got {decay}")
        self.decay = decay
        self.module = copy.deepcopy(model).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        current = model.state_dict()
        for name, average in self.module.state_dict().items():
            if average.is_floating_point():
                average.lerp_(current[name].to(average.dtype), 1.0 - self.decay)
            else:
                average.copy_(current[name])
