"""``simvq-audio encode IN OUT``: audio files (any format soundfile reads) -> ``.codes`` files.

IN/OUT: files (``-`` for stdin/stdout), directories (the tree is kept), or a Kaldi ``wav.scp``
and a directory (``<utt-id>.codes``); see :mod:`simvq_audio.commands.codec_jobs`. Short files are
encoded together in batches; files longer than ``--max-batch-seconds`` are streamed block by
block in bounded memory. Both give the tokens of encoding each file alone.
"""

from __future__ import annotations

import argparse
import io
import sys

NAME = "encode"
HELP = "encode audio files into .codes files"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from simvq_audio.commands.codec_jobs import add_model_arguments

    parser.add_argument("input", metavar="IN", help="audio file, directory, wav.scp, or -")
    parser.add_argument("output", metavar="OUT", help=".codes file, directory, or -")
    add_model_arguments(parser)
    parser.add_argument("--max-batch-seconds", type=float, default=60.0,
                        help="files longer than this are streamed alone (default: %(default)s)")


def run(args: argparse.Namespace) -> int:
    from simvq_audio.commands.codec_jobs import load_codec, plan_jobs, run_jobs
    from simvq_audio.data.audio_io import audio_suffixes

    jobs, many = plan_jobs(args.input, args.output, audio_suffixes(), ".codes", allow_scp=True)
    codec = load_codec(args)
    return run_jobs(jobs, many, args.batch_size,
                    lambda batch: _encode_batch(codec, batch, args.max_batch_seconds), "encode")


def _encode_batch(codec, jobs, max_batch_seconds: float) -> list[str | None]:
    """Encode and write each job; the error message of each job, or None."""
    from simvq_audio.commands.codec_jobs import STDIO, output_error
    from simvq_audio.errors import UserInputError
    from simvq_audio.tokenize.batch_encode import encode_files

    if jobs[0].source == STDIO:  # stdin is only ever a single job
        try:
            results = [_encode_stdin(codec)]
        except UserInputError as error:
            results = [str(error)]
    else:
        results = encode_files(codec, [job.source for job in jobs], max_batch_seconds)
    errors: list[str | None] = []
    for job, result in zip(jobs, results):
        if isinstance(result, str):
            errors.append(result)
            continue
        try:
            if job.target == STDIO:
                buffer = io.BytesIO()
                codec.save_codes(result.tokens, buffer, result.channels)
                sys.stdout.buffer.write(buffer.getvalue())
                sys.stdout.buffer.flush()
            else:
                codec.save_codes(result.tokens, job.target, result.channels)
            errors.append(None)
        except OSError as error:
            errors.append(output_error(job.target, error))
    return errors


def _encode_stdin(codec):
    """Read audio from stdin (any format soundfile reads) -> an ``EncodedFile``."""
    import soundfile

    from simvq_audio.errors import UserInputError
    from simvq_audio.tokenize.batch_encode import EncodedFile

    try:
        data, rate = soundfile.read(io.BytesIO(sys.stdin.buffer.read()), dtype="float32",
                                    always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError, TypeError) as error:
        raise UserInputError(f"stdin: not readable audio ({error})") from None
    return EncodedFile(codec.encode(data.T, rate), data.shape[1])
