"""egs/imagenet and egs/image_mini: options and the ImageFolder prep stage. The tiny CPU recipe
end to end (slow): tests/slow/test_image_recipe_slow.py."""

from __future__ import annotations

import torch

from simvq_audio.image.image_io import write_image

from image_helpers import run_recipe as run


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
