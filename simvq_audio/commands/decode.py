"""``simvq-audio decode IN OUT``: ``.codes`` files -> 16-bit wav files at the model rate.

IN/OUT: files (``-`` for stdin/stdout) or directories (every ``*.codes`` under IN becomes a
``.wav`` at the same place under OUT; a ``wav.scp`` encode gives ``<utt-id>.wav``). Codes made by
another model are refused unless ``--force``.
"""

from __future__ import annotations

import argparse
import io
import sys

NAME = "decode"
HELP = "decode .codes files into wav files"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from simvq_audio.commands.codec_jobs import add_model_arguments

    parser.add_argument("input", metavar="IN", help=".codes file, directory, or -")
    parser.add_argument("output", metavar="OUT", help="wav file, directory, or -")
    add_model_arguments(parser)
    parser.add_argument("--force", action="store_true",
                        help="decode codes that another model made (same codebook size and hop)")


def run(args: argparse.Namespace) -> int:
    from simvq_audio.commands.codec_jobs import load_codec, plan_jobs, run_jobs

    jobs, many = plan_jobs(args.input, args.output, (".codes",), ".wav", allow_scp=False)
    codec = load_codec(args)
    return run_jobs(jobs, many, args.batch_size,
                    lambda batch: _decode_batch(codec, batch, args.force), "decode")


def _decode_batch(codec, jobs, force: bool) -> list[str | None]:
    """Decode and write each job; the error message of each job, or None."""
    import soundfile
    import torch

    from simvq_audio.codec import Tokens
    from simvq_audio.commands.codec_jobs import STDIO, output_error
    from simvq_audio.data.audio_io import write_audio
    from simvq_audio.errors import UserInputError

    errors: dict[int, str] = {}
    loaded = {}
    for index, job in enumerate(jobs):
        try:
            source = io.BytesIO(sys.stdin.buffer.read()) if job.source == STDIO else job.source
            loaded[index] = codec.load_codes(source, force)
        except UserInputError as error:
            errors[index] = str(error)
    if loaded:
        items = list(loaded.values())
        ids = torch.zeros(len(items), max(int(t.lengths[0]) for t in items), dtype=torch.long)
        for row, item in zip(ids, items):
            row[:item.tokens.shape[-1]] = item.tokens[0]
        batch = Tokens(ids, torch.cat([t.lengths for t in items]),
                       torch.cat([t.num_samples for t in items]), codec.sample_rate)
        audio = codec.decode(batch)
        for item, (index, tokens) in enumerate(loaded.items()):
            wav, target = audio[item, :int(tokens.num_samples[0])], jobs[index].target
            try:
                if target == STDIO:
                    buffer = io.BytesIO()
                    soundfile.write(buffer, wav.clamp(-1, 1).cpu().numpy(), codec.sample_rate,
                                    subtype="PCM_16", format="WAV")
                    sys.stdout.buffer.write(buffer.getvalue())
                    sys.stdout.buffer.flush()
                else:
                    write_audio(target, wav, codec.sample_rate)
            except OSError as error:
                errors[index] = output_error(target, error)
    return [errors.get(index) for index in range(len(jobs))]
