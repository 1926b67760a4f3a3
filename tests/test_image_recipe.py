"""egs/imagenet and egs/image_mini: options, the ImageFolder prep stage, and the tiny CPU
recipe end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from simvq_audio.image.image_io import write_image

from repo_paths import REPO

EGS = REPO / "egs"


def run(recipe: str, *args: str, timeout: int = 120) -> subprocess.CompletedProcess:
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    return subprocess.run(["bash", str(EGS / recipe / "run.sh"), *args], capture_output=True,
                          text=True, env=env, timeout=timeout)


def test_help_lists_the_image_options():
    result = run("image_mini", "--help")
    assert result.returncode == 0
    for option in ("--patch_size", "--train_args", "--inception_weights", "--stop_stage"):
        assert option in result.stdout


def test_imagenet_stage_0_links_and_counts_the_trees(tmp_path):
    for path in ("imagenet/train/n01/a.png", "imagenet/train/n02/b.jpg", "imagenet/val/c.png"):
        write_image(tmp_path / path, torch.rand(3, 4, 4))
    options = ["--data_dir", str(tmp_path / "data"), "--exp_dir", str(tmp_path / "exp"),
               "--stop_stage", "0", "--cmd", "false"]  # link_trees, run.sh's own, runs here
    result = run("imagenet", "--imagenet", str(tmp_path / "imagenet"), *options)
    assert result.returncode == 0, result.stderr
    assert "train: 2 images" in result.stdout and "valid: 1 images" in result.stdout
    assert (tmp_path / "data" / "train").resolve() == (tmp_path / "imagenet" / "train")
    missing = run("imagenet", *options[:4], "--tag", "other", "--stop_stage", "0")
    assert missing.returncode != 0 and "no --imagenet given" in missing.stdout + missing.stderr


@pytest.mark.slow
def test_image_mini_runs_every_stage(tmp_path):
    config = tmp_path / "micro.yaml"
    config.write_text(json.dumps({"base": str(EGS.parent / "recipes" / "image_tiny.yaml"),
                                  "model": {"resolution": 16}, "train": {"batch_size": 4}}))
    result = run("image_mini", "--data_dir", str(tmp_path / "data"), "--exp_dir",
                 str(tmp_path / "exp"), "--train_patches", "4", "--valid_patches", "1",
                 "--patch_size", "16", "--config", str(config), "--train_args",
                 "--max-steps 2", timeout=300)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    exp = tmp_path / "exp" / "micro"
    summary = json.loads((exp / "scores" / "summary.json").read_text())
    assert summary["images"] == 5 and summary["rfid"].startswith("not available")
    assert len(list((exp / "decode" / "images").rglob("*.png"))) == 5
