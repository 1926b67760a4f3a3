"""Shared set-up of the trainer tests: a few short generated wavs in a data dir, a training
config far smaller than recipes/tiny.yaml so that a step takes a fraction of a second, and NaN
losses injected into a step from the test (nothing in the package injects faults)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile
import yaml
from torch import nn

from simvq_audio.data.kaldi_dir import write_data_dir
from simvq_audio.train import checkpoint as ckpt

from repo_paths import REPO, TINY_RECIPE

SAMPLE_RATE = 24000


def make_data_dir(root: Path, count: int = 6) -> Path:
    """``count`` tones of 0.15-0.4 s with a little noise; returns the data dir."""
    rng = np.random.default_rng(0)
    (root / "wav").mkdir(parents=True, exist_ok=True)
    wav_scp, utt2dur = {}, {}
    for i in range(count):
        n = int(SAMPLE_RATE * (0.15 + 0.05 * i))
        t = np.arange(n) / SAMPLE_RATE
        wav = 0.3 * np.sin(2 * np.pi * (150 + 40 * i) * t) + 0.01 * rng.standard_normal(n)
        path = root / "wav" / f"utt{i}.wav"
        soundfile.write(path, wav.astype(np.float32), SAMPLE_RATE)
        wav_scp[f"utt{i}"], utt2dur[f"utt{i}"] = str(path), n / SAMPLE_RATE
    write_data_dir(root / "data", wav_scp, utt2dur=utt2dur)
    return root / "data"


def write_config(path: Path, **train: object) -> Path:
    """A micro codec on recipes/tiny.yaml (dropout on, so RNG restore matters); ``train``
    overrides the train section."""
    config = {
        "base": str(TINY_RECIPE),
        "model": {"decoder": {"num_layers": 1, "resnet_blocks": 1, "dropout": 0.1}},
        "discriminators": {"multi_period": None, "dac_multi_period": None, "dac_multi_band": None,
                           "multi_resolution": {"resolutions": [[256, 64]], "channels": 4}},
        "loss": {"mel_resolutions": [{"n_fft": 512, "hop_length": 128, "n_mels": 40}]},
        "train": {"batch_size": 2, "segment_seconds": 0.1, "warmup_steps": 2,
                  "gan_start_step": 1, "max_steps": 4, "checkpoint_every": 2, "log_every": 2,
                  "valid_every": 1000, "num_workers": 0, **train},
    }
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def train_args(config: Path, data: Path, exp_dir: Path, *extra: str) -> list[str]:
    return ["train", "--config", str(config), "--train-dir", str(data), "--exp-dir",
            str(exp_dir), "--cpu", *extra]


def subprocess_env(**extra: str) -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1", **extra}


def start_cli(args: list[str], log: Path, **env: str) -> subprocess.Popen:
    """``python -m simvq_audio.cli ARGS`` in the background, output to ``log``."""
    with open(log, "wb") as out:
        return subprocess.Popen([sys.executable, "-m", "simvq_audio.cli", *args], stdout=out,
                                stderr=subprocess.STDOUT, env=subprocess_env(**env), cwd=REPO)


@contextlib.contextmanager
def nan_generator_loss(loss: nn.Module):
    """Inside the block the generator loss module ``loss`` returns a NaN total (its parts as
    they are), as a diverging run would."""
    forward = loss.forward

    def poisoned(*args, **kwargs):
        total, parts = forward(*args, **kwargs)
        return total * float("nan"), parts
    loss.forward = poisoned
    try:
        yield
    finally:
        del loss.forward


@contextlib.contextmanager
def nan_steps(step_class: type, steps: set[int]):
    """Inside the block the generator loss is NaN in the steps ``steps`` (1-based, as the
    trainer's messages and checkpoints count them) of every ``step_class`` (a GAN step with a
    ``loss``, called with its step number from 0 last)."""
    call = step_class.__call__

    def patched(self, *args):
        if args[-1] + 1 not in steps:
            return call(self, *args)
        with nan_generator_loss(self.loss):
            return call(self, *args)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(step_class, "__call__", patched)
        yield


def trainer_state(exp_dir: Path, step: int) -> dict:
    """The trainer state document of ``exp_dir``'s checkpoint at ``step``."""
    return ckpt.read_document(ckpt.checkpoint_dir(exp_dir, step), "trainer_state")
