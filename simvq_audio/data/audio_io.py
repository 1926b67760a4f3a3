"""Audio files in and out: the one module that opens, reads, writes and resamples audio
(soundfile and soxr are called here only), with one wording for every failure.

* What counts as audio when a directory is listed: :data:`AUDIO_SUFFIXES`.
* Reading: :func:`open_audio` gives an :class:`AudioFile` (header, ranges, mono blocks);
  :func:`read_audio` and :func:`audio_info` are its one-call forms. A source is a file name,
  the bytes of a file, or a binary file object. Every read checks its samples once
  (:func:`check_waveform`); a file that cannot be read is one :class:`UserInputError`:
  ``<what>: no such audio file`` or ``<what>: not a readable audio file (<reason>)``.
* Resampling: :func:`resample` and :class:`StreamResampler` (soxr, high quality).
* Writing: :func:`audio_bytes` and :func:`write_audio` (atomic), the format named by the
  extension (:data:`~simvq_audio.data.audio_formats.OUTPUT_FORMATS`).

Waveforms are float32 tensors ``[channels, samples]``.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Union

import numpy as np
import soundfile
import soxr
import torch

from simvq_audio import validate
from simvq_audio.atomic import write_bytes
from simvq_audio.data.audio_formats import OUTPUT_FORMATS, OUTPUT_SUFFIXES
from simvq_audio.errors import UserInputError

AudioSource = Union[str, os.PathLike, bytes, BinaryIO]
"""A file name, the bytes of an audio file, or a binary file object open for reading."""

_ALIASES = {"AIFF": (".aif", ".aifc"), "AU": (".snd",), "NIST": (".sph",),
            "OGG": (".oga", ".opus")}
"""Other usual endings of some of soundfile's formats."""
AUDIO_SUFFIXES = frozenset(
    [f".{name.lower()}" for name in soundfile.available_formats() if name != "RAW"]
    + [alias for name in soundfile.available_formats() for alias in _ALIASES.get(name, ())])
"""Lower-case file name endings of the formats soundfile reads: its format names (``.wav``,
``.flac``, ``.mp3``, ``.ogg``, ...) and their usual aliases (``.opus``, ``.aif``, ...);
header-less ``RAW`` is left out (it cannot be read without being told its layout)."""
_AUDIO_STARTS = (b"RIFF", b"RIFX", b"RF64", b"BW64", b"riff", b"fLaC", b"OggS", b"FORM",
                 b".snd", b"dns.", b"caff", b"ID3", b"NIST_1A", b"Creative Voice File", b"2BIT",
                 b"PVF1", b"Extended Instrument", b"MATLAB 5.0")
"""How files of soundfile's formats start (an MP3 may also start with a bare frame header)."""
_DIGEST_FRAMES = 1 << 16
"""Frames read at a time for :meth:`AudioFile.digest`."""
_FAILURES = (soundfile.LibsndfileError, RuntimeError, TypeError, OSError)
"""What soundfile (and opening a file) raises for a file it cannot read or write."""


@dataclass(frozen=True)
class AudioInfo:
    """An audio file's header."""

    sample_rate: int
    frames: int
    channels: int
    comment: str

    @property
    def duration(self) -> float:
        return self.frames / self.sample_rate


class AudioFile:
    """An open audio file (from :func:`open_audio`): its header and its samples.

    ``raw`` is the binary file the samples are decoded from: whoever needs the file's bytes
    too (a content hash) reads them from it instead of opening the file again.
    """

    def __init__(self, sound: soundfile.SoundFile, raw: BinaryIO, what: str):
        self._sound, self.raw, self.what = sound, raw, what
        self.info = AudioInfo(validate.sample_rate(sound.samplerate, f"{what}: sample rate"),
                              sound.frames, sound.channels, sound.comment or "")

    @property
    def sample_rate(self) -> int:
        return self.info.sample_rate

    def read(self, start: int = 0, count: int | None = None) -> torch.Tensor:
        """Frames ``[start, start + count)`` (``count`` None: to the end) as ``wav [C, n]``
        float32, checked by :func:`check_waveform`."""
        with self._failures():
            self._sound.seek(start)
            data = self._sound.read(-1 if count is None else count, dtype="float32",
                                    always_2d=True)
        wav = torch.from_numpy(np.ascontiguousarray(data.T))
        check_waveform(wav, self.what)
        return wav

    def mono_blocks(self, block_seconds: float) -> Iterator[torch.Tensor]:
        """The whole file as float32 mono blocks ``[n]`` of at most ``block_seconds`` at its own
        rate, channels averaged as :func:`prepare_waveform` does; each block is checked for
        NaN/inf and magnitude, and an empty file is refused."""
        empty = True
        with self._failures():
            self._sound.seek(0)
            for block in self._sound.blocks(max(1, round(block_seconds * self.sample_rate)),
                                            dtype="float32", always_2d=True):
                if block.shape[0]:
                    empty = False
                    wav = torch.from_numpy(np.ascontiguousarray(block.T))
                    validate.check_samples(wav, f"{self.what}: the audio")
                    yield wav.mean(dim=0)
        if empty:
            raise UserInputError(f"{self.what}: the audio is empty (0 samples)")

    def digest(self) -> str:
        """32 hex chars: the sha256 of all the file's samples as float32 frames (channels
        interleaved), read block by block; its header and tags are left out."""
        digest = hashlib.sha256()
        with self._failures():
            self._sound.seek(0)
            for block in self._sound.blocks(_DIGEST_FRAMES, dtype="float32", always_2d=True):
                digest.update(np.ascontiguousarray(block).tobytes())
        return digest.hexdigest()[:32]

    @contextlib.contextmanager
    def _failures(self):
        try:
            yield
        except _FAILURES as error:
            raise _unreadable(self.what, error) from None


