"""Issue 25, section 1: torch threads that cannot oversubscribe the CPUs a process may use, a
``--threads`` option on every command, and a command line that starts without torch.

Before: torch sized its pool from the machine's cores whatever the CPU affinity or cgroup quota,
no command took ``--threads``, and ``import simvq_audio`` (so ``--help`` and ``info``) imported
torch, about 2.6 s of start-up; there was no ``--version``."""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from simvq_audio import cli, threads
from simvq_audio.codes import CodesHeader, write_codes
from simvq_audio.commands import params
from simvq_audio.errors import UserInputError

CPUS = set(range(8))


@pytest.fixture
def machine(tmp_path, monkeypatch):
    """8 CPUs in this process's affinity, no ``OMP_NUM_THREADS``, a cgroup root in ``tmp_path``
    (empty: no quota); torch's thread count is restored afterwards."""
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: CPUS, raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    before = torch.get_num_threads()
    yield tmp_path
    torch.set_num_threads(before)


def write(root, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text + "\n")


@pytest.mark.parametrize("files, expected", [
    ({}, 8),                                                        # no cgroup: the affinity
    ({"cpu.max": "max 100000"}, 8),                                 # v2 without a quota
    ({"cpu.max": "200000 100000"}, 2),                              # v2: 2 CPUs
    ({"cpu.max": "150000 100000"}, 1),                              # 1.5 CPUs, rounded down
    ({"cpu.max": "50000 100000"}, 1),                               # half a CPU: at least 1
    ({"cpu.max": "1600000 100000"}, 8),                             # 16 CPUs, affinity 8
    ({"cpu/cpu.cfs_quota_us": "300000", "cpu/cpu.cfs_period_us": "100000"}, 3),     # v1
    ({"cpu,cpuacct/cpu.cfs_quota_us": "400000",
      "cpu,cpuacct/cpu.cfs_period_us": "100000"}, 4),                                # v1, joint
    ({"cpu/cpu.cfs_quota_us": "-1", "cpu/cpu.cfs_period_us": "100000"}, 8),         # v1: none
    ({"cpu.max": "garbled"}, 8),                                    # unreadable: no quota
])
def test_default_threads_is_the_smaller_of_affinity_and_cgroup_quota(machine, files, expected):
    write(machine, files)
    assert threads.default_threads(machine) == expected


def test_default_threads_follows_the_affinity_mask(machine, monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {3}, raising=False)
    write(machine, {"cpu.max": "400000 100000"})
    assert threads.default_threads(machine) == 1


def test_omp_num_threads_wins_over_affinity_and_quota(machine, monkeypatch):
    write(machine, {"cpu.max": "200000 100000"})
    monkeypatch.setenv("OMP_NUM_THREADS", "5")
    assert threads.default_threads(machine) == 5


@pytest.fixture
def seen_threads(machine, monkeypatch):
    """``params``' run replaced by one that records torch's thread count while it runs."""
    seen = []
    monkeypatch.setattr(params, "run", lambda args: seen.append(torch.get_num_threads()) or 0)
    return seen


@pytest.mark.parametrize("value", ["0", "-2", "two", "1.5"])
def test_a_meaningless_omp_num_threads_is_one_line_and_status_2(seen_threads, machine,
                                                                monkeypatch, capsys, value):
    monkeypatch.setenv("OMP_NUM_THREADS", value)
    with pytest.raises(UserInputError, match="OMP_NUM_THREADS must be a positive integer"):
        threads.default_threads(machine)
    assert cli.main(["params", "c.yaml"]) == 2
    assert capsys.readouterr().err == ("simvq-audio: error: OMP_NUM_THREADS must be a positive "
                                       f"integer such as 1, got {value!r}\n")
    assert not seen_threads, "the command did not run"


@pytest.mark.parametrize("argv, expected", [
    (["--threads", "1", "params", "c.yaml"], 1),   # before the subcommand
    (["params", "c.yaml", "--threads", "3"], 3),   # among its options
    (["--threads", "1", "params", "--threads", "2", "c.yaml"], 2),  # the subcommand's wins
])
def test_threads_option_reaches_torch_inside_the_command(seen_threads, argv, expected):
    assert cli.main(argv) == 0
    assert seen_threads == [expected]


