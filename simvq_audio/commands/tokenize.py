"""``simvq-audio tokenize``: tokens for every utterance of a corpus, in shards, resumable and
spread over processes.

    simvq-audio tokenize --model exp/simvq_65k/model --data-dir data/train --out dump/train
    simvq-audio tokenize --model ... --hf-dataset libritts_r_saved --hf-split train --out ...
    simvq-audio tokenize --model ... --lhotse cuts_train.jsonl.gz --out ...
    accelerate launch --multi_gpu --num_processes 8 -m simvq_audio.cli tokenize --device cuda ...
    accelerate launch --multi_gpu --num_processes 2 -m simvq_audio.cli tokenize --device cpu ...

(With accelerate 1.15, ``accelerate launch --cpu --num_processes N`` starts a single process:
use ``--multi_gpu`` and ``--device cpu`` for several CPU processes, as above.)

Writes ``OUT/ark/shard-NNNNN.{ark,scp}``, ``OUT/parquet/shard-NNNNN.parquet``,
``OUT/done/shard-NNNNN.json``, ``OUT/tokens.scp`` and ``OUT/index.json``; see
:mod:`simvq_audio.tokenize`. A rerun skips the finished shards. Exit status 0 when every utterance
was tokenized (or ``--verify`` found nothing wrong), 1 when some failed or a shard is damaged.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from simvq_audio.commands.arg_types import positive_float, positive_int
from simvq_audio.commands.model_arguments import add_model_arguments, load_codec
from simvq_audio.errors import UserInputError

if TYPE_CHECKING:
    from simvq_audio.data.kaldi_dir import Utterance

NAME = "tokenize"
HELP = "tokenize a corpus into resumable ark/scp and parquet shards"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--data-dir", help="Kaldi data dir (wav.scp; optional utt2dur, and "
                        "text and utt2spk, which the parquet rows carry)")
    source.add_argument("--audio-dir", help="directory of audio files (ids: relative paths "
                        "without suffix), or anything else encode and score take: a wav.scp, "
                        "a data dir, one file")
    source.add_argument("--hf-dataset", metavar="PATH",
                        help="a Hugging Face dataset on this machine: a save_to_disk folder, or a "
                        "folder or file datasets.load_dataset reads (e.g. a clone of a Hub "
                        "dataset's parquet files); one utterance per row")
    source.add_argument("--lhotse", nargs="+", metavar="MANIFEST",
                        help="a lhotse CutSet manifest, or a RecordingSet manifest and optionally "
                        "its SupervisionSet (.jsonl or .jsonl.gz); every cut must span a whole "
                        "audio file")
    hf = parser.add_argument_group("--hf-dataset columns")
    hf.add_argument("--hf-split", help="the split to read (needed when the dataset has several)")
    hf.add_argument("--audio-column", help="audio column (default: audio)")
    hf.add_argument("--id-column", help="utterance id column (default: id if present, else "
                    "row-NNNNNNNN by row number)")
    hf.add_argument("--text-column", help="transcript column (default: text if present)")
    hf.add_argument("--speaker-column", help="speaker column (default: speaker_id or speaker if "
                    "present)")
    parser.add_argument("--out", required=True, help="output directory, e.g. dump/train")
    parser.add_argument("--format", choices=("ark", "parquet", "both"), default="both",
                        help="what to write (default: %(default)s)")
    parser.add_argument("--batch-seconds", type=positive_float, default=120.0,
                        help="most padded audio per batch; longer files are streamed alone "
                        "(default: %(default)s)")
    parser.add_argument("--shard-size", type=positive_int, default=500,
                        help="utterances per shard (default: %(default)s)")
    parser.add_argument("--verify", action="store_true",
                        help="only check the output dir: every shard's checksums, counts, ids "
                        "and token range; exit 1 listing damaged shards (a run without "
                        "--verify redoes them)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an output dir made by another model or plan, or files "
                        "in it that tokenize did not write (an input is never overwritten)")
    add_model_arguments(parser)
    parser.set_defaults(batch_size=32)


def run(args: argparse.Namespace) -> int:
    # Imported here, not at the top: they import torch, which `tokenize --help` must not (1.5 s
    # of start-up, docs/benchmarks.md); so do those of _verify and _join_processes.
    from simvq_audio.tokenize.finalize import check_output_dir, finalize
    from simvq_audio.tokenize.index import RunIdentity, open_output
    from simvq_audio.tokenize.plan import plan_hash, plan_shards
    from simvq_audio.tokenize.runner import tokenize_shards
    from simvq_audio.tokenize.shard_files import FORMATS

    utterances = _read_utterances(args)
    shards = plan_shards(utterances, args.shard_size)
    rank, world_size = _join_processes(args)
    codec = load_codec(args)
    identity = RunIdentity(codec.model_hash, dataclasses.asdict(codec.config), plan_hash(shards),
                           args.shard_size, len(utterances), len(shards), FORMATS[args.format],
                           has_text=any(utt.text is not None for utt in utterances),
                           has_speaker=any(utt.speaker is not None for utt in utterances))
    out = Path(args.out)
    if args.verify:
        return _verify(out, shards, identity, codec.codebook_size)
    check_output_dir(out, utterances, args.overwrite)
    open_output(out, identity, args.overwrite)
    report = tokenize_shards(codec, out, shards, identity, args.batch_seconds, args.batch_size,
                             rank, world_size)
    rate = report.audio_seconds / max(report.wall_seconds, 1e-9)
    print(f"simvq-audio tokenize: wrote {report.written} shard(s), skipped {report.skipped} "
          f"done, {report.audio_seconds / 3600:.4g} h of audio in {report.wall_seconds:.1f} s "
          f"({rate:.4g} audio-h per hour)", file=sys.stderr)
    summary = finalize(out, shards, identity)
    if summary is None:
        print("simvq-audio tokenize: other processes are still writing shards; the last to "
              f"finish completes {out}", file=sys.stderr)
        return 0
    for line in summary.lines():
        print(f"simvq-audio tokenize: {line}", file=sys.stderr)
    return 1 if summary.failures else 0


def _read_utterances(args: argparse.Namespace) -> list[Utterance]:
    """The utterances of the input option given: a data dir, files, a Hugging Face dataset or
    lhotse manifests."""
    # imported here, not at the top, so that ``tokenize --help`` starts without torch
    from simvq_audio.data.hf_dataset import DEFAULT_AUDIO_COLUMN, read_hf_dataset
    from simvq_audio.data.kaldi_dir import WAV_SCP
    from simvq_audio.data.lhotse_manifest import read_lhotse_manifests
    from simvq_audio.data.utterances import list_utterances

    column_options = {"--hf-split": args.hf_split, "--audio-column": args.audio_column,
                      "--id-column": args.id_column, "--text-column": args.text_column,
                      "--speaker-column": args.speaker_column}
    if args.hf_dataset is not None:
        return read_hf_dataset(args.hf_dataset, args.hf_split,
                               args.audio_column or DEFAULT_AUDIO_COLUMN, args.id_column,
                               args.text_column, args.speaker_column)
    given = [option for option, value in column_options.items() if value is not None]
    if given:
        raise UserInputError(f"{', '.join(given)} only apply to --hf-dataset")
    if args.lhotse is not None:
        if len(args.lhotse) > 2:
            raise UserInputError(f"--lhotse takes one CutSet manifest, or a RecordingSet and its "
                                 f"SupervisionSet manifest; got {len(args.lhotse)} files")
        return read_lhotse_manifests(args.lhotse)
    if args.data_dir and not (Path(args.data_dir) / WAV_SCP).is_file():
        raise UserInputError(f"--data-dir {args.data_dir}: not a directory holding {WAV_SCP}")
    return list_utterances(args.data_dir or args.audio_dir)


def _verify(out: Path, shards, identity, codebook_size: int) -> int:
    """Check ``out`` against the plan and model; print the problems; exit status 0 or 1."""
    from simvq_audio.tokenize.verify import verify_output

    if not out.is_dir():
        raise UserInputError(f"--out {out}: no such directory to verify")
    problems = verify_output(out, shards, identity, codebook_size)
    for problem in problems:
        print(f"  {problem}", file=sys.stderr)
    damaged = sorted({problem.split(":")[0] for problem in problems
                      if problem.startswith("shard-")})
    print(f"simvq-audio tokenize: verify {out}: {len(shards)} shard(s), {len(damaged)} damaged"
          f"{' (' + ', '.join(damaged) + '; run without --verify to redo them)' if damaged else ''}"
          f", {len(problems)} problem(s)", file=sys.stderr)
    return 1 if problems else 0


def _join_processes(args: argparse.Namespace) -> tuple[int, int]:
    """``(rank, world size)`` under ``accelerate launch`` (``(0, 1)`` without it); with several
    processes, ``--device cuda`` becomes each process's own GPU."""
    from accelerate import PartialState

    from simvq_audio import validate

    device = validate.device(args.device)
    state = PartialState(cpu=device.type == "cpu")
    if state.num_processes > 1 and device.type == "cuda" and device.index is None:
        args.device = str(state.device)
    return state.process_index, state.num_processes
