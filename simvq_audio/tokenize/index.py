"""``index.json``: what an output directory holds, so tokens of different models never mix.

Written when a run starts (``"complete": false``) and rewritten by the finalizing process when all
shards are done (``"complete": true`` with the shard list, totals and failures). A later run into
the same directory must use the same model (weights hash) and plan (utterances with their
transcripts and speakers, and shard size); otherwise it is refused unless ``--overwrite``. The
plan records whether the data dir had a ``text`` and an ``utt2spk`` (``"text"``, ``"speaker"``):
the parquet columns of the same names are null when it had not.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from simvq_audio.atomic import atomic_path
from simvq_audio.errors import UserInputError, quote
from simvq_audio.tokenize.shard_files import make_folder

INDEX_NAME = "index.json"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class RunIdentity:
    """The model and the plan of a tokenization run."""

    model_hash: str
    model_config: dict
    plan_hash: str
    shard_size: int
    num_utterances: int
    num_shards: int
    formats: tuple[str, ...]
    has_text: bool = False
    """Whether the utterances have transcripts (the data dir's ``text``)."""
    has_speaker: bool = False
    """Whether the utterances have speakers (the data dir's ``utt2spk``)."""


def index_path(out: Path) -> Path:
    return out / INDEX_NAME


def read_index(out: Path) -> dict | None:
    """The index of ``out``, or None when there is none.

    Raises:
        UserInputError: the index is damaged (unreadable, random bytes, truncated or deeply
            nested JSON) or not an index (no model and plan hashes, formats that are not a list
            of names).
    """
    path = index_path(out)
    if not path.exists():
        return None
    try:
        index = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        index = None
    formats = index.get("formats", []) if isinstance(index, dict) else None
    if not (isinstance(index, dict) and all(isinstance(index.get(key), dict) and isinstance(
            index[key].get("hash"), str) for key in ("model", "plan")) and
            isinstance(formats, list) and all(isinstance(name, str) for name in formats)):
        raise UserInputError(f"{path} is damaged or not a tokenization index: pass --overwrite "
                             "to rewrite it (shards with valid done markers are kept), or "
                             "remove it")
    return index


def open_output(out: Path, identity: RunIdentity, overwrite: bool) -> None:
    """Create ``out`` and check or start its index.

    Raises:
        UserInputError: ``out`` holds tokens of another model or plan and not ``overwrite``.
    """
    if out.exists() and not out.is_dir():
        raise UserInputError(f"--out {out} exists and is not a directory")
    try:
        index = read_index(out)
    except UserInputError:
        if not overwrite:
            raise
        index = None
    if index is not None and not overwrite:
        if index["model"]["hash"] != identity.model_hash:
            raise UserInputError(f"{out} holds tokens of another model "
                                 f"({quote(index['model']['hash'])}, this one is "
                                 f"{identity.model_hash}); pass --overwrite to replace them or "
                                 "choose another --out")
        if index["plan"]["hash"] != identity.plan_hash:
            plan = index["plan"]
            raise UserInputError(f"{out} was tokenized from other utterances (ids, text or "
                                 "utt2spk) or with another --shard-size (it had "
                                 f"{quote(plan.get('num_utterances'))} "
                                 f"utterances in shards of {quote(plan.get('shard_size'))}); "
                                 "pass --overwrite to replace it or choose another --out")
    same = index is not None and index["model"]["hash"] == identity.model_hash and (
        index["plan"]["hash"] == identity.plan_hash and
        index.get("formats") == list(identity.formats))
    if not same:
        make_folder(out)
        write_index(out, identity, complete=False)


def write_index(out: Path, identity: RunIdentity, complete: bool, **results: object) -> None:
    """Write ``index.json`` atomically: the identity, ``complete`` and any ``results``."""
    document = {
        "format_version": FORMAT_VERSION,
        "complete": complete,
        "model": {"hash": identity.model_hash, "config": identity.model_config},
        "plan": {"hash": identity.plan_hash, "shard_size": identity.shard_size,
                 "num_utterances": identity.num_utterances, "num_shards": identity.num_shards,
                 "text": identity.has_text, "speaker": identity.has_speaker},
        "formats": list(identity.formats),
        **results,
    }
    with atomic_path(index_path(out)) as tmp:
        tmp.write_text(json.dumps(document, indent=1, sort_keys=True) + "\n", encoding="utf-8")
