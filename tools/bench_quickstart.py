"""Wall time and per-stage times of the quickstart recipe (``bash egs/mini/run.sh``) at given
torch thread counts, on an idle machine and under a CPU load, side by side in one table (issue 25
section 1).

    python tools/bench_quickstart.py --threads 1 default --load 0 4   # about 25 minutes, 2 cores
    python tools/bench_quickstart.py [--threads 1 2 | default] [--load 0 4]
        [--stage 0 --stop-stage 8] [--work DIR] [--recipe egs/mini/run.sh] [--json FILE]

For each load (outer loop) and thread setting (inner loop) the recipe runs once: ``load`` busy
processes (``bash`` loops like ``while :; do :; done``, each also ending when this benchmark is
gone) run beside it, and it gets ``--threads T``, or no ``--threads`` for ``default`` (the
recipe's own choice, printed in the ``threads`` row). ``OMP_NUM_THREADS`` is removed from the
recipe's environment (it would be the recipe's default) and this Python's folder leads its PATH
(the recipe uses this Python). The busy processes and the recipe's process group are ended on
exit, Ctrl-C, SIGTERM and errors; a failing run stops the benchmark with the end of its log.

Every run does the same work, in its own fresh folders ``WORK/runs/<load>-<threads>/`` (db, data,
exp; left there for inspection, replaced by the next benchmark). No run measures the network:
first, untimed, the recipe runs stages 0..max(0, --stage - 1) once into ``WORK/prepare/``, which
fetches the corpus into the Debian cache (``--debian-cache``, by default the quickstart's own
``db/debian`` beside the recipe: nothing is fetched where the quickstart ran before). With
``--stage 0`` (the default) each run then repeats stage 0 in an empty ``db`` from that cache (as
in docs/benchmarks.md: "fetch" is the decoding of the cached archive files); with a later
``--stage`` each run starts from copies of the prepared data and exp folders and reads the
prepared corpus.

A stage's time is measured here, from the moment the recipe's ``stage N: TITLE (log: ...)`` line
arrives to its ``stage N done in S s`` line (tools/recipe.sh; its own S is whole seconds and is
kept in the JSON); ``other`` is the rest of the run (setup, score table). The ``fp32 matmul`` row
is this process's float32 1024x1024 matmul rate at the run's thread count, measured under the
same load right after the run. The first run on a machine also compiles librosa's pYIN into the
per-user numba cache (about 20 s per scoring process, docs/benchmarks.md): run the quickstart
once before, or read the first run's score time with that in mind.
"""

from __future__ import annotations

import argparse
import collections
import datetime
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from bench_cli_encode import matmul_gflops

from simvq_audio.commands.arg_types import non_negative_int, positive_float
from simvq_audio.errors import quote
from simvq_audio.study.collapse import machine

REPO = Path(__file__).resolve().parents[1]
QUICKSTART = REPO / "egs" / "mini" / "run.sh"
STAGE_NAMES = {0: "fetch (cached) + decode", 1: "data dirs", 2: "duration filter",
               3: "train", 4: "export", 5: "decode", 6: "score", 7: "pack", 8: "tokens"}
"""Short names of the quickstart's stages (egs/mini/run.sh's header); other recipes' stages are
shown with their own titles."""
BUSY_LOOP = "while kill -0 $PPID 2>/dev/null; do for ((i = 0; i < 100000; i++)); do :; done; done"
"""One CPU kept busy until killed, or until its parent (this benchmark) is gone."""
TAIL_LINES = 40
"""Lines of a failing run's output shown."""

# The lines tools/recipe.sh prints through recipe_log: '%F %T [egs/<name>/run.sh] message'.
_PREFIX = r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \[[^\]]*\] "
STAGE_START = re.compile(_PREFIX + r"stage (\d+): (.*) \(log: .*\)$")
STAGE_DONE = re.compile(_PREFIX + r"stage (\d+) done in (\d+) s$")
STAGE_SKIPPED = re.compile(_PREFIX + r"stage (\d+) \((.*)\): already done, skipping")
SETUP = re.compile(_PREFIX + r"stages \S+, tag \S+, (\d+) threads, logs in ")


class RecipeFailed(Exception):
    """The recipe exited with a non-zero status; the message has the end of its output."""


@dataclass
class Stage:
    """One stage of a run: ``seconds`` measured here (line to line, s), ``recipe_seconds`` as the
    recipe printed it (whole s), ``skipped`` when the recipe found it done already."""
    title: str
    seconds: float | None = None
    recipe_seconds: int | None = None
    skipped: bool = False


