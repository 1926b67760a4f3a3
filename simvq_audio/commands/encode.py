"""``simvq-audio encode IN OUT``: audio files (any format soundfile reads) -> ``.codes`` files.

IN/OUT: files (``-`` for stdin/stdout), or what :func:`~simvq_audio.data.utterances.
list_utterances` lists (a directory: the tree is kept; a Kaldi ``wav.scp`` or data dir:
``<utt-id>.codes``) and a directory. Stdin is read as a stream into an unnamed temporary file
(bounded memory; the disk holds it), refused after its first bytes unless they start an audio
format, then encoded as a file is. Each ``.codes`` file records the identity of the bytes it was
encoded from, so a rerun skips exactly the outputs that are up to date. Short files are encoded
together in batches, files longer than ``--max-batch-seconds`` streamed block by block in
bounded memory; both give the tokens of encoding each file alone.

This module parses the arguments; the work, and the output policy, are those of the file API
:mod:`simvq_audio.codec.files` (:func:`~simvq_audio.codec.files.plan_encode`,
:func:`~simvq_audio.codec.files.encode`).
"""

from __future__ import annotations

import argparse
import sys

from simvq_audio.commands.arg_types import positive_float
from simvq_audio.commands.model_arguments import OVERWRITE_HELP, add_model_arguments, load_codec

NAME = "encode"
HELP = "encode audio files into .codes files"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", metavar="IN",
                        help="audio file, directory, wav.scp, Kaldi data dir, or -")
    parser.add_argument("output", metavar="OUT", help=".codes file, directory, or -")
    add_model_arguments(parser)
    parser.add_argument("--max-batch-seconds", type=positive_float, default=60.0,
                        help="files longer than this are streamed alone (default: %(default)s)")
    parser.add_argument("--overwrite", action="store_true", help=OVERWRITE_HELP)


def run(args: argparse.Namespace) -> int:
    # Imported here, not at the top: the file API imports torch, which `encode --help` must not
    # (1.5 s of start-up, docs/benchmarks.md).
    from simvq_audio.codec import files

    plan = files.plan_encode(args.input, args.output)
    codec = load_codec(args)
    return files.encode(codec, plan, args.batch_size, args.max_batch_seconds, args.overwrite,
                        log=sys.stderr)
