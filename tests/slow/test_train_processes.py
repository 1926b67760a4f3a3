"""The trainer as separate processes: two ranks under ``accelerate launch`` (gloo on CPU),
``kill -9`` then ``--resume`` giving bit-identical weights, and SIGTERM writing a checkpoint."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time

import pytest
import torch

from simvq_audio.train import checkpoint as ckpt

from repo_paths import REPO
from train_helpers import make_data_dir, start_cli, subprocess_env, train_args, write_config

pytestmark = pytest.mark.slow
TIMEOUT_S = 300


def _wait_for(path, process, log):
    deadline = time.monotonic() + TIMEOUT_S
    while not path.exists():
        assert process.poll() is None, log.read_text()
        assert time.monotonic() < deadline, f"{path} did not appear"
        time.sleep(0.05)


def test_two_processes_under_accelerate_launch(tmp_path):
    data = make_data_dir(tmp_path)
    config = write_config(tmp_path / "c.yaml", max_steps=3, checkpoint_every=3)
    exp = tmp_path / "exp"
    command = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu",
               "--num_processes", "2", "--num_machines", "1", "--mixed_precision", "no",
               "--dynamo_backend", "no", "-m", "simvq_audio.cli",
               *train_args(config, data, exp, "--valid-dir", str(data))]
    result = subprocess.run(command, capture_output=True, text=True, env=subprocess_env(),
                            cwd=REPO, timeout=TIMEOUT_S)
    assert result.returncode == 0, result.stdout + result.stderr
    state = ckpt.read_document(ckpt.latest_checkpoint(exp), "trainer_state")
    assert state["step"] == 3 and state["num_processes"] == 2
    assert state["sampler"]["num_replicas"] == 2
    assert len(ckpt.read_document(ckpt.latest_checkpoint(exp), "rng")) == 2  # one per rank


def test_kill_9_then_resume_matches_an_uninterrupted_run(tmp_path):
    data = make_data_dir(tmp_path)
    config = write_config(tmp_path / "c.yaml", max_steps=5, checkpoint_every=2)
    reference = start_cli(train_args(config, data, tmp_path / "ref"), tmp_path / "ref.log")
    assert reference.wait(TIMEOUT_S) == 0, (tmp_path / "ref.log").read_text()

    exp = tmp_path / "exp"
    log = tmp_path / "killed.log"
    killed = start_cli(train_args(config, data, exp, "--max-steps", "100"), log)
    _wait_for(ckpt.checkpoint_dir(exp, 2) / ckpt.MARKER, killed, log)
    killed.send_signal(signal.SIGKILL)
    assert killed.wait(TIMEOUT_S) == -signal.SIGKILL
    assert ckpt.checkpoint_step(ckpt.latest_checkpoint(exp)) < 5

    resumed = start_cli(train_args(config, data, exp, "--resume", "--max-steps", "5"),
                        tmp_path / "resumed.log")
    assert resumed.wait(TIMEOUT_S) == 0, (tmp_path / "resumed.log").read_text()
    assert "resumed from" in (tmp_path / "resumed.log").read_text()
    for name in ("generator", "ema_generator", "discriminator", "optimizer_generator",
                 "optimizer_discriminator"):
        expected = ckpt.read_tensors(ckpt.checkpoint_dir(tmp_path / "ref", 5), name)
        actual = ckpt.read_tensors(ckpt.checkpoint_dir(exp, 5), name)
        assert expected.keys() == actual.keys()
        assert all(torch.equal(expected[k], actual[k]) for k in expected), name


def test_sigterm_writes_a_checkpoint_and_exits(tmp_path):
    data = make_data_dir(tmp_path)
    # far more steps than run before the signal arrives, however fast a step is
    config = write_config(tmp_path / "c.yaml", max_steps=1_000_000, checkpoint_every=500_000)
    exp = tmp_path / "exp"
    log = tmp_path / "run.log"
    process = start_cli(train_args(config, data, exp), log)
    deadline = time.monotonic() + TIMEOUT_S
    while not re.search(r"\| [1-9]\d*/1000000", log.read_text(errors="replace")):  # a step is done
        assert process.poll() is None and time.monotonic() < deadline, log.read_text()
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    assert process.wait(TIMEOUT_S) == 128 + signal.SIGTERM, log.read_text()
    newest = ckpt.latest_checkpoint(exp)
    assert newest is not None and 0 < ckpt.checkpoint_step(newest) < 500_000
    assert f"stopped by signal {int(signal.SIGTERM)}" in log.read_text()
