"""The argument checks of the public API: every entry point of :class:`~simvq_audio.codec.
SimVQCodec` (and the audio readers) passes user arguments through these functions, which turn
bad types, shapes, dtypes and values into one :class:`~simvq_audio.errors.UserInputError` saying
what was expected. Messages describe values by type, dtype and shape (:func:`describe`), never by
an object's repr.

Accepted shapes (:data:`SHAPE_RULE`, quoted by every message that refuses a shape). Batches
put their items first, everywhere: ``B`` signals with ``lengths [B]`` valid samples, ``B`` token
sequences ``[B, T']`` with ``lengths [B]`` valid frames, and a stream's ``feed`` of ``[B, T]``.
Waveforms (:func:`waveforms`): ``[T]``, ``[C, T]`` or ``[B, C, T]`` (the shorter of the last
two axes first), and channels-last ``[T, C]`` or ``[B, T, C]`` as ``soundfile.read`` returns
them, recognised when the time axis holds more than :data:`MAX_CHANNELS` samples and the channel
axis at most :data:`MAX_CHANNELS`; with ``lengths`` a 2-D waveform is a batch of mono signals
``[B, T]`` (as ``[B, 1, T]``). Anything else (two equal axes longer than 1, or a longer first
axis of at most :data:`MAX_CHANNELS`) could be read either way and is refused.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from simvq_audio.errors import UserInputError
from simvq_audio.plain_checks import describe as describe  # re-exported
from simvq_audio.plain_checks import file_path as file_path  # re-exported

MIN_SAMPLE_RATE = 1_000
MAX_SAMPLE_RATE = 768_000
MAX_CHANNELS = 64
"""Most channels a channels-last array may have (a longer last axis is taken as time)."""
SHAPE_RULE = ("one signal is [T], [C, T] or channels-last [T, C]; a batch puts its items first: "
              "[B, C, T], [B, T, C], or mono signals [B, T] when lengths [B] (valid samples) "
              "are given, as a stream's feed takes them; token ids are [T'] or [B, T'] with "
              "optional lengths [B] (valid frames)")
"""The one statement of the accepted shapes, quoted by every message that refuses a shape."""
MAX_ABS_SAMPLE = 64.0
"""Largest sample magnitude accepted: float audio lies in [-1, 1]; far larger values are integer
PCM stored as float (divide by 32768) and would give meaningless tokens."""


def sample_rate(value: object, what: str = "sample_rate") -> int:
    """A sample rate in Hz: an integer (or a whole float) in
    [:data:`MIN_SAMPLE_RATE`, :data:`MAX_SAMPLE_RATE`]."""
    whole = isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))
    if isinstance(value, (float, np.floating)) and math.isfinite(value) and value == int(value):
        whole = True
    if not whole:
        raise UserInputError(f"{what} must be a whole number of Hz such as 16000, got "
                             f"{describe(value)}")
    rate = int(value)
    if not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
        raise UserInputError(f"{what} {rate} Hz is outside the supported range "
                             f"{MIN_SAMPLE_RATE}-{MAX_SAMPLE_RATE} Hz")
    return rate


def integer(value: object, what: str, low: int, high: int) -> int:
    """An integer (not a bool) in ``[low, high]``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise UserInputError(f"{what} must be an integer, got {describe(value)}")
    if not low <= int(value) <= high:
        raise UserInputError(f"{what} must lie in [{low}, {high}], got {int(value)}")
    return int(value)


