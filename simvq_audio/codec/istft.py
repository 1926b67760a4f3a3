"""STFT with "same" padding, its inverse by overlap-add (whole or streamed), and the decoder's
ISTFT head.

"Same" padding (as in Vocos): the signal is padded by ``pad = (n_fft - hop) / 2`` on each side,
so ``T`` samples give ``T / hop`` frames and ``F`` frames give back exactly ``F * hop`` samples.
Frame ``f``'s window covers padded samples ``f * hop .. f * hop + n_fft - 1``, i.e. output
samples from ``f * hop - pad``: a sample is final once the frames up to
``floor((sample + pad) / hop)`` have arrived (for n_fft 1280, hop 320: two frames after its own).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from simvq_audio.errors import UserInputError


def same_padding(n_fft: int, hop_length: int) -> int:
    """Samples padded (STFT) or trimmed (inverse) on each side."""
    if n_fft < hop_length or (n_fft - hop_length) % 2:
        raise UserInputError(f"'same' padding needs n_fft >= hop and an even difference, "
                             f"got n_fft={n_fft}, hop={hop_length}")
    return (n_fft - hop_length) // 2


def stft_same(wav: torch.Tensor, n_fft: int, hop_length: int,
              window: torch.Tensor) -> torch.Tensor:
    """``wav [B, T]`` (T a multiple of hop) -> complex ``[B, n_fft // 2 + 1, T / hop]``."""
    pad = same_padding(n_fft, hop_length)
    padded = F.pad(wav.unsqueeze(1), (pad, pad), mode="reflect").squeeze(1)
    return torch.stft(padded, n_fft, hop_length, window=window, center=False,
                      return_complex=True)


class InverseSTFT(nn.Module):
    """Complex ``spec [B, n_fft // 2 + 1, F]`` -> ``wav [B, F * hop]``.

    Each frame is inverse-FFT'd, windowed (Hann), overlap-added, and divided by the
    overlap-added squared window, which inverts :func:`stft_same` exactly.
    """

    def __init__(self, n_fft: int, hop_length: int):
        super().__init__()
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.pad = same_padding(n_fft, hop_length)
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)

    def forward(self, spec: torch.Tensor) -> torch.Tensor:
        """One pass: a stream of all the frames at once, then its end."""
        start = self.start_overlap(spec.shape[0], spec.device, spec.real.dtype)
        wav, overlap = self.stream(spec, start, 0)
        return torch.cat([wav, self.finish(overlap, spec.shape[-1])], dim=-1)

    def start_overlap(self, batch: int, device: torch.device,
                      dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """The ``overlap`` of a stream that has not started: zeros ``[batch, n_fft - hop]``."""
        return torch.zeros(batch, self.n_fft - self.hop_length, device=device, dtype=dtype)

    def stream(self, spec: torch.Tensor, overlap: torch.Tensor, start: int
               ) -> tuple[torch.Tensor, torch.Tensor]:
        """Continue an inverse STFT: frames ``start .. start + n - 1`` as ``spec [B, bins, n]``
        (``n >= 0``) and ``overlap [B, n_fft - hop]`` (what earlier frames added to the samples
        after the last final one; zeros at the start) -> ``(wav, overlap)``.

        ``wav [B, m]``: the samples that no later frame reaches, divided by the window
        envelope, the stream's first ``pad`` samples left out, as :meth:`forward` does. Every
        piece of a stream followed by :meth:`finish` gives :meth:`forward` on all its frames.
        """
        num_frames, hop = spec.shape[-1], self.hop_length
        if not num_frames:
            return overlap[:, :0], overlap
        frames = torch.fft.irfft(spec, n=self.n_fft, dim=1) * self.window[None, :, None]
        summed = self._overlap_add(frames, (num_frames - 1) * hop + self.n_fft)
        summed = summed + F.pad(overlap, (0, summed.shape[-1] - overlap.shape[-1]))
        done = num_frames * hop
        first = start * hop
        wav = summed[:, :done] / self._envelope(first, first + done, start + num_frames)
        return wav[:, min(done, max(0, self.pad - first)):], summed[:, done:]

    def finish(self, overlap: torch.Tensor, num_frames: int) -> torch.Tensor:
        """The last samples of a stream of ``num_frames`` frames (``[B, m]``, up to ``pad``):
        what :meth:`forward` keeps of ``overlap`` (the value :meth:`stream` returned last)."""
        if not num_frames:
            return overlap[:, :0]
        first = num_frames * self.hop_length
        wav = overlap[:, :self.pad] / self._envelope(first, first + self.pad, num_frames)
        return wav[:, max(0, self.pad - first):]

    def _envelope(self, first: int, stop: int, num_frames: int) -> torch.Tensor:
        """``[stop - first]``: the overlap-added squared window at padded samples
        ``first .. stop - 1`` of ``num_frames`` frames (each of those samples lies under at
        least one frame)."""
        hop = self.hop_length
        low = max(0, (first - self.n_fft) // hop + 1)
        high = min(num_frames, (stop - 1) // hop + 1)
        squared = self.window.square()[None, :, None].expand(1, -1, high - low)
        summed = self._overlap_add(squared, (high - low - 1) * hop + self.n_fft)[0]
        offset = first - low * hop
        return summed[offset:offset + stop - first].clamp_min(1e-11)

    def _overlap_add(self, frames: torch.Tensor, length: int) -> torch.Tensor:
        """``frames [B, n_fft, F]`` -> ``[B, length]``."""
        summed = F.fold(frames, output_size=(1, length), kernel_size=(1, self.n_fft),
                        stride=(1, self.hop_length))
        return summed[:, 0, 0]


class ISTFTHead(nn.Module):
    """``x [B, F, dim]`` -> ``wav [B, F * hop]``: a linear layer predicts log-magnitude and
    phase per bin (:meth:`spectrum`); magnitude ``exp`` is clipped at 100; then
    :class:`InverseSTFT`. Runs in float32 under autocast."""

    def __init__(self, dim: int, n_fft: int, hop_length: int):
        super().__init__()
        self.out = nn.Linear(dim, n_fft + 2)
        self.istft = InverseSTFT(n_fft, hop_length)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        spec = self.spectrum(x)
        with torch.autocast(x.device.type, enabled=False):
            return self.istft(spec)

    def stream(self, x: torch.Tensor, overlap: torch.Tensor, start: int
               ) -> tuple[torch.Tensor, torch.Tensor]:
        """Continue a stream with frames ``start ..`` as ``x [B, n, dim]``: see
        :meth:`InverseSTFT.stream`."""
        spec = self.spectrum(x)
        with torch.autocast(x.device.type, enabled=False):
            return self.istft.stream(spec, overlap, start)

    def spectrum(self, x: torch.Tensor) -> torch.Tensor:
        """``x [B, F, dim]`` -> complex64 ``[B, n_fft // 2 + 1, F]``, frame by frame."""
        with torch.autocast(x.device.type, enabled=False):
            log_magnitude, phase = self.out(x.float()).transpose(1, 2).chunk(2, dim=1)
            return torch.polar(log_magnitude.exp().clamp(max=1e2), phase)
