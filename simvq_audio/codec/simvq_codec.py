"""The inference API: :class:`SimVQCodec` turns waveforms into tokens and tokens into waveforms.

>>> codec = SimVQCodec.from_pretrained("exp/simvq_65k/model")
>>> tokens = codec.encode(wav, sample_rate=16000)      # wav [T], [C, T], [B, C, T] or [T, C]
>>> tokens = codec.encode(wavs, 16000, lengths=sizes)  # a padded batch of mono signals [B, T]
>>> audio = codec.decode(tokens)                        # [B, T] at codec.sample_rate

Batches of different lengths go in padded, with ``lengths`` in samples, and come out padded with
zeros past each item's own length (``tokens.lengths`` frames, ``tokens.num_samples`` samples);
every item's result equals encoding or decoding that item alone. Encoding runs the causal
encoder in pieces of at most 30 s with explicit state (see
:mod:`simvq_audio.codec.streaming_encoder`), so its tokens equal one pass over the whole signal
for any length; decoding runs one pass up to ``decode_window_s`` and beyond that through a
:class:`~simvq_audio.codec.streaming_decoder.StreamingDecoder` fed ``decode_window_s`` at a
time (exact for causal decoders; the paper decoder's windows see ``decode_context_s`` on each
side). :meth:`SimVQCodec.streaming_decoder` gives such a stream to TTS pipelines. The codec is
always in eval mode and runs under ``torch.inference_mode``.

Every public method checks its arguments with :mod:`simvq_audio.validate`: anything malformed is
a :class:`~simvq_audio.errors.UserInputError` saying what was expected, never another exception.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence

import numpy as np
import torch

from simvq_audio import validate
from simvq_audio.codec import encode_files, files
from simvq_audio.codec.config import ModelConfig, config_from_dict, load_config
from simvq_audio.codec.model import CodecModel
from simvq_audio.codec.streaming_decoder import StreamingDecoder
from simvq_audio.codec.streaming_encoder import (
    DEFAULT_CHUNK_SECONDS,
    StreamingEncoder,
    chunk_samples,
    encode_batch,
)
from simvq_audio.codec.tokens import TokenRow, Tokens
from simvq_audio.codes import CodesHeader, SourceId, check_model, read_codes, write_codes
from simvq_audio.data.audio_io import resample
from simvq_audio.data.padding import pad_batch
from simvq_audio.errors import UserInputError
from simvq_audio.pretrained_tokenizer import PretrainedTokenizer
from simvq_audio.weight_shapes import codec_shapes


class SimVQCodec(PretrainedTokenizer[ModelConfig]):
    """A trained (or, from :meth:`from_config`, untrained) codec, ready for inference: the
    audio :class:`~simvq_audio.pretrained_tokenizer.PretrainedTokenizer`.

    Args:
        model: the codec model; put in eval mode with gradients off.
        config: the ``model:`` config section it was built from (saved with it).
        compute_dtype: float32, or bfloat16/float16 to run under autocast (weights stay float32).
        decode_window_s: longest decode in one pass; longer token sequences are streamed
            through the decoder this much at a time (bounded memory).
        decode_context_s: paper decoder: the context kept before and the lookahead waited for
            after each such piece.
    """

    modality = "audio"
    kind = "a codec model"

    def __init__(self, model: CodecModel, config: ModelConfig,
                 compute_dtype: torch.dtype | None = None, decode_window_s: float = 60.0,
                 decode_context_s: float = 2.0):
        super().__init__(model, config, compute_dtype)
        frame_rate = self.config.sample_rate / self.hop_length
        self.decode_window_frames = max(1, round(decode_window_s * frame_rate))
        self.decode_context_frames = round(decode_context_s * frame_rate)

    # -- construction ---------------------------------------------------------------------------
    @classmethod
    def model_config(cls, data: dict, where: str) -> ModelConfig:
        return config_from_dict({"model": data}, where).model

    @classmethod
    def recipe_model_config(cls, path: str | os.PathLike) -> ModelConfig:
        return load_config(path).model

    @classmethod
    def build_model(cls, config: ModelConfig, search_backend: str = "auto") -> CodecModel:
        return CodecModel.from_hparams(config, search_backend)

    @classmethod
    def weight_shapes(cls, config: ModelConfig) -> Iterator[tuple[str, tuple[int, ...]]]:
        return codec_shapes(config)

    def identity_settings(self) -> str | None:
        """The encoder's padding unless it is ``zeros``: the same weights with the reference's
        ``reflect`` padding give other tokens (``zeros`` models keep the identity of their
        weights alone, as directories written before the option)."""
        padding = self.config.encoder.padding
        return None if padding == "zeros" else f"encoder.padding={padding}"

    # -- properties -----------------------------------------------------------------------------
    @property
    def sample_rate(self) -> int:
        return self.config.sample_rate

    @property
    def hop_length(self) -> int:
        return self.config.hop_length

    @property
    def codebook_size(self) -> int:
        return self.config.quantizer.num_codes

    # -- encoding -------------------------------------------------------------------------------
    def encode(self, wav: torch.Tensor | np.ndarray, sample_rate: int,
               lengths: torch.Tensor | np.ndarray | list[int] | None = None) -> Tokens:
        """Waveforms -> :class:`Tokens`: ``ceil(T' / hop)`` frames per item, where
        ``T' = floor(T * self.sample_rate / sample_rate + 1/2)`` is its length at the model rate.

        Args:
            wav: float ``[T]``, ``[C, T]`` or ``[B, C, T]`` (tensor or array), or channels-last
                ``[T, C]`` / ``[B, T, C]`` as ``soundfile.read`` returns them (more than 64
                samples, at most 64 channels); with ``lengths``, a 2-D ``wav`` is a batch of
                mono signals ``[B, T]`` (the same as ``[B, 1, T]``). A shape that could be read
                either way is refused (:data:`simvq_audio.validate.SHAPE_RULE`). Channels are
                averaged.
            sample_rate: the rate of ``wav`` in Hz (1 kHz to 768 kHz); it is resampled to
                :attr:`sample_rate` (soxr HQ).
            lengths: ``[B]`` valid samples per item of a padded batch (default: all ``T``).
        """
        items = validate.waveforms(wav, lengths)
        rate = validate.sample_rate(sample_rate)
        return self.encode_signals([resample(item[None], rate, self.sample_rate)[0]
                                    for item in items])

    def encode_signals(self, signals: Sequence[torch.Tensor]) -> Tokens:
        """Mono float signals ``[T_i]`` at :attr:`sample_rate` whose samples are checked
        already -> :class:`Tokens`, item ``i`` with ``ceil(T_i / hop)`` frames.

        The batch step of :meth:`encode` and of :mod:`simvq_audio.codec.encode_files`: the
        caller has checked the values (:func:`~simvq_audio.validate.waveforms` or the readers of
        :mod:`~simvq_audio.data.audio_io`), so they are not scanned again here (a non-finite
        latent is still refused by the quantizer).
        """
        if not isinstance(signals, (list, tuple)) or not signals or not all(
                isinstance(s, torch.Tensor) and s.dim() == 1 and s.is_floating_point()
                for s in signals):
            raise UserInputError(f"encode_signals takes a list of float tensors [T], got "
                                 f"{validate.describe(signals)}")
        batch, num_samples = pad_batch(signals)
        if not num_samples.min():
            raise self._too_short()
        per_item = encode_batch(self.model, batch.to(self.device), num_samples.tolist(),
                                chunk_samples(self.model, DEFAULT_CHUNK_SECONDS),
                                self.compute_dtype)
        return self._tokens(pad_batch([item.cpu() for item in per_item])[0], num_samples)

    def streaming_encoder(self, sample_rate: int | None = None,
                          batch_size: int = 1) -> StreamingEncoder:
        """A :class:`~simvq_audio.codec.streaming_encoder.StreamingEncoder` (``feed``/``flush``)
        of ``batch_size`` signals at ``sample_rate`` (default: the model rate)."""
        if sample_rate is not None:
            sample_rate = validate.sample_rate(sample_rate)
        batch_size = validate.integer(batch_size, "batch_size", 1, 2**20)
        return StreamingEncoder(self.model, sample_rate, batch_size,
                                compute_dtype=self.compute_dtype)

    def encode_file(self, path: str | os.PathLike, block_seconds: float = 30.0) -> Tokens:
        """Encode an audio file (any format soundfile reads) in bounded memory: it is read,
        downmixed and resampled block by block; the tokens equal ``encode`` of the whole file
        (:func:`simvq_audio.codec.encode_files.encode_file`)."""
        return encode_files.encode_file(self, validate.file_path(path, "path"),
                                        validate.positive_seconds(block_seconds, "block_seconds"))

    def encode_blocks(self, blocks: Iterable[torch.Tensor | np.ndarray],
                      sample_rate: int) -> Tokens:
        """One mono signal given as consecutive float blocks ``[n]`` at ``sample_rate`` (such as
        :meth:`~simvq_audio.data.audio_io.AudioFile.mono_blocks` yields) -> :class:`Tokens` of
        one item, in memory bounded by the block size; equal to ``encode`` of the blocks
        joined."""
        stream = self.streaming_encoder(sample_rate=sample_rate)
        pieces = [stream.feed(block) for block in blocks]
        pieces.append(stream.flush())
        if not stream.num_samples:
            raise self._too_short()
        return self._tokens(torch.cat(pieces, dim=-1), torch.tensor([stream.num_samples]))

    def save_codes(self, tokens: Tokens, target, channels: int = 1,
                   source: SourceId | None = None) -> None:
        """Write one item of ``tokens`` to a ``.codes`` path (atomically) or binary stream;
        ``source``: the identity of the input it was encoded from (:func:`simvq_audio.outputs.
        input_id`), which lets a later run tell that the file is up to date."""
        if not isinstance(tokens, Tokens):
            raise UserInputError(f"save_codes takes the Tokens that encode returns, got "
                                 f"{validate.describe(tokens)}")
        item = self._as_tokens(tokens, None)
        if len(item) != 1:
            raise UserInputError(f"a .codes file holds one item, got a batch of {len(item)}")
        channels = validate.integer(channels, "channels", 1, 2**16 - 1)
        if source is not None and not isinstance(source, SourceId):
            raise UserInputError(f"source must be a SourceId, got {validate.describe(source)}")
        frames = int(item.lengths[0])
        header = CodesHeader(self.model_hash, self.codebook_size, self.sample_rate,
                             self.hop_length, int(item.num_samples[0]), channels, (frames,),
                             source)
        write_codes(target, item.ids[0, :frames], header)

    def load_codes(self, source, force: bool = False, what: str | None = None) -> Tokens:
        """Read a ``.codes`` path or binary stream written by this model (``force``: any model
        with the same codebook size, hop and rate); ``what`` names it in messages."""
        header, tokens = read_codes(source, what)
        check_model(header, self.model_hash, force)
        expected = (self.codebook_size, self.sample_rate, self.hop_length)
        found = (header.codebook_size, header.sample_rate, header.hop_length)
        if found != expected or len(header.grid) != 1 or not header.num_frames:
            raise UserInputError(f"these codes (codebook size, rate, hop = {found}, grid "
                                 f"{list(header.grid)}) do not fit this model {expected}")
        return self._as_tokens(Tokens(tokens[None], torch.tensor([header.num_frames]),
                                      torch.tensor([header.num_samples]), header.sample_rate),
                               None)

    # -- decoding -------------------------------------------------------------------------------
    def decode(self, tokens: Tokens | TokenRow | Sequence[TokenRow] | torch.Tensor | np.ndarray,
               lengths: torch.Tensor | list[int] | None = None) -> torch.Tensor:
        """Tokens -> waveforms at :attr:`sample_rate`, float32 on the codec's device.

        ``tokens``: :class:`Tokens` (output ``[B, max(num_samples)]``, each item trimmed to its
        ``num_samples`` and zero after), or ids ``[B, T']`` of any integer dtype with optional
        ``lengths [B]`` valid frames (output ``[B, max(lengths) * hop]``, zero past each
        ``lengths * hop``), or ids ``[T']`` (output ``[T' * hop]``), or a token dump's
        :class:`~simvq_audio.codec.tokens.TokenRow` (output ``[num_samples]``) or list of rows
        (output ``[B, max(num_samples)]``, as :class:`Tokens`; rows of another model are refused).
        Each item is decoded on its own frames only, so results do not depend on the batch.
        """
        squeeze = isinstance(tokens, TokenRow) or (
            isinstance(tokens, (torch.Tensor, np.ndarray)) and tokens.ndim == 1)
        tokens = self._as_tokens(tokens, lengths)
        ids = tokens.ids.to(self.device)
        items: dict[int, torch.Tensor] = {}
        frames = tokens.lengths.tolist()
        for length in sorted(set(frames)):
            rows = [i for i, f in enumerate(frames) if f == length]
            for row, wav in zip(rows, self._decode_ids(ids[rows, :length])):
                items[row] = wav[:int(tokens.num_samples[row])]
        out = pad_batch([items[row] for row in range(len(tokens))])[0]
        return out[0] if squeeze else out

    def streaming_decoder(self, batch_size: int = 1, lookahead_frames: int | None = None,
                          context_frames: int | None = None) -> StreamingDecoder:
        """A :class:`~simvq_audio.codec.streaming_decoder.StreamingDecoder` of ``batch_size``
        token streams: ``feed(tokens)`` -> the audio that became final, ``flush()`` -> the rest,
        ``select(rows)``. Causal decoders stream exactly (``latency_ms`` 26.7); the paper
        decoder waits for ``lookahead_frames`` tokens (default 10) and keeps
        ``context_frames`` (default 75) before each window."""
        return StreamingDecoder(self.model, batch_size, lookahead_frames, context_frames,
                                compute_dtype=self.compute_dtype)

    def decode_file(self, codes: str | os.PathLike, audio_path: str | os.PathLike,
                    force: bool = False, overwrite: bool = False) -> None:
        """Decode a ``.codes`` file into an audio file at the model rate, written atomically in
        the format its extension names (:data:`~simvq_audio.data.audio_formats.OUTPUT_FORMATS`:
        16-bit ``.wav``/``.flac``, ``.ogg``/``.oga``, ``.opus``, ``.mp3``), under the output
        policy of :mod:`simvq_audio.outputs`: never over ``codes``; an existing file is kept
        when it already is this decode, replaced when it is an earlier decode of the same
        ``.codes`` path, and otherwise refused unless ``overwrite``
        (:func:`simvq_audio.codec.files.decode_file`: the policy of ``simvq-audio decode``)."""
        files.decode_file(self, validate.file_path(codes, "codes"),
                          validate.file_path(audio_path, "audio_path"), force, overwrite)

    # -- helpers --------------------------------------------------------------------------------
    def _decode_ids(self, ids: torch.Tensor) -> torch.Tensor:
        """``ids [b, T']`` -> ``wav [b, T' * hop]`` float32: one pass, or streamed in pieces of
        ``decode_window_frames`` when longer."""
        if ids.shape[-1] > self.decode_window_frames:
            context = None if self.model.decoder.causal else self.decode_context_frames
            stream = StreamingDecoder(self.model, ids.shape[0], context, context,
                                      self.decode_window_frames, self.compute_dtype)
            return stream.decode_ids(ids)
        with self.inference():
            return self.model.decode_tokens(ids).float()

    def _too_short(self) -> UserInputError:
        return UserInputError(f"the audio is shorter than one sample at the model rate "
                              f"({self.sample_rate} Hz)")

    def _tokens(self, tokens: torch.Tensor, num_samples: torch.Tensor) -> Tokens:
        lengths = -(-num_samples // self.hop_length)
        valid = torch.arange(tokens.shape[-1]) < lengths[:, None]
        return Tokens(tokens.cpu() * valid, lengths, num_samples, self.sample_rate)

    def _as_tokens(self, tokens, lengths) -> Tokens:
        """Validate ids (and lengths) and wrap plain ids and token-dump rows as :class:`Tokens`."""
        rows = [tokens] if isinstance(tokens, TokenRow) else tokens
        if isinstance(rows, (list, tuple)) and rows and all(
                isinstance(row, TokenRow) for row in rows):
            others = sorted({row.model_hash for row in rows} - {self.model_hash})
            if others:
                raise UserInputError(f"these tokens were made by another model ({others[0]}), "
                                     f"not this one ({self.model_hash})")
            tokens = Tokens.from_rows(rows)
        if not isinstance(tokens, Tokens):
            ids, frames = validate.token_ids(tokens, lengths, self.codebook_size)
            return Tokens(ids, frames, frames * self.hop_length, self.sample_rate)
        if lengths is not None:
            raise UserInputError("lengths are given by the Tokens; do not pass them again")
        if tokens.sample_rate != self.sample_rate:
            raise UserInputError(f"these tokens are at {validate.describe(tokens.sample_rate)} "
                                 f"Hz, the model at {self.sample_rate} Hz")
        if tokens.lengths is None:
            raise UserInputError("Tokens.lengths must give the valid frames of each item")
        ids, frames = validate.token_ids(tokens.ids, tokens.lengths, self.codebook_size)
        if getattr(tokens.ids, "ndim", None) != 2:
            raise UserInputError("Tokens.ids must be ids [B, T']")
        num_samples = validate.sample_counts(tokens.num_samples, frames, self.hop_length)
        return Tokens(ids, frames, num_samples, self.sample_rate)