def positive_seconds(value: object, what: str) -> float:
    """A finite number of seconds greater than 0."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer,
                                                                     np.floating)):
        raise UserInputError(f"{what} must be a number of seconds, got {describe(value)}")
    if not (math.isfinite(value) and value > 0):
        raise UserInputError(f"{what} must be a positive number of seconds, got {value}")
    return float(value)


def device(value: object) -> torch.device:
    """A torch device from a ``torch.device`` or a string such as ``"cuda:1"``; not ``meta``
    (shapes only: a model there computes nothing)."""
    if not isinstance(value, (str, torch.device)):
        raise UserInputError(f"device must be a string such as 'cpu' or 'cuda', got "
                             f"{describe(value)}")
    try:
        result = torch.device(value)
    except RuntimeError:
        raise UserInputError(f"device {describe(value)} is not a torch device (e.g. 'cpu', "
                             "'cuda', 'cuda:1')") from None
    if result.type == "meta":
        raise UserInputError(f"device {describe(value)} holds shapes only, no data: use a "
                             "device that computes (e.g. 'cpu', 'cuda', 'cuda:1')")
    return result


def waveforms(wav: object, lengths: object = None) -> list[torch.Tensor]:
    """Float audio in one of the module's layouts (tensor or array, with optional ``lengths [B]``
    valid samples per item) -> one mono float32 CPU tensor ``[T_i]`` per item.

    Channels are averaged. Gradients are not tracked (inputs that require grad are fine).
    """
    wav = as_tensor(wav, "wav")
    if wav.dtype == torch.bool or wav.is_complex() or not wav.is_floating_point():
        hint = " (integer PCM: divide by 32768 first)" if wav.dtype in (
            torch.int16, torch.int32) else ""
        raise UserInputError(f"wav must hold float samples in [-1, 1], got {describe(wav)}"
                             f"{hint}")
    if not 1 <= wav.dim() <= 3:
        raise shape_error(f"wav has no accepted shape: {describe(wav)}")
    if wav.numel() == 0:
        raise UserInputError(f"the audio is empty ({describe(wav)})")
    if wav.dim() == 2 and lengths is not None:
        wav = wav[:, None]  # a batch of mono signals [B, T]
    wav = _channels_first(wav.reshape((1,) * (3 - wav.dim()) + tuple(wav.shape)))
    sizes = counts(lengths, wav.shape[0], wav.shape[-1], "lengths", "samples")
    items = [item[:, :size].float().mean(dim=0) for item, size in zip(wav, sizes.tolist())]
    for index, item in enumerate(items):
        check_samples(item, f"batch item {index}" if len(items) > 1 else "the audio")
    return items


def check_samples(wav: torch.Tensor, what: str) -> None:
    """Refuse NaN/inf samples and magnitudes above :data:`MAX_ABS_SAMPLE`. ``wav``: ``[..., T]``."""
    if not torch.isfinite(wav).all():
        raise UserInputError(f"{what} contains NaN or infinite samples")
    peak = float(wav.abs().max()) if wav.numel() else 0.0
    if peak > MAX_ABS_SAMPLE:
        raise UserInputError(f"{what} has samples up to {peak:.4g}; float audio lies in [-1, 1] "
                             f"(integer PCM stored as float: divide by 32768)")


def counts(values: object, batch: int, size: int, what: str, unit: str) -> torch.Tensor:
    """``[batch]`` integers (list, tensor or array; ``None``: all ``size``) in ``[1, size]``
    ``unit`` -> int64 CPU tensor."""
    if values is None:
        return torch.full((batch,), size, dtype=torch.long)
    if isinstance(values, (torch.Tensor, np.ndarray)):
        if not _is_integer_dtype(values.dtype) or values.ndim != 1:
            raise UserInputError(f"{what} must be {batch} integer(s), one per item, got "
                                 f"{describe(values)}")
        items = values.tolist()
    elif isinstance(values, (list, tuple)):
        items = list(values)
    else:
        raise UserInputError(f"{what} must be a list, tensor or array of {batch} integer(s), got "
                             f"{describe(values)}")
    if len(items) != batch:
        raise shape_error(f"{what} must hold {batch} integer(s), one per item, got {len(items)}")
    for item in items:
        if isinstance(item, (bool, np.bool_)) or not isinstance(item, (int, np.integer)):
            raise UserInputError(f"{what} must be integers, got {describe(item)}")
    values = [int(item) for item in items]
    if not all(1 <= value <= size for value in values):
        shown = values if len(values) <= 8 else values[:8] + ["..."]
        raise UserInputError(f"{what} must lie in [1, {size}] {unit}, got {shown}")
    return torch.tensor(values, dtype=torch.long)


def token_ids(tokens: object, lengths: object, codebook_size: int, allow_empty: bool = False
              ) -> tuple[torch.Tensor, torch.Tensor]:
    """Ids ``[T']`` or ``[B, T']`` of any integer dtype (tensor or array) and optional
    ``lengths [B]`` valid frames -> ``(ids [B, T'] int64, zero past each item's frames,
    lengths [B] int64)``. Every valid id must lie in ``[0, codebook_size)``, compared in 64 bits
    whatever the dtype. ``allow_empty``: ``T' = 0`` is fine (a stream's empty piece; no
    ``lengths`` then)."""
    ids = as_tensor(tokens, "tokens")
    if not _is_integer_dtype(ids.dtype) or ids.dtype == torch.bool:
        raise UserInputError(f"tokens must be integer ids [T'] or [B, T'], got {describe(ids)}")
    ids = ids[None] if ids.dim() == 1 else ids
    if ids.dim() != 2:
        raise shape_error(f"tokens must be integer ids [T'] or [B, T'], got {describe(ids)}")
    if allow_empty and ids.shape[1] == 0 and lengths is None:
        return ids.long(), torch.zeros(ids.shape[0], dtype=torch.long)
    if ids.numel() == 0:
        raise UserInputError(f"there are no tokens to decode ({describe(ids)})")
    frames = counts(lengths, ids.shape[0], ids.shape[1], "lengths", "frames")
    values = ids.numpy()
    valid = np.arange(values.shape[1]) < frames.numpy()[:, None]
    if values.dtype.kind == "u":  # compare unsigned ids as unsigned: uint64 may exceed int64
        wide = values.astype(np.uint64)
        bad = valid & (wide >= np.uint64(codebook_size))
    else:
        wide = values.astype(np.int64)
        bad = valid & ((wide < 0) | (wide >= codebook_size))
    if bad.any():
        row, column = np.argwhere(bad)[0]
        raise UserInputError(f"token id {int(wide[row, column])} (item {row}, frame {column}) is "
                             f"out of range for this model's codebook of {codebook_size} codes")
    return torch.from_numpy(np.where(valid, wide, 0).astype(np.int64)), frames


def sample_counts(values: object, frames: torch.Tensor, hop: int) -> torch.Tensor:
    """``num_samples [B]`` of :class:`~simvq_audio.codec.Tokens`: each item needs
    ``ceil(num_samples / hop)`` frames. Returns int64 ``[B]``."""
    counted = counts(values, len(frames), int(frames.max()) * hop, "Tokens.num_samples",
                     "samples")
    if not torch.equal(-(-counted // hop), frames):
        raise UserInputError(f"Tokens.num_samples {counted.tolist()} do not fit Tokens.lengths "
                             f"{frames.tolist()}: each item needs ceil(num_samples / {hop}) "
                             "frames")
    return counted


def as_tensor(value: object, what: str) -> torch.Tensor:
    """A dense CPU tensor outside autograd, from a tensor or a numeric numpy array."""
    if isinstance(value, torch.Tensor):
        if value.layout != torch.strided or value.device.type == "meta":
            raise UserInputError(f"{what} must be a dense tensor with data, got {value.layout} "
                                 f"on {value.device.type}")
        return value.detach().cpu()
    if isinstance(value, np.ndarray) and value.dtype.kind in "biufc":
        try:
            return torch.from_numpy(np.asarray(value, value.dtype.newbyteorder("="), order="C"))
        except TypeError:  # a dtype torch has no counterpart for (float128, ...)
            pass
    raise UserInputError(f"{what} must be a torch.Tensor or numpy array of numbers, got "
                         f"{describe(value)}")


def shape_error(problem: str) -> UserInputError:
    """The error for a refused shape: ``problem``, then :data:`SHAPE_RULE`."""
    return UserInputError(f"{problem}; {SHAPE_RULE}")


def _channels_first(wav: torch.Tensor) -> torch.Tensor:
    """``[B, X, Y]`` -> ``[B, C, T]`` by the rule of the module docstring."""
    first, last = wav.shape[1:]
    if first < last or first == last == 1:
        return wav
    if first > MAX_CHANNELS >= last:
        return wav.transpose(1, 2)
    raise shape_error(f"cannot tell channels from time in wav axes [{first}, {last}] (channels "
                      f"first: more samples than channels; channels last: more than "
                      f"{MAX_CHANNELS} samples, at most {MAX_CHANNELS} channels)")


def _is_integer_dtype(dtype) -> bool:
    if isinstance(dtype, torch.dtype):
        return not (dtype.is_floating_point or dtype.is_complex)
    return np.dtype(dtype).kind in "iu"
