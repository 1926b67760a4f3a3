"""DAC's multi-band multi-resolution STFT discriminator: the complex spectrogram split into
frequency bands, each band with its own conv stack, joined for the final conv."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from simvq_audio.codec.conv import wn_conv2d
from simvq_audio.codec.discriminators.family import DiscriminatorFamily

SLOPE = 0.1


def band_stack(channels: int) -> nn.ModuleList:
    """The convs of one band, on ``[B, C, frames, bins]``: ``(3, 9)``, three ``(3, 9)`` halving
    the bins, ``(3, 3)``."""
    return nn.ModuleList([
        wn_conv2d(2, channels, (3, 9), padding=(1, 4)),
        *[wn_conv2d(channels, channels, (3, 9), (1, 2), padding=(1, 4)) for _ in range(3)],
        wn_conv2d(channels, channels, (3, 3), padding=(1, 1))])


class BandDiscriminator(nn.Module):
    """``wav [B, T]`` -> ``(logits [B, n], features)`` at one FFT size.

    The STFT (rectangular window of ``n_fft``, hop ``n_fft // 4``, frames centred with reflect
    padding, float32) gives its real and imaginary parts as two channels
    ``[B, 2, frames, bins]``; the bins are cut at ``int(edge * bins)`` for each of
    ``band_edges`` (fractions of Nyquist). Every conv is followed by LeakyReLU 0.1. Feature
    maps: every band's activations, band by band (25 for five bands), not the logits.
    """

    def __init__(self, n_fft: int, band_edges: list[float], channels: int):
        super().__init__()
        self.n_fft = n_fft
        self.register_buffer("window", torch.ones(n_fft), persistent=False)
        bins = n_fft // 2 + 1
        self.bands = [(int(lo * bins), int(hi * bins))
                      for lo, hi in zip(band_edges, band_edges[1:])]
        self.stacks = nn.ModuleList(band_stack(channels) for _ in self.bands)
        self.post = wn_conv2d(channels, 1, (3, 3), padding=(1, 1))

    def forward(self, wav: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        with torch.autocast(wav.device.type, enabled=False):
            spec = torch.stft(wav.float(), self.n_fft, self.n_fft // 4, window=self.window,
                              center=True, pad_mode="reflect", return_complex=True)
        x = torch.view_as_real(spec).permute(0, 3, 2, 1)  # [B, 2, frames, bins]
        outputs, features = [], []
        for (lo, hi), stack in zip(self.bands, self.stacks):
            band = x[..., lo:hi]
            for conv in stack:
                band = F.leaky_relu(conv(band), SLOPE)
                features.append(band)
            outputs.append(band)
        return self.post(torch.cat(outputs, dim=-1)).flatten(1), features


def dac_multi_band(fft_sizes: list[int], band_edges: list[float],
                   channels: int) -> DiscriminatorFamily:
    """DAC's multi-band family on the DAC-preprocessed waveform: one
    :class:`BandDiscriminator` per FFT size, all cut at ``band_edges``."""
    return DiscriminatorFamily((BandDiscriminator(n_fft, band_edges, channels)
                                for n_fft in fft_sizes), preprocess=True)
