"""HiFi-GAN multi-period discriminator: the waveform folded into ``[T / p, p]`` images."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from simvq_audio.audio.conv import wn_conv2d
from simvq_audio.audio.discriminators.group import DiscriminatorGroup


class PeriodDiscriminator(nn.Module):
    """``wav [B, T]`` -> ``(logits [B, n], features)`` for one period ``p``.

    Strided ``(5, 1)`` convs (stride 3 along time) through ``channels``, one more unstrided
    conv, and a ``(3, 1)`` conv to one logit channel; LeakyReLU 0.1.
    """

    def __init__(self, period: int, channels: list[int]):
        super().__init__()
        self.period = period
        sizes = [1, *channels]
        self.convs = nn.ModuleList(
            [wn_conv2d(a, b, (5, 1), (3, 1), padding=(2, 0)) for a, b in zip(sizes, sizes[1:])]
            + [wn_conv2d(channels[-1], channels[-1], (5, 1), padding=(2, 0))])
        self.post = wn_conv2d(channels[-1], 1, (3, 1), padding=(1, 0))

    def forward(self, wav: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        extra = -wav.shape[-1] % self.period
        x = F.pad(wav.unsqueeze(1), (0, extra), mode="reflect")
        x = x.view(x.shape[0], 1, -1, self.period)
        features = []
        for conv in self.convs:
            x = F.leaky_relu(conv(x), 0.1)
            features.append(x)
        return self.post(x).flatten(1), features


class MultiPeriodDiscriminator(DiscriminatorGroup):
    """One :class:`PeriodDiscriminator` per period (paper: 2, 3, 5, 7, 11)."""

    def __init__(self, periods: list[int], channels: list[int]):
        super().__init__(PeriodDiscriminator(p, channels) for p in periods)
