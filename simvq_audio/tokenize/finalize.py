"""Finishing an output directory once every shard is done: the merged ``tokens.scp``, the complete
``index.json`` and the summary.

Any process may call :func:`finalize` at any time: it does nothing until all shards are done, and
doing it twice writes the same bytes (every file is replaced atomically). Under ``accelerate
launch`` every rank calls it after its own shards, so the last one to finish completes the
directory, without a collective that could time out while a slow rank works.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from simvq_audio.atomic import atomic_path
from simvq_audio.data.kaldi_dir import Utterance
from simvq_audio.errors import UserInputError
from simvq_audio.tokenize.index import INDEX_NAME, RunIdentity, index_path, write_index
from simvq_audio.tokenize.markers import (
    MARKERS_DIR,
    ShardMarker,
    marker_path,
    marker_problems,
    read_marker,
)
from simvq_audio.tokenize.plan import Shard
from simvq_audio.tokenize.shard_files import file_names, shard_path

SCP_NAME = "tokens.scp"
SHARD_FOLDERS = ("ark", "parquet", MARKERS_DIR)
"""Where the shards' files lie; finalizing deletes any other file there."""


@dataclass
class Summary:
    """The totals of a complete output directory."""

    utterances: int
    tokenized: int
    frames: int
    seconds: float
    failures: dict[str, str]
    """Utterance id -> why it could not be tokenized."""

    def lines(self) -> list[str]:
        """The summary for the terminal: hours, tokens, failures with reasons."""
        lines = [f"tokenized {self.tokenized} of {self.utterances} utterances: "
                 f"{self.seconds / 3600:.4g} h of audio, {self.frames} tokens"]
        if self.failures:
            lines.append(f"{len(self.failures)} utterance(s) failed and were skipped:")
            lines += [f"  {utt_id}: {reason}" for utt_id, reason in self.failures.items()]
        return lines


def check_output_dir(out: Path, utterances: list[Utterance], overwrite: bool) -> None:
    """The output policy for ``out``: no input may lie where tokenize writes or deletes files,
    and a directory with some of tokenize's names but no ``index.json`` is not a tokenize output:
    refused unless ``overwrite``."""
    managed = [os.path.realpath(out / name) for name in (INDEX_NAME, SCP_NAME)]
    folders = [os.path.realpath(out / name) + os.sep for name in SHARD_FOLDERS]
    for utt in utterances:
        path = os.path.realpath(utt.path)
        if path in managed or path.startswith(tuple(folders)):
            raise UserInputError(f"input {utt.path} lies in --out {out}, where tokenize writes "
                                 "and removes files: choose another --out")
    present = [name for name in (SCP_NAME, *SHARD_FOLDERS) if (out / name).exists()]
    if present and not index_path(out).exists() and not overwrite:
        raise UserInputError(f"--out {out} holds {', '.join(present)} but no {INDEX_NAME}: it is "
                             "not a tokenize output; pass --overwrite to let tokenize replace "
                             "those files, or choose another --out")


def finalize(out: Path, shards: list[Shard], identity: RunIdentity) -> Summary | None:
    """Complete ``out`` if every shard is done and return its summary; else None."""
    if any(marker_problems(out, shard.name, identity.model_hash, identity.plan_hash,
                           identity.formats) for shard in shards):
        return None
    markers: list[ShardMarker] = [read_marker(out, shard.name) for shard in shards]
    _remove_foreign_files(out, shards, identity.formats)
    if "ark" in identity.formats:
        with atomic_path(out / SCP_NAME) as tmp:
            tmp.write_text("".join(shard_path(out, shard.name, "scp").read_text("utf-8")
                                   for shard in shards), encoding="utf-8")
    failures = {utt_id: reason for marker in markers for utt_id, reason in marker.failures.items()}
    summary = Summary(identity.num_utterances, sum(marker.count for marker in markers),
                      sum(marker.frames for marker in markers),
                      sum(marker.seconds for marker in markers), failures)
    write_index(out, identity, complete=True,
                shards=[{"name": marker.shard, "count": marker.count, "files": marker.files}
                        for marker in markers],
                totals={"utterances": summary.utterances, "tokenized": summary.tokenized,
                        "failed": len(failures), "frames": summary.frames,
                        "hours": summary.seconds / 3600},
                failures=failures)
    return summary


def _remove_foreign_files(out: Path, shards: list[Shard], formats: tuple[str, ...]) -> None:
    """Delete files in ``ark/``, ``parquet/`` and ``done/`` that are not part of this run: shards
    of an overwritten run, formats no longer asked for, temporary files of interrupted writes."""
    keep = {marker_path(out, shard.name) for shard in shards}
    keep |= {out / name for shard in shards for name in file_names(shard.name, formats)}
    for folder in SHARD_FOLDERS:
        for path in (out / folder).glob("*") if (out / folder).is_dir() else ():
            if path not in keep and path.is_file():
                path.unlink(missing_ok=True)
    if "ark" not in formats:
        (out / SCP_NAME).unlink(missing_ok=True)
