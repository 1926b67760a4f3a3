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
from pathlib import Path

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
    import soundfile

    from simvq_audio.commands.codec_jobs import load_codec, plan_jobs, run_jobs

    extensions = tuple(f".{name.lower()}" for name in soundfile.available_formats())
    jobs, many = plan_jobs(args.input, args.output, extensions + (".oga", ".aif"), ".codes",
                           allow_scp=True)
    codec = load_codec(args)
    return run_jobs(jobs, many, args.batch_size,
                    lambda batch: _encode_batch(codec, batch, args.max_batch_seconds), "encode")


def _encode_batch(codec, jobs, max_batch_seconds: float) -> list[str | None]:
    """Encode and write each job; the error message of each job, or None."""
    import torch

    from simvq_audio.commands.codec_jobs import STDIO, output_error
    from simvq_audio.data.audio_io import read_audio
    from simvq_audio.errors import UserInputError

    errors: dict[int, str] = {}
    results = {}  # job index -> (Tokens, channels)
    short = []  # (job index, wav [T] at the model rate, channels)
    for index, job in enumerate(jobs):
        try:
            if job.source == STDIO:
                results[index] = _encode_stdin(codec)
                continue
            info = _info(job.source)
            if info.duration > max_batch_seconds:
                results[index] = (codec.encode_file(job.source), info.channels)
            else:
                short.append((index, read_audio(job.source, codec.sample_rate)[0][0],
                              info.channels))
        except UserInputError as error:
            errors[index] = str(error)
    if short:
        sizes = [len(wav) for _, wav, _ in short]
        batch = torch.zeros(len(short), 1, max(sizes))
        for row, (_, wav, _) in zip(batch, short):
            row[0, :len(wav)] = wav
        tokens = codec.encode(batch, codec.sample_rate, lengths=sizes)
        for item, (index, _, channels) in enumerate(short):
            results[index] = (tokens[item], channels)
    for index, (tokens, channels) in results.items():
        target = jobs[index].target
        try:
            if target == STDIO:
                buffer = io.BytesIO()
                codec.save_codes(tokens, buffer, channels)
                sys.stdout.buffer.write(buffer.getvalue())
                sys.stdout.buffer.flush()
            else:
                codec.save_codes(tokens, target, channels)
        except OSError as error:
            errors[index] = output_error(target, error)
    return [errors.get(index) for index in range(len(jobs))]


def _info(path: str):
    import soundfile

    from simvq_audio.errors import UserInputError

    if not Path(path).is_file():
        raise UserInputError(f"{path}: no such audio file")
    try:
        return soundfile.info(path)
    except (soundfile.LibsndfileError, RuntimeError, TypeError) as error:
        raise UserInputError(f"{path}: not a readable audio file ({error})") from None


def _encode_stdin(codec):
    """Read audio from stdin (any format soundfile reads) -> ``(Tokens, channels)``."""
    import soundfile

    from simvq_audio.errors import UserInputError

    try:
        data, rate = soundfile.read(io.BytesIO(sys.stdin.buffer.read()), dtype="float32",
                                    always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError, TypeError) as error:
        raise UserInputError(f"stdin: not readable audio ({error})") from None
    return codec.encode(data.T, rate), data.shape[1]
