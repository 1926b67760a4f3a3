"""``simvq-audio decode IN OUT``: ``.codes`` files -> audio files at the model rate.

IN/OUT: files (``-`` for stdin/stdout) or directories (every ``*.codes`` under IN becomes a
``.wav`` at the same place under OUT; a ``wav.scp`` encode gives ``<utt-id>.wav``). A single OUT
file's format follows its extension (:data:`~simvq_audio.data.audio_formats.OUTPUT_FORMATS`:
``.wav`` and ``.flac`` 16-bit, ``.ogg``/``.oga`` Vorbis, ``.opus``, ``.mp3``); stdout gets wav.
Each output carries a comment naming the model, its ``.codes`` input and a digest of its
samples, so a rerun skips exactly the outputs that are up to date and intact, and redoes (saying
so) the ones whose samples were damaged since. Stdin is read as a stream into a temporary file
after its first bytes showed a ``.codes`` file. Codes made by another model are refused unless
``--any-model``.

This module parses the arguments; the work, and the output policy, are those of the file API
:mod:`simvq_audio.codec.files` (:func:`~simvq_audio.codec.files.plan_decode`,
:func:`~simvq_audio.codec.files.decode`).
"""

from __future__ import annotations

import argparse
import sys

from simvq_audio.codes import ANY_MODEL_OPTION
from simvq_audio.commands.model_arguments import OVERWRITE_HELP, add_model_arguments, load_codec
from simvq_audio.data.audio_formats import OUTPUT_SUFFIXES

NAME = "decode"
HELP = "decode .codes files into audio files"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", metavar="IN", help=".codes file, directory, or -")
    parser.add_argument("output", metavar="OUT", help=f"audio file ({OUTPUT_SUFFIXES}: the "
                        "extension names the format), directory (of .wav files), or - (wav)")
    add_model_arguments(parser)
    parser.add_argument(ANY_MODEL_OPTION, "--force", dest="any_model", action="store_true",
                        help="decode codes that another model made (same codebook size, rate "
                        "and hop); --force is its old name")
    parser.add_argument("--overwrite", action="store_true", help=OVERWRITE_HELP)


def run(args: argparse.Namespace) -> int:
    # Imported here, not at the top: the file API imports torch, which `decode --help` must not
    # (1.5 s of start-up, docs/benchmarks.md).
    from simvq_audio.codec import files

    plan = files.plan_decode(args.input, args.output)
    codec = load_codec(args)
    return files.decode(codec, plan, args.batch_size, args.any_model, args.overwrite,
                        log=sys.stderr)
