"""Decoding in pieces: tokens fed as they are generated give audio as soon as it is final.

A TTS or speech-LM pipeline generates tokens one (or a few) at a time and wants to play audio
while it generates. :class:`StreamingDecoder` takes the tokens of ``B`` parallel streams with
``feed`` and returns the samples that became final; ``flush`` ends the streams. Its state is an
explicit :class:`~simvq_audio.codec.decoder.DecoderState`; :meth:`StreamingDecoder.select` keeps
some items, so a server can end items at different times.

* Causal decoders (``model.decoder.causal: true``) stream exactly: everything a stream returns
  equals one-pass decoding of all its tokens (float32 rounding), whatever the piece sizes; a
  token's samples are all out once :attr:`~StreamingDecoder.latency_frames` more tokens have
  arrived (2, i.e. 26.7 ms at 75 tokens/s: the ISTFT's overlap).
* The paper decoder (and the SimVQ authors' weights) looks at the whole sequence, so a stream
  approximates one pass: it decodes a frame once ``lookahead_frames`` later tokens have arrived,
  in a window with ``context_frames`` decoded frames before it, and consecutive windows meet in
  the ISTFT's overlap-add (a cross-fade over its window, no cut). Latency: lookahead + 2 frames.

:meth:`SimVQCodec.decode <simvq_audio.codec.simvq_codec.SimVQCodec.decode>` decodes sequences
longer than its window through the same streams, so long inputs take bounded memory.
"""

from __future__ import annotations

import numpy as np
import torch

from simvq_audio import validate
from simvq_audio.codec.decoder import DecoderState
from simvq_audio.codec.model import CodecModel
from simvq_audio.codec.tokens import Tokens
from simvq_audio.errors import UserInputError
from simvq_audio.pretrained_tokenizer import inference

PAPER_LOOKAHEAD_FRAMES = 10
"""The paper decoder's default lookahead (133 ms at 75 frames/s; docs/streaming.md: deviations)."""
PAPER_CONTEXT_FRAMES = 75
"""The paper decoder's default context: 1 s, the length of its training crops."""
DEFAULT_CHUNK_FRAMES = 4500
"""Most frames decoded in one call (60 s at 75 frames/s): bounds activation memory."""


