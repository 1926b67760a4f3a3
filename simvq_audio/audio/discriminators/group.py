"""A family of sub-discriminators run on the same waveform."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn


class DiscriminatorGroup(nn.Module):
    """Holds sub-discriminators ``wav [B, T] -> (logits [B, n], features list)`` and returns
    ``(logits list, features list of lists)``, one entry per sub-discriminator."""

    def __init__(self, discriminators: Iterable[nn.Module]):
        super().__init__()
        self.discriminators = nn.ModuleList(discriminators)

    def forward(self, wav: torch.Tensor) -> tuple[list[torch.Tensor], list[list[torch.Tensor]]]:
        outputs = [d(wav) for d in self.discriminators]
        return [logits for logits, _ in outputs], [features for _, features in outputs]
