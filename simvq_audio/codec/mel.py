"""Log-mel front end without librosa or torchaudio, in two conventions:

* ``"librosa"`` (librosa's defaults: ``htk=False``, ``norm="slaney"``, ``pad_mode="constant"``):
  the Slaney mel scale, linear below 1 kHz and logarithmic above, each triangle scaled to unit
  area, frames centred with zero padding. The metrics (:mod:`simvq_audio.metrics.mel_distance`)
  and the collapse study use it.
* ``"torchaudio"`` (``torchaudio.transforms.MelSpectrogram``'s defaults, which the SimVQ
  reference's mel loss uses): the HTK scale ``2595 log10(1 + f / 700)``, unnormalised triangles,
  frames centred with reflect padding. The filters are built in float32 the way torchaudio builds
  them, so they equal torchaudio's to the last bit, not only to rounding.

Both use a periodic Hann window of ``n_fft`` and the magnitude (``power`` 1) by default.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import nn

from simvq_audio.errors import UserInputError

MelStyle = Literal["librosa", "torchaudio"]
MEL_STYLES = ("librosa", "torchaudio")

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


def _triangles(fft_hz: torch.Tensor, edges_hz: torch.Tensor) -> torch.Tensor:
    """Triangles ``[n_mels, F]`` rising from ``edges_hz[i]`` to a peak of 1 at
    ``edges_hz[i + 1]`` and falling to 0 at ``edges_hz[i + 2]``, sampled at ``fft_hz [F]``."""
    widths = edges_hz.diff()                                   # [n_mels + 1]
    offsets = edges_hz[:, None] - fft_hz[None, :]              # [n_mels + 2, F]
    rising = -offsets[:-2] / widths[:-1, None]
    falling = offsets[2:] / widths[1:, None]
    return torch.minimum(rising, falling).clamp_min(0)


def mel_filters(sample_rate: int, n_fft: int, n_mels: int, f_min: float = 0.0,
                f_max: float | None = None, style: MelStyle = "librosa") -> torch.Tensor:
    """Triangular mel filters ``[n_mels, n_fft // 2 + 1]`` (float32) in ``style``'s convention
    (see the module docstring). ``f_max`` defaults to the Nyquist frequency (torchaudio:
    ``sample_rate // 2``)."""
    if style not in MEL_STYLES:
        raise UserInputError(f"mel style must be one of {MEL_STYLES}, got {style!r}")
    if f_max is None:
        f_max = float(sample_rate // 2) if style == "torchaudio" else sample_rate / 2
    if not 0 <= f_min < f_max <= sample_rate / 2:
        raise UserInputError(f"mel filters need 0 <= f_min < f_max <= sample_rate / 2, got "
                             f"f_min={f_min}, f_max={f_max}, sample_rate={sample_rate}")
    if n_mels < 1 or n_fft < 2:
        raise UserInputError(f"mel filters need n_mels >= 1 and n_fft >= 2, "
                             f"got n_mels={n_mels}, n_fft={n_fft}")
    bins = n_fft // 2 + 1
    if style == "torchaudio":
        # float32 throughout, the band edges from Python floats, as torchaudio does it
        fft_hz = torch.linspace(0, sample_rate // 2, bins)
        htk = [2595.0 * math.log10(1.0 + f / 700.0) for f in (f_min, f_max)]
        edges_hz = 700.0 * (10.0 ** (torch.linspace(htk[0], htk[1], n_mels + 2) / 2595.0) - 1.0)
        return _triangles(fft_hz, edges_hz)
    fft_hz = torch.linspace(0, sample_rate / 2, bins, dtype=torch.float64)
    edges_mel = torch.linspace(float(hz_to_mel(torch.tensor(f_min, dtype=torch.float64))),
                               float(hz_to_mel(torch.tensor(f_max, dtype=torch.float64))),
                               n_mels + 2, dtype=torch.float64)
    edges_hz = mel_to_hz(edges_mel)
    area_norm = 2.0 / (edges_hz[2:] - edges_hz[:-2])
    return (_triangles(fft_hz, edges_hz) * area_norm[:, None]).float()


class MelSpectrogram(nn.Module):
    """``wav [B, T]`` -> mel spectrogram ``[B, n_mels, 1 + T // hop_length]``.

    Periodic Hann window of length ``n_fft``, frames centred (``n_fft // 2`` samples of padding on
    both sides: zeros for ``style="librosa"``, a reflection for ``"torchaudio"``), magnitude raised
    to ``power`` (1: magnitude, 2: power). Computed in float32 even under autocast. Take ``log``
    yourself (see :func:`log_mel`).
    """

    def __init__(self, sample_rate: int, n_fft: int, hop_length: int, n_mels: int,
                 f_min: float = 0.0, f_max: float | None = None, power: float = 1.0,
                 style: MelStyle = "librosa"):
        super().__init__()
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.power = power
        self.pad_mode = "reflect" if style == "torchaudio" else "constant"
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)
        self.register_buffer("filters", mel_filters(sample_rate, n_fft, n_mels, f_min, f_max,
                                                    style), persistent=False)

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        if wav.dim() != 2:
            raise UserInputError(f"MelSpectrogram expects wav [B, T], got {tuple(wav.shape)}")
        with torch.autocast(wav.device.type, enabled=False):
            spec = torch.stft(wav.float(), self.n_fft, self.hop_length, window=self.window,
                              center=True, pad_mode=self.pad_mode, return_complex=True)
            magnitude = spec.abs()
            if self.power != 1.0:
                magnitude = magnitude.pow(self.power)
            # [B, frames, F] @ [F, n_mels], torchaudio's order of the products
            return torch.matmul(magnitude.transpose(1, 2), self.filters.T).transpose(1, 2)


def log_mel(mel: torch.Tensor, floor: float = 1e-5) -> torch.Tensor:
    """Natural log of a mel spectrogram, floored at ``floor`` (any shape)."""
    return torch.log(mel.clamp_min(floor))
