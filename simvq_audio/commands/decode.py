"""``simvq-audio decode IN OUT``: ``.codes`` files -> audio files at the model rate.

IN/OUT: files (``-`` for stdin/stdout) or directories (every ``*.codes`` under IN becomes a
``.wav`` at the same place under OUT; a ``wav.scp`` encode gives ``<utt-id>.wav``). A single OUT
file's format follows its extension (:data:`~simvq_audio.data.audio_formats.OUTPUT_FORMATS`:
``.wav`` and ``.flac`` 16-bit, ``.ogg``/``.oga`` Vorbis, ``.opus``, ``.mp3``); stdout gets wav.
Each output carries a comment naming the model, its ``.codes`` input and a digest of its
samples, so a rerun skips exactly the outputs that are up to date and intact, and redoes (saying
so) the ones whose samples were damaged since (output policy:
:mod:`simvq_audio.commands.codec_jobs`). Stdin is read as a stream into a temporary file
after its first bytes showed a ``.codes`` file. Codes made by another model are refused unless
``--any-model``.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
from pathlib import Path

from simvq_audio.atomic import write_bytes
from simvq_audio.codes import ANY_MODEL_OPTION, check_start, verify_codes
from simvq_audio.commands.model_arguments import OVERWRITE_HELP, add_model_arguments
from simvq_audio.data.audio_formats import OUTPUT_SUFFIXES
from simvq_audio.errors import UserInputError

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
    # Imported here: they import torch, which `decode --help` must not (start-up time).
    from simvq_audio.commands.codec_jobs import STDIO, load_codec, plan_jobs, run_jobs
    from simvq_audio.data.audio_io import output_format
    from simvq_audio.data.utterances import files_under

    many = args.input != STDIO and Path(args.input).is_dir()
    inputs = files_under(args.input, {".codes"}, ".wav", ".codes") if many else None
    jobs = plan_jobs(args.input, args.output, inputs, ".wav", output_format)
    codec = load_codec(args)
    return run_jobs(jobs, many, args.batch_size, functools.partial(_classify, codec),
                    functools.partial(_decode_batch, codec, any_model=args.any_model), "decode",
                    args.overwrite)


def _classify(codec, job):
    """The state of ``job``'s output (spooling stdin for ``-``, refused at once when it does not
    start as a ``.codes`` file); the input is hashed only when an output exists to compare."""
    # Imported here: they import torch, which `decode --help` must not (start-up time).
    from simvq_audio import outputs
    from simvq_audio.commands.codec_jobs import read_stdin

    if job.source == outputs.STDIO:
        job.data = read_stdin(check_start)
    if job.target == outputs.STDIO or not os.path.lexists(job.target):
        return outputs.Existing(outputs.Kind.NEW)
    identity = (job.data.identity() if job.data is not None
                else outputs.input_id(job.source))
    if job.data is not None:
        job.data.handle.seek(0)
    header = verify_codes(job.source if job.data is None else job.data.handle,
                          None if job.data is None else job.data.name)
    return outputs.audio_state(job.target, codec.model_hash, identity, header.num_samples,
                               codec.sample_rate)


def _decode_batch(codec, jobs, any_model: bool) -> list[str | None]:
    """Decode and write each job; the error message of each job, or None. Each ``.codes`` file
    is read once: the identity its output's tag records is that of the tokens decoded."""
    # Imported here: they import torch, which `decode --help` must not (start-up time).
    import torch

    from simvq_audio import outputs
    from simvq_audio.codec import Tokens
    from simvq_audio.commands.codec_jobs import STDIO, write_stdout
    from simvq_audio.data.padding import pad_batch

    errors: dict[int, str] = {}
    loaded = {}
    for index, job in enumerate(jobs):
        try:
            with contextlib.ExitStack() as stack:
                opened = job.data or stack.enter_context(outputs.open_input(job.source))
                opened.handle.seek(0)
                tokens = codec.load_codes(opened.handle, any_model, what=opened.name)
                loaded[index] = tokens, opened.identity()
        except UserInputError as error:
            errors[index] = str(error)
    if loaded:
        items = [tokens for tokens, _ in loaded.values()]
        ids, lengths = pad_batch([item.tokens[0] for item in items])
        batch = Tokens(ids, lengths, torch.cat([t.num_samples for t in items]), codec.sample_rate)
        audio = codec.decode(batch)
        for item, (index, (tokens, identity)) in enumerate(loaded.items()):
            job = jobs[index]
            suffix = ".wav" if job.target == STDIO else Path(job.target).suffix.lower()
            try:
                data = outputs.decoded_audio(audio[item, :int(tokens.num_samples[0])],
                                             codec.sample_rate, suffix, codec.model_hash,
                                             identity)
                if job.target == STDIO:
                    write_stdout(data)
                else:
                    write_bytes(job.target, data)
            except UserInputError as error:
                errors[index] = str(error)
    return [errors.get(index) for index in range(len(jobs))]
