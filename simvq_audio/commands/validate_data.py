"""``simvq-audio validate-data DIR``: list every problem of a Kaldi-style data dir.

Exit status 0 when the dir is clean, 2 when it has problems (one per line on stdout).
"""

from __future__ import annotations

import argparse
import sys

NAME = "validate-data"
HELP = "check a Kaldi-style data dir (wav.scp, utt2spk, text, utt2dur) and list every problem"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("data_dir", help="the data dir (wav.scp required; relative audio paths "
                        "are resolved against the current directory)")
    parser.add_argument("--no-audio-check", action="store_true",
                        help="skip opening the audio files (only check the text files)")


def run(args: argparse.Namespace) -> int:
    # Imported here, not at the top: it imports torch, which `validate-data --help` must not
    # (1.5 s of start-up, docs/benchmarks.md).
    from simvq_audio.data.kaldi_dir import validate_data_dir

    problems = validate_data_dir(args.data_dir, check_audio=not args.no_audio_check)
    for problem in problems:
        print(problem)
    if problems:
        print(f"simvq-audio: {args.data_dir}: {len(problems)} problem(s)", file=sys.stderr)
        return 2
    print(f"{args.data_dir}: OK")
    return 0
