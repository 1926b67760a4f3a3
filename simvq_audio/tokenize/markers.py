"""Per-shard done markers: ``done/<shard>.json``, written (atomically) after the shard's
files, so a shard with a valid marker is complete.

A marker records the model and plan it was made with, the number of utterances written, a hash of
their ids, the size and sha256 of every file, and the utterances that failed (with reasons). A
shard counts as done only when its marker matches the current model and plan and every file of the
requested formats is there with its recorded checksum; anything else (a missing, damaged or
foreign marker, one with a field of the wrong type) is redone on the next run.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

from simvq_audio.atomic import atomic_path
from simvq_audio.errors import quote
from simvq_audio.tokenize.shard_files import file_names, make_folder

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
    make_folder(marker_path(out, marker.shard).parent)
    with atomic_path(marker_path(out, marker.shard)) as tmp:
        tmp.write_text(json.dumps(asdict(marker), indent=1, sort_keys=True) + "\n",
                       encoding="utf-8")


_FIELD_KINDS = {"shard": "text", "model_hash": "text", "plan_hash": "text", "count": "count",
                "ids_sha256": "text", "frames": "count", "seconds": "seconds",
                "files": "table", "failures": "table"}
"""What each field of a marker must hold: text (str), a count (int >= 0), seconds (a finite
number >= 0) or a table (str -> str)."""


def read_marker(out: Path, shard_name: str) -> ShardMarker | None:
    """The shard's marker, or None when it is missing, unreadable (random bytes, truncated or
    deeply nested JSON) or not this shard's marker with every field of its type: each of which
    means that the shard is redone."""
    try:
        document = json.loads(marker_path(out, shard_name).read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return None
    if not (isinstance(document, dict) and document.keys() == _FIELD_KINDS.keys() and
            all(_is_kind(document[name], kind) for name, kind in _FIELD_KINDS.items()) and
            document["shard"] == shard_name):
        return None
    return ShardMarker(**document)


def _is_kind(value: object, kind: str) -> bool:
    if kind == "text":
        return isinstance(value, str)
    if kind == "count":
        return type(value) is int and value >= 0
    if kind == "seconds":
        return type(value) in (int, float) and math.isfinite(value) and value >= 0
    return isinstance(value, dict) and all(isinstance(key, str) and isinstance(item, str)
                                           for key, item in value.items())


def marker_problems(out: Path, shard_name: str, model_hash: str, plan_hash: str,
                    formats: tuple[str, ...]) -> list[str]:
    """Why the shard is not done (an empty list when it is): missing or foreign marker,
    missing files, checksum mismatches."""
    marker = read_marker(out, shard_name)
    if marker is None:
        return ["not done (no readable done marker)"]
    if marker.model_hash != model_hash:
        return [f"written by another model ({quote(marker.model_hash)})"]
    if marker.plan_hash != plan_hash:
        return ["written for another plan (other utterances, text, utt2spk or --shard-size)"]
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
