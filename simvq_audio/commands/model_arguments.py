"""The options that ``simvq-audio encode``, ``decode`` and ``tokenize`` share: which model, on
which device, in batches of how many files, and the help of ``--overwrite``.

Kept apart from :mod:`simvq_audio.commands.codec_jobs` (which imports the output policy, and so
torch) because argparse builds these options for ``COMMAND --help`` too, which must start without
torch (issue 25): this module imports only the standard library and
:mod:`simvq_audio.commands.arg_types`.
"""

from __future__ import annotations

import argparse
import os

from simvq_audio.commands.arg_types import positive_int

MODEL_ENV = "SIMVQ_AUDIO_MODEL"
"""Environment variable naming the model directory when ``--model`` is not given."""
OVERWRITE_HELP = ("replace existing outputs that are not this command's up-to-date result for "
                  "the same input and model (an input is never overwritten)")


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--model`` (a model directory; default ``$SIMVQ_AUDIO_MODEL``, None when unset),
    ``--device`` (a torch device name, default ``cpu``) and ``--batch-size`` (files per batch,
    a positive whole number, default 8) to ``parser``."""
    parser.add_argument("--model", default=os.environ.get(MODEL_ENV),
                        help=f"model directory (config.json + model.safetensors); default: "
                        f"${MODEL_ENV}")
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cpu, cuda, cuda:1 "
                        "(default: %(default)s)")
    parser.add_argument("--batch-size", type=positive_int, default=8,
                        help="files per batch in directory mode (default: %(default)s)")
