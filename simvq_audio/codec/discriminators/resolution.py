"""Vocos (UnivNet) multi-resolution discriminator: 2-D convs on magnitude spectrograms."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from simvq_audio.codec.conv import wn_conv2d
from simvq_audio.codec.discriminators.family import DiscriminatorFamily

SLOPE = 0.1


class ResolutionDiscriminator(nn.Module):
    """``wav [B, T]`` -> ``(logits [B, n], features)`` at one STFT resolution.

    The magnitude STFT (rectangular window of ``n_fft``, frames centred with reflect padding,
    float32) is an image ``[B, 1, bins, frames]``; five convs of ``channels`` with LeakyReLU
    0.1 halve it (``(7, 5)`` by 2 x 2, ``(5, 3)`` by 2 x 1, ``(5, 3)`` by 2 x 2, ``3`` by
    2 x 1, ``3`` by 2 x 2), a ``(3, 3)`` conv gives the logits. Feature maps: the five
    activations and the logits map.
    """

    def __init__(self, n_fft: int, hop_length: int, channels: int):
        super().__init__()
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.register_buffer("window", torch.ones(n_fft), persistent=False)
        self.convs = nn.ModuleList([
            wn_conv2d(1, channels, (7, 5), (2, 2), padding=(3, 2)),
            wn_conv2d(channels, channels, (5, 3), (2, 1), padding=(2, 1)),
            wn_conv2d(channels, channels, (5, 3), (2, 2), padding=(2, 1)),
            wn_conv2d(channels, channels, 3, (2, 1), padding=1),
            wn_conv2d(channels, channels, 3, (2, 2), padding=1)])
        self.post = wn_conv2d(channels, 1, (3, 3), padding=(1, 1))

    def forward(self, wav: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        with torch.autocast(wav.device.type, enabled=False):
            x = torch.stft(wav.float(), self.n_fft, self.hop_length, window=self.window,
                           center=True, pad_mode="reflect", return_complex=True).abs()
        x = x.unsqueeze(1)
        features = []
        for conv in self.convs:
            x = F.leaky_relu(conv(x), SLOPE)
            features.append(x)
        logits = self.post(x)
        return logits.flatten(1), features + [logits]


def multi_resolution(resolutions: list[list[int]], channels: int) -> DiscriminatorFamily:
    """Vocos multi-resolution family: one :class:`ResolutionDiscriminator` per
    ``[n_fft, hop_length]`` pair of ``resolutions``."""
    return DiscriminatorFamily(ResolutionDiscriminator(n_fft, hop, channels)
                               for n_fft, hop in resolutions)
