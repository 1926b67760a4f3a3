"""``--verify``: check every shard of an output directory and list the damaged ones.

For each shard: the done marker fits the model and plan, every file has its recorded sha256, the
files load back (kaldiio, pyarrow), the ids are the shard's utterances of the data dir minus the
recorded failures, in order, the counts match the marker, every token lies in ``[0, K)``,
``num_frames`` matches the tokens, the parquet's ``text`` and ``speaker`` are the data dir's and
the ark and parquet files agree. The index must be complete
and ``tokens.scp`` must be the shards' scp files joined.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from simvq_audio.errors import quote
from simvq_audio.tokenize.finalize import SCP_NAME
from simvq_audio.tokenize.index import RunIdentity, index_path, read_index
from simvq_audio.tokenize.markers import ids_sha256, marker_problems, read_marker
from simvq_audio.tokenize.plan import Shard
from simvq_audio.tokenize.shard_files import FORMATS, read_ark, read_parquet, shard_path


def verify_output(out: Path, shards: list[Shard], identity: RunIdentity,
                  codebook_size: int) -> list[str]:
    """Every problem found, as ``<where>: <what>`` lines (an empty list when all is well).

    The formats checked are those the index records (``identity.formats`` without an index).
    """
    problems = []
    index = read_index(out)
    if index is None or not index.get("complete"):
        problems.append(f"{index_path(out)}: missing or not complete (the run has not finished)")
    elif index["model"]["hash"] != identity.model_hash:
        problems.append(f"{index_path(out)}: written by another model "
                        f"({quote(index['model']['hash'])})")
    if index is not None and isinstance(index.get("formats"), list) and (
            set(index["formats"]) <= set(FORMATS["both"])):
        identity = replace(identity, formats=tuple(index["formats"]))
    for shard in shards:
        problems += [f"{shard.name}: {problem}" for problem in
                     _shard_problems(out, shard, identity, codebook_size)]
    if "ark" in identity.formats:
        joined = "".join(_read_text(shard_path(out, shard.name, "scp")) or ""
                         for shard in shards)
        if _read_text(out / SCP_NAME) != joined:
            problems.append(f"{out / SCP_NAME}: differs from the shards' scp files joined")
    return problems


def _shard_problems(out: Path, shard: Shard, identity: RunIdentity,
                    codebook_size: int) -> list[str]:
    problems = marker_problems(out, shard.name, identity.model_hash, identity.plan_hash,
                               identity.formats)
    if problems:
        return problems
    marker = read_marker(out, shard.name)
    expected = [utt.utt_id for utt in shard.utterances if utt.utt_id not in marker.failures]
    unknown = sorted(marker.failures.keys() - {utt.utt_id for utt in shard.utterances})
    if unknown:
        problems.append(f"failures of ids that are not in the data dir: {unknown[:5]}")
    if len(expected) != marker.count or ids_sha256(expected) != marker.ids_sha256:
        problems.append(f"the done marker does not match the data dir's ids ({marker.count} "
                        f"written, {len(expected)} expected)")
    contents = {}
    try:
        if "ark" in identity.formats:
            contents["ark"] = read_ark(shard_path(out, shard.name, "ark"))
        if "parquet" in identity.formats:
            table = read_parquet(shard_path(out, shard.name, "parquet"))
            problems += _parquet_problems(table, identity, shard)
            contents["parquet"] = list(zip(table["utt_id"].to_pylist(),
                                           map(np.asarray, table["tokens"].to_pylist())))
    except Exception as error:  # any damage a reader can raise: report it, check the rest
        return problems + [f"cannot be read back ({type(error).__name__}: {error})"]
    for fmt, records in contents.items():
        ids = [utt_id for utt_id, _ in records]
        if ids != expected:
            problems.append(f"{fmt}: the ids differ from the data dir's ({len(ids)} found, "
                            f"{len(expected)} expected)")
        bad = [utt_id for utt_id, tokens in records
               if tokens.size == 0 or tokens.min() < 0 or tokens.max() >= codebook_size]
        if bad:
            problems.append(f"{fmt}: tokens outside [0, {codebook_size}) or empty in {bad[:5]}")
        if sum(tokens.size for _, tokens in records) != marker.frames:
            problems.append(f"{fmt}: the token count differs from the done marker's")
    if len(contents) == 2 and not _same_records(contents["ark"], contents["parquet"]):
        problems.append("the ark and parquet files hold different tokens")
    return problems


def _parquet_problems(table, identity: RunIdentity, shard: Shard) -> list[str]:
    frames = [len(tokens) for tokens in table["tokens"].to_pylist()]
    problems = []
    if table["num_frames"].to_pylist() != frames:
        problems.append("parquet: num_frames differs from the token counts")
    if set(table["model_hash"].to_pylist()) - {identity.model_hash}:
        problems.append("parquet: rows of another model_hash")
    utterances = {utt.utt_id: utt for utt in shard.utterances}
    ids = table["utt_id"].to_pylist()
    for column in ("text", "speaker"):  # absent in shards written before these columns: null
        values = table[column].to_pylist() if column in table.column_names else [None] * len(ids)
        wrong = [utt_id for utt_id, value in zip(ids, values)
                 if utt_id in utterances and getattr(utterances[utt_id], column) != value]
        if wrong:
            problems.append(f"parquet: {column} differs from the data dir's in {wrong[:5]}")
    return problems


def _same_records(first: list, second: list) -> bool:
    return len(first) == len(second) and all(
        a_id == b_id and np.array_equal(a, b) for (a_id, a), (b_id, b) in zip(first, second))


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        return None
