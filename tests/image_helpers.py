"""Shared set-up of the image tests: a micro tokenizer config, a folder tree of random images,
and running an egs/ image recipe."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import torch

from simvq_audio.image.config import ImageModelConfig
from simvq_audio.image.image_io import write_image
from simvq_audio.quantize.factory import QuantizerConfig

from repo_paths import REPO

EGS = REPO / "egs"

MICRO = ImageModelConfig(resolution=16, channels=8, channel_mult=[1, 2], res_blocks=1,
                         attention=False, quantizer=QuantizerConfig(num_codes=64, dim=8))
"""An image tokenizer small enough for a CPU step in a fraction of a second."""


def write_tree(root: Path, count: int, size: int = 16) -> None:
    for index in range(count):
        write_image(root / f"class{index % 2}" / f"{index:03d}.png", torch.rand(3, size, size + 4))


def run_recipe(recipe: str, *args: str, timeout: int = 120) -> subprocess.CompletedProcess:
    """``bash egs/RECIPE/run.sh ARGS`` with this interpreter's bin folder first on PATH."""
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    return subprocess.run(["bash", str(EGS / recipe / "run.sh"), *args], capture_output=True,
                          text=True, env=env, timeout=timeout)
