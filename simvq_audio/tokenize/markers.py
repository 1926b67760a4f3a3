"""Per-shard done markers: ``done/<shard>.json``, written (atomically) after the shard's
files, so a shard with a valid marker is complete.

A marker records the model and plan it was made with, the number of utterances written, a hash of
their ids, the size and sha256 of every file, and the utterances that failed (with reasons). A
shard counts as done only when its marker matches the current model and plan and every file of the
requested formats is there with its recorded checksum; anything else is redone on the next run.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from simvq_audio.atomic import atomic_path
from simvq_audio.tokenize.shard_files import file_names

MARKERS_DIR = "done"


@dataclass
class ShardMarker:
    """What a finished shard holds."""

    shard: str
    model_hash: str
    plan_hash: str
    count: int
    """Utterances written (the shard's utterances minus ``failures``)."""
    ids_sha256: str
    frames: int
    """Tokens written, over all utterances."""
    seconds: float
    """Audio written, in seconds at the model rate."""
    files: dict[str, str] = field(default_factory=dict)
    """File path relative to the output dir -> sha256 hex of its bytes."""
    failures: dict[str, str] = field(default_factory=dict)
    """Utterance id -> why it could not be tokenized."""


def marker_path(out: Path, shard_name: str) -> Path:
    return out / MARKERS_DIR / f"{shard_name}.json"


def ids_sha256(utt_ids: list[str]) -> str:
    return hashlib.sha256("".join(f"{utt_id}\n" for utt_id in utt_ids).encode()).hexdigest()


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_marker(out: Path, marker: ShardMarker, formats: tuple[str, ...]) -> None:
    """Checksum the shard's files in ``formats`` into ``marker`` and write it atomically."""
    marker.files = {name: file_sha256(out / name) for name in file_names(marker.shard, formats)}
    marker_path(out, marker.shard).parent.mkdir(exist_ok=True)
    with atomic_path(marker_path(out, marker.shard)) as tmp:
        tmp.write_text(json.dumps(asdict(marker), indent=1, sort_keys=True) + "\n",
                       encoding="utf-8")


def read_marker(out: Path, shard_name: str) -> ShardMarker | None:
    """The shard's marker, or None when it is missing or unreadable."""
    try:
        return ShardMarker(**json.loads(marker_path(out, shard_name).read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None


def marker_problems(out: Path, shard_name: str, model_hash: str, plan_hash: str,
                    formats: tuple[str, ...]) -> list[str]:
    """Why the shard is not done (an empty list when it is): missing or foreign marker,
    missing files, checksum mismatches."""
    marker = read_marker(out, shard_name)
    if marker is None:
        return ["not done (no readable done marker)"]
    if marker.model_hash != model_hash:
        return [f"written by another model ({marker.model_hash})"]
    if marker.plan_hash != plan_hash:
        return ["written for another plan (other utterances or --shard-size)"]
    problems = []
    for name in file_names(shard_name, formats):
        path = out / name
        if name not in marker.files:
            problems.append(f"{name} is not recorded in the done marker")
        elif not path.is_file():
            problems.append(f"{name} is missing")
        elif file_sha256(path) != marker.files[name]:
            problems.append(f"{name} is damaged (sha256 differs from the done marker)")
    return problems
