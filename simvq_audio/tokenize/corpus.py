"""Tokenizing a corpus, the work of ``simvq-audio tokenize`` for Python callers too: read the
utterances of one source (:func:`read_utterances`), cut them into shards (:func:`plan_corpus`),
join the processes of ``accelerate launch`` (:func:`join_processes`), then write the output
directory (:func:`tokenize_corpus`) or check it (:func:`verify_corpus`).

The steps are separate so that the plan, which refuses a bad corpus, is made before the model
loads::

    utterances = read_utterances(data_dir="data/train")
    plan = plan_corpus(utterances, shard_size=500)
    rank, world_size, device = join_processes("cuda")
    codec = SimVQCodec.from_pretrained("exp/simvq_65k/model", device=device)
    status = tokenize_corpus(codec, plan, "dump/train", rank=rank, world_size=world_size)

The layout of the output directory is that of :mod:`simvq_audio.tokenize`. Progress, the run's
totals and the problems found go to stderr.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from accelerate import PartialState

from simvq_audio import validate
from simvq_audio.codec import SimVQCodec
from simvq_audio.data.hf_dataset import DEFAULT_AUDIO_COLUMN, read_hf_dataset
from simvq_audio.data.kaldi_dir import WAV_SCP, Utterance
from simvq_audio.data.lhotse_manifest import read_lhotse_manifests
from simvq_audio.data.utterances import list_utterances
from simvq_audio.errors import UserInputError
from simvq_audio.tokenize.finalize import check_output_dir, finalize
from simvq_audio.tokenize.index import RunIdentity, open_output
from simvq_audio.tokenize.plan import Shard, plan_hash, plan_shards
from simvq_audio.tokenize.runner import tokenize_shards
from simvq_audio.tokenize.shard_files import FORMATS
from simvq_audio.tokenize.verify import verify_output


@dataclass(frozen=True)
class CorpusPlan:
    """The utterances of a corpus, as read, and the id-sorted shards of ``shard_size`` utterances
    (the last may hold fewer) they are written in."""

    utterances: list[Utterance]
    shards: list[Shard]
    shard_size: int


def read_utterances(*, data_dir: str | os.PathLike | None = None,
                    audio_dir: str | os.PathLike | None = None,
                    hf_dataset: str | os.PathLike | None = None,
                    lhotse: Sequence[str | os.PathLike] | None = None,
                    hf_split: str | None = None, audio_column: str | None = None,
                    id_column: str | None = None, text_column: str | None = None,
                    speaker_column: str | None = None) -> list[Utterance]:
    """The utterances of exactly one source, sorted by id.

    Args:
        data_dir: a Kaldi data dir holding ``wav.scp`` (optional ``utt2dur``, ``text``,
            ``utt2spk``).
        audio_dir: a directory of audio files (ids: relative paths without suffix), or anything
            else :func:`~simvq_audio.data.utterances.list_utterances` lists.
        hf_dataset: a Hugging Face dataset on this machine, one utterance per row
            (:func:`~simvq_audio.data.hf_dataset.read_hf_dataset`).
        lhotse: a CutSet manifest, or a RecordingSet manifest and optionally its SupervisionSet
            manifest (:func:`~simvq_audio.data.lhotse_manifest.read_lhotse_manifests`).
        hf_split, audio_column, id_column, text_column, speaker_column: for ``hf_dataset`` only:
            the split, and the columns holding the audio (default ``audio``), ids, transcripts
            and speakers (``None``: the dataset's default columns when present).

    Raises:
        UserInputError: no source or several, a column option without ``hf_dataset``, more than
            two lhotse manifests, a ``data_dir`` without ``wav.scp``, or a source its reader
            refuses.
    """
    sources = [value for value in (data_dir, audio_dir, hf_dataset, lhotse) if value is not None]
    if len(sources) != 1:
        raise UserInputError(f"read_utterances takes exactly one of data_dir, audio_dir, "
                             f"hf_dataset and lhotse; got {len(sources)}")
    if hf_dataset is not None:
        return read_hf_dataset(hf_dataset, hf_split, audio_column or DEFAULT_AUDIO_COLUMN,
                               id_column, text_column, speaker_column)
    column_options = {"--hf-split": hf_split, "--audio-column": audio_column,
                      "--id-column": id_column, "--text-column": text_column,
                      "--speaker-column": speaker_column}
    given = [option for option, value in column_options.items() if value is not None]
    if given:
        raise UserInputError(f"{', '.join(given)} only apply to --hf-dataset")
    if lhotse is not None:
        if len(lhotse) > 2:
            raise UserInputError(f"--lhotse takes one CutSet manifest, or a RecordingSet and its "
                                 f"SupervisionSet manifest; got {len(lhotse)} files")
        return read_lhotse_manifests(lhotse)
    if data_dir and not (Path(data_dir) / WAV_SCP).is_file():
        raise UserInputError(f"--data-dir {data_dir}: not a directory holding {WAV_SCP}")
    return list_utterances(data_dir or audio_dir)


def plan_corpus(utterances: list[Utterance], shard_size: int = 500) -> CorpusPlan:
    """The plan of writing ``utterances`` in shards of ``shard_size`` (at least 1); the same for
    any number of processes.

    Raises:
        UserInputError: no utterances, or an id with whitespace (ids are ark keys).
    """
    return CorpusPlan(list(utterances), plan_shards(utterances, shard_size), shard_size)


def join_processes(device: str) -> tuple[int, int, str]:
    """``(rank, world size, device)`` of this process under ``accelerate launch`` (``(0, 1,
    device)`` without it); with several processes, ``cuda`` without an index becomes this
    process's own GPU (e.g. ``cuda:3``), any other ``device`` is returned as given."""
    torch_device = validate.device(device)
    state = PartialState(cpu=torch_device.type == "cpu")
    if state.num_processes > 1 and torch_device.type == "cuda" and torch_device.index is None:
        device = str(state.device)
    return state.process_index, state.num_processes, device


def tokenize_corpus(codec: SimVQCodec, plan: CorpusPlan, out: str | os.PathLike,
                    token_format: str = "both", batch_seconds: float = 120.0,
                    batch_size: int = 32, overwrite: bool = False, rank: int = 0,
                    world_size: int = 1) -> int:
    """Write the shards of process ``rank`` (of ``world_size``) that are not done yet into
    ``out``; the last process to finish merges ``tokens.scp`` and completes ``index.json``.

    Args:
        token_format: ``ark``, ``parquet`` or ``both``.
        batch_seconds: most padded audio per batch, in seconds; longer files are streamed alone.
        batch_size: most utterances per batch.
        overwrite: replace an output directory made by another model or plan, or files in it
            that tokenize did not write (an input is never overwritten).

    Returns:
        The exit status: 0 when every utterance was tokenized or other processes are still
        writing, 1 when some utterances failed.

    Raises:
        UserInputError: an unknown ``token_format``, an input inside ``out``, or an ``out`` that
            is not this plan's and model's output without ``overwrite``.
    """
    out = Path(out)
    identity = _identity(codec, plan, token_format)
    check_output_dir(out, plan.utterances, overwrite)
    open_output(out, identity, overwrite)
    report = tokenize_shards(codec, out, plan.shards, identity, batch_seconds, batch_size, rank,
                             world_size)
    rate = report.audio_seconds / max(report.wall_seconds, 1e-9)
    print(f"simvq-audio tokenize: wrote {report.written} shard(s), skipped {report.skipped} "
          f"done, {report.audio_seconds / 3600:.4g} h of audio in {report.wall_seconds:.1f} s "
          f"({rate:.4g} audio-h per hour)", file=sys.stderr)
    summary = finalize(out, plan.shards, identity)
    if summary is None:
        print("simvq-audio tokenize: other processes are still writing shards; the last to "
              f"finish completes {out}", file=sys.stderr)
        return 0
    for line in summary.lines():
        print(f"simvq-audio tokenize: {line}", file=sys.stderr)
    return 1 if summary.failures else 0


def verify_corpus(codec: SimVQCodec, plan: CorpusPlan, out: str | os.PathLike,
                  token_format: str = "both") -> int:
    """Check ``out`` against the plan and ``codec``: every shard's checksums, counts, ids and
    token range; print each problem and a summary naming the damaged shards.

    Returns:
        The exit status: 0 when nothing is wrong, 1 otherwise.

    Raises:
        UserInputError: an unknown ``token_format``, or no directory ``out``.
    """
    out = Path(out)
    identity = _identity(codec, plan, token_format)
    if not out.is_dir():
        raise UserInputError(f"--out {out}: no such directory to verify")
    problems = verify_output(out, plan.shards, identity, codec.codebook_size)
    for problem in problems:
        print(f"  {problem}", file=sys.stderr)
    damaged = sorted({problem.split(":")[0] for problem in problems
                      if problem.startswith("shard-")})
    redo = f" ({', '.join(damaged)}; run without --verify to redo them)" if damaged else ""
    print(f"simvq-audio tokenize: verify {out}: {len(plan.shards)} shard(s), {len(damaged)} "
          f"damaged{redo}, {len(problems)} problem(s)", file=sys.stderr)
    return 1 if problems else 0


def _identity(codec: SimVQCodec, plan: CorpusPlan, token_format: str) -> RunIdentity:
    """The model, plan and formats a run's output directory records."""
    if token_format not in FORMATS:
        raise UserInputError(f"token format {token_format!r} is none of {', '.join(FORMATS)}")
    utterances = plan.utterances
    return RunIdentity(codec.model_hash, dataclasses.asdict(codec.config),
                       plan_hash(plan.shards), plan.shard_size, len(utterances),
                       len(plan.shards), FORMATS[token_format],
                       has_text=any(utt.text is not None for utt in utterances),
                       has_speaker=any(utt.speaker is not None for utt in utterances))
