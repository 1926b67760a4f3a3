"""The trainer in this process on CPU, end to end (slow): a few steps, checkpoints, TensorBoard,
export, NaN handling, resume past a damaged checkpoint. The quick cases:
tests/train/test_train_loop.py."""

from __future__ import annotations

import json

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from simvq_audio import cli
from simvq_audio.codec.config import config_from_dict
from simvq_audio.codec.export import export_model
from simvq_audio.codec.model import CodecModel
from simvq_audio.codec.train_step import CodecGanStep
from simvq_audio.model_dir import load_model_dir
from simvq_audio.train import checkpoint as ckpt

from train_helpers import make_data_dir, nan_steps, train_args, trainer_state, write_config


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_data_dir(tmp_path_factory.mktemp("corpus"))


@pytest.mark.slow
def test_few_steps_write_checkpoints_logs_and_an_exportable_model(tmp_path, data, capsys):
    config = write_config(tmp_path / "c.yaml", valid_every=4, keep_checkpoints=1)
    exp = tmp_path / "exp"
    assert cli.main(train_args(config, data, exp, "--valid-dir", str(data),
                               "--valid-utterances", "2", "--usage-window", "2")) == 0
    assert [p.name for p in ckpt.list_checkpoints(exp)] == ["step_00000004"]
    assert trainer_state(exp, 4)["step"] == 4 and trainer_state(exp, 4)["bad_steps_total"] == 0
    assert json.loads((exp / "config.json").read_text())["train"]["max_steps"] == 4
    assert (exp / "config.yaml").is_file()

    events = EventAccumulator(str(exp / "tensorboard")).Reload()
    tags = set(events.Tags()["scalars"])
    for tag in ("loss/mel", "loss/quantizer", "loss/generator", "loss/discriminator",
                "loss/adversarial", "loss/feature_matching", "grad_norm/generator",
                "grad_norm/discriminator", "lr", "train/audio_seconds_per_second",
                "codebook/utilisation", "codebook/perplexity", "codebook/dead_codes",
                "codebook/rank_W", "valid/mel_loss"):
        assert tag in tags, tag
    utilisation = [e.value for e in events.Scalars("codebook/utilisation")]
    assert len(utilisation) == 2 and all(0 < u <= 1 for u in utilisation)
    assert events.Tags()["audio"] and events.Tags()["images"]

    model_dir = export_model(exp, tmp_path / "model")
    config_json, weights = load_model_dir(model_dir)
    assert config_json["training"]["step"] == 4
    assert config_json["training"]["train_dir"] == str(data)
    generator = CodecModel.from_hparams(config_from_dict({"model": config_json["model"]}).model)
    generator.load_state_dict(weights)
    ema = ckpt.read_tensors(ckpt.checkpoint_dir(exp, 4), "ema_generator")
    assert all(torch.equal(weights[k], ema[k]) for k in ema)
    assert "4 training steps" in (model_dir / "README.md").read_text()


@pytest.mark.slow
def test_resume_skips_a_damaged_newest_checkpoint(tmp_path, data, capsys):
    config = write_config(tmp_path / "c.yaml", max_steps=4, checkpoint_every=2)
    exp = tmp_path / "exp"
    assert cli.main(train_args(config, data, exp)) == 0
    damaged = ckpt.checkpoint_dir(exp, 4) / "generator.safetensors"
    damaged.write_bytes(damaged.read_bytes()[:100])
    capsys.readouterr()
    assert cli.main(train_args(config, data, exp, "--resume", "--max-steps", "3")) == 0
    out = capsys.readouterr().out
    assert "skipping checkpoint" in out and "step_00000004" in out
    assert "resumed from" in out and "step_00000002 at step 2" in out
    assert trainer_state(exp, 3)["step"] == 3


@pytest.mark.slow
def test_nan_loss_is_skipped_counted_and_too_many_in_a_row_stop(tmp_path, data, capsys):
    config = write_config(tmp_path / "c.yaml", max_steps=3, checkpoint_every=3)
    with nan_steps(CodecGanStep, {2}):
        assert cli.main(train_args(config, data, tmp_path / "one")) == 0
    out = capsys.readouterr().out
    assert "step 2: skipped, generator loss is nan (1 in a row, 1 in total)" in out
    assert trainer_state(tmp_path / "one", 3)["bad_steps_total"] == 1

    config = write_config(tmp_path / "c.yaml", max_steps=8, checkpoint_every=2)
    exp = tmp_path / "many"
    with nan_steps(CodecGanStep, {3, 4, 5}):
        assert cli.main(train_args(config, data, exp, "--max-bad-steps", "3")) == 2
    err = capsys.readouterr().err
    assert "training stopped at step 5: 3 steps in a row had a non-finite value" in err
    assert "the last good checkpoint is" in err and "step_00000004" in err
    assert ckpt.latest_checkpoint(exp).name == "step_00000004"  # skipped steps, good weights
    assert trainer_state(exp, 4)["bad_steps_total"] == 2
    before, after = (ckpt.read_tensors(ckpt.checkpoint_dir(exp, step), "generator")
                     for step in (2, 4))
    # no optimiser update from a NaN step; the quantizer's W and b (tiny.yaml: code_fit moments)
    # follow the latents in the forward pass, as BatchNorm's running statistics do, so they
    # took in the two skipped steps' latents
    fitted = {k for k in before if k.startswith(("quantizer.linear.", "quantizer.latent_"))}
    assert fitted and all(torch.equal(before[k], after[k]) for k in before.keys() - fitted
                          - {"quantizer.fit_count"})
    assert int(after["quantizer.fit_count"]) == int(before["quantizer.fit_count"]) + 2
