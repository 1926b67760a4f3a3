"""Issue 24: a model directory's files always come from one write. ``save_model_dir`` (behind
``save_pretrained``, ``export`` and ``import-reference``) builds the directory beside its place and
renames it in, and loading refuses files that do not belong together. Each docstring says what
happened before the fix. A full disk is simulated with RLIMIT_FSIZE in a child process (a real
failed write: EFBIG)."""

import json
import math
import os
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from simvq_audio.cli import main
from simvq_audio.codec import SimVQCodec
from simvq_audio.codec.config import load_config
from simvq_audio.config_loader import config_to_dict
from simvq_audio.errors import UserInputError
from simvq_audio.model_dir import (
    CARD_NAME,
    CONFIG_NAME,
    WEIGHTS_NAME,
    load_model_dir,
    save_model_dir,
)
from simvq_audio.train import checkpoint as ckpt

from repo_paths import TINY_RECIPE

_LIMITED_WRITES = ("import resource, signal, sys\n"
                   "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
                   "resource.setrlimit(resource.RLIMIT_FSIZE, (20000, 20000))\n")
"""Start of a child whose files cannot grow past 20000 bytes (the tiny model's are 2.8 MB)."""


def with_full_disk(code: str, *args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", _LIMITED_WRITES + code, *map(str, args)],
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})


def fake_run(exp_dir, step: int):
    """A training run whose one checkpoint (``step``) holds the tiny codec as its EMA."""
    torch.manual_seed(step)
    codec = SimVQCodec.from_config(TINY_RECIPE)
    state = {"step": step, "train_dir": "data/train", "valid_dir": None, "saved_at": "now"}
    ckpt.write_checkpoint(exp_dir, step, {"ema_generator": codec.model.state_dict()},
                          {"config": config_to_dict(load_config(TINY_RECIPE)),
                           "trainer_state": state})
    return codec


