"""Reading and writing audio files, with resampling and downmixing, and clear errors.

Everything here works on float32 tensors shaped ``[channels, samples]``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import soundfile
import soxr
import torch

from simvq_audio.atomic import atomic_path
from simvq_audio.errors import UserInputError


def read_audio(path: str | os.PathLike, sample_rate: int | None = None, mono: bool = True
               ) -> tuple[torch.Tensor, int]:
    """Read an audio file that soundfile understands (wav, flac, ogg, ...).

    Args:
        path: the file.
        sample_rate: resample to this rate (soxr, high quality); ``None`` keeps the file's rate.
        mono: average all channels into one.

    Returns:
        ``(wav [C, T] float32, sample_rate)``; ``C == 1`` when ``mono``.

    Raises:
        UserInputError: missing, unreadable, non-audio or empty file, or NaN/inf samples.
    """
    path = Path(path)
    if not path.is_file():
        raise UserInputError(f"{path}: no such audio file")
    try:
        data, file_rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError, TypeError) as error:
        raise UserInputError(f"{path}: not a readable audio file ({error})") from None
    wav = torch.from_numpy(np.ascontiguousarray(data.T))
    check_waveform(wav, str(path))
    return prepare_waveform(wav, file_rate, sample_rate, mono), sample_rate or file_rate


def audio_suffixes() -> tuple[str, ...]:
    """Lower-case file name endings of the formats soundfile reads (``.wav``, ``.flac``, ...)."""
    return tuple(f".{name.lower()}" for name in soundfile.available_formats()) + (".oga", ".aif")


def check_waveform(wav: torch.Tensor, what: str) -> None:
    """Refuse an empty waveform or one with NaN/inf samples. ``wav``: ``[..., T]``."""
    if wav.shape[-1] == 0:
        raise UserInputError(f"{what}: the audio is empty (0 samples)")
    if not torch.isfinite(wav).all():
        raise UserInputError(f"{what}: the audio contains NaN or infinite samples")


def prepare_waveform(wav: torch.Tensor, rate: int, target_rate: int | None = None,
                     mono: bool = True) -> torch.Tensor:
    """Downmix and resample. ``wav``: ``[C, T]`` float -> ``[C' , T']`` float32."""
    if mono and wav.shape[0] > 1:
        wav = wav.mean(dim=0, keepdim=True)
    if target_rate is not None and target_rate != rate:
        wav = resample(wav, rate, target_rate)
    return wav.float()


def resample(wav: torch.Tensor, rate: int, target_rate: int) -> torch.Tensor:
    """Resample ``wav [C, T]`` from ``rate`` to ``target_rate`` with soxr (HQ). Returns ``[C, T']``."""
    if rate <= 0 or target_rate <= 0:
        raise UserInputError(f"sample rates must be positive, got {rate} -> {target_rate}")
    if rate == target_rate:
        return wav
    out = soxr.resample(wav.detach().cpu().double().numpy().T, rate, target_rate, quality="HQ")
    return torch.from_numpy(np.ascontiguousarray(out.T)).to(torch.float32)


def write_audio(path: str | os.PathLike, wav: torch.Tensor, sample_rate: int) -> None:
    """Write ``wav [C, T]`` or ``[T]`` as 16-bit PCM wav, atomically (temp file, then rename)."""
    data = wav.detach().cpu().float()
    data = data[None] if data.dim() == 1 else data
    with atomic_path(path) as tmp:
        soundfile.write(str(tmp), data.clamp(-1, 1).numpy().T, sample_rate, subtype="PCM_16",
                        format="WAV")
