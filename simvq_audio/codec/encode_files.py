"""Audio files -> tokens: what ``simvq-audio encode`` (through :mod:`simvq_audio.codec.files`),
``simvq-audio tokenize`` and :meth:`SimVQCodec.encode_file <simvq_audio.codec.SimVQCodec.
encode_file>` run.

Each file is read once (:func:`~simvq_audio.outputs.open_input`): its header decides how it is
encoded, its samples are read and checked once, and the same bytes give the input's identity
(:meth:`~simvq_audio.outputs.Input.identity`), so that what a ``.codes`` file records is what was
encoded even when another program rewrites the file meanwhile. Files of at most
``stream_seconds`` are encoded together in one padded batch
(:meth:`~simvq_audio.codec.SimVQCodec.encode_signals`); longer ones alone, block by block in
bounded memory (:meth:`~simvq_audio.codec.SimVQCodec.encode_blocks`), as :func:`encode_file`
streams one file. Either way a file's tokens equal ``encode_file(codec, path)``. A file that
cannot be read or encoded yields its error message instead, and the others go on.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from simvq_audio import outputs
from simvq_audio.codec.tokens import Tokens
from simvq_audio.codes import SourceId
from simvq_audio.data.audio_io import AudioFile, open_audio, prepare_waveform
from simvq_audio.errors import UserInputError

if TYPE_CHECKING:
    from simvq_audio.codec.simvq_codec import SimVQCodec

BLOCK_SECONDS = 30.0
"""Block size of a streamed file."""


@dataclass
class EncodedFile:
    """One file's result: ``tokens`` (one item, ``tokens [1, T']``), its channel count and the
    identity of the input (size, content and path hashes)."""

    tokens: Tokens
    channels: int
    source: SourceId


def encode_files(codec: SimVQCodec,
                 sources: Sequence[str | os.PathLike | bytes | outputs.Input],
                 stream_seconds: float) -> list[EncodedFile | str]:
    """Encode ``sources`` (file names, the bytes stdin held, or inputs already open, such as
    stdin spooled by :func:`simvq_audio.outputs.spool`): an :class:`EncodedFile` or an error
    message per source, in order. Each file is read once (:func:`simvq_audio.outputs.
    open_input`), so that the identity recorded is that of the bytes encoded."""
    results: dict[int, EncodedFile | str] = {}
    batch: list[tuple[int, torch.Tensor, int, SourceId]] = []  # signal [T] at the model rate
    for position, source in enumerate(sources):
        try:
            with (outputs.open_source(source, "audio file") as opened,
                  open_audio(opened.handle, opened.name) as audio):
                channels = audio.info.channels
                if audio.info.duration > stream_seconds:
                    tokens = _streamed(codec, audio, BLOCK_SECONDS)
                    results[position] = EncodedFile(tokens, channels, opened.identity())
                else:
                    batch.append((position, _signal(audio, codec.sample_rate), channels,
                                  opened.identity()))
        except UserInputError as error:
            results[position] = str(error)
    if batch:
        try:
            tokens = codec.encode_signals([signal for _, signal, _, _ in batch])
        except UserInputError as error:
            results.update((position, str(error)) for position, _, _, _ in batch)
        else:
            for item, (position, _, channels, identity) in enumerate(batch):
                results[position] = EncodedFile(tokens[item], channels, identity)
    return [results[position] for position in range(len(sources))]


def encode_file(codec: SimVQCodec, path: str | os.PathLike,
                block_seconds: float = BLOCK_SECONDS) -> Tokens:
    """The audio file ``path`` (any format soundfile reads) -> :class:`Tokens` of one item,
    ``tokens [1, T']``: read, downmixed and resampled ``block_seconds`` at a time, in memory
    bounded by that; the tokens equal ``codec.encode`` of the whole file."""
    with open_audio(path) as audio:
        return _streamed(codec, audio, block_seconds)


def _streamed(codec: SimVQCodec, audio: AudioFile, block_seconds: float) -> Tokens:
    """An open audio file encoded block by block (:meth:`SimVQCodec.encode_blocks`)."""
    return codec.encode_blocks(audio.mono_blocks(block_seconds), audio.sample_rate)


def _signal(audio: AudioFile, sample_rate: int) -> torch.Tensor:
    """The whole file, mono at ``sample_rate``: ``[T]``; refused when that leaves no sample."""
    signal = prepare_waveform(audio.read(), audio.sample_rate, sample_rate)[0]
    if not signal.numel():
        raise UserInputError(f"{audio.what}: the audio is shorter than one sample at the model "
                             f"rate ({sample_rate} Hz)")
    return signal
