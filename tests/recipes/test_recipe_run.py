"""egs/libritts/run.sh stages 0-2 against a local server: stage selection, done markers, logs,
failures and option errors (tools/recipe.sh). Every output goes under tmp_path."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from recipe_fakes import FakeServer, libritts_tarball, sha256
from repo_paths import REPO

RUN_SH = REPO / "egs" / "libritts" / "run.sh"
SUBSETS = {"train-clean-100": "19", "dev-clean": "84", "test-clean": "61"}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("tarballs")
    files = {f"/60/{s}.tar.gz": libritts_tarball(tmp, s, spk) for s, spk in SUBSETS.items()}
    checksums = tmp / "fake.sha256"
    checksums.write_text("".join(f"{sha256(data)}  {path.rsplit('/', 1)[1]}\n"
                                 for path, data in files.items()))
    fake = FakeServer(files)
    fake.checksums = checksums
    yield fake
    fake.close()


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    return subprocess.run(["bash", str(RUN_SH), *args], capture_output=True, text=True, env=env,
                          cwd=cwd, timeout=300)


def recipe(server, work: Path, *args: str) -> subprocess.CompletedProcess:
    result = run("--db", str(work / "db"), "--data_dir", str(work / "data"),
                 "--exp_dir", str(work / "exp"), "--base-url", f"{server.url}/60",
                 "--checksums", str(server.checksums), "--train_subsets", "train-clean-100",
                 "--valid_subset", "dev-clean", "--test_subsets", "test-clean", "--nj", "2",
                 *args)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def test_stages_run_exactly_as_asked_and_finished_stages_are_skipped(server, tmp_path):
    logs = tmp_path / "exp" / "simvq_65k" / "logs"
    recipe(server, tmp_path, "--stop_stage", "0")
    assert (tmp_path / "db" / "LibriTTS" / "test-clean").is_dir()
    assert sorted(p.name for p in logs.iterdir()) == ["stage0.log"]
    assert not (tmp_path / "data").exists()
    fetched = len(server.requests)

    recipe(server, tmp_path, "--stage", "1", "--stop_stage", "1")
    assert sorted(p.name for p in logs.iterdir()) == ["stage0.log", "stage1.log"]
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == [
        ".done", "dev_clean", "test_clean", "train"]
    assert (tmp_path / "data" / "train" / "wav.scp").read_text().startswith("19_11_000001_000001 ")
    assert "Text of 19_7_000001_000000." in (tmp_path / "data" / "train" / "text").read_text()
    prepared = (tmp_path / "data" / "train" / "wav.scp").stat().st_mtime_ns

    result = recipe(server, tmp_path, "--stop_stage", "2", "--min_dur", "1", "--max_dur", "2")
    assert "stage 0 (download LibriTTS): already done" in result.stdout
    assert "stage 1 (prepare data dirs): already done" in result.stdout
    assert (tmp_path / "data" / "train" / "wav.scp").stat().st_mtime_ns == prepared
    filtered = (tmp_path / "data" / "train_filtered" / "wav.scp").read_text()
    assert filtered.split() == ["19_11_000001_000001", str(
        tmp_path / "db" / "LibriTTS" / "train-clean-100" / "19" / "11" / "19_11_000001_000001.wav")]
    assert (tmp_path / "data" / "dev_clean_filtered" / "utt2dur").is_file()
    assert len(server.requests) == fetched, "stage 0 was done: nothing may be downloaded again"
    log = (logs / "stage2.log").read_text()
    assert "duration_filter --min-dur 1 --max-dur 2" in log and "ended with status 0" in log
    assert "kept 1 of 3 utterances" in log and log.count("\n20") >= 2, "timestamped lines"

    result = recipe(server, tmp_path, "--stop_stage", "2", "--min_dur", "1", "--max_dur", "3")
    assert "stage 2: keep 1-3 s utterances for training" in result.stdout
    assert "already done" in result.stdout and "kept 2 of 3" in result.stdout, \
        "a stage whose command changed runs again"


def test_a_failing_stage_stops_the_recipe_naming_stage_and_log(server, tmp_path):
    result = run("--db", str(tmp_path / "db"), "--exp_dir", str(tmp_path / "exp"),
                 "--data_dir", str(tmp_path / "data"), "--base_url", f"{server.url}/missing",
                 "--test_subsets", "test-clean", "--train_subsets", "dev-clean")
    assert result.returncode != 0
    log = tmp_path / "exp" / "simvq_65k" / "logs" / "stage0.log"
    assert f"stage 0 (download LibriTTS) failed with status 2; see {log}" in result.stderr
    assert "HTTP 404" in log.read_text()
    assert not (tmp_path / "db" / ".done").exists(), "no done marker for a failed stage"
    assert not (tmp_path / "data").exists(), "later stages must not run"


@pytest.mark.parametrize("args, message", [
    (["--no_such", "1"], "unknown option --no_such (see --help)"),
    (["--stage"], "option --stage needs a value"),
    (["--nj", "two"], "--nj must be a non-negative integer, got 'two'"),
    (["--stage", "3", "--stop-stage", "2"], "--stop_stage 2 is before --stage 3"),
    (["stage", "3"], "unexpected argument 'stage' (options look like --stage 1; see --help)"),
    (["--cmd", "no-such-launcher -p x"],
     "--cmd: 'no-such-launcher' is not a command (see tools/launch/)"),
])
def test_option_errors_are_one_clear_line(args, message, tmp_path):
    result = run(*args, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr == f"egs/libritts/run.sh: error: {message}\n"
    assert result.stdout == ""


def test_help_lists_every_option_with_its_value(tmp_path):
    result = run("--help", cwd=tmp_path)
    assert result.returncode == 0
    for option in ("--stage", "--stop_stage", "--ngpu", "--nj", "--config", "--tag", "--db",
                   "--train_subsets", "--min_dur", "--num_machines", "--main_process_port",
                   "--cmd"):
        assert f"\n  {option} " in result.stdout, option
    assert "LibriTTS subset for validation [dev-clean]" in result.stdout
    assert not any(tmp_path.iterdir()), "--help writes nothing"


FAKE_TOOL = """#!/bin/sh
echo "$(basename "$0") $*" >> "$CALLS"
case "$*" in
  export*) mkdir -p "$5" && echo weights > "$5/model.safetensors" ;;
  score*) mkdir -p "$9" && echo "| metric | value |" > "$9/summary.md" ;;
