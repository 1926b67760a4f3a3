"""Log-mel front end without librosa or torchaudio: Slaney mel filters and a mel spectrogram.

The filters match librosa's defaults (``htk=False``, ``norm="slaney"``): the mel scale is linear
below 1 kHz and logarithmic above, and each triangle is scaled to unit area.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from simvq_audio.errors import UserInputError

_LINEAR_HZ_PER_MEL = 200.0 / 3
_BREAK_HZ = 1000.0
_BREAK_MEL = _BREAK_HZ / _LINEAR_HZ_PER_MEL
_LOG_STEP = math.log(6.4) / 27.0


def hz_to_mel(hz: torch.Tensor) -> torch.Tensor:
    """Slaney mel scale of frequencies ``hz`` (any shape, float64 recommended)."""
    linear = hz / _LINEAR_HZ_PER_MEL
    logarithmic = _BREAK_MEL + torch.log(hz.clamp_min(_BREAK_HZ) / _BREAK_HZ) / _LOG_STEP
    return torch.where(hz >= _BREAK_HZ, logarithmic, linear)


def mel_to_hz(mel: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`hz_to_mel`."""
    linear = mel * _LINEAR_HZ_PER_MEL
    logarithmic = _BREAK_HZ * torch.exp(_LOG_STEP * (mel.clamp_min(_BREAK_MEL) - _BREAK_MEL))
    return torch.where(mel >= _BREAK_MEL, logarithmic, linear)


def mel_filters(sample_rate: int, n_fft: int, n_mels: int, f_min: float = 0.0,
                f_max: float | None = None) -> torch.Tensor:
    """Triangular Slaney-normalised mel filters ``[n_mels, n_fft // 2 + 1]`` (float32).

    ``f_max`` defaults to the Nyquist frequency ``sample_rate / 2``.
    """
    f_max = sample_rate / 2 if f_max is None else f_max
    if not 0 <= f_min < f_max <= sample_rate / 2:
        raise UserInputError(f"mel filters need 0 <= f_min < f_max <= sample_rate / 2, got "
                             f"f_min={f_min}, f_max={f_max}, sample_rate={sample_rate}")
    if n_mels < 1 or n_fft < 2:
        raise UserInputError(f"mel filters need n_mels >= 1 and n_fft >= 2, "
                             f"got n_mels={n_mels}, n_fft={n_fft}")
    fft_hz = torch.linspace(0, sample_rate / 2, n_fft // 2 + 1, dtype=torch.float64)
    edges_mel = torch.linspace(float(hz_to_mel(torch.tensor(f_min, dtype=torch.float64))),
                               float(hz_to_mel(torch.tensor(f_max, dtype=torch.float64))),
                               n_mels + 2, dtype=torch.float64)
    edges_hz = mel_to_hz(edges_mel)
    widths = edges_hz.diff()                                   # [n_mels + 1]
    offsets = edges_hz[:, None] - fft_hz[None, :]              # [n_mels + 2, F]
    rising = -offsets[:-2] / widths[:-1, None]
    falling = offsets[2:] / widths[1:, None]
    triangles = torch.minimum(rising, falling).clamp_min(0)   # [n_mels, F]
    area_norm = 2.0 / (edges_hz[2:] - edges_hz[:-2])
    return (triangles * area_norm[:, None]).float()


class MelSpectrogram(nn.Module):
    """``wav [B, T]`` -> mel spectrogram ``[B, n_mels, 1 + T // hop_length]``.

    Hann window of length ``n_fft``, frames centred (zero padding of ``n_fft // 2`` on both
    sides, librosa's default), magnitude raised to ``power`` (1: magnitude, 2: power).
    Computed in float32 even under autocast. Take ``log`` yourself (see
    :func:`log_mel`).
    """

    def __init__(self, sample_rate: int, n_fft: int, hop_length: int, n_mels: int,
                 f_min: float = 0.0, f_max: float | None = None, power: float = 1.0):
        super().__init__()
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.power = power
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)
        self.register_buffer("filters", mel_filters(sample_rate, n_fft, n_mels, f_min, f_max),
                             persistent=False)

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        if wav.dim() != 2:
            raise UserInputError(f"MelSpectrogram expects wav [B, T], got {tuple(wav.shape)}")
        with torch.autocast(wav.device.type, enabled=False):
            spec = torch.stft(wav.float(), self.n_fft, self.hop_length, window=self.window,
                              center=True, pad_mode="constant", return_complex=True)
            magnitude = spec.abs()
            if self.power != 1.0:
                magnitude = magnitude.pow(self.power)
            return torch.matmul(self.filters, magnitude)


def log_mel(mel: torch.Tensor, floor: float = 1e-5) -> torch.Tensor:
    """Natural log of a mel spectrogram, floored at ``floor`` (any shape)."""
    return torch.log(mel.clamp_min(floor))
