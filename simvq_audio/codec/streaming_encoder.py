"""Encoding in pieces: a signal fed piece by piece gives exactly the tokens of one pass.

The encoder carries its streaming state explicitly (:class:`~simvq_audio.codec.encoder.
EncoderState`: each causal conv's last input samples and the LSTM's ``(h, c)``), so continuing a
signal is ``encoder.stream(piece, state, final)``. Pieces are whole multiples of the hop except
the last, so every strided conv sees the frame boundaries of the one-pass run. With the
reference's ``"reflect"`` padding the first frames also see a few frames ahead
(``encoder.start_samples``): a stream holds its first tokens back until that much has arrived.

* :class:`StreamingEncoder`: ``feed`` / ``flush`` for ``B`` signals of equal length, with
  streaming resampling.
* :func:`encode_batch`: signals of different lengths in one padded batch; each item's tokens
  equal encoding it alone.
"""

from __future__ import annotations

import numpy as np
import torch

from simvq_audio import validate
from simvq_audio.codec.encoder import EncoderState
from simvq_audio.codec.model import CodecModel
from simvq_audio.data.audio_io import StreamResampler
from simvq_audio.errors import UserInputError
from simvq_audio.pretrained_tokenizer import inference

DEFAULT_CHUNK_SECONDS = 30.0
"""Largest piece run through the encoder at once: bounds activation memory."""


def chunk_samples(model: CodecModel, chunk_seconds: float) -> int:
    """Whole frames of about ``chunk_seconds``, and at least the encoder's first-piece length."""
    hop, rate = model.hop_length, model.sample_rate
    return max(round(chunk_seconds * rate / hop) * hop, model.encoder.start_samples, hop)


def encode_piece(model: CodecModel, wav: torch.Tensor, state: EncoderState | None,
                 final: bool, chunk: int) -> tuple[torch.Tensor, EncoderState | None]:
    """Continue signals: ``wav [B, T]`` -> ``(tokens [B, ceil(T / hop)], state)``.

    The encoder runs on sub-pieces of at most ``chunk`` samples (a multiple of the hop). Unless
    ``final``, ``T`` is a multiple of the hop; a stream's first piece (``state`` None) that is
    not final must hold at least ``encoder.start_samples``.
    """
    pieces = [torch.zeros(wav.shape[0], 0, dtype=torch.long, device=wav.device)]
    for start in range(0, wav.shape[-1], chunk):
        stop = min(start + chunk, wav.shape[-1])
        last = final and stop == wav.shape[-1]
        if state is None and not last and stop < model.encoder.start_samples:
            # StreamingEncoder.feed holds samples back until there are enough: a caller's bug
            raise ValueError(f"the first piece of a stream needs at least "
                             f"{model.encoder.start_samples} samples, got {stop}")
        z, state = model.encoder.stream(wav[:, start:stop], state, final=last)
        pieces.append(model.quantizer.encode(z))
    return torch.cat(pieces, dim=-1), state


