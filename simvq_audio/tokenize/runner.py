"""Tokenizing one process's shards: skip the done ones, encode the rest batch by batch, write each
shard's files and then its done marker.

A shard is written only when all its utterances are encoded, so Ctrl-C or ``kill -9`` loses at
most the shard in progress; the next run redoes exactly the shards without a valid marker.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from simvq_audio.codec import SimVQCodec
from simvq_audio.codec.encode_files import encode_files
from simvq_audio.data.utterances import audio_source
from simvq_audio.tokenize.index import RunIdentity
from simvq_audio.tokenize.markers import ShardMarker, ids_sha256, marker_problems, write_marker
from simvq_audio.tokenize.plan import Shard, measure_durations, plan_batches, rank_shards
from simvq_audio.tokenize.shard_files import TokenRecord, write_shard


@dataclass
class RankReport:
    """What one process did: shards written and skipped (already done), audio seconds encoded,
    wall seconds."""

    written: int
    skipped: int
    audio_seconds: float
    wall_seconds: float


def tokenize_shards(codec: SimVQCodec, out: Path, shards: list[Shard], identity: RunIdentity,
                    batch_seconds: float, batch_size: int, rank: int = 0,
                    world_size: int = 1) -> RankReport:
    """Write every shard of process ``rank`` (of ``world_size``) that is not done yet."""
    mine = rank_shards(shards, rank, world_size)
    todo = [shard for shard in mine if marker_problems(
        out, shard.name, identity.model_hash, identity.plan_hash, identity.formats)]
    where = f" [rank {rank}/{world_size}]" if world_size > 1 else ""
    print(f"simvq-audio tokenize{where}: {len(todo)} of my {len(mine)} shards to do "
          f"({len(mine) - len(todo)} already done)", file=sys.stderr)
    with _Progress(sum(len(shard.utterances) for shard in todo), f"tokenize{where}") as progress:
        for shard in todo:
            _tokenize_shard(codec, out, shard, identity, batch_seconds, batch_size, progress)
    return RankReport(len(todo), len(mine) - len(todo), progress.audio_seconds,
                      time.monotonic() - progress.start)


class _Progress:
    """A tqdm bar of utterances (it shows utterances/s) with audio-hours/s as its postfix."""

    def __init__(self, total: int, description: str):
        self.bar = tqdm(total=total, unit="utt", desc=description, file=sys.stderr)
        self.start = time.monotonic()
        self.audio_seconds = 0.0

    def advance(self, utterances: int, audio_seconds: float) -> None:
        self.audio_seconds += audio_seconds
        rate = self.audio_seconds / 3600 / max(time.monotonic() - self.start, 1e-9)
        self.bar.set_postfix_str(f"{rate:.3g} audio-h/s", refresh=False)
        self.bar.update(utterances)

    def __enter__(self) -> _Progress:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.bar.close()


def _tokenize_shard(codec: SimVQCodec, out: Path, shard: Shard, identity: RunIdentity,
                    batch_seconds: float, batch_size: int, progress: _Progress) -> None:
    """Encode one shard in batches planned from its files' headers, write its files, then its
    done marker."""
    records: list[TokenRecord] = []
    failures: dict[str, str] = {}
    measured, notes = measure_durations(shard)
    if notes:
        progress.bar.write(f"simvq-audio tokenize: warning: {shard.name}: utt2dur is wrong for "
                           f"{len(notes)} utterance(s) (e.g. {notes[0]}); batches are planned "
                           "from the files' headers", file=sys.stderr)
    for batch in plan_batches(measured, batch_seconds, batch_size):
        results = encode_files(codec, [audio_source(utt) for utt in batch],
                               stream_seconds=batch_seconds)
        batch_samples = 0
        for utt, result in zip(batch, results):
            if isinstance(result, str):
                failures[utt.utt_id] = result
                continue
            num_samples = int(result.tokens.num_samples[0])
            records.append(TokenRecord(utt.utt_id, result.tokens.ids[0].numpy().astype(np.int32),
                                       num_samples, utt.text, utt.speaker))
            batch_samples += num_samples
        progress.advance(len(batch), batch_samples / codec.sample_rate)
    write_shard(out, shard.name, records, identity.formats, identity.model_hash,
                codec.sample_rate)
    ids = sorted((record.utt_id for record in records), key=lambda utt_id: utt_id.encode())
    write_marker(out, ShardMarker(
        shard.name, identity.model_hash, identity.plan_hash, len(records), ids_sha256(ids),
        frames=sum(len(record.tokens) for record in records),
        seconds=sum(record.num_samples for record in records) / codec.sample_rate,
        failures=failures), identity.formats)
