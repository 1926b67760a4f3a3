"""Reading a token dump back: :func:`read_tokens` gives each utterance's ids with its sample
count, transcript and speaker, in the form :meth:`SimVQCodec.decode` takes, so decoded audio
comes back trimmed to each utterance's own length::

    from simvq_audio.codec import SimVQCodec
    from simvq_audio.tokenize import read_tokens

    codec = SimVQCodec.from_pretrained("exp/tiny/model")
    for row in read_tokens("dump/train"):           # row.utt_id, .ids [T'], .text, ...
        wav = codec.decode(row)                     # [row.num_samples]

The rows come from the dump's parquet shards, shard by shard (one shard in memory at a time), in
utterance-id order. The dump must be complete and hold parquet shards (``--format parquet`` or
``both``); checksums are ``simvq-audio tokenize --verify``'s work, not the reader's.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from simvq_audio.codec.tokens import TokenRow
from simvq_audio.errors import UserInputError
from simvq_audio.tokenize.index import INDEX_NAME, read_index
from simvq_audio.tokenize.shard_files import read_parquet, shard_path


def read_tokens(out: str | os.PathLike) -> Iterator[TokenRow]:
    """Every utterance of the token dump ``out`` (what ``simvq-audio tokenize --out`` wrote), as
    :class:`~simvq_audio.codec.tokens.TokenRow` s in utterance-id order.

    Raises:
        UserInputError: at once when ``out`` is not a complete dump with parquet shards; while
            iterating when a shard's parquet file is missing or damaged.
    """
    out = Path(out)
    if not out.is_dir():
        raise UserInputError(f"{out}: no such token dump (a directory simvq-audio tokenize "
                             "wrote)")
    index = read_index(out)
    if index is None:
        raise UserInputError(f"{out}: no {INDEX_NAME}, so not a token dump of simvq-audio "
                             "tokenize")
    if not index.get("complete"):
        raise UserInputError(f"{out}: the tokenize run has not finished (its {INDEX_NAME} is not "
                             "complete): run simvq-audio tokenize again to finish it")
    if "parquet" not in index["formats"]:
        raise UserInputError(f"{out} holds no parquet shards (formats {index['formats']}): "
                             "tokenize with --format parquet or both to read it here")
    shards = index.get("shards")
    if not (isinstance(shards, list) and all(
            isinstance(shard, dict) and isinstance(shard.get("name"), str) for shard in shards)):
        raise UserInputError(f"{out / INDEX_NAME}: its shard list is damaged; check the dump "
                             "with simvq-audio tokenize --verify")
    return _rows([shard_path(out, shard["name"], "parquet") for shard in shards])


def _rows(paths: list[Path]) -> Iterator[TokenRow]:
    for path in paths:
        try:
            table = read_parquet(path)
            columns = {name: table.column(name) for name in (
                "utt_id", "tokens", "num_samples", "sample_rate", "model_hash")}
        except Exception as error:  # any damage pyarrow can raise: name the file
            raise UserInputError(f"{path}: cannot be read ({type(error).__name__}: {error}); "
                                 "check the dump with simvq-audio tokenize --verify") from None
        if table.num_rows == 0:
            continue
        ids = columns["tokens"].combine_chunks()
        offsets = ids.offsets.to_numpy()
        values = torch.from_numpy(ids.values.to_numpy().astype(np.int64))
        extra = {name: table.column(name).to_pylist() if name in table.column_names
                 else [None] * table.num_rows for name in ("text", "speaker")}
        for i, (utt_id, num_samples, rate, model_hash) in enumerate(zip(*(
                columns[name].to_pylist() for name in (
                    "utt_id", "num_samples", "sample_rate", "model_hash")))):
            if None in (utt_id, num_samples, rate, model_hash):
                raise UserInputError(f"{path}: row {i} has no utt_id, num_samples, sample_rate or "
                                     "model_hash; check the dump with simvq-audio tokenize "
                                     "--verify")
            yield TokenRow(utt_id, values[offsets[i]:offsets[i + 1]], num_samples, rate,
                           extra["text"][i], extra["speaker"][i], model_hash)
