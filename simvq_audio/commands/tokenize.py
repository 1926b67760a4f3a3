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

This module parses the arguments; the work is that of the corpus API
:mod:`simvq_audio.tokenize.corpus` (:func:`~simvq_audio.tokenize.corpus.read_utterances`,
:func:`~simvq_audio.tokenize.corpus.tokenize_corpus`, ...).
"""

from __future__ import annotations

import argparse

from simvq_audio.commands.arg_types import positive_float, positive_int
from simvq_audio.commands.model_arguments import add_model_arguments, load_codec

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
    # Imported here, not at the top: the corpus API imports torch, which `tokenize --help` must
    # not (1.5 s of start-up, docs/benchmarks.md).
    from simvq_audio.tokenize import corpus

    utterances = corpus.read_utterances(
        data_dir=args.data_dir, audio_dir=args.audio_dir, hf_dataset=args.hf_dataset,
        lhotse=args.lhotse, hf_split=args.hf_split, audio_column=args.audio_column,
        id_column=args.id_column, text_column=args.text_column,
        speaker_column=args.speaker_column)
    plan = corpus.plan_corpus(utterances, args.shard_size)
    rank, world_size, args.device = corpus.join_processes(args.device)
    codec = load_codec(args)
    if args.verify:
        return corpus.verify_corpus(codec, plan, args.out, args.format)
    return corpus.tokenize_corpus(codec, plan, args.out, args.format, args.batch_seconds,
                                  args.batch_size, args.overwrite, rank, world_size)
