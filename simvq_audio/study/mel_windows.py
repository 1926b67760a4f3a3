"""Vectors for the collapse study: windows of consecutive log-mel frames, cut at a fine hop.

A window is ``context`` log-mel frames spaced ``FRAME_STEP`` samples apart (the mel front end's
usual hop), so each window covers the same stretch of audio whatever hop it was cut at. Cutting
windows every ``hop`` samples (a divisor of ``FRAME_STEP``) instead of every ``FRAME_STEP`` gives
``FRAME_STEP / hop`` times more vectors from the same audio: time-shift augmentation for training,
and a held-out set large enough that every code of a big codebook can be reached. Neighbouring
windows cut at a fine hop are strongly correlated; :attr:`MelWindows.seconds` says how much
audio they come from.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from simvq_audio.codec.mel import MelSpectrogram, log_mel
from simvq_audio.errors import UserInputError

SAMPLE_RATE = 24000
N_FFT = 1024
FRAME_STEP = 256
N_MELS = 80
HOPS = (256, 128, 64, 32, 16, 8)
"""Window hops (samples) the study may cut at: divisors of :data:`FRAME_STEP`, coarsest first."""


class MelWindows:
    """All windows of some waveforms. ``frames [F, n_mels]`` holds every utterance's log-mel
    frames at ``hop``, concatenated; ``starts [N]`` the frame index of each window's first frame.

    Args:
        waveforms: ``[T_i]`` float32 waveforms at :data:`SAMPLE_RATE`.
        context: mel frames per window.
        hop: samples between the starts of consecutive windows (one of :data:`HOPS`).
    """

    def __init__(self, waveforms: Sequence[torch.Tensor], context: int, hop: int):
        if hop not in HOPS:
            raise UserInputError(f"window hop must be one of {HOPS}, got {hop}")
        self.context = context
        self.hop = hop
        self.stride = FRAME_STEP // hop  # frames at `hop` between a window's mel frames
        mel = MelSpectrogram(SAMPLE_RATE, N_FFT, hop, N_MELS)
        frames, starts, offset = [], [], 0
        span = (context - 1) * self.stride
        with torch.no_grad():
            for wav in waveforms:
                utterance = log_mel(mel(wav.reshape(1, -1)))[0].t()  # [F_i, n_mels]
                count = utterance.shape[0] - span
                if count > 0:
                    frames.append(utterance)
                    starts.append(torch.arange(offset, offset + count))
                    offset += utterance.shape[0]
        if not frames:
            raise UserInputError(f"no utterance is long enough for a window of {context} mel "
                                 f"frames ({(span * hop + N_FFT) / SAMPLE_RATE:.2f} s)")
        self.frames = torch.cat(frames)
        self.starts = torch.cat(starts)
        self.seconds = sum(wav.numel() for wav in waveforms) / SAMPLE_RATE
        self.offsets = torch.arange(context) * self.stride

    @property
    def dim(self) -> int:
        """Length of one flattened window: ``context * n_mels``."""
        return self.context * self.frames.shape[1]

    def __len__(self) -> int:
        return self.starts.numel()

    def gather(self, window_ids: torch.Tensor) -> torch.Tensor:
        """Windows ``window_ids [B]`` (indices into ``starts``) as ``[B, context * n_mels]``."""
        rows = self.starts[window_ids][:, None] + self.offsets[None, :]
        return self.frames[rows].reshape(window_ids.numel(), -1)

    def standardise(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        """Map every frame to ``(frame - mean) / std`` (``mean, std [n_mels]``)."""
        self.frames = (self.frames - mean) / std

    def keep(self, count: int) -> None:
        """Keep ``count`` windows evenly spaced over the whole set (all of them if fewer)."""
        if count < len(self):
            picks = torch.linspace(0, len(self) - 1, count).round().long()
            self.starts = self.starts[picks]


def window_count(lengths: Sequence[int], context: int, hop: int) -> int:
    """How many windows :class:`MelWindows` cuts from waveforms of ``lengths`` samples."""
    span = (context - 1) * (FRAME_STEP // hop)
    return sum(max(0, 1 + length // hop - span) for length in lengths)


def hop_for(lengths: Sequence[int], vectors: int, context: int) -> int:
    """The coarsest hop in :data:`HOPS` that cuts at least ``vectors`` windows of ``context``
    frames from waveforms of ``lengths`` samples; the finest hop when none does."""
    return next((hop for hop in HOPS if window_count(lengths, context, hop) >= vectors),
                HOPS[-1])