def encode_batch(model: CodecModel, wav: torch.Tensor, lengths: list[int], chunk: int,
                 compute_dtype: torch.dtype = torch.float32) -> list[torch.Tensor]:
    """Padded signals ``wav [B, T]`` with ``lengths [B]`` valid samples -> tokens
    ``[ceil(lengths[i] / hop)]`` per item, each equal to encoding that item alone.

    With ``"zeros"`` padding one pass over the batch does it, the padding zeroed: every conv and
    the LSTM are causal, so an item's frames see only its samples and the zeros that encoding
    it alone would add. With ``"reflect"`` the items share one stream up to the end of their
    last whole frame; there each finishing item continues alone from its slice of the state
    with its own last samples (which the padding mirrors). Items shorter than the encoder's
    first piece are encoded alone in one pass.
    """
    hop, start = model.hop_length, model.encoder.start_samples
    if model.encoder.padding == "zeros":
        valid = torch.arange(wav.shape[-1], device=wav.device) < torch.tensor(
            lengths, device=wav.device)[:, None]
        with inference(wav.device, compute_dtype):
            tokens = encode_piece(model, wav * valid, None, True, chunk)[0]
        return [tokens[item, :-(-length // hop)] for item, length in enumerate(lengths)]
    whole = [length - length % hop for length in lengths]
    results: dict[int, torch.Tensor] = {}
    with inference(wav.device, compute_dtype):
        for item in [i for i, w in enumerate(whole) if w < start]:
            results[item] = encode_piece(model, wav[item:item + 1, :lengths[item]], None,
                                         True, chunk)[0][0]
        active = [i for i, w in enumerate(whole) if w >= start]
        pieces: dict[int, list[torch.Tensor]] = {i: [] for i in active}
        state, position = None, 0
        while active:
            stop = min(min(whole[i] for i in active), position + chunk)
            if stop > position:
                tokens, state = encode_piece(model, wav[active, position:stop], state,
                                             False, chunk)
                for row, item in enumerate(active):
                    pieces[item].append(tokens[row])
                position = stop
            finishing = [row for row, item in enumerate(active) if whole[item] == position]
            for row in finishing:
                item = active[row]
                tail = wav[item:item + 1, position:lengths[item]]
                if tail.shape[-1]:
                    pieces[item].append(encode_piece(model, tail, state.select([row]), True,
                                                     chunk)[0][0])
                results[item] = torch.cat(pieces[item])
            if finishing:
                rows = [row for row in range(len(active)) if row not in finishing]
                active = [active[row] for row in rows]
                state = state.select(rows) if rows else None
    return [results[item] for item in range(len(lengths))]


class StreamingEncoder:
    """Encode ``B`` parallel signals piece by piece; the tokens equal one-pass encoding.

    ``feed(samples)`` takes ``[T]`` or ``[B, T]`` float samples at ``sample_rate`` (any length,
    resampled to the model rate with a streaming soxr resampler whose output equals resampling
    the whole signal at once) and returns the tokens ``[B, n]`` of the frames completed so far
    (``n`` may be 0; with ``"reflect"`` padding the first tokens come once
    ``encoder.start_samples`` have arrived). ``flush()`` ends the stream and returns the last
    tokens, the last partial frame completed as one-pass encoding does. In total the signal
    gives ``ceil(T_model / hop)`` tokens per item, identical to ``CodecModel.encode``.

    Work is done in pieces of at most ``chunk_seconds``, so memory stays bounded for any length.
    Streams are independent: the state lives in the stream, not in the model.
    """

    def __init__(self, model: CodecModel, sample_rate: int | None = None, batch_size: int = 1,
                 chunk_seconds: float = DEFAULT_CHUNK_SECONDS,
                 compute_dtype: torch.dtype = torch.float32):
        self.model = model
        self.hop = model.hop_length
        self.model_rate = model.sample_rate
        self.batch_size = batch_size
        self.compute_dtype = compute_dtype
        self.chunk_samples = chunk_samples(model, chunk_seconds)
        rate = sample_rate or self.model_rate
        self.resampler = (None if rate == self.model_rate else
                          StreamResampler(rate, self.model_rate, batch_size))
        self.device = next(model.parameters()).device
        self.num_samples = 0
        """Samples per item seen so far, at the model rate."""
        self._pending = torch.zeros(batch_size, 0, device=self.device)
        self._state: EncoderState | None = None
        self._closed = False

    def feed(self, samples: torch.Tensor | np.ndarray) -> torch.Tensor:
        """``samples [T]`` or ``[B, T]`` -> tokens ``[B, n]`` int64 of the frames it completes."""
        samples = self._resample(self._as_batch(samples), last=False)
        self.num_samples += samples.shape[-1]
        pending = torch.cat([self._pending, samples.to(self.device)], dim=-1)
        ready = pending.shape[-1] - pending.shape[-1] % self.hop
        if self._state is None and ready < self.model.encoder.start_samples:
            ready = 0
        self._pending = pending[:, ready:]
        return self._encode(pending[:, :ready], final=False)

    def flush(self) -> torch.Tensor:
        """End the stream: tokens ``[B, n]`` of the rest, the last partial frame completed as
        in one pass (zeros or the reference's reflection)."""
        tail = self._resample(torch.zeros(self.batch_size, 0), last=True)
        self.num_samples += tail.shape[-1]
        pending = torch.cat([self._pending, tail.to(self.device)], dim=-1)
        self._pending = pending[:, :0]
        self._closed = True
        return self._encode(pending, final=True)

    def _as_batch(self, samples) -> torch.Tensor:
        if self._closed:
            raise UserInputError("this stream was flushed; start a new StreamingEncoder")
        samples = validate.as_tensor(samples, "feed's samples")
        samples = samples[None] if samples.dim() == 1 else samples
        if samples.dim() != 2 or samples.shape[0] != self.batch_size:
            raise validate.shape_error(f"feed expects samples [T] or [{self.batch_size}, T] "
                                       f"(batch_size {self.batch_size}), got "
                                       f"{validate.describe(samples)}")
        if not samples.is_floating_point():
            raise UserInputError(f"feed expects float samples in [-1, 1], got "
                                 f"{validate.describe(samples)}")
        validate.check_samples(samples, "the audio")
        return samples.float()

    def _resample(self, samples: torch.Tensor, last: bool) -> torch.Tensor:
        return samples if self.resampler is None else self.resampler(samples, last)

    def _encode(self, wav: torch.Tensor, final: bool) -> torch.Tensor:
        """``wav [B, T]`` -> tokens ``[B, ceil(T / hop)]``, carrying the stream's state."""
        if wav.shape[-1] == 0:
            return torch.zeros(self.batch_size, 0, dtype=torch.long, device=self.device)
        with inference(self.device, self.compute_dtype):
            tokens, self._state = encode_piece(self.model, wav, self._state, final,
                                               self.chunk_samples)
        return tokens
