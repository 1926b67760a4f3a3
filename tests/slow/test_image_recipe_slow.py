"""egs/image_mini end to end on the CPU (slow): every stage of the tiny recipe. Its options and
the prep stage: tests/image/test_image_recipe.py."""

from __future__ import annotations

import json

import pytest

from image_helpers import EGS, run_recipe


@pytest.mark.slow
def test_image_mini_runs_every_stage(tmp_path):
    config = tmp_path / "micro.yaml"
    config.write_text(json.dumps({"base": str(EGS.parent / "recipes" / "image_tiny.yaml"),
                                  "model": {"resolution": 16}, "train": {"batch_size": 4}}))
    arguments = ("--data_dir", str(tmp_path / "data"), "--exp_dir", str(tmp_path / "exp"),
                 "--train_patches", "4", "--valid_patches", "1", "--patch_size", "16",
                 "--config", str(config), "--train_args", "--max-steps 2")
    result = run_recipe("image_mini", *arguments, timeout=300)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    exp = tmp_path / "exp" / "micro"
    summary = json.loads((exp / "scores" / "summary.json").read_text())
    assert summary["images"] == 5 and summary["rfid"].startswith("not available")
    assert len(list((exp / "decode" / "images").rglob("*.png"))) == 5

    # Redoing stages 3-4 as the recipe says (remove their markers) meets their own outputs:
    # the codes are this model's and are skipped, the images and the report are replaced.
    for marker in [*exp.glob(".done/stage3.*"), *exp.glob(".done/stage4.*")]:
        marker.unlink()
    result = run_recipe("image_mini", *arguments, "--stage", "3", timeout=300)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "5 of 5 output(s) already done" in result.stdout + result.stderr
    assert json.loads((exp / "scores" / "summary.json").read_text())["images"] == 5
