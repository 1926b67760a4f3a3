"""Datasets of audio crops from a data dir, at the model's sample rate, mono.

* :class:`SegmentDataset` (training): a random fixed-length crop per utterance (default 1 s),
  chosen deterministically from ``(seed, epoch, index)`` so that a resumed run sees the same crops.
  Utterances shorter than the crop are either zero-padded, their valid length returned, or tiled
  by repetition to the full length (the SimVQ reference's data loader).
* :class:`ValidationDataset`: the first ``max_seconds`` of each utterance (all of it when shorter),
  always the same.

Only the needed part of each file is read (``seek`` + ``read``), with a short margin on both sides
so that resampling (soxr) matches resampling the whole file. Multi-channel audio is averaged.
Call :meth:`SegmentDataset.set_epoch` before each epoch; with a ``DataLoader`` keep
``persistent_workers=False`` (the default) so the workers see the new epoch.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np
import torch
from torch.utils.data import Dataset

from simvq_audio.data.audio_io import open_audio, prepare_waveform
from simvq_audio.data.kaldi_dir import Utterance
from simvq_audio.data.loudness import normalize_rms
from simvq_audio.data.padding import pad_batch
from simvq_audio.errors import UserInputError

RESAMPLE_MARGIN_S = 0.05


SHORT_CLIPS = ("pad", "tile")


class Segment(NamedTuple):
    """One crop: ``wav [T]`` float32, ``length`` valid samples (the rest is zero padding)."""

    wav: torch.Tensor
    length: int
    utt_id: str


class SegmentBatch(NamedTuple):
    """Crops padded to one length: ``wav [B, T]``, ``lengths [B]`` (int64), ``utt_ids`` (B)."""

    wav: torch.Tensor
    lengths: torch.Tensor
    utt_ids: tuple[str, ...]


def collate_segments(items: Sequence[Segment]) -> SegmentBatch:
    """Stack crops into a :class:`SegmentBatch`, zero-padding to the longest ``wav``."""
    wav, _ = pad_batch([item.wav for item in items])
    lengths = torch.tensor([item.length for item in items], dtype=torch.long)
    return SegmentBatch(wav, lengths, tuple(item.utt_id for item in items))


class _CropDataset(Dataset):
    """Shared part: the utterance list, the model rate and the optional loudness normalisation."""

    def __init__(self, utterances: Sequence[Utterance], sample_rate: int,
                 target_dbfs: float | None, max_gain_db: float):
        if not utterances:
            raise UserInputError("the data dir has no utterances")
        if sample_rate <= 0:
            raise UserInputError(f"sample_rate must be positive, got {sample_rate}")
        self.utterances = list(utterances)
        self.sample_rate = sample_rate
        self.target_dbfs = target_dbfs
        self.max_gain_db = max_gain_db

    def __len__(self) -> int:
        return len(self.utterances)

    @property
    def durations(self) -> list[float] | None:
        """Seconds per utterance from ``utt2dur`` (for length bucketing), or ``None`` if unknown."""
        if any(utt.duration is None for utt in self.utterances):
            return None
        return [utt.duration for utt in self.utterances]

    def _segment(self, index: int, wav: torch.Tensor, width: int) -> Segment:
        """Normalise ``wav [t]`` and zero-pad it to ``width`` samples."""
        length = wav.shape[-1]
        if self.target_dbfs is not None:
            wav = normalize_rms(wav, length, self.target_dbfs, self.max_gain_db)
        padded = torch.nn.functional.pad(wav, (0, width - length))
        return Segment(padded, length, self.utterances[index].utt_id)


class SegmentDataset(_CropDataset):
    """Random fixed-length training crops; item ``i`` is a :class:`Segment` with ``wav [T]``,
    ``T = round(segment_seconds * sample_rate)``.

    Args:
        utterances: from :func:`simvq_audio.data.kaldi_dir.read_data_dir`.
        sample_rate: the model's rate; files at other rates are resampled with soxr.
        segment_seconds: crop length.
        seed: with the epoch and the index, fixes the crop position.
        target_dbfs: if set, gain each crop to this RMS level in dBFS
            (:mod:`~simvq_audio.data.loudness`).
        max_gain_db: cap on that gain.
        short_clips: an utterance shorter than the crop is ``"pad"``ded with zeros (``length``
            says where they start) or ``"tile"``d: repeated from its start until the crop is
            full (all of it valid).
    """

    def __init__(self, utterances: Sequence[Utterance], sample_rate: int = 24000,
                 segment_seconds: float = 1.0, seed: int = 0, target_dbfs: float | None = None,
                 max_gain_db: float = 20.0, short_clips: str = "pad"):
        super().__init__(utterances, sample_rate, target_dbfs, max_gain_db)
        self.segment_samples = round(segment_seconds * sample_rate)
        if self.segment_samples <= 0:
            raise UserInputError(f"segment_seconds must be positive, got {segment_seconds}")
        if short_clips not in SHORT_CLIPS:
            raise UserInputError(f"short_clips must be one of {SHORT_CLIPS}, got {short_clips!r}")
        self.short_clips = short_clips
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the crops of ``epoch`` (call before iterating over it)."""
        self.epoch = epoch

    def __getitem__(self, index: int) -> Segment:
        rng = np.random.default_rng((self.seed, self.epoch, index))

        def random_start(total: int) -> int:
            return int(rng.integers(0, max(total - self.segment_samples, 0) + 1))

        wav = read_crop(self.utterances[index], self.sample_rate, self.segment_samples,
                        random_start)
        if self.short_clips == "tile" and wav.shape[-1] < self.segment_samples:
            wav = wav.repeat(-(-self.segment_samples // wav.shape[-1]))[:self.segment_samples]
        return self._segment(index, wav, self.segment_samples)


class ValidationDataset(_CropDataset):
    """Fixed validation crops: the first ``max_seconds`` of each utterance (``None``: all of it).

    Item ``i`` is a :class:`Segment` with ``wav [t]``, not padded (:func:`collate_segments` pads).
    Same arguments as :class:`SegmentDataset`.
    """

    def __init__(self, utterances: Sequence[Utterance], sample_rate: int = 24000,
                 max_seconds: float | None = 10.0, target_dbfs: float | None = None,
                 max_gain_db: float = 20.0):
        super().__init__(utterances, sample_rate, target_dbfs, max_gain_db)
        if max_seconds is not None and max_seconds <= 0:
            raise UserInputError(f"max_seconds must be positive, got {max_seconds}")
        self.max_samples = None if max_seconds is None else round(max_seconds * sample_rate)

    def __getitem__(self, index: int) -> Segment:
        wav = read_crop(self.utterances[index], self.sample_rate, self.max_samples, lambda total: 0)
        return self._segment(index, wav, wav.shape[-1])


def read_crop(utterance: Utterance, sample_rate: int, num_samples: int | None,
              choose_start: Callable[[int], int]) -> torch.Tensor:
    """Read ``num_samples`` (``None``: all) of ``utterance`` at ``sample_rate``, mono.

    ``choose_start(total)`` gets the utterance length in samples at ``sample_rate`` and returns the
    first sample of the crop. Returns ``wav [t]`` float32, ``t = min(num_samples, total - start)``.

    Raises:
        UserInputError: naming the utterance and file, if the file cannot be read, is empty or
            holds NaN/inf samples.
    """
    what = f"utterance {utterance.utt_id!r} ({utterance.path})"
    with open_audio(utterance.path, what) as audio:
        rate, frames = audio.sample_rate, audio.info.frames
        total = frames * sample_rate // rate
        if total <= 0:
            raise UserInputError(f"{what}: the audio is empty")
        start = choose_start(total)
        count = total - start if num_samples is None else min(num_samples, total - start)
        margin = math.ceil(RESAMPLE_MARGIN_S * rate) if rate != sample_rate else 0
        # start reading on a frame that falls exactly on an output sample
        step = rate // math.gcd(rate, sample_rate)
        first = max(start * rate // sample_rate - margin, 0) // step * step
        last = min(math.ceil((start + count) * rate / sample_rate) + margin, frames)
        wav = audio.read(first, last - first)
    wav = prepare_waveform(wav, rate, sample_rate, mono=True)[0]
    offset = start - first * sample_rate // rate
    crop = wav[offset: offset + count]
    return torch.nn.functional.pad(crop, (0, count - crop.shape[-1]))
