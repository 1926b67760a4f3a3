"""``tools/bench_quickstart.py`` on a fake recipe that sources tools/recipe.sh (so its stage lines
are the real ones) and sleeps in each stage: stage times parsed from those lines, ``--threads``
passed only for numbers, the busy processes gone afterwards, a failing run's status and log."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from repo_paths import REPO, TOOLS

SLEEPS = {0: 0.1, 1: 0.3, 2: 0.1}
"""Seconds each fake stage sleeps."""

FAKE_RECIPE = """#!/usr/bin/env bash
cd "$(dirname "$0")" && source {repo}/tools/recipe.sh
debian_cache=   # the options the benchmark gives egs/mini/run.sh
cmd=            # stage commands run directly
parse_options "$@"
tag=fake
(( threads > 0 )) || threads=2   # the fake's default
mkdir -p "$exp_dir/$tag/logs"
printf '%s\\n' "$@" > "$exp_dir/args"
recipe_log "stages $stage..$stop_stage, tag $tag, $threads threads, logs in $exp_dir/$tag/logs"
roots=("$db" "$data_dir" "$data_dir")
sleeps=({sleeps})
for n in 0 1 2; do
    if [ "$stage" -le $n ] && [ "$stop_stage" -ge $n ]; then
        if [ $n = {fail} ]; then
            run_stage $n "${{roots[n]}}" "fake stage $n" \
                bash -c 'echo "fake: out of memory"; exit 3'
        else
            run_stage $n "${{roots[n]}}" "fake stage $n" sleep "${{sleeps[n]}}"
        fi
    fi
done
"""


def fake_recipe(folder: Path, fail_stage: int = -1) -> Path:
    """The fake recipe in ``folder``/run.sh; stage ``fail_stage`` exits with status 3."""
    folder.mkdir()
    recipe = folder / "run.sh"
    sleeps = " ".join(str(SLEEPS[n]) for n in sorted(SLEEPS))
    recipe.write_text(FAKE_RECIPE.format(repo=REPO, sleeps=sleeps, fail=fail_stage))
    return recipe


def bench(tmp_path: Path, recipe: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(TOOLS / "bench_quickstart.py"), "--recipe",
                           str(recipe), "--work", str(tmp_path / "work"), "--debian-cache",
                           str(tmp_path / "cache"), "--matmul-seconds", "0.05", *args],
                          capture_output=True, text=True, timeout=60)


def load_pids(stderr: str) -> list[int]:
    pids = [int(pid) for line in re.findall(r"busy processes, pids ([\d ]+)", stderr)
            for pid in line.split()]
    assert pids, stderr
    return pids


def assert_gone(pids: list[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            continue
        raise AssertionError(f"busy process {pid} still runs")


def test_times_every_stage_of_each_configuration_and_ends_its_load(tmp_path):
    result = bench(tmp_path, fake_recipe(tmp_path / "recipe"), "--threads", "1", "default",
                   "--load", "0", "1", "--stage", "0", "--stop-stage", "2",
                   "--json", str(tmp_path / "out.json"))
    assert result.returncode == 0, result.stdout + result.stderr
    pids = load_pids(result.stderr)
    assert len(pids) == 1
    assert_gone(pids)

    results = json.loads((tmp_path / "out.json").read_text())
    runs = {(run["load"], run["threads"]): run for run in results["runs"]}
    assert sorted(runs) == [(0, "1"), (0, "default"), (1, "1"), (1, "default")]
    for (load, threads), run in runs.items():
        assert run["load_pids"] == (pids if load else [])
        assert run["threads_used"] == (1 if threads == "1" else 2)
        given = (tmp_path / "work" / "runs" / f"load{load}-threads{threads}" / "exp" / "args")
        words = given.read_text().split()
        assert words[:4] == ["--stage", "0", "--stop_stage", "2"]
        assert ("--threads" in words) == (threads == "1")
        if threads == "1":
            assert words[words.index("--threads") + 1] == "1"
        assert sorted(run["stages"]) == ["0", "1", "2"]
        for number, sleep in SLEEPS.items():
            stage = run["stages"][str(number)]
            assert stage["title"] == f"fake stage {number}"
            # timed as the lines arrive here: a line read late on a busy machine can shorten it
            assert sleep - 0.05 <= stage["seconds"] < sleep + 1.5, (number, stage)
        assert run["wall_seconds"] >= sum(stage["seconds"] for stage in run["stages"].values())
        assert run["matmul_gflops"] > 0
    # the untimed preparation ran stage 0 only, at the recipe's default threads
    assert results["prepare"]["command"][2:6] == ["--stage", "0", "--stop_stage", "0"]
    assert "--threads" not in results["prepare"]["command"]

    table = result.stdout[result.stdout.index("| s |"):].splitlines()
    assert table[0] == ("| s | idle, --threads 1 | loaded (1 busy), --threads 1 | "
                        "loaded (1) / idle, --threads 1 | idle, default threads | "
                        "loaded (1 busy), default threads | loaded (1) / idle, default threads |")
    total = next(line for line in table if line.startswith("| **total** |")).split("|")[2:-1]
    assert [cell.strip() for cell in total[:2]] == [f"{runs[load, '1']['wall_seconds']:.1f}"
                                                    for load in (0, 1)]
    ratio = runs[1, "1"]["wall_seconds"] / runs[0, "1"]["wall_seconds"]
    assert abs(float(total[2].strip().rstrip("x")) - ratio) <= 0.006   # printed to 0.01
    assert "| threads | 1 | 1 |  | default (2) | default (2) |  |" in table
    assert "bash " in result.stdout and "--threads 1" in result.stdout   # the command lines


def test_a_failing_run_stops_with_its_status_and_log_and_ends_its_load(tmp_path):
    result = bench(tmp_path, fake_recipe(tmp_path / "recipe", fail_stage=1), "--threads", "1",
                   "--load", "1", "--stage", "1", "--stop-stage", "2")
    assert result.returncode == 1, result.stdout + result.stderr
    assert_gone(load_pids(result.stderr))
    # from --stage 1 on, the run reads the corpus that the untimed stage 0 prepared
    words = (tmp_path / "work" / "runs" / "load1-threads1" / "exp" / "args").read_text().split()
    assert words[words.index("--db") + 1] == str(tmp_path / "work" / "prepare" / "db")
    assert "[1/1 loaded (1 busy), --threads 1] the recipe exited with status 3" in result.stderr
    assert "fake: out of memory" in result.stderr
    assert "stage 1 (fake stage 1) failed with status 3" in result.stderr
    assert "| s |" not in result.stdout
