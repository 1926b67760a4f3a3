"""HiFi-GAN multi-period discriminator: the waveform folded into ``[T / p, p]`` images. The
Vocos and DAC families use the same network and differ in padding and feature maps."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from simvq_audio.codec.conv import wn_conv2d
from simvq_audio.codec.discriminators.family import DiscriminatorFamily

KERNEL, STRIDE, SLOPE = 5, 3, 0.1


class PeriodDiscriminator(nn.Module):
    """``wav [B, T]`` -> ``(logits [B, n], features)`` for one period ``p``.

    Strided ``(5, 1)`` convs (stride 3 along time) through ``channels``, one more unstrided
    conv, each followed by LeakyReLU 0.1, and a ``(3, 1)`` conv to one logit channel.

    Args:
        period: fold width ``p``; the waveform is first padded on the right by reflection.
        channels: output channels of the strided convs.
        always_pad: pad ``p - T % p`` samples, a whole period when ``T % p == 0`` (DAC);
            otherwise only up to the next multiple of ``p`` (Vocos).
        first_feature: the first hidden activation returned as a feature map (Vocos 1, DAC 0).
        logits_feature: append the logits map ``[B, 1, frames, p]`` to the feature maps (Vocos).
    """

    def __init__(self, period: int, channels: list[int], always_pad: bool = False,
                 first_feature: int = 0, logits_feature: bool = False):
        super().__init__()
        self.period = period
        self.always_pad = always_pad
        self.first_feature = first_feature
        self.logits_feature = logits_feature
        sizes = [1, *channels]
        self.convs = nn.ModuleList(
            [wn_conv2d(a, b, (KERNEL, 1), (STRIDE, 1), padding=(KERNEL // 2, 0))
             for a, b in zip(sizes, sizes[1:])]
            + [wn_conv2d(channels[-1], channels[-1], (KERNEL, 1), padding=(KERNEL // 2, 0))])
        self.post = wn_conv2d(channels[-1], 1, (3, 1), padding=(1, 0))

    def forward(self, wav: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        length = wav.shape[-1]
        extra = self.period - length % self.period if self.always_pad else -length % self.period
        x = F.pad(wav.unsqueeze(1), (0, extra), mode="reflect")
        x = x.view(x.shape[0], 1, -1, self.period)
        hidden = []
        for conv in self.convs:
            x = F.leaky_relu(conv(x), SLOPE)
            hidden.append(x)
        logits = self.post(x)
        features = hidden[self.first_feature:] + ([logits] if self.logits_feature else [])
        return logits.flatten(1), features


def multi_period(periods: list[int], channels: list[int]) -> DiscriminatorFamily:
    """Vocos (HiFi-GAN) multi-period family, one :class:`PeriodDiscriminator` per period: pads
    only up to a whole number of periods; feature maps: the hidden maps but the first, and the
    logits map."""
    return DiscriminatorFamily(
        PeriodDiscriminator(p, channels, first_feature=1, logits_feature=True) for p in periods)


def dac_multi_period(periods: list[int], channels: list[int]) -> DiscriminatorFamily:
    """DAC's multi-period family: the same networks on the DAC-preprocessed waveform, always
    padded (a whole period when ``T % p == 0``); feature maps: every hidden map."""
    return DiscriminatorFamily((PeriodDiscriminator(p, channels, always_pad=True)
                                for p in periods), preprocess=True)
