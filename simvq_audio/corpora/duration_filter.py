"""Keep the utterances of Kaldi data dirs whose duration lies in ``[min, max]`` seconds.

``python -m simvq_audio.corpora.duration_filter --min-dur 1 --max-dur 30 data/train ...``
writes ``data/train_filtered`` (the suffix is ``--suffix``); the source dirs are left unchanged,
so re-running with other limits needs no re-preparation.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from simvq_audio.commands.arg_types import non_negative_float, positive_float
from simvq_audio.corpora.command import run_command
from simvq_audio.data.kaldi_dir import read_data_dir, write_data_dir
from simvq_audio.errors import UserInputError


def filter_by_duration(source: Path, dest: Path, min_dur: float, max_dur: float,
                       log: Callable[[str], None] = print) -> None:
    """Write ``dest`` with the utterances of ``source`` lasting ``min_dur..max_dur`` seconds."""
    utterances = read_data_dir(source, check_audio=False)
    if any(utt.duration is None for utt in utterances):
        raise UserInputError(f"{source}: needs an utt2dur file to filter by duration")
    kept = [utt for utt in utterances if min_dur <= utt.duration <= max_dur]
    if not kept:
        raise UserInputError(f"{source}: no utterance lasts between {min_dur} and {max_dur} s")
    optional = {"utt2spk": "speaker", "text": "text", "utt2lang": "language"}
    tables = {name: {utt.utt_id: getattr(utt, field) for utt in kept}
              for name, field in optional.items() if getattr(kept[0], field) is not None}
    write_data_dir(dest, wav_scp={utt.utt_id: utt.path for utt in kept},
                   utt2dur={utt.utt_id: utt.duration for utt in kept}, **tables)
    log(f"{dest}: kept {len(kept)} of {len(utterances)} utterances ({min_dur} s <= duration "
        f"<= {max_dur} s)")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m simvq_audio.corpora.duration_filter",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--min-dur", type=non_negative_float, required=True, help="seconds")
    parser.add_argument("--max-dur", type=positive_float, required=True, help="seconds")
    parser.add_argument("--suffix", default="_filtered", help="output dir = input dir + suffix")
    parser.add_argument("dirs", nargs="+", type=Path, metavar="DATA_DIR")
    args = parser.parse_args(argv)
    if not 0 <= args.min_dur <= args.max_dur:
        raise UserInputError(f"need 0 <= --min-dur <= --max-dur, got {args.min_dur} and "
                             f"{args.max_dur}")
    for source in args.dirs:
        filter_by_duration(source, source.with_name(source.name + args.suffix),
                           args.min_dur, args.max_dur)
    return 0


if __name__ == "__main__":
    run_command("duration_filter", main)
