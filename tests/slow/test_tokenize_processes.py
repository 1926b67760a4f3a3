"""simvq-audio tokenize as two real processes under ``accelerate launch`` (gloo on CPU) writes the
same bytes as one process.

``accelerate launch --cpu --num_processes 2`` starts a single process in accelerate 1.15 (its
simple launcher), so two CPU ranks come from ``--multi_gpu`` with ``--device cpu``.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from dist_helpers import free_port
from repo_paths import REPO
from tokenize_helpers import SHARD_SIZE, make_corpus, save_model, shard_bytes

pytestmark = pytest.mark.slow
TIMEOUT_S = 300


def _command(model, data, out):
    return ["-m", "simvq_audio.cli", "tokenize", "--model", str(model), "--data-dir", str(data),
            "--out", str(out), "--shard-size", str(SHARD_SIZE), "--device", "cpu"]


def test_two_processes_under_accelerate_launch_match_one(tmp_path):
    _, model = save_model(tmp_path / "model")
    data = make_corpus(tmp_path)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    single = subprocess.run([sys.executable, *_command(model, data, tmp_path / "one")],
                            capture_output=True, text=True, env=env, cwd=REPO, timeout=TIMEOUT_S)
    assert single.returncode == 1, single.stderr  # 1: the corrupt utterance
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu",
              "--num_processes", "2", "--num_machines", "1", "--mixed_precision", "no",
              "--dynamo_backend", "no", "--main_process_port", str(free_port())]
    two = subprocess.run(launch + _command(model, data, tmp_path / "two"), capture_output=True,
                         text=True, env=env, cwd=REPO, timeout=TIMEOUT_S)
    assert "[rank 0/2]: 2 of my 2 shards to do" in two.stderr, two.stderr
    assert "[rank 1/2]: 2 of my 2 shards to do" in two.stderr, two.stderr
    assert "tokenized 6 of 7 utterances" in two.stderr
    assert shard_bytes(tmp_path / "two") == shard_bytes(tmp_path / "one")
    assert len(shard_bytes(tmp_path / "one")) == 8  # 4 shards x (ark, parquet)
