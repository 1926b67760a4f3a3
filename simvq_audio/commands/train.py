"""``simvq-audio train``: train a codec from a YAML config on Kaldi-style data dirs.

Works under ``python -m simvq_audio.cli train``, ``simvq-audio train`` and ``accelerate launch
[--multi_gpu --num_machines N ...] -m simvq_audio.cli train``. Exit status 0 when
``max_steps`` is reached, 2 for bad input or a diverged run, ``128 + signal`` after SIGTERM or
SIGINT (a checkpoint is written first; continue with ``--resume``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from simvq_audio.commands.arg_types import positive_int

NAME = "train"
HELP = "train a codec (accelerate: CPU, one or many GPUs, many nodes)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, help="model + training YAML, e.g. "
                        "recipes/simvq_65k.yaml")
    parser.add_argument("--train-dir", required=True, type=Path, help="training data dir")
    parser.add_argument("--valid-dir", type=Path, help="validation data dir (optional)")
    parser.add_argument("--exp-dir", required=True, type=Path,
                        help="output: config, checkpoints/, tensorboard/")
    parser.add_argument("--resume", action="store_true",
                        help="continue from the newest complete checkpoint in --exp-dir")
    parser.add_argument("--max-steps", type=positive_int, help="override train.max_steps")
    parser.add_argument("--batch-size", type=positive_int,
                        help="override train.batch_size (per process)")
    parser.add_argument("--cpu", action="store_true", help="train on CPU even if a GPU is there")
    parser.add_argument("--max-bad-steps", type=positive_int, default=10,
                        help="stop after this many steps in a row with a NaN/inf loss "
                        "(default: %(default)s)")
    parser.add_argument("--usage-window", type=positive_int, default=1000,
                        help="steps over which codebook utilisation is counted "
                        "(default: %(default)s)")
    parser.add_argument("--valid-utterances", type=positive_int, default=100,
                        help="validate on the first N utterances of --valid-dir "
                        "(default: %(default)s)")


def run(args: argparse.Namespace) -> int:
    # Imported here, not at the top: it imports torch, which `train --help` must not (1.5 s of
    # start-up, docs/benchmarks.md).
    from simvq_audio.codec.training import train_codec

    return train_codec(args.config, args.exp_dir, args.train_dir, args.valid_dir,
                       resume=args.resume, cpu=args.cpu, max_steps=args.max_steps,
                       batch_size=args.batch_size, max_bad_steps=args.max_bad_steps,
                       usage_window=args.usage_window, valid_utterances=args.valid_utterances)
