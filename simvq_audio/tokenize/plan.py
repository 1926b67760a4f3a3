"""The tokenization plan: utterances (with durations) -> shards -> length-sorted batches.

Shard ``i`` holds utterances ``[i * shard_size, (i + 1) * shard_size)`` of the id-sorted list, so
the plan depends only on the utterances and the shard size, never on the number of processes:
any world size writes the same shards, byte for byte. Under ``accelerate launch`` rank ``r`` of
``w`` takes shards ``r, r + w, r + 2w, ...``. Inside a shard, utterances are sorted by duration
and cut into batches of similar length; batching changes only the speed, not the tokens.

Batches are planned from the durations the files' headers give (:func:`measure_durations`, read
one shard at a time, just before it is encoded): ``utt2dur`` is only checked against them, as
lhotse validates a manifest's durations, since a wrong entry (sixteen 60 s files listed as
0.1 s) would put far more audio in a padded batch than ``--batch-seconds`` allows.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass

from simvq_audio.data.audio_io import audio_info
from simvq_audio.data.kaldi_dir import DURATION_TOLERANCE_S, Utterance
from simvq_audio.data.utterances import audio_source
from simvq_audio.errors import UserInputError
from simvq_audio.outputs import Input


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` of a plan: its utterances, sorted by id."""

    index: int
    utterances: tuple[Utterance, ...]

    @property
    def name(self) -> str:
        return f"shard-{self.index:05d}"


def measure_durations(shard: Shard) -> tuple[Shard, list[str]]:
    """``shard`` with each utterance's duration read from its file's header, and a note on every
    ``utt2dur`` entry that disagrees with its header by more than
    :data:`~simvq_audio.data.kaldi_dir.DURATION_TOLERANCE_S`. A file whose header cannot be
    read gets no duration (it is a batch of its own and is reported as a failure when it is
    encoded, so one bad file never stops the job)."""
    measured, notes = [], []
    for utt in shard.utterances:
        actual = _header_duration(utt)
        if actual is not None and utt.duration is not None and (
                abs(actual - utt.duration) > DURATION_TOLERANCE_S):
            notes.append(f"{utt.utt_id}: utt2dur says {utt.duration:g} s, the file lasts "
                         f"{actual:.3f} s")
        measured.append(dataclasses.replace(utt, duration=actual))
    return dataclasses.replace(shard, utterances=tuple(measured)), notes


def plan_shards(utterances: list[Utterance], shard_size: int) -> list[Shard]:
    """Cut the id-sorted ``utterances`` into shards of ``shard_size`` (the last may be smaller).
    Ids become Kaldi ark keys: one word each."""
    if shard_size < 1:
        raise UserInputError(f"--shard-size must be at least 1, got {shard_size}")
    if not utterances:
        raise UserInputError("there are no utterances to tokenize")
    for utt in utterances:
        if len(utt.utt_id.split()) != 1:
            raise UserInputError(f"{utt.path}: its id {utt.utt_id!r} has whitespace, which ark "
                                 "keys cannot hold; rename the file or use a data dir")
    ordered = sorted(utterances, key=lambda utt: utt.utt_id.encode("utf-8"))
    return [Shard(number, tuple(ordered[start:start + shard_size]))
            for number, start in enumerate(range(0, len(ordered), shard_size))]


def plan_hash(shards: list[Shard]) -> str:
    """Identity of the plan: which ids lie in which shard, with each utterance's transcript and
    speaker when the data dir has them, since the parquet files hold them: a changed ``text`` or
    ``utt2spk`` is another plan (sha256 hex, first 32 characters). Without ``text`` and
    ``utt2spk`` the hash is that of the ids alone, as before those columns existed."""
    digest = hashlib.sha256()
    for shard in shards:
        digest.update(f"{shard.name}\n".encode())
        for utt in shard.utterances:
            digest.update(f"{utt.utt_id}\n".encode())
            if utt.text is not None or utt.speaker is not None:
                digest.update(json.dumps([utt.text, utt.speaker]).encode() + b"\n")
    return digest.hexdigest()[:32]


def rank_shards(shards: list[Shard], rank: int, world_size: int) -> list[Shard]:
    """The shards process ``rank`` of ``world_size`` writes: every ``world_size``-th."""
    return shards[rank::world_size]


def plan_batches(shard: Shard, batch_seconds: float, batch_size: int) -> list[list[Utterance]]:
    """The shard's utterances in batches of similar duration, shortest first.

    A batch holds at most ``batch_size`` utterances and at most ``batch_seconds`` of padded
    audio (its size times its longest duration); a longer utterance, or one of unknown duration,
    is a batch of its own.
    """
    if batch_seconds <= 0 or batch_size < 1:
        raise UserInputError(f"--batch-seconds must be positive and --batch-size at least 1, got "
                             f"{batch_seconds} and {batch_size}")
    known = sorted((utt for utt in shard.utterances if utt.duration is not None),
                   key=lambda utt: (utt.duration, utt.utt_id))
    batches: list[list[Utterance]] = []
    for utt in known:
        current = batches[-1] if batches else []
        fits = current and len(current) < batch_size and (
            (len(current) + 1) * utt.duration <= batch_seconds)
        if fits:
            current.append(utt)
        else:
            batches.append([utt])
    return batches + [[utt] for utt in shard.utterances if utt.duration is None]


def _header_duration(utt: Utterance) -> float | None:
    try:
        source = audio_source(utt)
        if isinstance(source, Input):
            return audio_info(source.handle, source.name).duration
        return audio_info(source).duration
    except UserInputError:
        return None
