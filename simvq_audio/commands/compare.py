"""``simvq-audio compare A/summary.json B/summary.json ... [--names A B ...]``: one markdown table
with the systems side by side (UTMOS, PESQ-wb, STOI, ESTOI, V/UV F1, SI-SDR, mel distance,
bitrate, utilisation), each cell ``mean ± 95 % CI``."""

from __future__ import annotations

import argparse

NAME = "compare"
HELP = "put several systems' summary.json side by side in one markdown table"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("summaries", nargs="+", help="summary.json files written by score")
    parser.add_argument("--names", nargs="+", help="one name per summary (default: the name "
                        "stored in each summary)")
    parser.add_argument("--out", help="also write the table to this markdown file")


def run(args: argparse.Namespace) -> int:
    from simvq_audio.atomic import atomic_path
    from simvq_audio.errors import UserInputError
    from simvq_audio.metrics.compare import compare_table

    if args.names and len(args.names) != len(args.summaries):
        raise UserInputError(f"--names has {len(args.names)} name(s) for "
                             f"{len(args.summaries)} summaries")
    summaries = [_read_summary(path) for path in args.summaries]
    names = args.names or [summary.get("name") or path
                           for summary, path in zip(summaries, args.summaries)]
    table = compare_table(summaries, names)
    if args.out:
        with atomic_path(args.out) as tmp:
            tmp.write_text(table, encoding="utf-8")
    print(table, end="")
    return 0


def _read_summary(path: str) -> dict:
    import json

    from simvq_audio.errors import UserInputError

    try:
        with open(path, encoding="utf-8") as handle:
            summary = json.load(handle)
    except OSError as error:
        raise UserInputError(f"{path}: cannot read ({error.strerror})") from None
    except json.JSONDecodeError as error:
        raise UserInputError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(summary, dict) or "metrics" not in summary or "num_utterances" not in summary:
        raise UserInputError(f"{path}: not a summary.json written by simvq-audio score")
    return summary
