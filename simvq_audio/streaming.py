"""Streaming encoding: a signal fed piece by piece gives exactly the tokens of one pass.

The encoder is causal: every :class:`~simvq_audio.audio.conv.CausalConv1d` pads its input with
``left_padding`` zeros on the left, and the skip LSTM starts from a zero state. To continue a
signal, each conv must see the last ``left_padding`` input samples of the previous piece instead
of those zeros, and the LSTM must start from the state the previous piece ended in. This module
does that without a second copy of the encoder's forward code: forward pre-hooks on each conv's
inner ``nn.Conv1d`` replace the zero padding with the carried history, and hooks on the LSTM
inject and record its ``(h, c)``. The hooks act only inside :meth:`StreamingEncoder._encode` (a
context variable holds the active stream), so ordinary forward calls, other streams and other
threads are unaffected. Pieces are whole multiples of the hop, so every strided conv sees the
frame boundaries of the one-pass run.
"""

from __future__ import annotations

import contextvars
import weakref

import numpy as np
import soxr
import torch
from torch import nn

from simvq_audio.audio.conv import CausalConv1d
from simvq_audio.audio.encoder import SkipLSTM
from simvq_audio.audio.generator import Generator
from simvq_audio.errors import UserInputError

DEFAULT_CHUNK_SECONDS = 30.0
"""Largest piece run through the encoder at once: bounds activation memory."""

_ACTIVE: contextvars.ContextVar[dict | None] = contextvars.ContextVar("simvq_stream",
                                                                      default=None)
"""The carried state of the stream being encoded now: ``{module: history or (h, c)}``."""
_HOOKED: weakref.WeakSet = weakref.WeakSet()
"""Encoders whose modules already carry the (inactive unless streaming) hooks."""


