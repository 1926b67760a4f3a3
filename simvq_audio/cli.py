"""The ``simvq-audio`` command line: one subcommand per module in :mod:`simvq_audio.commands`.

Each command module defines ``NAME``, ``HELP``, ``add_arguments(parser)`` and ``run(args) -> int``
(and ``NEEDS_TORCH = False`` if it runs without torch).
Command modules keep heavy imports (torch models, metrics) inside ``run``, and :func:`main`
imports only the module of the command it runs, so that ``--help``, ``--version`` and ``info``
start without torch (importing it takes over a second).
``--threads N`` (before the subcommand or among its options) sets torch's CPU threads before the
command runs (unless it sets ``NEEDS_TORCH = False``); the default,
:func:`simvq_audio.threads.default_threads`, is ``OMP_NUM_THREADS`` when set, else the CPUs this
process may use (affinity and cgroup quota).
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

import simvq_audio
from simvq_audio import threads
from simvq_audio.commands.arg_types import positive_int
from simvq_audio.errors import UserInputError, os_error_message

# (subcommand, module under simvq_audio.commands, one-line help)
COMMANDS: list[tuple[str, str, str]] = [
    ("encode", "encode", "encode audio files into .codes files"),
    ("decode", "decode", "decode .codes files into audio files"),
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


THREADS_HELP = ("CPU threads for torch (default: $OMP_NUM_THREADS if set, else the CPUs this "
                "process may use: its CPU affinity and cgroup quota)")


def build_parser(complete: bool = True) -> argparse.ArgumentParser:
    """The ``simvq-audio`` parser. With ``complete=False`` a subcommand's options are added only
    when argparse selects that subcommand (what :func:`main` uses: the top-level ``--help`` then
    imports no command module)."""
    parser = argparse.ArgumentParser(prog="simvq-audio", description="SimVQ speech codec toolkit")
    parser.add_argument("--version", action="version",
                        version=f"%(prog)s {simvq_audio.__version__}")
    parser.add_argument("--threads", type=positive_int, metavar="N", help=THREADS_HELP)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True,
                                action=_Subcommands)
    for name, module, help_text in COMMANDS:
        command = sub.add_parser(name, help=help_text, description=help_text)
        command.set_defaults(module=module)
        if complete:
            _add_command_arguments(command)
    return parser


class _Subcommands(argparse._SubParsersAction):
    """Subcommands whose options are added when argparse selects one (if not added yet)."""

    def __call__(self, parser, namespace, values, option_string=None):
        chosen = self._name_parser_map.get(values[0])
        if chosen is not None and "--threads" not in chosen._option_string_actions:
            _add_command_arguments(chosen)
        super().__call__(parser, namespace, values, option_string)


def _add_command_arguments(command: argparse.ArgumentParser) -> None:
    """The options of ``command`` (its module's ``add_arguments``), and ``--threads`` on it and
    on each of its own subcommands; that ``--threads`` leaves the value before the subcommand in
    place when it is not given (its default is ``SUPPRESS``)."""
    importlib.import_module(f"simvq_audio.commands.{command.get_default('module')}"
                            ).add_arguments(command)
    parsers = [command]
    while parsers:
        each = parsers.pop()
        each.add_argument("--threads", type=positive_int, metavar="N", help=THREADS_HELP,
                          default=argparse.SUPPRESS)
        for action in each._actions:
            if isinstance(action, argparse._SubParsersAction):
                parsers.extend(action.choices.values())


def main(argv: list[str] | None = None) -> int:
    args = build_parser(complete=False).parse_args(argv)
    module = importlib.import_module(f"simvq_audio.commands.{args.module}")
    try:
        if getattr(module, "NEEDS_TORCH", True):
            threads.use_threads(args.threads or threads.default_threads())
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