class StreamingDecoder:
    """Decode ``batch_size`` parallel token streams piece by piece.

    ``feed(tokens)`` takes ids ``[n]`` or ``[B, n]`` (any integer dtype, any ``n >= 0``) or
    :class:`~simvq_audio.codec.Tokens` whose items all have ``n`` frames, and returns
    ``wav [B, m]`` float32 at the model rate: the samples that became final. ``flush()`` ends the
    streams and returns the rest. In all, ``F`` tokens give ``F * hop`` samples per item.

    Args:
        model: the codec model (in eval mode).
        batch_size: the number of parallel streams ``B``.
        lookahead_frames: paper decoder only: tokens that must follow a frame before it is
            decoded (default :data:`PAPER_LOOKAHEAD_FRAMES`); causal decoders need none.
        context_frames: paper decoder only: decoded frames kept before each window (default
            :data:`PAPER_CONTEXT_FRAMES`).
        chunk_frames: the most frames decoded in one call; longer feeds are split.
        compute_dtype: float32, or bfloat16/float16 to run under autocast.
    """

    def __init__(self, model: CodecModel, batch_size: int = 1,
                 lookahead_frames: int | None = None, context_frames: int | None = None,
                 chunk_frames: int = DEFAULT_CHUNK_FRAMES,
                 compute_dtype: torch.dtype = torch.float32):
        self.model = model
        self.batch_size = validate.integer(batch_size, "batch_size", 1, 2**20)
        self.chunk_frames = validate.integer(chunk_frames, "chunk_frames", 1, 2**31)
        causal = model.decoder.causal
        self.lookahead_frames = self._setting(lookahead_frames, PAPER_LOOKAHEAD_FRAMES,
                                              "lookahead_frames", causal)
        self.context_frames = self._setting(context_frames, PAPER_CONTEXT_FRAMES,
                                            "context_frames", causal)
        self.compute_dtype = compute_dtype
        self.device = next(model.parameters()).device
        self.state: DecoderState | None = None
        """The decoder's explicit state (``None`` before the first feed)."""
        self._closed = False

    @staticmethod
    def _setting(value: object, paper_default: int, what: str, causal: bool) -> int:
        if value is None:
            return 0 if causal else paper_default
        value = validate.integer(value, what, 0, 2**31)
        if causal and value:
            raise UserInputError(f"a causal decoder streams exactly: {what} must be 0 or None, "
                                 f"got {value}")
        return value

    @property
    def num_frames(self) -> int:
        """Tokens fed so far per item (decoded, or pending their lookahead)."""
        return 0 if self.state is None else self.state.frames + self.state.pending

    # -- what the stream costs in time ----------------------------------------------------------
    @property
    def latency_frames(self) -> int:
        """Tokens that must arrive after token ``t`` before the last of its samples comes out:
        the lookahead plus the ISTFT's overlap (2 frames for n_fft 1280, hop 320)."""
        return self.model.decoder.latency_frames(self.lookahead_frames)

    @property
    def latency_ms(self) -> float:
        """:attr:`latency_frames` in milliseconds at the token rate (75 tokens/s: 13.3 ms each),
        the algorithmic latency: compute time comes on top."""
        return 1000.0 * self.latency_frames * self.model.hop_length / self.model.sample_rate

    # -- the stream -----------------------------------------------------------------------------
    def feed(self, tokens: torch.Tensor | np.ndarray) -> torch.Tensor:
        """Tokens ``[n]`` or ``[B, n]`` (ids or :class:`~simvq_audio.codec.Tokens`) -> the
        samples ``wav [B, m]`` that became final."""
        return self._decode(self._as_ids(tokens), final=False)

    def flush(self) -> torch.Tensor:
        """End the streams: the rest of their audio ``[B, m]``; the stream is closed."""
        self._check_open()
        wav = self._decode(torch.zeros(self.batch_size, 0, dtype=torch.long), final=True)
        self._closed = True
        return wav

    def select(self, rows: list[int]) -> StreamingDecoder:
        """A new stream that continues items ``rows`` of this one alone (this one is left as it
        is): end some items with ``stream.select(done).flush()`` and go on with
        ``stream = stream.select(rest)``."""
        self._check_open()
        if (not isinstance(rows, (list, tuple)) or not rows
                or not all(isinstance(r, int) and 0 <= r < self.batch_size for r in rows)):
            raise UserInputError(f"select takes a non-empty list of item indices in "
                                 f"[0, {self.batch_size}), got {validate.describe(rows)}")
        chosen = StreamingDecoder(self.model, len(rows), self.lookahead_frames,
                                  self.context_frames, self.chunk_frames, self.compute_dtype)
        chosen.state = self.state.select(list(rows)) if self.state is not None else None
        return chosen

    def decode_ids(self, ids: torch.Tensor) -> torch.Tensor:
        """Checked ids ``[B, F]`` -> their whole audio ``[B, F * hop]`` through this new
        stream (what ``SimVQCodec.decode`` does for long sequences)."""
        return torch.cat([self._decode(ids, final=False), self.flush()], dim=-1)

    def _decode(self, ids: torch.Tensor, final: bool) -> torch.Tensor:
        """Ids ``[B, n]`` -> the samples that became final, decoded ``chunk_frames`` at a time."""
        pieces, ids = [], ids.to(self.device)
        with inference(self.device, self.compute_dtype):
            for start in range(0, max(ids.shape[-1], 1), self.chunk_frames):  # empty: one step
                last = final and start + self.chunk_frames >= ids.shape[-1]
                pieces.append(self._step(ids[:, start:start + self.chunk_frames], last))
        return torch.cat(pieces, dim=-1).float()

    def _step(self, ids: torch.Tensor, final: bool) -> torch.Tensor:
        latents = self.model.quantizer.lookup(ids)
        wav, self.state = self.model.decoder.stream(latents, self.state, final,
                                                    self.lookahead_frames, self.context_frames)
        return wav

    def _as_ids(self, tokens) -> torch.Tensor:
        """Checked ids ``[B, n]`` int64 of what ``feed`` got."""
        self._check_open()
        num_codes = self.model.quantizer.num_codes
        if isinstance(tokens, Tokens):
            ids, frames = validate.token_ids(tokens.ids, tokens.lengths, num_codes)
            if not bool((frames == ids.shape[-1]).all()):
                raise UserInputError(f"feed takes items of equal length; these Tokens have "
                                     f"lengths {frames.tolist()[:8]}: end the shorter items "
                                     f"with select(...).flush()")
        else:
            ids, _ = validate.token_ids(tokens, None, num_codes, allow_empty=True)
        if ids.shape[0] != self.batch_size:
            raise validate.shape_error(f"this stream decodes {self.batch_size} item(s): feed "
                                       f"tokens [n] or [{self.batch_size}, n], got "
                                       f"{validate.describe(tokens)}")
        return ids

    def _check_open(self) -> None:
        if self._closed:
            raise UserInputError("this stream was flushed; start a new streaming decoder")