class StreamingEncoder:
    """Encode ``B`` parallel signals piece by piece; the tokens equal one-pass encoding.

    ``feed(samples)`` takes ``[T]`` or ``[B, T]`` float samples at ``sample_rate`` (any length,
    resampled to the model rate with a streaming soxr resampler whose output equals resampling
    the whole signal at once) and returns the tokens ``[B, n]`` of the frames completed so far
    (``n`` may be 0). ``flush()`` ends the stream: it pads the remainder with zeros to a whole
    frame, as one-pass encoding does, and returns the last tokens. In total the signal gives
    ``ceil(T_model / hop)`` tokens per item, identical to ``Generator.encode``.

    Work is done in pieces of at most ``chunk_seconds``, so memory stays bounded for any length.
    Do not run two feeds of streams on the same model concurrently from one thread's context.
    """

    def __init__(self, generator: Generator, sample_rate: int | None = None, batch_size: int = 1,
                 chunk_seconds: float = DEFAULT_CHUNK_SECONDS,
                 compute_dtype: torch.dtype = torch.float32):
        self.generator = generator
        self.hop = generator.hop_length
        self.model_rate = generator.config.sample_rate
        self.batch_size = batch_size
        self.compute_dtype = compute_dtype
        self.chunk_samples = max(1, round(chunk_seconds * self.model_rate / self.hop)) * self.hop
        rate = sample_rate or self.model_rate
        self.resampler = (None if rate == self.model_rate else soxr.ResampleStream(
            rate, self.model_rate, batch_size, dtype="float64", quality="HQ"))
        self.device = next(generator.parameters()).device
        self.num_samples = 0
        """Samples per item seen so far, at the model rate."""
        self._pending = torch.zeros(batch_size, 0, device=self.device)
        self._state: dict = {}
        self._closed = False
        _install_hooks(generator.encoder)

    def feed(self, samples: torch.Tensor | np.ndarray) -> torch.Tensor:
        """``samples [T]`` or ``[B, T]`` -> tokens ``[B, n]`` int64 of the newly completed frames."""
        samples = self._resample(self._as_batch(samples), last=False)
        self.num_samples += samples.shape[-1]
        pending = torch.cat([self._pending, samples.to(self.device)], dim=-1)
        ready = pending.shape[-1] - pending.shape[-1] % self.hop
        self._pending = pending[:, ready:]
        return self._encode(pending[:, :ready])

    def flush(self) -> torch.Tensor:
        """End the stream: tokens ``[B, n]`` of the rest, padded with zeros to a whole frame."""
        tail = self._resample(torch.zeros(self.batch_size, 0), last=True)
        self.num_samples += tail.shape[-1]
        pending = torch.cat([self._pending, tail.to(self.device)], dim=-1)
        pending = nn.functional.pad(pending, (0, -pending.shape[-1] % self.hop))
        self._pending = pending[:, :0]
        tokens = self._encode(pending)
        self._closed = True
        return tokens

    def _as_batch(self, samples) -> torch.Tensor:
        if self._closed:
            raise UserInputError("this stream was flushed; start a new StreamingEncoder")
        samples = torch.as_tensor(samples)
        samples = samples[None] if samples.dim() == 1 else samples
        if samples.dim() != 2 or samples.shape[0] != self.batch_size:
            raise UserInputError(f"feed expects samples [T] or [{self.batch_size}, T], got "
                                 f"{tuple(samples.shape)}")
        if not samples.is_floating_point():
            raise UserInputError(f"feed expects float samples in [-1, 1], got {samples.dtype}")
        if not torch.isfinite(samples).all():
            raise UserInputError("the audio contains NaN or infinite samples")
        return samples.float()

    def _resample(self, samples: torch.Tensor, last: bool) -> torch.Tensor:
        if self.resampler is None:
            return samples
        out = self.resampler.resample_chunk(samples.cpu().double().numpy().T, last=last)
        return torch.from_numpy(np.ascontiguousarray(out.T)).float()

    @torch.inference_mode()
    def _encode(self, wav: torch.Tensor) -> torch.Tensor:
        """``wav [B, T]`` (T a multiple of the hop) -> tokens ``[B, T / hop]``, carrying state."""
        pieces = [torch.zeros(self.batch_size, 0, dtype=torch.long, device=self.device)]
        token = _ACTIVE.set(self._state)
        try:
            with torch.autocast(self.device.type, dtype=self.compute_dtype,
                                enabled=self.compute_dtype != torch.float32):
                for start in range(0, wav.shape[-1], self.chunk_samples):
                    pieces.append(self.generator.encode(wav[:, start:start + self.chunk_samples]))
        finally:
            _ACTIVE.reset(token)
        return torch.cat(pieces, dim=-1)


def _install_hooks(encoder: nn.Module) -> None:
    """Give each causal conv and the LSTM of ``encoder`` hooks that carry streaming state."""
    if encoder in _HOOKED:
        return
    for module in encoder.modules():
        if isinstance(module, CausalConv1d) and module.left_padding > 0:
            module.conv.register_forward_pre_hook(_conv_history_hook(module.left_padding))
        elif isinstance(module, SkipLSTM):
            module.lstm.register_forward_pre_hook(_lstm_state_in)
            module.lstm.register_forward_hook(_lstm_state_out)
    _HOOKED.add(encoder)


def _conv_history_hook(pad: int):
    """Pre-hook for a conv whose input arrives with ``pad`` zeros on the left: swap them for
    the last ``pad`` input samples of the stream so far, and remember the new last ones."""

    def hook(conv: nn.Module, args: tuple) -> tuple | None:
        state = _ACTIVE.get()
        if state is None:
            return None
        (padded,) = args
        history = state.get(conv)
        joined = padded if history is None else torch.cat([history, padded[..., pad:]], dim=-1)
        state[conv] = joined[..., joined.shape[-1] - pad:]
        return (joined,)

    return hook


def _lstm_state_in(lstm: nn.Module, args: tuple) -> tuple | None:
    state = _ACTIVE.get()
    if state is None or lstm not in state:
        return None
    return (args[0], state[lstm])


def _lstm_state_out(lstm: nn.Module, args: tuple, output: tuple) -> None:
    state = _ACTIVE.get()
    if state is not None:
        state[lstm] = output[1]
