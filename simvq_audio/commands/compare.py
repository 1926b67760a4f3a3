"""``simvq-audio compare A/summary.json B/summary.json ... [--names A B ...] [--html PAGE]``: one
markdown table with the systems side by side (every metric the summaries have, bitrate,
utilisation, and the reference audio's own scores), each cell ``mean ± 95 % CI``; ``--html``
also writes the listening page of all systems (players side by side, from each summary's
``scores.csv`` and the audio it was scored on)."""

from __future__ import annotations

import argparse

from simvq_audio.commands.arg_types import non_negative_int

NAME = "compare"
HELP = "put several systems' summary.json side by side (markdown table, listening page)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("summaries", nargs="+", help="summary.json files written by score")
    parser.add_argument("--names", nargs="+", help="one name per summary (default: the name "
                        "stored in each summary)")
    parser.add_argument("--out", help="also write the table to this markdown file")
    parser.add_argument("--html", help="write the listening page of all systems here (e.g. "
                        "compare.html; spectrograms go to compare_files/ beside it)")
    parser.add_argument("--report-spectrograms", type=non_negative_int, default=50,
                        help="utterances shown with spectrograms on the --html page [50]")


def run(args: argparse.Namespace) -> int:
    # Imported here, not at the top: it imports torch, which `compare --help` must not (1.5 s of
    # start-up, docs/benchmarks.md).
    from simvq_audio.metrics.compare import compare_runs

    print(compare_runs(args.summaries, args.names, args.html, args.out,
                       args.report_spectrograms), end="")
    return 0
