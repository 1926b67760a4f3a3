"""Causal SEANet encoder (EnCodec style): waveform ``[B, T]`` -> latents ``[B, d, T / hop]``."""

from __future__ import annotations

import math

import torch
from torch import nn

from simvq_audio.audio.conv import CausalConv1d
from simvq_audio.config import EncoderConfig
from simvq_audio.errors import UserInputError


class ResidualUnit(nn.Module):
    """``x + block(x)`` with ``block = ELU, conv k (dim -> dim/2), ELU, conv 1 (dim/2 -> dim)``
    and a 1x1 conv on the skip path. ``[B, dim, T]`` -> ``[B, dim, T]``."""

    def __init__(self, dim: int, kernel_size: int, dilation: int = 1):
        super().__init__()
        self.block = nn.Sequential(
            nn.ELU(), CausalConv1d(dim, dim // 2, kernel_size, dilation=dilation),
            nn.ELU(), CausalConv1d(dim // 2, dim, 1))
        self.shortcut = CausalConv1d(dim, dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shortcut(x) + self.block(x)


class SkipLSTM(nn.Module):
    """Unidirectional LSTM with a residual connection: ``[B, C, T]`` -> ``[B, C, T]``.

    Causal; ``state`` is the LSTM's ``(h, c)``, which a streaming encoder carries between
    chunks (``None``: zeros, the start of the signal)."""

    def __init__(self, dim: int, num_layers: int):
        super().__init__()
        self.lstm = nn.LSTM(dim, dim, num_layers)

    def forward(self, x: torch.Tensor,
                state: tuple[torch.Tensor, torch.Tensor] | None = None
                ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        sequence = x.permute(2, 0, 1)
        y, state = self.lstm(sequence, state)
        return (y + sequence).permute(1, 2, 0), state


class Encoder(nn.Module):
    """``wav [B, T]`` (T a multiple of ``hop_length``) -> ``z [B, dim, T / hop_length]``.

    Conv in, then per stride: residual units (dilations 1, 2, 4, ...), ELU, a strided conv
    (kernel ``2 * stride``) doubling the channels; then the skip LSTM, ELU and a conv to
    ``dim``. Every conv is causal, so frame ``t`` depends only on samples before
    ``(t + 1) * hop_length``.
    """

    def __init__(self, config: EncoderConfig, dim: int):
        super().__init__()
        self.hop_length = math.prod(config.strides)
        channels = config.channels
        layers: list[nn.Module] = [CausalConv1d(1, channels, config.kernel_size)]
        for stride in config.strides:
            layers += [ResidualUnit(channels, config.residual_kernel_size, dilation=2 ** j)
                       for j in range(config.residual_units)]
            layers += [nn.ELU(), CausalConv1d(channels, 2 * channels, 2 * stride, stride)]
            channels *= 2
        self.downsample = nn.Sequential(*layers)
        self.lstm = SkipLSTM(channels, config.lstm_layers)
        self.project = nn.Sequential(nn.ELU(), CausalConv1d(channels, dim, config.last_kernel_size))

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        if wav.dim() != 2 or wav.shape[-1] % self.hop_length:
            raise UserInputError(f"encoder expects wav [B, T] with T a multiple of "
                                 f"{self.hop_length}, got {tuple(wav.shape)}")
        x = self.downsample(wav.unsqueeze(1))
        x, _ = self.lstm(x)
        return self.project(x)
