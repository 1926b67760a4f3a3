"""The files of one shard, written atomically, and read back.

* ``ark``: ``ark/<shard>.ark`` (Kaldi binary int32 vectors, one per utterance, as
  ``copy-int-vector`` writes them) and ``ark/<shard>.scp`` (lines
  ``utt-id <out>/ark/<shard>.ark:offset``), both through kaldiio, so ESPnet-style pipelines read
  them with ``kaldiio.load_scp``.
* ``parquet``: ``parquet/<shard>.parquet`` (the folder holds nothing else, so
  ``pandas.read_parquet("<out>/parquet")`` reads them all) with the columns ``utt_id`` (string),
  ``tokens`` (list<int32>: exactly the utterance's ``num_frames`` ids, never padded),
  ``num_frames`` (int32), ``num_samples`` (int64, at the model rate: decoding gives
  ``num_frames * hop`` samples, keep the first ``num_samples``), ``sample_rate`` (int32),
  ``model_hash`` (string), ``text`` and ``speaker`` (string, null when the data dir has no
  ``text`` / ``utt2spk``), for pandas or HuggingFace ``datasets``;
  :func:`simvq_audio.tokenize.read_tokens` reads them back for :meth:`SimVQCodec.decode`.

Records are written in utterance-id order, so a shard's bytes depend only on its tokens.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from simvq_audio.atomic import atomic_path
from simvq_audio.errors import UserInputError, os_error_message

FORMATS = {"ark": ("ark",), "parquet": ("parquet",), "both": ("ark", "parquet")}
"""``--format`` choices -> the shard formats they write."""


@dataclass
class TokenRecord:
    """One utterance's tokens: ``tokens [T']`` int32, ``num_samples`` at the model rate, and its
    data dir's transcript and speaker (None when it has none)."""

    utt_id: str
    tokens: np.ndarray
    num_samples: int
    text: str | None = None
    speaker: str | None = None


_FOLDERS = {"ark": "ark", "scp": "ark", "parquet": "parquet"}
"""File suffix -> the folder of the output dir that holds such files."""


def shard_path(out: Path, shard_name: str, suffix: str) -> Path:
    """Where the shard's ``ark``, ``scp`` or ``parquet`` file lies in the output dir ``out``."""
    return out / _FOLDERS[suffix] / f"{shard_name}.{suffix}"


def file_names(shard_name: str, formats: tuple[str, ...]) -> list[str]:
    """The paths (relative to the output dir) of the files a shard has in ``formats``."""
    suffixes = {"ark": ("ark", "scp"), "parquet": ("parquet",)}
    return [shard_path(Path(), shard_name, suffix).as_posix()
            for fmt in formats for suffix in suffixes[fmt]]


def write_shard(out: Path, shard_name: str, records: list[TokenRecord],
                formats: tuple[str, ...], model_hash: str, sample_rate: int) -> None:
    """Write the shard's files in ``formats`` under the output dir ``out``, each atomically."""
    records = sorted(records, key=lambda record: record.utt_id.encode("utf-8"))
    for fmt in formats:
        make_folder(out / _FOLDERS[fmt])
    if "ark" in formats:
        _write_ark(shard_path(out, shard_name, "ark"), shard_path(out, shard_name, "scp"),
                   records)
    if "parquet" in formats:
        _write_parquet(shard_path(out, shard_name, "parquet"), records, model_hash, sample_rate)


def make_folder(path: Path) -> None:
    """Create the output folder ``path`` (and its parents) if needed; a UserInputError naming it
    when it cannot be (a regular file in the way, no permission, a full disk)."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UserInputError(f"cannot create the folder {path}: {os_error_message(error)}"
                             ) from None


def read_ark(path: Path) -> list[tuple[str, np.ndarray]]:
    """``(utt-id, tokens [T'])`` per record of an ark, in file order."""
    # optional (the tokenize extra): imported for this shard format only
    import kaldiio

    return [(utt_id, np.asarray(tokens)) for utt_id, tokens in kaldiio.load_ark(str(path))]


def read_parquet(path: Path):
    """A shard's parquet file as a ``pyarrow.Table``."""
    # optional (the tokenize extra): imported for this shard format only
    import pyarrow.parquet as pq

    return pq.read_table(path)


def _write_ark(ark: Path, scp: Path, records: list[TokenRecord]) -> None:
    """The ark and its scp, whose lines name the final ark path."""
    # optional (the tokenize extra): imported for this shard format only
    import kaldiio

    with atomic_path(ark) as tmp_ark, atomic_path(scp) as tmp_scp:
        kaldiio.save_ark(str(tmp_ark), {r.utt_id: r.tokens.astype(np.int32) for r in records},
                         scp=str(tmp_scp))
        lines = []
        for line in tmp_scp.read_text(encoding="utf-8").splitlines():
            utt_id, location = line.split(" ", 1)
            lines.append(f"{utt_id} {ark}:{location.rpartition(':')[2]}\n")
        tmp_scp.write_text("".join(lines), encoding="utf-8")


def _write_parquet(path: Path, records: list[TokenRecord], model_hash: str,
                   sample_rate: int) -> None:
    # optional (the tokenize extra): imported for this shard format only
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table({
        "utt_id": pa.array([r.utt_id for r in records], pa.string()),
        "tokens": pa.array([r.tokens.astype(np.int32) for r in records], pa.list_(pa.int32())),
        "num_frames": pa.array([len(r.tokens) for r in records], pa.int32()),
        "num_samples": pa.array([r.num_samples for r in records], pa.int64()),
        "sample_rate": pa.array([sample_rate] * len(records), pa.int32()),
        "model_hash": pa.array([model_hash] * len(records), pa.string()),
        "text": pa.array([r.text for r in records], pa.string()),
        "speaker": pa.array([r.speaker for r in records], pa.string()),
    })
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)
