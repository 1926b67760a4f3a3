"""Encoding a list of audio files together: short files in one padded batch, long files streamed.

Used by ``simvq-audio encode`` (directory and ``wav.scp`` mode) and ``simvq-audio tokenize``.
Every file's tokens equal ``codec.encode_file(path)`` (the codec's batches give the tokens of each
item alone); a file that cannot be read yields its error message instead, and the others go on.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch

from simvq_audio.codec import SimVQCodec, Tokens
from simvq_audio.data.audio_io import SOUNDFILE_ERRORS, read_audio, soundfile_reason
from simvq_audio.errors import UserInputError


@dataclass
class EncodedFile:
    """One file's result: ``tokens`` (one item, ``tokens [1, T']``) and its channel count."""

    tokens: Tokens
    channels: int


def encode_files(codec: SimVQCodec, paths: list[str | os.PathLike],
                 stream_seconds: float) -> list[EncodedFile | str]:
    """Encode ``paths``: an :class:`EncodedFile` or an error message per path, in order.

    Files longer than ``stream_seconds`` are encoded alone, block by block in bounded memory;
    the others are read (resampled to the model rate) and encoded as one padded batch.
    """
    results: dict[int, EncodedFile | str] = {}
    short = []  # (position, wav [T] at the model rate, channels)
    for position, path in enumerate(paths):
        try:
            info = audio_info(path)
            if info.duration > stream_seconds:
                results[position] = EncodedFile(codec.encode_file(path), info.channels)
            else:
                short.append((position, read_audio(path, codec.sample_rate)[0][0],
                              info.channels))
        except UserInputError as error:
            results[position] = str(error)
    if short:
        sizes = [len(wav) for _, wav, _ in short]
        batch = torch.zeros(len(short), 1, max(sizes))
        for row, (_, wav, _) in zip(batch, short):
            row[0, :len(wav)] = wav
        tokens = codec.encode(batch, codec.sample_rate, lengths=sizes)
        for item, (position, _, channels) in enumerate(short):
            results[position] = EncodedFile(tokens[item], channels)
    return [results[position] for position in range(len(paths))]


def audio_info(path: str | os.PathLike):
    """``soundfile.info`` of ``path``; :class:`UserInputError` for a missing or non-audio file."""
    import soundfile

    if not Path(path).is_file():
        raise UserInputError(f"{path}: no such audio file")
    try:
        return soundfile.info(str(path))
    except SOUNDFILE_ERRORS as error:
        raise UserInputError(f"{path}: not a readable audio file "
                             f"({soundfile_reason(error)})") from None
