"""Multi-band multi-resolution STFT discriminator (DAC): the complex spectrogram split into
frequency bands, each band with its own conv stack, joined for the final conv."""

from __future__ import annotations

import torch
from torch import nn

from simvq_audio.audio.conv import wn_conv2d
from simvq_audio.audio.discriminators.group import DiscriminatorGroup
from simvq_audio.audio.discriminators.resolution import run_stack, spectral_conv_stack


class BandDiscriminator(nn.Module):
    """``wav [B, T]`` -> ``(logits [B, n], features)`` at one FFT size (hop ``n_fft / 4``).

    The STFT's real and imaginary parts are two input channels ``[B, 2, frames, bins]``; the
    bins are cut at ``band_edges`` (fractions of Nyquist).
    """

    def __init__(self, n_fft: int, band_edges: list[float], channels: int):
        super().__init__()
        self.n_fft = n_fft
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)
        bins = n_fft // 2 + 1
        self.bands = [(int(lo * bins), int(hi * bins))
                      for lo, hi in zip(band_edges, band_edges[1:])]
        self.stacks = nn.ModuleList(spectral_conv_stack(2, channels) for _ in self.bands)
        self.post = wn_conv2d(channels, 1, (3, 3), padding=(1, 1))

    def forward(self, wav: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        with torch.autocast(wav.device.type, enabled=False):
            spec = torch.stft(wav.float(), self.n_fft, self.n_fft // 4, window=self.window,
                              return_complex=True)
        x = torch.view_as_real(spec).permute(0, 3, 2, 1)  # [B, 2, frames, bins]
        outputs, features = [], []
        for (lo, hi), stack in zip(self.bands, self.stacks):
            out, band_features = run_stack(stack, x[..., lo:hi])
            outputs.append(out)
            features += band_features
        return self.post(torch.cat(outputs, dim=-1)).flatten(1), features


class MultiBandDiscriminator(DiscriminatorGroup):
    """One :class:`BandDiscriminator` per FFT size (paper: 2048, 1024, 512)."""

    def __init__(self, fft_sizes: list[int], band_edges: list[float], channels: int):
        super().__init__(
            BandDiscriminator(n_fft, band_edges, channels) for n_fft in fft_sizes)
