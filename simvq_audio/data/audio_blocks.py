"""Reading an audio file block by block, downmixed to mono, for files too long to hold at once."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import soundfile
import torch

from simvq_audio import validate
from simvq_audio.data.audio_io import SOUNDFILE_ERRORS, soundfile_reason
from simvq_audio.errors import UserInputError


def audio_file_rate(path: str | os.PathLike) -> int:
    """The sample rate of an audio file soundfile reads (1 kHz - 768 kHz); clear errors for
    anything else."""
    with _open(Path(path)) as audio:
        return validate.sample_rate(audio.samplerate, f"{path}: sample rate")


def read_mono_blocks(path: str | os.PathLike, block_frames: int) -> Iterator[torch.Tensor]:
    """Yield the file as float32 mono blocks ``[n]`` (``n <= block_frames``) at its own rate.

    Channels are averaged as :func:`~simvq_audio.data.audio_io.read_audio` does, so the blocks
    joined equal ``read_audio(path)[0][0]``. Raises :class:`UserInputError` for a missing,
    unreadable, non-audio or empty file and for NaN/inf samples or samples far outside [-1, 1].
    """
    path = Path(path)
    with _open(path) as audio:
        empty = True
        for block in audio.blocks(block_frames, dtype="float32", always_2d=True):
            if block.shape[0] == 0:
                continue
            empty = False
            wav = torch.from_numpy(np.ascontiguousarray(block.T))
            validate.check_samples(wav, f"{path}: the audio")
            yield wav.mean(dim=0)
    if empty:
        raise UserInputError(f"{path}: the audio is empty (0 samples)")


def _open(path: Path) -> soundfile.SoundFile:
    if not path.is_file():
        raise UserInputError(f"{path}: no such audio file")
    try:
        return soundfile.SoundFile(str(path))
    except SOUNDFILE_ERRORS as error:
        raise UserInputError(f"{path}: not a readable audio file "
                             f"({soundfile_reason(error)})") from None
