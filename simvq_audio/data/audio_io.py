"""Reading and writing audio files, with resampling and downmixing, and clear errors.

Everything here works on float32 tensors shaped ``[channels, samples]``.
"""

from __future__ import annotations

import io
import os
import re
from pathlib import Path

import numpy as np
import soundfile
import soxr
import torch

from simvq_audio import validate
from simvq_audio.atomic import atomic_path
from simvq_audio.errors import UserInputError

OUTPUT_FORMATS = {".wav": ("WAV", "PCM_16"), ".flac": ("FLAC", "PCM_16"),
                  ".ogg": ("OGG", "VORBIS"), ".oga": ("OGG", "VORBIS"),
                  ".opus": ("OGG", "OPUS"), ".mp3": ("MP3", "MPEG_LAYER_III")}
"""File name ending -> (soundfile format, subtype) of the audio files simvq-audio writes."""
SOUNDFILE_ERRORS = (soundfile.LibsndfileError, RuntimeError, TypeError)
"""What soundfile raises for a file it cannot read or write."""


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
        UserInputError: missing, unreadable, non-audio or empty file, a sample rate outside
        1 kHz - 768 kHz, NaN/inf samples or samples far outside [-1, 1].
    """
    path = Path(path)
    if not path.is_file():
        raise UserInputError(f"{path}: no such audio file")
    try:
        data, file_rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except SOUNDFILE_ERRORS as error:
        raise UserInputError(f"{path}: not a readable audio file "
                             f"({soundfile_reason(error)})") from None
    validate.sample_rate(file_rate, f"{path}: sample rate")
    wav = torch.from_numpy(np.ascontiguousarray(data.T))
    check_waveform(wav, str(path))
    return prepare_waveform(wav, file_rate, sample_rate, mono), sample_rate or file_rate


def audio_suffixes() -> tuple[str, ...]:
    """Lower-case file name endings of the formats soundfile reads (``.wav``, ``.flac``, ...)."""
    return tuple(f".{name.lower()}" for name in soundfile.available_formats()) + (".oga", ".aif")


def soundfile_reason(error: Exception) -> str:
    """What went wrong in a soundfile error, without the file object's repr it may name."""
    reason = getattr(error, "error_string", None) or str(error)
    return re.sub(r"^Error (opening|writing) .*?: ", "", reason).strip() or type(error).__name__


def check_waveform(wav: torch.Tensor, what: str) -> None:
    """Refuse an empty waveform, NaN/inf samples, or samples far outside [-1, 1].
    ``wav``: ``[..., T]``."""
    if wav.shape[-1] == 0:
        raise UserInputError(f"{what}: the audio is empty (0 samples)")
    validate.check_samples(wav, f"{what}: the audio")


def prepare_waveform(wav: torch.Tensor, rate: int, target_rate: int | None = None,
                     mono: bool = True) -> torch.Tensor:
    """Downmix and resample. ``wav``: ``[C, T]`` float -> ``[C' , T']`` float32."""
    if mono and wav.shape[0] > 1:
        wav = wav.mean(dim=0, keepdim=True)
    if target_rate is not None and target_rate != rate:
        wav = resample(wav, rate, target_rate)
    return wav.float()


def resample(wav: torch.Tensor, rate: int, target_rate: int) -> torch.Tensor:
    """Resample ``wav [C, T]`` from ``rate`` to ``target_rate`` with soxr (HQ). Returns ``[C, T']``,
    ``T' = floor(T * target_rate / rate + 1/2)`` (halves round up, as soxr does). Both rates
    must lie in 1 kHz - 768 kHz."""
    rate = validate.sample_rate(rate, "sample rate")
    target_rate = validate.sample_rate(target_rate, "target sample rate")
    if rate == target_rate:
        return wav
    out = soxr.resample(wav.detach().cpu().double().numpy().T, rate, target_rate, quality="HQ")
    return torch.from_numpy(np.ascontiguousarray(out.T)).to(torch.float32)


def output_format(path: str | os.PathLike) -> tuple[str, str]:
    """``(format, subtype)`` of the audio file ``path`` names by its extension
    (:data:`OUTPUT_FORMATS`); any other name is refused."""
    suffix = Path(path).suffix.lower()
    if suffix not in OUTPUT_FORMATS:
        raise UserInputError(f"{os.fspath(path)}: cannot tell the audio format from its name; "
                             f"end it in {', '.join(OUTPUT_FORMATS)}")
    return OUTPUT_FORMATS[suffix]


def audio_bytes(wav: torch.Tensor, sample_rate: int, suffix: str = ".wav",
                comment: str | None = None) -> bytes:
    """``wav [C, T]`` or ``[T]`` (clipped to [-1, 1]) as the bytes of an audio file of the format
    ``suffix`` names (:data:`OUTPUT_FORMATS`: 16-bit PCM for wav and flac), with ``comment``."""
    data = wav.detach().cpu().float()
    data = (data[None] if data.dim() == 1 else data).clamp(-1, 1).numpy().T
    file_format, subtype = output_format(f"audio{suffix}")
    buffer = io.BytesIO()
    try:
        with soundfile.SoundFile(buffer, "w", sample_rate, data.shape[1], subtype,
                                 format=file_format) as audio:
            if comment:
                audio.comment = comment
            audio.write(data)
    except SOUNDFILE_ERRORS as error:
        raise UserInputError(f"cannot write {file_format} audio at {sample_rate} Hz "
                             f"({soundfile_reason(error)})") from None
    return buffer.getvalue()


def write_audio(path: str | os.PathLike, wav: torch.Tensor, sample_rate: int,
                comment: str | None = None) -> None:
    """Write ``wav [C, T]`` or ``[T]`` atomically in the format ``path``'s extension names
    (:func:`output_format`; ``.wav``: 16-bit PCM), with an optional ``comment`` tag."""
    output_format(path)
    data = audio_bytes(wav, sample_rate, Path(path).suffix.lower(), comment)
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
