"""Start-up time of the ``simvq-audio`` command line: wall time of ``--help``, ``--version``,
``info x.codes`` and each subcommand's ``--help`` (nested ones, e.g. ``image train``, too),
each the median (and minimum) of ``--repeats`` runs in a fresh process, and whether that command
imports torch (checked in one more process).
Run it on an idle machine: the goal of issue 25 is under 0.5 s for ``--help``, ``--version`` and
``info``, which need no torch.

    python tools/bench_startup.py [--repeats 5]

Runs the ``simvq-audio`` script installed beside this Python (else ``python -m
simvq_audio.cli``), so the times include what a user's shell sees, entry-point wrapper included.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from simvq_audio.cli import build_parser
from simvq_audio.codes import CodesHeader, write_codes
from simvq_audio.commands.arg_types import positive_int

PROBE = ("import sys; from simvq_audio import cli\n"
         "try:\n    cli.main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
         "print('torch' in sys.modules, file=sys.stderr)")
"""Runs the CLI in-process, then says on the last line of stderr whether torch was imported."""


def command_line() -> list[str]:
    """The installed ``simvq-audio`` script of this Python, else ``python -m simvq_audio.cli``."""
    script = Path(sys.executable).parent / "simvq-audio"
    if script.is_file():
        return [str(script)]
    found = shutil.which("simvq-audio")
    return [found] if found else [sys.executable, "-m", "simvq_audio.cli"]


def seconds(argv: list[str], repeats: int) -> list[float]:
    """Wall seconds of ``repeats`` runs of ``argv``; exits if one fails."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = subprocess.run(argv, capture_output=True, text=True)
        times.append(time.perf_counter() - start)
        if result.returncode != 0:
            sys.exit(f"{' '.join(argv)} failed:\n{result.stderr[-3000:]}")
    return times


def subcommands(parser: argparse.ArgumentParser) -> list[list[str]]:
    """The words after ``simvq-audio`` that reach each subcommand of ``parser``, nested ones
    after their parent: ``[["encode"], ..., ["image"], ["image", "train"], ...]``."""
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found += [[name]] + [[name, *words] for words in subcommands(sub)]
    return found


def imports_torch(args: list[str]) -> bool:
    result = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True)
    return result.stderr.strip().splitlines()[-1] == "True"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=positive_int, default=5,
                        help="runs per command (default: 5)")
    args = parser.parse_args()
    cli = command_line()
    with tempfile.TemporaryDirectory() as folder:
        codes = Path(folder) / "x.codes"
        header = CodesHeader(model_hash="0" * 32, codebook_size=65536, sample_rate=24000,
                             hop_length=320, num_samples=240000, channels=1, grid=(750,))
        write_codes(codes, np.zeros(750, np.int64), header)
        cases = [["--help"], ["--version"], ["info", str(codes)]]
        cases += [[*words, "--help"] for words in subcommands(build_parser())]
        machine = platform.processor() or platform.machine()
        print(f"# bench_startup {datetime.date.today()} | {machine}, {os.cpu_count()} CPUs, "
              f"load {os.getloadavg()[0]:.2f} | {' '.join(cli)}")
        print("| command | median s | min s | imports torch |")
        print("|---|---:|---:|---|")
        for case in cases:
            times = seconds(cli + case, args.repeats)
            shown = " ".join("x.codes" if part == str(codes) else part for part in case)
            print(f"| simvq-audio {shown} | {statistics.median(times):.3f} | {min(times):.3f} | "
                  f"{'yes' if imports_torch(case) else 'no'} |", flush=True)


if __name__ == "__main__":
    main()