@contextlib.contextmanager
def open_audio(source: AudioSource, what: str | None = None) -> Iterator[AudioFile]:
    """Open ``source`` (see :data:`AudioSource`) for reading; ``what`` names it in messages
    (default: the file name, or ``audio``). The file is closed when the block ends."""
    named = isinstance(source, (str, os.PathLike))
    what = what or (os.fspath(source) if named else "audio")
    if named and not Path(source).is_file():
        raise UserInputError(f"{what}: no such audio file")
    with contextlib.ExitStack() as stack:
        try:
            if named:
                raw = stack.enter_context(open(source, "rb"))
            else:
                raw = io.BytesIO(source) if isinstance(source, bytes) else source
            audio = AudioFile(stack.enter_context(soundfile.SoundFile(raw)), raw, what)
        except _FAILURES as error:
            raise _unreadable(what, error) from None
        yield audio


def check_audio_start(head: bytes, what: str) -> None:
    """Refuse bytes that do not start the way files of soundfile's formats do (WAV, RF64, W64,
    FLAC, Ogg, MP3, AIFF, AU, CAF, NIST, VOC, ...): how a stream is refused after its first
    bytes instead of after all of them."""
    mp3_frame = len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0
    if not (mp3_frame or head.startswith(_AUDIO_STARTS)):
        raise UserInputError(f"{what}: not a readable audio file (it does not start the way "
                             "WAV, FLAC, Ogg, MP3, AIFF, AU or CAF files do; other formats can "
                             "be given as a file)")


def audio_info(source: AudioSource, what: str | None = None) -> AudioInfo:
    """The header of an audio file (rate, frames, channels, comment tag)."""
    with open_audio(source, what) as audio:
        return audio.info


def read_audio(source: AudioSource, sample_rate: int | None = None, mono: bool = True,
               what: str | None = None) -> tuple[torch.Tensor, int]:
    """Read a whole audio file that soundfile understands (wav, flac, ogg, mp3, ...).

    Args:
        source: the file (see :data:`AudioSource`).
        sample_rate: resample to this rate (soxr, high quality); ``None`` keeps the file's rate.
        mono: average all channels into one.
        what: the file's name in messages.

    Returns:
        ``(wav [C, T] float32, sample_rate)``; ``C == 1`` when ``mono``.

    Raises:
        UserInputError: missing, unreadable, non-audio or empty file, a sample rate outside
        1 kHz - 768 kHz, NaN/inf samples or samples far outside [-1, 1].
    """
    with open_audio(source, what) as audio:
        wav, rate = audio.read(), audio.sample_rate
    return prepare_waveform(wav, rate, sample_rate, mono), sample_rate or rate


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


class StreamResampler:
    """Resample ``channels`` parallel signals piece by piece (soxr HQ); the pieces joined equal
    :func:`resample` of the whole signal."""

    def __init__(self, rate: int, target_rate: int, channels: int):
        self._stream = soxr.ResampleStream(rate, target_rate, channels, dtype="float64",
                                           quality="HQ")

    def __call__(self, samples: torch.Tensor, last: bool) -> torch.Tensor:
        """``samples [C, n]`` -> ``[C, n']`` float32; ``last`` ends the stream."""
        out = self._stream.resample_chunk(samples.cpu().double().numpy().T, last=last)
        return torch.from_numpy(np.ascontiguousarray(out.T)).float()


def output_format(path: str | os.PathLike) -> tuple[str, str]:
    """``(format, subtype)`` of the audio file ``path`` names by its extension
    (:data:`OUTPUT_FORMATS`); any other name is refused."""
    suffix = Path(path).suffix.lower()
    if suffix not in OUTPUT_FORMATS:
        raise UserInputError(f"{os.fspath(path)}: cannot tell the audio format from its name; "
                             f"end it in {OUTPUT_SUFFIXES}")
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
    except _FAILURES as error:
        raise UserInputError(f"cannot write {file_format} audio at {sample_rate} Hz "
                             f"({_reason(error)})") from None
    return buffer.getvalue()


def write_audio(path: str | os.PathLike, wav: torch.Tensor, sample_rate: int,
                comment: str | None = None) -> None:
    """Write ``wav [C, T]`` or ``[T]`` atomically in the format ``path``'s extension names
    (:func:`output_format`; ``.wav``: 16-bit PCM), with an optional ``comment`` tag."""
    output_format(path)
    write_bytes(path, audio_bytes(wav, sample_rate, Path(path).suffix.lower(), comment))


def _unreadable(what: str, error: Exception) -> UserInputError:
    return UserInputError(f"{what}: not a readable audio file ({_reason(error)})")


def _reason(error: Exception) -> str:
    """What went wrong, without the file object's repr a soundfile message may name."""
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    reason = getattr(error, "error_string", None) or str(error)
    return re.sub(r"^Error (opening|writing) .*?: ", "", reason).strip() or type(error).__name__