def test_without_threads_the_command_gets_default_threads(seen_threads, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert cli.main(["params", "c.yaml"]) == 0
    assert seen_threads == [2]


def subcommands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    """``(words, parser)`` for ``parser`` and each subcommand under it, nested ones included:
    ``words`` is what follows ``simvq-audio`` to reach it, e.g. ``("image", "train")``."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from subcommands(sub, (*path, name))


def test_every_subcommand_takes_threads_even_nested_ones():
    assert all("--threads" in parser._option_string_actions
               for _, parser in subcommands(cli.build_parser()))
    args = cli.build_parser(complete=False).parse_args(
        ["image", "train", "--config", "c.yaml", "--train-dir", "d", "--exp-dir", "e",
         "--threads", "2"])
    assert args.threads == 2


@pytest.mark.parametrize("where", ["before", "after"])
@pytest.mark.parametrize("value", ["0", "-1", "1.5", "many"])
def test_meaningless_threads_are_refused_by_argparse(capsys, where, value):
    argv = (["--threads", value, "info", "x.codes"] if where == "before"
            else ["info", "x.codes", "--threads", value])
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    assert exit_info.value.code == 2
    assert f"argument --threads: must be a positive whole number, got {value!r}" in \
        capsys.readouterr().err


def run_cli(argv: list[str], env: dict[str, str] | None = None) -> tuple[str, bool]:
    """``cli.main(argv)`` in a fresh Python; its standard output and whether torch got imported."""
    probe = ("import sys; from simvq_audio import cli\n"
             "try:\n    cli.main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
             "print('torch' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", probe, *argv], capture_output=True,
                            text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    *output, torch_imported = result.stdout.splitlines()
    return "\n".join(output), torch_imported == "True"


def test_help_version_and_info_start_without_torch(tmp_path):
    """The machine-independent form of "under 0.5 s": importing torch alone takes longer."""
    path = tmp_path / "x.codes"
    header = CodesHeader(model_hash="ab" * 16, codebook_size=4096, sample_rate=24000,
                         hop_length=320, num_samples=3200, channels=1, grid=(10,))
    write_codes(path, np.arange(10), header)
    help_text, imported = run_cli(["--help"])
    assert "--threads N" in help_text and "info" in help_text and not imported
    version, imported = run_cli(["--version"])
    assert version == f"simvq-audio {importlib.metadata.version('simvq-audio')}" and not imported
    described, imported = run_cli(["info", str(path)])
    assert "token grid      10 (10 tokens)" in described and not imported


@pytest.mark.parametrize("words", [words for words, _ in subcommands(cli.build_parser())
                                   if words], ids=" ".join)
def test_every_subcommands_help_starts_without_torch(words):
    """``COMMAND --help`` (nested ones too) builds that command's options without importing
    torch: before, ``encode``, ``decode`` and ``tokenize`` took theirs from a module that imports
    torch, about 1.5 s."""
    help_text, imported = run_cli([*words, "--help"])
    assert help_text.startswith(f"usage: simvq-audio {' '.join(words)} ")
    assert "--threads N" in help_text and not imported


def test_threads_reach_a_command_whose_module_has_not_imported_torch():
    """In a fresh ``simvq-audio`` process torch is not imported until the command needs it; the
    count must still be exactly ``--threads`` (torch caps a count read from ``OMP_NUM_THREADS``
    at the machine's cores, so that route would not do)."""
    probe = ("import sys; from simvq_audio import cli; from simvq_audio.commands import params\n"
             "assert 'torch' not in sys.modules\n"
             "params.run = lambda args: print(sys.modules['torch'].get_num_threads())\n"
             "cli.main(['--threads', '3', 'params', 'c.yaml'])")
    env = {key: value for key, value in os.environ.items() if key != "OMP_NUM_THREADS"}
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            env=env, timeout=120)
    assert result.stdout == "3\n", result.stderr


def test_the_package_imports_without_torch_and_still_exports_the_quantizers():
    probe = ("import sys, simvq_audio; assert 'torch' not in sys.modules\n"
             "from simvq_audio import SimVQ, CodeUsage, VanillaVQ, nearest_code\n"
             "from simvq_audio.quantize import SimVQ as Direct\n"
             "assert SimVQ is Direct and 'SimVQ' in dir(simvq_audio)\n"
             "print(simvq_audio.__version__)")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            timeout=120)
    assert result.stdout == importlib.metadata.version("simvq-audio") + "\n", result.stderr
    with pytest.raises(AttributeError, match="has no attribute 'NoSuch'"):
        import simvq_audio

        simvq_audio.NoSuch  # noqa: B018