@dataclass
class Run:
    """One recipe run: its configuration, command and times (s)."""
    load: int
    threads: str
    command: list[str]
    load_pids: list[int] = field(default_factory=list)
    threads_used: int | None = None
    wall_seconds: float = 0.0
    stages: dict[int, Stage] = field(default_factory=dict)
    matmul_gflops: float | None = None
    load_average: float | None = None

    @property
    def name(self) -> str:
        """Folder name under WORK/runs."""
        return f"load{self.load}-threads{self.threads}"

    @property
    def label(self) -> str:
        """Column heading, in docs/benchmarks.md's words."""
        machine_state = "idle" if self.load == 0 else f"loaded ({self.load} busy)"
        return f"{machine_state}, {threads_label(self.threads)}"


def threads_label(threads: str) -> str:
    return "default threads" if threads == "default" else f"--threads {threads}"


def thread_setting(text: str) -> str:
    """``default`` or a positive whole number (as text)."""
    if text == "default" or text.isdigit() and int(text) > 0:
        return text if text == "default" else str(int(text))
    raise argparse.ArgumentTypeError(f"must be 'default' or a positive whole number, got "
                                     f"{quote(text)}")


@contextmanager
def busy_load(count: int) -> Iterator[list[int]]:
    """``count`` busy-loop processes while the block runs; yields their pids. They are killed and
    reaped when the block ends, however it ends.

    Each loop runs in a session of its own, as independent jobs do. Where the kernel groups
    processes by session for scheduling (``/proc/sys/kernel/sched_autogroup_enabled``), loops
    sharing one session would together get one session's share of the CPUs, however many they
    are: the recipe (in its own session) would then meet a load of 1, not of ``count``."""
    processes: list[subprocess.Popen] = []
    try:
        for _ in range(count):
            processes.append(subprocess.Popen(["bash", "-c", BUSY_LOOP], start_new_session=True))
        yield [process.pid for process in processes]
    finally:
        for process in processes:
            process.kill()
        for process in processes:
            process.wait()


