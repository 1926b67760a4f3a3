"""Shared set-up of the tokenize tests: a tiny model dir, a small corpus with one corrupt file,
and reading an output directory back."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import soundfile
import torch

from simvq_audio.cli import main
from simvq_audio.codec import SimVQCodec
from simvq_audio.data.kaldi_dir import write_data_dir

from repo_paths import TINY_RECIPE

CORRUPT = "utt3"
SHARD_SIZE = 2


def tokenize(model: Path, data: Path, out: Path, *extra: object) -> int:
    """``simvq-audio tokenize`` of the data dir ``data`` into ``out`` in shards of
    :data:`SHARD_SIZE` utterances: its exit status."""
    return main(["tokenize", "--model", str(model), "--data-dir", str(data), "--out", str(out),
                 "--shard-size", str(SHARD_SIZE), *map(str, extra)])


def save_model(path: Path, seed: int = 0) -> tuple[SimVQCodec, Path]:
    torch.manual_seed(seed)
    codec = SimVQCodec.from_config(TINY_RECIPE)
    return codec, codec.save_pretrained(path)


def make_corpus(root: Path, count: int = 7) -> Path:
    """``count`` noisy tones of 0.1-0.4 s at various rates and channel counts, ``utt3`` not audio
    at all; returns the data dir (absolute paths, no utt2dur)."""
    rng = np.random.default_rng(0)
    (root / "wav").mkdir(parents=True, exist_ok=True)
    wav_scp = {}
    for i in range(count):
        utt_id, path = f"utt{i}", root / "wav" / f"utt{i}.wav"
        rate, channels = [(16000, 1), (24000, 1), (44100, 2)][i % 3]
        n = int(rate * (0.1 + 0.05 * ((i * 3) % 7)))
        t = np.arange(n) / rate
        wav = 0.3 * np.sin(2 * np.pi * (120 + 50 * i) * t) + 0.02 * rng.standard_normal(n)
        soundfile.write(path, np.repeat(wav[:, None], channels, 1).astype(np.float32), rate)
        if utt_id == CORRUPT:
            path.write_bytes(b"RIFF not really a wav file")
        wav_scp[utt_id] = str(path)
    write_data_dir(root / "data", wav_scp)
    return root / "data"


def transcribed(data: Path, out: Path) -> Path:
    """A copy of the data dir ``data`` at ``out`` with a ``text`` (``"words of <id>"``, with
    non-ASCII letters) and an ``utt2spk`` (speakers ``spk0``, ``spk1`` in turn)."""
    wav_scp = dict(line.split(" ", 1) for line in (data / "wav.scp").read_text().splitlines())
    write_data_dir(out, wav_scp, utt2spk={utt_id: f"spk{i % 2}" for i, utt_id in
                                          enumerate(sorted(wav_scp))},
                   text={utt_id: f"words of {utt_id}, naïve café" for utt_id in wav_scp})
    return out


def expected_tokens(codec: SimVQCodec, data: Path) -> dict[str, np.ndarray]:
    """``codec.encode`` of each readable file of the data dir, alone."""
    result = {}
    for line in (data / "wav.scp").read_text().splitlines():
        utt_id, path = line.split(" ", 1)
        if utt_id != CORRUPT:
            wav, rate = soundfile.read(path, dtype="float32", always_2d=True)
            result[utt_id] = codec.encode(wav.T, rate)[0].ids[0].numpy()
    return result


def output_files(out: Path) -> list[Path]:
    """Every file of an output dir's shards (data files and done markers)."""
    folders = ("ark", "parquet", "done")
    return sorted(path for folder in folders for path in (out / folder).glob("*"))


def shard_bytes(out: Path) -> dict[str, bytes]:
    """The token files of an output dir (ark and parquet: they hold no paths) by name."""
    return {path.name: path.read_bytes() for path in output_files(out)
            if path.suffix in (".ark", ".parquet")}


def edit_parquet_shard(out: Path, shard: str, edit: Callable[[list[dict]], None]) -> None:
    """Change the rows of the Parquet shard ``shard`` of the dump ``out`` with ``edit`` and
    record the new file's sha256 in the shard's done marker, as a consistent but wrong writer
    would (so that only ``--verify``'s content checks can see it)."""
    parquet = out / "parquet" / f"{shard}.parquet"
    table = pq.read_table(parquet)
    rows = table.to_pylist()
    edit(rows)
    pq.write_table(pa.Table.from_pylist(rows, schema=table.schema), parquet)
    marker_path = out / "done" / f"{shard}.json"
    marker = json.loads(marker_path.read_text())
    marker["files"][f"parquet/{shard}.parquet"] = hashlib.sha256(
        parquet.read_bytes()).hexdigest()
    marker_path.write_text(json.dumps(marker))
