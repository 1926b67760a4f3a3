"""``simvq-audio params CONFIG.yaml``: parameter count of each part of a codec."""

from __future__ import annotations

import argparse

NAME = "params"
HELP = "print the parameter count of each part of a codec config"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", metavar="CONFIG.yaml",
                        help="codec config, e.g. recipes/tiny.yaml")


def run(args: argparse.Namespace) -> int:
    # Imported here, not at the top: they import torch, which `params --help` must not (1.5 s of
    # start-up, docs/benchmarks.md).
    from simvq_audio.codec.config import load_config
    from simvq_audio.codec.param_count import count_parameters

    config = load_config(args.config)
    quantizer = config.model.quantizer
    print(f"{args.config}: {quantizer.type}, K = {quantizer.num_codes}, d = {quantizer.dim}, "
          f"hop {config.model.hop_length} at {config.model.sample_rate} Hz")
    print(f"{'part':<34} {'trainable':>14} {'frozen':>14}")
    for row in count_parameters(config):
        frozen = f"{row.frozen:,}" if row.frozen else "-"
        print(f"{row.part:<34} {row.trainable:>14,} {frozen:>14}")
    return 0
