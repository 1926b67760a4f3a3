"""Many audio files -> tokens: what ``simvq-audio encode`` and ``simvq-audio tokenize`` both run.

Each file is opened once (:func:`~simvq_audio.data.audio_io.open_audio`): its header decides how
it is encoded, its samples are read and checked once, and its bytes, read again from the same
open file, give the input's identity (:func:`~simvq_audio.outputs.input_id`). Files of at most
``stream_seconds`` are encoded together in one padded batch
(:meth:`~simvq_audio.codec.SimVQCodec.encode_signals`); longer ones alone, block by block in
bounded memory (:meth:`~simvq_audio.codec.SimVQCodec.encode_blocks`). Either way a file's
tokens equal ``codec.encode_file(path)``. A file that cannot be read or encoded yields its error
message instead, and the others go on.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from simvq_audio import outputs
from simvq_audio.codec.simvq_codec import SimVQCodec
from simvq_audio.codec.tokens import Tokens
from simvq_audio.codes import SourceId
from simvq_audio.data.audio_io import AudioFile, open_audio, prepare_waveform
from simvq_audio.errors import UserInputError

BLOCK_SECONDS = 30.0
"""Block size of a streamed file."""
STDIN_NAME = "stdin"


@dataclass
class EncodedFile:
    """One file's result: ``tokens`` (one item, ``tokens [1, T']``), its channel count and the
    identity of the input (size, content and path hashes)."""

    tokens: Tokens
    channels: int
    source: SourceId


def encode_files(codec: SimVQCodec, sources: Sequence[str | os.PathLike | bytes],
                 stream_seconds: float) -> list[EncodedFile | str]:
    """Encode ``sources`` (file names, or the bytes stdin held): an :class:`EncodedFile` or an
    error message per source, in order."""
    results: dict[int, EncodedFile | str] = {}
    batch: list[tuple[int, torch.Tensor, int, SourceId]] = []  # signal [T] at the model rate
    for position, source in enumerate(sources):
        try:
            with open_audio(source, STDIN_NAME if isinstance(source, bytes) else None) as audio:
                channels = audio.info.channels
                if audio.info.duration > stream_seconds:
                    tokens = codec.encode_blocks(audio.mono_blocks(BLOCK_SECONDS),
                                                 audio.sample_rate)
                    results[position] = EncodedFile(tokens, channels, _identity(source, audio))
                else:
                    batch.append((position, _signal(audio, codec.sample_rate), channels,
                                  _identity(source, audio)))
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


def _signal(audio: AudioFile, sample_rate: int) -> torch.Tensor:
    """The whole file, mono at ``sample_rate``: ``[T]``; refused when that leaves no sample."""
    signal = prepare_waveform(audio.read(), audio.sample_rate, sample_rate)[0]
    if not signal.numel():
        raise UserInputError(f"{audio.what}: the audio is shorter than one sample at the model "
                             f"rate ({sample_rate} Hz)")
    return signal


def _identity(source: str | os.PathLike | bytes, audio: AudioFile) -> SourceId:
    if isinstance(source, bytes):
        return outputs.stream_id(source)
    return outputs.input_id(source, audio.raw)
