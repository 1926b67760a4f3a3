"""Keep the utterances of Kaldi data dirs whose duration lies in ``[min, max]`` seconds.

``python -m simvq_audio.corpora.duration_filter --min-dur 1 --max-dur 30 data/train ...``
writes ``data/train_filtered`` (the suffix is ``--suffix``); the source dirs are left unchanged,
so re-running with other limits needs no re-preparation.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from simvq_audio.corpora.command import run_command
from simvq_audio.corpora.data_dir import read_table, subset_data_dir
from simvq_audio.errors import UserInputError


def filter_by_duration(source: Path, dest: Path, min_dur: float, max_dur: float,
                       log: Callable[[str], None] = print) -> None:
    """Write ``dest`` with the utterances of ``source`` lasting ``min_dur..max_dur`` seconds."""
    durations = read_table(source / "utt2dur")
    keep = set()
    for utt_id, value in durations.items():
        try:
            seconds = float(value)
        except ValueError:
            raise UserInputError(f"{source / 'utt2dur'}: {utt_id} has no duration in seconds "
                                 f"({value!r})") from None
        if min_dur <= seconds <= max_dur:
            keep.add(utt_id)
    kept = subset_data_dir(source, dest, keep)
    log(f"{dest}: kept {kept} of {len(durations)} utterances ({min_dur} s <= duration <= "
        f"{max_dur} s)")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m simvq_audio.corpora.duration_filter",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--min-dur", type=float, required=True, help="seconds")
    parser.add_argument("--max-dur", type=float, required=True, help="seconds")
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
