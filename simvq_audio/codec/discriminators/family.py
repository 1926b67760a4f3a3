"""A discriminator family: sub-discriminators run on the same waveform, with DAC's optional input
preprocessing."""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

import torch
from torch import nn

DAC_PEAK = 0.8


class FamilyOutput(NamedTuple):
    """One entry per sub-discriminator: ``logits [B, n]`` and the list of feature maps that
    feature matching compares (each ``[B, ...]``)."""

    logits: list[torch.Tensor]
    features: list[list[torch.Tensor]]


def dac_preprocess(wav: torch.Tensor) -> torch.Tensor:
    """DAC's discriminator input: ``wav [B, T]`` without its mean, scaled to a peak of 0.8
    (float32; a silent row stays zero)."""
    with torch.autocast(wav.device.type, enabled=False):
        wav = wav.float()
        wav = wav - wav.mean(dim=-1, keepdim=True)
        return DAC_PEAK * wav / (wav.abs().max(dim=-1, keepdim=True).values + 1e-9)


class DiscriminatorFamily(nn.Module):
    """Sub-discriminators ``wav [B, T] -> (logits [B, n], features)``; ``forward(wav [B, T])``
    returns their :class:`FamilyOutput`. ``preprocess``: apply :func:`dac_preprocess` first."""

    def __init__(self, discriminators: Iterable[nn.Module], preprocess: bool = False):
        super().__init__()
        self.discriminators = nn.ModuleList(discriminators)
        self.preprocess = preprocess

    def forward(self, wav: torch.Tensor) -> FamilyOutput:
        if self.preprocess:
            wav = dac_preprocess(wav)
        outputs = [d(wav) for d in self.discriminators]
        return FamilyOutput([logits for logits, _ in outputs],
                            [features for _, features in outputs])
