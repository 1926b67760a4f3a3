"""``simvq-audio params CONFIG.yaml``: parameter count of each part of a codec."""

from __future__ import annotations

import argparse

NAME = "params"
HELP = "print the parameter count of each part of a codec config"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", metavar="CONFIG.yaml",
                        help="codec config, e.g. recipes/tiny.yaml")


def run(args: argparse.Namespace) -> int:
    # Imported here, not at the top: it imports torch, which `params --help` must not (1.5 s of
    # start-up, docs/benchmarks.md).
    from simvq_audio.codec.param_count import parameter_table

    print(parameter_table(args.config), end="")
    return 0
