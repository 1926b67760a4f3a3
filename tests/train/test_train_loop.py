"""The trainer in this process on CPU, the quick cases: existing checkpoints need --resume, bad
data dirs refused before any model is built, fp16 on the CPU. The training runs themselves (a few
steps, checkpoints, TensorBoard, export, NaN handling, resume past a damaged checkpoint) are
slow: tests/slow/test_train_loop_slow.py."""

from __future__ import annotations

import pytest

from simvq_audio import cli
from simvq_audio.train import checkpoint as ckpt

from train_helpers import make_data_dir, train_args, trainer_state, write_config


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_data_dir(tmp_path_factory.mktemp("corpus"))


def test_existing_checkpoints_need_resume(tmp_path, data, capsys):
    exp = tmp_path / "exp"
    ckpt.write_checkpoint(exp, 2, {}, {"trainer_state": {}})
    assert cli.main(train_args(write_config(tmp_path / "c.yaml"), data, exp)) == 2
    assert "already has checkpoints: pass --resume" in capsys.readouterr().err


def test_bad_data_dirs_are_refused_before_any_model_is_built(tmp_path, data, capsys,
                                                            monkeypatch):
    monkeypatch.setattr("simvq_audio.codec.training.CodecModel.from_hparams",
                        lambda *a: pytest.fail("a model was built"))
    missing = tmp_path / "missing"
    missing.mkdir()
    (missing / "wav.scp").write_text(f"a {tmp_path / 'nowhere.wav'}\n")
    duplicate = tmp_path / "duplicate"
    duplicate.mkdir()
    line = (data / "wav.scp").read_text().splitlines()[0]
    (duplicate / "wav.scp").write_text(f"{line}\n{line}\n")
    config = write_config(tmp_path / "c.yaml")
    code = cli.main(train_args(config, missing, tmp_path / "exp", "--valid-dir", str(duplicate)))
    err = capsys.readouterr().err
    assert code == 2
    assert f"data dir {missing} has 1 problem" in err and "nowhere.wav" in err
    assert f"data dir {duplicate}" in err and "wav.scp:2" in err and "duplicate" in err.lower()
    assert not (tmp_path / "exp" / "checkpoints").exists()


def test_an_fp16_config_trains_in_float32_on_the_cpu_and_says_so(tmp_path, data, capsys):
    config = write_config(tmp_path / "c.yaml", mixed_precision="fp16", max_steps=1,
                          checkpoint_every=1)
    exp = tmp_path / "exp"
    assert cli.main(train_args(config, data, exp)) == 0
    out = capsys.readouterr().out
    assert "warning: train.mixed_precision is fp16, which needs a CUDA GPU: training in " \
           "float32" in out
    assert trainer_state(exp, 1)["grad_scaler"] is None  # no loss scaling in float32
