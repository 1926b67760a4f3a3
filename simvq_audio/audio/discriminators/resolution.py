"""Multi-resolution STFT discriminator (UnivNet / Vocos): 2-D convs on magnitude spectrograms."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from simvq_audio.audio.conv import wn_conv2d
from simvq_audio.audio.discriminators.group import DiscriminatorGroup


def spectral_conv_stack(in_channels: int, channels: int) -> nn.ModuleList:
    """The conv stack shared by the spectral discriminators, on ``[B, C, frames, bins]``:
    a ``(3, 9)`` conv, three ``(3, 9)`` convs halving the bins, a ``(3, 3)`` conv."""
    return nn.ModuleList([
        wn_conv2d(in_channels, channels, (3, 9), padding=(1, 4)),
        *[wn_conv2d(channels, channels, (3, 9), (1, 2), padding=(1, 4)) for _ in range(3)],
        wn_conv2d(channels, channels, (3, 3), padding=(1, 1))])


def run_stack(stack: nn.ModuleList, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Apply ``stack`` with LeakyReLU 0.1; returns the output and every layer's activation."""
    features = []
    for conv in stack:
        x = F.leaky_relu(conv(x), 0.1)
        features.append(x)
    return x, features


class ResolutionDiscriminator(nn.Module):
    """``wav [B, T]`` -> ``(logits [B, n], features)`` from the magnitude STFT at one
    resolution (Hann window of ``n_fft``, centred frames)."""

    def __init__(self, n_fft: int, hop_length: int, channels: int):
        super().__init__()
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)
        self.stack = spectral_conv_stack(1, channels)
        self.post = wn_conv2d(channels, 1, (3, 3), padding=(1, 1))

    def forward(self, wav: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        with torch.autocast(wav.device.type, enabled=False):
            spec = torch.stft(wav.float(), self.n_fft, self.hop_length, window=self.window,
                              return_complex=True).abs()
        x, features = run_stack(self.stack, spec.transpose(1, 2).unsqueeze(1))
        return self.post(x).flatten(1), features


class MultiResolutionDiscriminator(DiscriminatorGroup):
    """One :class:`ResolutionDiscriminator` per ``[n_fft, hop]`` pair."""

    def __init__(self, resolutions: list[list[int]], channels: int):
        super().__init__(
            ResolutionDiscriminator(n_fft, hop, channels) for n_fft, hop in resolutions)
