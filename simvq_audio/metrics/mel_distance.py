"""Multi-resolution log-mel distance: mean absolute difference of log-mel spectrograms."""

from __future__ import annotations

import functools

import numpy as np
import torch

from simvq_audio.codec.mel import MelSpectrogram, log_mel

# (n_fft, hop_length, n_mels); the middle one is the codec's training mel (the SimVQ reference's:
# 100 mels, n_fft 1024, hop 256).
RESOLUTIONS: tuple[tuple[int, int, int], ...] = ((512, 128, 64), (1024, 256, 100),
                                                 (2048, 512, 128))


@functools.lru_cache(maxsize=8)
def _mel_bank(sample_rate: int) -> tuple[MelSpectrogram, ...]:
    return tuple(MelSpectrogram(sample_rate, n_fft, hop, n_mels)
                 for n_fft, hop, n_mels in RESOLUTIONS)


def mel_distance(ref: np.ndarray, hyp: np.ndarray, sample_rate: int) -> float:
    """L1 distance between natural-log mel spectrograms (floor 1e-5) of ``ref [T]`` and
    ``hyp [T]`` (same length), averaged over :data:`RESOLUTIONS`. 0 for identical signals;
    lower is better. Computed at ``sample_rate`` (the reference's rate)."""
    pair = torch.from_numpy(np.stack([ref, hyp]).astype(np.float32))     # [2, T]
    distances = []
    with torch.no_grad():
        for mel in _mel_bank(sample_rate):
            ref_mel, hyp_mel = log_mel(mel(pair))                             # [n_mels, F] each
            distances.append((ref_mel - hyp_mel).abs().mean())
    return float(torch.stack(distances).mean())
