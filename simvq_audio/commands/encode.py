"""``simvq-audio encode IN OUT``: audio files (any format soundfile reads) -> ``.codes`` files.

IN/OUT: files (``-`` for stdin/stdout), directories (the tree is kept), or a Kaldi ``wav.scp``
and a directory (``<utt-id>.codes``); see :mod:`simvq_audio.commands.codec_jobs` for the output
policy. Each ``.codes`` file records the identity of its input, so a rerun skips exactly the
outputs that are up to date. Short files are encoded together in batches; files longer than
``--max-batch-seconds`` are streamed block by block in bounded memory. Both give the tokens of
encoding each file alone.
"""

from __future__ import annotations

import argparse

NAME = "encode"
HELP = "encode audio files into .codes files"
SUFFIX = ".codes"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from simvq_audio.commands.codec_jobs import OVERWRITE_HELP, add_model_arguments

    parser.add_argument("input", metavar="IN", help="audio file, directory, wav.scp, or -")
    parser.add_argument("output", metavar="OUT", help=".codes file, directory, or -")
    add_model_arguments(parser)
    parser.add_argument("--max-batch-seconds", type=float, default=60.0,
                        help="files longer than this are streamed alone (default: %(default)s)")
    parser.add_argument("--overwrite", action="store_true", help=OVERWRITE_HELP)


def run(args: argparse.Namespace) -> int:
    from simvq_audio.commands.codec_jobs import load_codec, plan_jobs, run_jobs
    from simvq_audio.data.audio_io import audio_suffixes

    jobs, many = plan_jobs(args.input, args.output, audio_suffixes(), SUFFIX, allow_scp=True,
                           check_target=_check_target)
    codec = load_codec(args)
    return run_jobs(jobs, many, args.batch_size, lambda job: _classify(codec, job),
                    lambda batch: _encode_batch(codec, batch, args.max_batch_seconds), "encode",
                    args.overwrite)


def _check_target(target: str) -> None:
    from simvq_audio.errors import UserInputError

    if not target.lower().endswith(SUFFIX):
        raise UserInputError(f"{target}: encode writes .codes files; name the output "
                             f"*{SUFFIX} (or - for stdout)")


def _classify(codec, job):
    """The state of ``job``'s output; sets its input identity (reading stdin for ``-``)."""
    from simvq_audio import outputs
    from simvq_audio.commands.codec_jobs import read_stdin

    if job.source == outputs.STDIO:
        job.data = read_stdin()
        job.identity = outputs.stream_id(job.data)
    else:
        job.identity = outputs.input_id(job.source)
    if job.target == outputs.STDIO:
        return outputs.Existing(outputs.Kind.NEW)
    return outputs.codes_state(job.target, codec.model_hash, job.identity)


def _encode_batch(codec, jobs, max_batch_seconds: float) -> list[str | None]:
    """Encode and write each job; the error message of each job, or None."""
    import io

    from simvq_audio.commands.codec_jobs import STDIO, write_stdout
    from simvq_audio.errors import UserInputError
    from simvq_audio.tokenize.batch_encode import encode_files

    if jobs[0].source == STDIO:  # stdin is only ever a single job
        try:
            results = [_encode_bytes(codec, jobs[0].data)]
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
                codec.save_codes(result.tokens, buffer, result.channels, job.identity)
                write_stdout(buffer.getvalue())
            else:
                codec.save_codes(result.tokens, job.target, result.channels, job.identity)
            errors.append(None)
        except UserInputError as error:
            errors.append(str(error))
    return errors


def _encode_bytes(codec, data: bytes):
    """Audio bytes from stdin (any format soundfile reads) -> an ``EncodedFile``."""
    import io

    import soundfile

    from simvq_audio import validate
    from simvq_audio.data.audio_io import SOUNDFILE_ERRORS, soundfile_reason
    from simvq_audio.errors import UserInputError
    from simvq_audio.tokenize.batch_encode import EncodedFile

    try:
        data, rate = soundfile.read(io.BytesIO(data), dtype="float32", always_2d=True)
    except SOUNDFILE_ERRORS as error:
        raise UserInputError(f"stdin: not readable audio ({soundfile_reason(error)})") from None
    if not data.size:
        raise UserInputError("stdin: the audio is empty (0 samples)")
    rate = validate.sample_rate(rate, "stdin: sample rate")
    return EncodedFile(codec.encode(data.T, rate), data.shape[1])