def stop_group(process: subprocess.Popen) -> None:
    """End a still running recipe and every process of its group (SIGTERM, then SIGKILL)."""
    if process.poll() is not None:
        return
    for sig, grace in ((signal.SIGTERM, 5.0), (signal.SIGKILL, None)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue


def run_recipe(run: Run, env: dict[str, str], log_path: Path, progress: str) -> None:
    """Run ``run.command`` in its own process group with its output (stdout and stderr) in
    ``log_path``; fill ``run``'s wall time, threads and stages from the recipe's lines (echoed to
    stderr after ``progress``). Raises RecipeFailed with the output's end on a non-zero exit."""
    tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
    started: dict[int, float] = {}
    start = time.perf_counter()
    process = subprocess.Popen(run.command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, errors="replace", env=env, start_new_session=True)
    try:
        with log_path.open("w") as log:
            for line in iter(process.stdout.readline, ""):
                now = time.perf_counter() - start
                log.write(line)
                line = line.rstrip("\n")
                tail.append(line)
                if read_line(run, line, now, started):
                    print(f"{progress} {line}", file=sys.stderr, flush=True)
        status = process.wait()
    finally:
        stop_group(process)
    run.wall_seconds = time.perf_counter() - start
    if status != 0:
        raise RecipeFailed(f"{progress} the recipe exited with status {status} after "
                           f"{run.wall_seconds:.0f} s; the end of its output (all of it: "
                           f"{log_path}):\n" + "\n".join(tail))


def read_line(run: Run, line: str, now: float, started: dict[int, float]) -> bool:
    """Record what one line of the recipe's output says into ``run`` (``now``: seconds since the
    run started; ``started``: the start time of each stage begun); True for the recipe's own
    stage and setup lines."""
    if match := STAGE_START.match(line):
        number = int(match[1])
        started[number] = now
        run.stages[number] = Stage(title=match[2])
    elif match := STAGE_DONE.match(line):
        number = int(match[1])
        stage = run.stages.setdefault(number, Stage(title=f"stage {number}"))
        stage.seconds = now - started[number] if number in started else None
        stage.recipe_seconds = int(match[2])
    elif match := STAGE_SKIPPED.match(line):
        run.stages[int(match[1])] = Stage(title=match[2], skipped=True)
    elif match := SETUP.match(line):
        run.threads_used = int(match[1])
    else:
        return False
    return True


def recipe_command(recipe: Path, first: int, last: int, folders: dict[str, Path],
                   debian_cache: Path, threads: str) -> list[str]:
    """The recipe's command line: stages ``first..last`` in ``folders`` (db, data, exp)."""
    command = ["bash", str(recipe), "--stage", str(first), "--stop_stage", str(last),
               "--db", str(folders["db"]), "--data_dir", str(folders["data"]),
               "--exp_dir", str(folders["exp"]), "--debian_cache", str(debian_cache)]
    return command + ([] if threads == "default" else ["--threads", threads])


def fresh_folders(work: Path, name: str, first_stage: int) -> dict[str, Path]:
    """Empty folders for a run (``first_stage`` 0), else copies of the prepared data and exp with
    the prepared corpus."""
    root = work / "runs" / name
    shutil.rmtree(root, ignore_errors=True)
    folders = {part: root / part for part in ("db", "data", "exp")}
    if first_stage > 0:
        folders["db"] = work / "prepare" / "db"
        for part in ("data", "exp"):
            if (work / "prepare" / part).is_dir():
                shutil.copytree(work / "prepare" / part, folders[part], symlinks=True)
    for folder in folders.values():
        folder.mkdir(parents=True, exist_ok=True)
    return folders


def measure_matmul(threads: int, seconds: float) -> float:
    """float32 matmul GFLOP/s of this process at ``threads`` torch threads."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return matmul_gflops(seconds=seconds)
    finally:
        torch.set_num_threads(before)


def stage_label(number: int, title: str, quickstart: bool) -> str:
    return f"{number} {STAGE_NAMES[number] if quickstart and number in STAGE_NAMES else title}"


def table(runs: list[Run], quickstart: bool) -> str:
    """Markdown table: rows are the stages (s; ``-``: not timed, as when found done already),
    other, total, threads, matmul rate and load average; columns the runs, grouped by thread
    setting, each loaded run followed by its time / the idle run's time at the same threads."""
    columns: list[tuple[str, Run, Run | None]] = []   # heading, run, idle run of a ratio column
    for threads in dict.fromkeys(run.threads for run in runs):
        group = [run for run in runs if run.threads == threads]
        idle = next((run for run in group if run.load == 0), None)
        for run in group:
            columns.append((run.label, run, None))
            if idle is not None and run.load > 0:
                columns.append((f"loaded ({run.load}) / idle, {threads_label(threads)}", run,
                                idle))
    numbers = sorted({number for run in runs for number in run.stages})
    titles = {number: run.stages[number].title for run in runs for number in run.stages}

    def stage_seconds(run: Run, number: int) -> float | None:
        stage = run.stages.get(number)
        return None if stage is None or stage.skipped else stage.seconds

    def other(run: Run) -> float:
        return run.wall_seconds - sum(stage_seconds(run, number) or 0.0 for number in numbers)

    rows = [(stage_label(number, titles[number], quickstart),
             lambda run, number=number: stage_seconds(run, number)) for number in numbers]
    rows += [("other (setup, between stages, score table)", other),
             ("**total**", lambda run: run.wall_seconds)]
    lines = ["| s | " + " | ".join(heading for heading, _, _ in columns) + " |",
             "|---|" + "---:|" * len(columns)]
    for name, value in rows:
        cells = []
        for _, run, idle in columns:
            mine = value(run)
            base = value(idle) if idle is not None else None
            if idle is not None:
                cells.append(f"{mine / base:.2f}x" if mine is not None and base else "")
            else:
                cells.append("-" if mine is None else f"{mine:.1f}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    facts = [("threads", lambda run: f"{run.threads_used}" if run.threads != "default"
              else f"default ({run.threads_used})"),
             ("fp32 matmul GFLOP/s (this load)", lambda run: f"{run.matmul_gflops:.1f}"),
             ("load average (1 min) at the end", lambda run: f"{run.load_average:.2f}")]
    for name, value in facts:
        cells = ["" if idle is not None else value(run) for _, run, idle in columns]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def stop_on_signal(number: int, _frame) -> None:
    """SIGTERM/SIGHUP: leave through the ``finally`` blocks that end the load and the recipe."""
    raise SystemExit(128 + number)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", nargs="+", type=thread_setting, default=["default"],
                        help="torch thread settings to run: numbers and/or 'default' (no "
                             "--threads: the recipe's own choice) (default: default)")
    parser.add_argument("--load", nargs="+", type=non_negative_int, default=[0, 4],
                        help="busy processes beside each run; 0: idle (default: 0 4)")
    parser.add_argument("--stage", type=non_negative_int, default=0,
                        help="first stage timed (default: 0)")
    parser.add_argument("--stop-stage", type=non_negative_int, default=8,
                        help="last stage timed (default: 8)")
    parser.add_argument("--recipe", type=Path, default=QUICKSTART,
                        help="the recipe (default: egs/mini/run.sh)")
    parser.add_argument("--work", type=Path, default=None,
                        help="folder of the runs (default: exp/bench_quickstart beside the "
                             "recipe)")
    parser.add_argument("--debian-cache", type=Path, default=None,
                        help="the corpus's Debian archive cache (default: db/debian beside the "
                             "recipe, the quickstart's own)")
    parser.add_argument("--matmul-seconds", type=positive_float, default=1.0,
                        help="seconds of each matmul-rate measurement (default: 1)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    if args.stop_stage < args.stage:
        parser.error(f"--stop-stage {args.stop_stage} is before --stage {args.stage}")
    recipe = args.recipe.resolve()
    if not recipe.is_file():
        parser.error(f"--recipe: no such file: {args.recipe}")
    work = (args.work or recipe.parent / "exp" / "bench_quickstart").resolve()
    debian_cache = (args.debian_cache or recipe.parent / "db" / "debian").resolve()
    quickstart = recipe == QUICKSTART.resolve()
    env = {name: value for name, value in os.environ.items() if name != "OMP_NUM_THREADS"}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    for number in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(number, stop_on_signal)

    print(f"# bench_quickstart {datetime.date.today()} | {machine()} | fp32 matmul "
          f"{measure_matmul(torch.get_num_threads(), args.matmul_seconds):.1f} GFLOP/s idle | "
          f"load average {os.getloadavg()[0]:.2f} at the start")
    print(f"# {shlex.join([Path(sys.executable).name, *sys.argv])}")
    print(f"# recipe runs: OMP_NUM_THREADS unset, PATH starting with {Path(sys.executable).parent}")
    try:
        prepare = Run(load=0, threads="default", command=recipe_command(
            recipe, 0, max(0, args.stage - 1), {part: work / "prepare" / part
                                                for part in ("db", "data", "exp")},
            debian_cache, "default"))
        for folder in ("db", "data", "exp"):
            (work / "prepare" / folder).mkdir(parents=True, exist_ok=True)
        run_recipe(prepare, env, work / "prepare" / "recipe.log", "[prepare, untimed]")
        print(f"# prepared (untimed, {prepare.wall_seconds:.0f} s): {shlex.join(prepare.command)}")
        runs = [Run(load=load, threads=threads, command=[]) for load in args.load
                for threads in args.threads]
        for load in args.load:
            with busy_load(load) as pids:
                if pids:
                    print(f"# loaded: {load} busy processes, pids {' '.join(map(str, pids))}",
                          file=sys.stderr, flush=True)
                for run in (run for run in runs if run.load == load):
                    folders = fresh_folders(work, run.name, args.stage)
                    run.command = recipe_command(recipe, args.stage, args.stop_stage, folders,
                                                 debian_cache, run.threads)
                    run.load_pids = pids
                    run_recipe(run, env, folders["exp"].parent / "recipe.log",
                               f"[{runs.index(run) + 1}/{len(runs)} {run.label}]")
                    run.matmul_gflops = measure_matmul(run.threads_used
                                                       or torch.get_num_threads(),
                                                       args.matmul_seconds)
                    run.load_average = os.getloadavg()[0]
                    # each run's total as soon as it ends: a tool stopped later keeps it
                    print(f"# {run.label} ({run.wall_seconds:.1f} s): {shlex.join(run.command)}",
                          flush=True)
    except RecipeFailed as failure:
        sys.exit(str(failure))
    except KeyboardInterrupt:
        sys.exit("interrupted: the busy processes and the recipe were stopped")
    print(f"\nbash {args.recipe} stages {args.stage}..{args.stop_stage} (run order: loads "
          f"{' '.join(map(str, args.load))}, each at threads {' '.join(args.threads)}):\n")
    print(table(runs, quickstart))
    if args.json:
        args.json.write_text(json.dumps({
            "date": str(datetime.date.today()), "machine": machine(), "argv": sys.argv,
            "prepare": asdict(prepare), "runs": [asdict(run) for run in runs]}, indent=1) + "\n")


if __name__ == "__main__":
    main()
