"""``simvq-audio encode IN OUT``: audio files (any format soundfile reads) -> ``.codes`` files.

IN/OUT: files (``-`` for stdin/stdout), or what :func:`~simvq_audio.data.utterances.
list_utterances` lists (a directory: the tree is kept; a Kaldi ``wav.scp`` or data dir:
``<utt-id>.codes``) and a directory; see :mod:`simvq_audio.commands.codec_jobs` for the output
policy. Stdin is read as a stream into an unnamed temporary file (bounded memory; the disk holds
it), refused after its first bytes unless they start an audio format, then encoded as a file is.
Each ``.codes`` file records the identity of the bytes it was encoded from, so a rerun skips
exactly the outputs that are up to date. The files go through
:mod:`simvq_audio.codec.encode_files`: short ones encoded together in batches, files longer than
``--max-batch-seconds`` streamed block by block in bounded memory; both give the tokens of
encoding each file alone.
"""

from __future__ import annotations

import argparse
import functools
import io

from simvq_audio.commands.arg_types import positive_float
from simvq_audio.commands.model_arguments import OVERWRITE_HELP, add_model_arguments
from simvq_audio.errors import UserInputError

NAME = "encode"
HELP = "encode audio files into .codes files"
SUFFIX = ".codes"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", metavar="IN",
                        help="audio file, directory, wav.scp, Kaldi data dir, or -")
    parser.add_argument("output", metavar="OUT", help=".codes file, directory, or -")
    add_model_arguments(parser)
    parser.add_argument("--max-batch-seconds", type=positive_float, default=60.0,
                        help="files longer than this are streamed alone (default: %(default)s)")
    parser.add_argument("--overwrite", action="store_true", help=OVERWRITE_HELP)


def run(args: argparse.Namespace) -> int:
    # Imported here: they import torch, which `encode --help` must not (start-up time).
    from simvq_audio.commands.codec_jobs import STDIO, load_codec, plan_jobs, run_jobs
    from simvq_audio.data.utterances import list_utterances, names_many

    many = args.input != STDIO and names_many(args.input)
    inputs = list_utterances(args.input, output_suffix=SUFFIX) if many else None
    jobs = plan_jobs(args.input, args.output, inputs, SUFFIX, _check_target)
    codec = load_codec(args)
    return run_jobs(jobs, many, args.batch_size, functools.partial(_classify, codec),
                    functools.partial(_encode_batch, codec,
                                      max_batch_seconds=args.max_batch_seconds),
                    "encode", args.overwrite)


def _check_target(target: str) -> None:
    if not target.lower().endswith(SUFFIX):
        raise UserInputError(f"{target}: encode writes .codes files; name the output "
                             f"*{SUFFIX} (or - for stdout)")


def _classify(codec, job):
    """The state of ``job``'s output (spooling stdin for ``-``, refused at once when it does
    not start as audio). The input is hashed here only when a file is there to compare it
    with; encoding hashes what it reads again, and records that."""
    # Imported here: they import torch, which `encode --help` must not (start-up time).
    from simvq_audio import outputs
    from simvq_audio.commands.codec_jobs import read_stdin
    from simvq_audio.data.audio_io import check_audio_start

    if job.source == outputs.STDIO:
        job.data = read_stdin(check_audio_start)
    if job.target == outputs.STDIO:
        return outputs.Existing(outputs.Kind.NEW)
    early = outputs.present(job.target)
    if early is not None:
        return early
    identity = (job.data.identity() if job.data is not None
                else outputs.input_id(job.source))
    return outputs.codes_state(job.target, codec.model_hash, identity)


def _encode_batch(codec, jobs, max_batch_seconds: float) -> list[str | None]:
    """Encode and write each job; the error message of each job, or None."""
    # Imported here: they import torch, which `encode --help` must not (start-up time).
    from simvq_audio.codec.encode_files import encode_files
    from simvq_audio.commands.codec_jobs import STDIO, write_stdout

    results = encode_files(codec, [job.data or job.source for job in jobs], max_batch_seconds)
    errors: list[str | None] = []
    for job, result in zip(jobs, results):
        if isinstance(result, str):
            errors.append(result)
            continue
        try:
            target = io.BytesIO() if job.target == STDIO else job.target
            codec.save_codes(result.tokens, target, result.channels, result.source)
            if job.target == STDIO:
                write_stdout(target.getvalue())
            errors.append(None)
        except UserInputError as error:
            errors.append(str(error))
    return errors
