"""The ``simvq-audio`` command line: one subcommand per module in :mod:`simvq_audio.commands`.

Each command module defines ``NAME``, ``HELP``, ``add_arguments(parser)`` and ``run(args) -> int``.
Command modules keep heavy imports (torch models, metrics) inside ``run`` so that
``simvq-audio --help`` stays fast.
Errors the user can fix (:class:`~simvq_audio.errors.UserInputError`, missing files) become one
line on stderr and exit status 2; so do faults of the machine that no command turned into its own
message (an ``OSError`` such as a full disk or a closed pipe, running out of memory): one line and
status 2, never a traceback. Ctrl-C exits with 130.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from simvq_audio.errors import UserInputError, os_error_message

# (subcommand, module under simvq_audio.commands, one-line help)
COMMANDS: list[tuple[str, str, str]] = [
    ("encode", "encode", "encode audio files into .codes files"),
    ("decode", "decode", "decode .codes files into wav files"),
    ("export", "export", "export a training run to a model dir, or a model to ONNX"),
    ("info", "info", "check a .codes file (checksums included) and print its header"),
    ("validate-data", "validate_data", "check a Kaldi-style data dir and list every problem"),
    ("score", "score", "score reconstructions against references (PESQ, STOI, V/UV F1, ...)"),
    ("compare", "compare", "put several systems' summary.json side by side in one table"),
    ("train", "train", "train a codec (accelerate: CPU, one or many GPUs, many nodes)"),
    ("params", "params", "print the parameter count of each part of a codec config"),
    ("image", "image", "image tokenizer: sample patches, train, export, encode, decode, score"),
    ("tokenize", "tokenize", "tokenize a corpus into resumable ark/scp and parquet shards"),
    ("import-reference", "import_reference", "convert a SimVQ authors' checkpoint to a model dir"),
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="simvq-audio", description="SimVQ speech codec toolkit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, module, help_text in COMMANDS:
        command = sub.add_parser(name, help=help_text, description=help_text)
        command.set_defaults(module=module)
        importlib.import_module(f"simvq_audio.commands.{module}").add_arguments(command)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    module = importlib.import_module(f"simvq_audio.commands.{args.module}")
    try:
        return int(module.run(args) or 0)
    except UserInputError as error:
        print(f"simvq-audio: error: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"simvq-audio: error: {os_error_message(error)}", file=sys.stderr)
        _detach_stdout()
        return 2
    except MemoryError:
        print("simvq-audio: error: out of memory; use smaller batches or inputs",
              file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("simvq-audio: interrupted", file=sys.stderr)
        return 130


def _detach_stdout() -> None:
    """Point standard output at ``/dev/null`` so that the interpreter's final flush of data a
    closed pipe or full disk refused adds no second message."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, AttributeError, ValueError):
        pass


if __name__ == "__main__":
    sys.exit(main())
