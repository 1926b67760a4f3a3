"""``simvq-audio compare A/summary.json B/summary.json ... [--names A B ...] [--html PAGE]``: one
markdown table with the systems side by side (every metric the summaries have, bitrate,
utilisation, and the reference audio's own scores), each cell ``mean ± 95 % CI``; ``--html``
also writes the listening page of all systems (players side by side, from each summary's
``scores.csv`` and the audio it was scored on)."""

from __future__ import annotations

import argparse

from simvq_audio.atomic import atomic_path
from simvq_audio.commands.arg_types import non_negative_int
from simvq_audio.errors import UserInputError

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
    # Imported here, not at the top: they import torch, which `compare --help` must not (1.5 s
    # of start-up, docs/benchmarks.md).
    from simvq_audio.metrics.compare import compare_table
    from simvq_audio.metrics.score_dirs import read_score_dir, read_summary

    if args.names and len(args.names) != len(args.summaries):
        raise UserInputError(f"--names has {len(args.names)} name(s) for "
                             f"{len(args.summaries)} summaries")
    summaries = [read_summary(path) for path in args.summaries]
    names = args.names or [summary.get("name") or path
                           for summary, path in zip(summaries, args.summaries)]
    table = compare_table(summaries, names)
    if args.html:
        from simvq_audio.metrics.report_html import write_comparison

        systems = [(name, *read_score_dir(path)[1:]) for name, path in zip(names, args.summaries)]
        write_comparison(args.html, systems, max_spectrograms=args.report_spectrograms)
    if args.out:
        with atomic_path(args.out) as tmp:
            tmp.write_text(table, encoding="utf-8")
    print(table, end="")
    return 0