def test_export_onto_a_full_disk_leaves_nothing_and_a_rerun_works(tmp_path):
    """Before: the failed export left an ``OUT`` directory behind (and on a disk that filled
    after the weights, ``model.safetensors`` without ``config.json``, which the rerun refused
    as another model's)."""
    codec = fake_run(tmp_path / "exp", step=11)
    out = tmp_path / "model"
    child = with_full_disk("from simvq_audio.cli import main\nsys.exit(main(sys.argv[1:]))\n",
                           "export", "--exp-dir", tmp_path / "exp", "--out", out)
    lines = child.stderr.strip().splitlines()
    assert child.returncode == 2 and len(lines) == 1, child.stderr[-2000:]
    assert f"cannot write {out}: File too large" in lines[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exp"]
    assert main(["export", "--exp-dir", str(tmp_path / "exp"), "--out", str(out)]) == 0
    assert SimVQCodec.from_pretrained(out).model_hash == codec.model_hash


def test_a_disk_full_after_the_weights_keeps_the_old_directory(tmp_path):
    """Before: the new weights were written, then ``config.json`` failed: step-12 weights sat
    under the step-11 record, and the directory loaded without complaint."""
    path = save_model_dir(tmp_path / "model", {"training": {"step": 11}}, {"w": torch.zeros(4)})
    child = with_full_disk(
        "import torch\nfrom simvq_audio.model_dir import save_model_dir\n"
        "save_model_dir(sys.argv[1], {'training': {'step': 12, 'log': 'x' * 50000}},"
        " {'w': torch.ones(4)})\n", path)
    assert child.returncode != 0 and f"cannot write {path}: File too large" in child.stderr
    config, state = load_model_dir(path)
    assert config == {"training": {"step": 11}} and torch.equal(state["w"], torch.zeros(4))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_files_from_different_saves_are_refused(tmp_path):
    """Before: a step-11 ``config.json`` next to step-12 weights loaded without complaint."""
    torch.manual_seed(0)
    step_11 = SimVQCodec.from_config(TINY_RECIPE).save_pretrained(tmp_path / "a",
                                                                 training={"step": 11})
    step_12 = SimVQCodec.from_config(TINY_RECIPE).save_pretrained(tmp_path / "b",
                                                                 training={"step": 12})
    config = json.loads((step_11 / CONFIG_NAME).read_text())
    config["training"]["note"] = "edited by hand"  # an edited config still loads
    (step_11 / CONFIG_NAME).write_text(json.dumps(config))
    SimVQCodec.from_pretrained(step_11)
    (step_12 / CONFIG_NAME).write_text(json.dumps(config))
    with pytest.raises(UserInputError, match=f"{step_12}: model.safetensors and config.json do "
                                             "not belong together"):
        SimVQCodec.from_pretrained(step_12)
    (step_12 / CONFIG_NAME).write_text(json.dumps({**config, "weights_sha256": 12}))
    with pytest.raises(UserInputError, match="'weights_sha256' must be 64 hex digits, got 12"):
        SimVQCodec.from_pretrained(step_12)


def test_a_folder_where_a_model_file_goes_is_refused_before_writing(tmp_path):
    """Before: the weights were replaced, then writing ``config.json`` failed, leaving the new
    weights without their config (works as root too, unlike a read-only file)."""
    path = save_model_dir(tmp_path / "model", {"v": 1}, {"w": torch.zeros(4)})
    (path / CONFIG_NAME).unlink()
    (path / CONFIG_NAME).mkdir()
    (path / CONFIG_NAME / "mine").write_text("keep")
    with pytest.raises(UserInputError, match="config.json in it is not a regular file"):
        save_model_dir(path, {"v": 2}, {"w": torch.ones(4)})
    assert torch.equal(load_file(path / WEIGHTS_NAME)["w"], torch.zeros(4))
    assert (path / CONFIG_NAME / "mine").read_text() == "keep"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_a_read_only_directory_is_not_replaced(tmp_path):
    path = save_model_dir(tmp_path / "model", {"v": 1}, {"w": torch.zeros(4)})
    os.chmod(path, 0o555)
    try:
        with pytest.raises(UserInputError, match=f"cannot write {path}: Permission denied"):
            save_model_dir(path, {"v": 2}, {"w": torch.ones(4)})
    finally:
        os.chmod(path, 0o755)
    assert load_model_dir(path)[0] == {"v": 1}


def test_a_replaced_directory_keeps_its_other_files_and_leftovers_go(tmp_path):
    """What a save replaces: the model files only. The user's files and folders, the card
    (when no new one is given) and the directory's permissions stay; what a killed save left
    beside it is removed, unless its process still runs."""
    path = save_model_dir(tmp_path / "model", {"v": 1}, {"w": torch.zeros(4)}, card="# A\n")
    (path / "notes.txt").write_text("mine")
    (path / "onnx").mkdir()
    (path / "onnx" / "encoder.onnx").write_bytes(b"onnx")
    os.chmod(path, 0o750)
    killed = tmp_path / ".model.partial-99999999-0123abcd"  # no such process
    killed.mkdir()
    (killed / WEIGHTS_NAME).write_bytes(b"partial")
    running = tmp_path / f".model.old-{os.getpid()}-0123abcd"
    running.mkdir()
    save_model_dir(path, {"v": 2}, {"w": torch.ones(4)})
    config, state = load_model_dir(path)
    assert config == {"v": 2} and torch.equal(state["w"], torch.ones(4))
    assert (path / CARD_NAME).read_text() == "# A\n" and (path / "notes.txt").read_text() == "mine"
    assert (path / "onnx" / "encoder.onnx").read_bytes() == b"onnx"
    assert path.stat().st_mode & 0o777 == 0o750
    assert sorted(p.name for p in tmp_path.iterdir()) == [running.name, "model"]


def test_config_json_is_standard_json(tmp_path):
    """Before: a NaN in the config (an imported beta) was written as non-standard ``NaN``."""
    with pytest.raises(UserInputError, match="its config holds a number JSON cannot represent"):
        save_model_dir(tmp_path / "model", {"beta": math.nan}, {"w": torch.zeros(4)})
    assert list(tmp_path.iterdir()) == []
