"""The options that ``simvq-audio encode``, ``decode`` and ``tokenize`` share -- which model, on
which device, in batches of how many files, and the help of ``--overwrite`` -- and the model they
name (:func:`load_codec`).

Argparse builds these options for ``COMMAND --help`` too, which must start without torch (issue
25): this module imports only the standard library and torch-free parts of
:mod:`simvq_audio.commands`; :func:`load_codec` imports the codec when it runs.
"""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING

from simvq_audio.commands import search_backend
from simvq_audio.commands.arg_types import positive_int
from simvq_audio.errors import UserInputError

if TYPE_CHECKING:
    from simvq_audio.codec import SimVQCodec

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


def load_codec(args: argparse.Namespace) -> SimVQCodec:
    """The codec of ``--model`` on ``--device``, searching codes with the back end of
    ``SIMVQ_SEARCH_BACKEND``; a clear error when none is given."""
    # Imported here, not at the top: it imports torch, which the --help of the commands using
    # these options must not (1.5 s of start-up, docs/benchmarks.md).
    from simvq_audio.codec import SimVQCodec

    if not args.model:
        raise UserInputError(f"no model given: pass --model DIR or set {MODEL_ENV} to a model "
                             "directory (simvq-audio export writes one)")
    return SimVQCodec.from_pretrained(args.model, device=args.device,
                                      search_backend=search_backend())