esac
"""
FAKE_SRUN = """#!/bin/sh
echo "srun $*" >> "$CALLS"
while [ "${1#-}" != "$1" ]; do shift; done
exec "$@"
"""
LAUNCH = RUN_SH.parents[2] / "tools" / "launch"


def fake_codec_tools(tmp_path: Path) -> dict[str, str]:
    """accelerate, simvq-audio and srun that append their command line to ``tmp_path/calls``;
    the environment that puts them first on PATH."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool, script in (("accelerate", FAKE_TOOL), ("simvq-audio", FAKE_TOOL),
                         ("srun", FAKE_SRUN)):
        (bin_dir / tool).write_text(script)
        (bin_dir / tool).chmod(0o755)
    return dict(os.environ, CALLS=str(tmp_path / "calls"),
                PATH=f"{bin_dir}:{Path(sys.executable).parent}:{os.environ['PATH']}")


@pytest.mark.parametrize("ngpu, machines, launch, train_args", [
    ("0", "1", "--cpu --num_processes 1", ""),
    ("2", "2", "--num_processes 4 --num_machines 2 --machine_rank 1 --main_process_ip 10.0.0.1 "
               "--main_process_port 29500 --multi_gpu", "--max-steps 5"),
])
def test_stages_3_to_8_call_the_codec_commands(ngpu, machines, launch, train_args, tmp_path):
    """Issue 25: every simvq-audio command also gets --threads: all 6 when it runs alone, its share
    (6 // 3 jobs, 6 // 2 GPU ranks) when it is one of several processes; before, none had it."""
    env = fake_codec_tools(tmp_path)
    share = 2 if ngpu == "0" else 3  # of --threads 6 for each of 3 CPU jobs / 2 GPU ranks
    calls, exp, data = tmp_path / "calls", tmp_path / "exp" / "t", tmp_path / "data"
    result = subprocess.run(
        ["bash", str(RUN_SH), "--stage", "3", "--tag", "t", "--exp_dir", str(tmp_path / "exp"),
         "--data_dir", str(data), "--ngpu", ngpu, "--num_machines", machines, "--machine_rank",
         "1", "--main_process_ip", "10.0.0.1", "--nj", "3", "--threads", "6",
         "--train-args", train_args,
         "--score-args", "--model-metrics dnsmos --language en"],
        capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = calls.read_text().splitlines()
    assert lines[0] == (f"accelerate launch {launch} -m simvq_audio.cli train --config "
                        f"../../recipes/simvq_65k.yaml --train-dir {data}/train_filtered "
                        f"--valid-dir {data}/dev_clean_filtered --exp-dir {exp} "
                        f"--resume {train_args} --threads {6 if ngpu == '0' else share}"
                        ).replace("  ", " ")
    assert lines[1] == f"simvq-audio export --exp-dir {exp} --out {exp}/model --threads 6"
    for x in ("test_clean", "test_other"):
        decoded = f"{exp}/decode/{x}"
        assert (f"simvq-audio encode --overwrite --model {exp}/model {data}/{x}/wav.scp "
                f"{decoded}/codes --threads 6") in lines
        assert (f"simvq-audio decode --overwrite --model {exp}/model {decoded}/codes "
                f"{decoded}/wav --threads 6") in lines
        assert (f"simvq-audio score --ref {data}/{x} --hyp {decoded}/wav --codes "
                f"{decoded}/codes --out {exp}/scores/{x} --nj 3 --model-metrics dnsmos "
                "--language en --threads 2") in lines
    token_launch, device = ("--multi_gpu --num_processes 3 --num_machines 1 --mixed_precision "
                            "no --dynamo_backend no", "cpu") if ngpu == "0" else (
        launch, "cuda")
    for x in ("train_filtered", "dev_clean_filtered", "test_clean", "test_other"):
        assert (f"accelerate launch {token_launch} -m simvq_audio.cli tokenize --overwrite --model "
                f"{exp}/model --data-dir {data}/{x} --out {exp}/tokens/{x} --format both "
                f"--shard-size 1000 --device {device} --threads {share}") in lines
    assert len(lines) == 12
    assert "| metric | value |" in result.stdout
    assert tarfile.open(exp / "t.tar.gz").getnames() == ["model", "model/model.safetensors"]


def test_a_slurm_launcher_runs_every_stage_command_and_done_stages_stay_done(tmp_path):
    env = fake_codec_tools(tmp_path)
    calls, exp = tmp_path / "calls", tmp_path / "exp" / "t"

    def stages_3_to_8(*args: str) -> subprocess.CompletedProcess:
        result = subprocess.run(
            ["bash", str(RUN_SH), "--stage", "3", "--tag", "t", "--ngpu", "0", "--exp_dir",
             str(tmp_path / "exp"), "--data_dir", str(tmp_path / "data"), *args],
            capture_output=True, text=True, env=env, timeout=120)
        assert result.returncode == 0, result.stdout + result.stderr
        return result

    stages_3_to_8("--cmd", f"{LAUNCH}/slurm.sh --partition=gpu --time=1:00:00")
    lines = calls.read_text().splitlines()
    srun = "srun --ntasks=1 --unbuffered --kill-on-bad-exit=1 --partition=gpu --time=1:00:00"
    packing = [f"{srun} tar -czf {exp}/t.tar.gz.tmp -C {exp} model",
               f"{srun} mv {exp}/t.tar.gz.tmp {exp}/t.tar.gz"]  # real tar and mv: no echo
    assert [line for line in lines if line in packing] == packing
    steps = [line for line in lines if line not in packing]
    assert len(steps) == 2 * 12, "each codec command as a job step"
    assert all(job == f"{srun} {command}" for job, command in zip(steps[::2], steps[1::2]))
    assert tarfile.open(exp / "t.tar.gz").getnames() == ["model", "model/model.safetensors"]
    log = (exp / "logs" / "stage5.log").read_text()
    assert log.count("\n# simvq-audio ") + log.startswith("# simvq-audio ") == 4, \
        "the log names every command of the stage"

    again = stages_3_to_8("--threads", "7")
    assert again.stdout.count("already done") == 6, \
        "neither the launcher nor --threads is part of a stage's key"
    assert len(calls.read_text().splitlines()) == len(lines)


@pytest.mark.parametrize("launcher", ["local.sh", "slurm.sh"])
def test_a_launcher_runs_the_command_as_given_and_returns_its_status(launcher, tmp_path):
    result = subprocess.run([str(LAUNCH / launcher), "sh", "-c", 'echo "$1|$2"; exit 3', "sh",
                             "two words", "it's"], capture_output=True, text=True,
                            env=fake_codec_tools(tmp_path))
    assert (result.returncode, result.stdout, result.stderr) == (3, "two words|it's\n", "")


@pytest.mark.parametrize("launcher, args, status, message", [
    ("local.sh", ["no-such-command", "x"], 127, "'no-such-command' is not a command"),
    ("local.sh", [], 2, "no command given (usage: local.sh COMMAND [ARG...])"),
    ("slurm.sh", ["--partition=gpu", "true"], 127,
     "srun not found: run the recipe where Slurm is installed"),
])
def test_launcher_errors_are_one_line(launcher, args, status, message):
    if launcher == "slurm.sh" and shutil.which("srun"):
        pytest.skip("Slurm is installed here")
    result = subprocess.run([str(LAUNCH / launcher), *args], capture_output=True, text=True)
    assert (result.returncode, result.stderr) == (status, f"{launcher}: error: {message}\n")
