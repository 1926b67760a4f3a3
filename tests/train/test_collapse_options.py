"""The training options against codebook collapse in a small codec: the encoder's data-dependent
init (``train.encoder_init: data``), the quantizer's learning-rate scale
(``train.quantizer_lr_scale``) and the config checks of SimVQ's ``code_fit`` (its behaviour:
tests/quantize/test_code_fit.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from simvq_audio.codec.config import config_from_dict, load_config
from simvq_audio.codec.encoder import Encoder
from simvq_audio.codec.model import CodecModel
from simvq_audio.codec.training import CodecTask
from simvq_audio.config_loader import config_to_dict
from simvq_audio.errors import UserInputError
from simvq_audio.metrics.synthetic import speech_like
from simvq_audio.train.optim import build_optimizer, set_learning_rate

from repo_paths import TINY_RECIPE
from train_helpers import make_data_dir


def speech_like_batch(batch: int, samples: int, seed: int = 0) -> torch.Tensor:
    """``wav [batch, samples]`` of :func:`~simvq_audio.metrics.synthetic.speech_like`."""
    rng = np.random.default_rng(seed)
    return torch.from_numpy(np.stack([speech_like(samples / 24000, 24000, rng)
                                      for _ in range(batch)]))


def tiny_encoder() -> Encoder:
    torch.manual_seed(0)
    return Encoder(dim=16, channels=4, lstm_layers=1)


@torch.no_grad()
def test_data_init_standardises_every_conv_output_channel_on_the_batch():
    encoder, wav = tiny_encoder(), speech_like_batch(4, 4800)
    before = encoder(wav)
    encoder.init_from_data(wav)
    after = encoder(wav)
    assert float(before.std(dim=(0, 2)).mean()) < 0.05  # the default init's narrow latents
    torch.testing.assert_close(after.mean(dim=(0, 2)), torch.zeros(16), atol=1e-4, rtol=0)
    torch.testing.assert_close(after.std(dim=(0, 2)), torch.ones(16), atol=1e-3, rtol=0)
    # every conv, not only the last: the first conv's output is standardised too
    first, _ = encoder.downsample[0](wav.unsqueeze(1))
    torch.testing.assert_close(first.std(dim=(0, 2)), torch.ones(4), atol=5e-3, rtol=0)


@torch.no_grad()
def test_data_init_changes_weights_only_streaming_still_equals_one_pass():
    encoder, wav = tiny_encoder(), speech_like_batch(2, 3200)
    encoder.init_from_data(wav)
    assert not encoder.downsample[0].conv._forward_hooks  # hooks removed
    first, state = encoder.stream(wav[:, :1600], None, final=False)
    second, _ = encoder.stream(wav[:, 1600:], state, final=True)
    torch.testing.assert_close(torch.cat([first, second], dim=-1), encoder(wav))


def test_quantizer_lr_scale_gives_the_quantizer_its_own_group():
    config = load_config(TINY_RECIPE)
    config.model.quantizer.code_fit = "gradient"  # the paper's W, which an optimiser trains
    model = CodecModel.from_hparams(config.model)
    config.train.quantizer_lr_scale = 10.0
    optimizer = build_optimizer(model.parameters(), config.train, model.quantizer.parameters())
    rest, quantizer = optimizer.param_groups
    assert {id(p) for p in quantizer["params"]} == {id(p) for p in model.quantizer.parameters()}
    assert len(rest["params"]) + len(quantizer["params"]) == len(list(model.parameters()))
    set_learning_rate(optimizer, 2e-4)
    assert (rest["lr"], quantizer["lr"]) == (2e-4, pytest.approx(2e-3))
    config.train.quantizer_lr_scale = 1.0  # the paper: one group, as checkpoints always had
    assert len(build_optimizer(model.parameters(), config.train,
                               model.quantizer.parameters()).param_groups) == 1


def test_codec_task_initialises_the_encoder_from_the_same_crops_everywhere(tmp_path):
    data = make_data_dir(tmp_path, count=5)
    config_dict = config_to_dict(load_config(TINY_RECIPE))
    config_dict["train"]["encoder_init"] = "data"
    tasks = [CodecTask(config_from_dict(config_dict)) for _ in range(2)]
    for task in tasks:
        task.read_data(data, None, check_files=True)
    batch = tasks[0].init_batch()
    assert batch.shape == (5, 24000)
    torch.testing.assert_close(batch, tasks[1].init_batch())
    torch.manual_seed(0)
    generator, _ = tasks[0].build_models()
    z = generator.encoder(batch)
    torch.testing.assert_close(z.std(dim=(0, 2)), torch.ones(z.shape[1]), atol=1e-3, rtol=0)


@pytest.mark.parametrize("section, changes, message", [
    ("train", {"quantizer_lr_scale": 0.0}, "train.quantizer_lr_scale must be > 0"),
    ("train", {"ema_decay": 1.0}, r"train.ema_decay must lie in \[0, 1\)"),
    ("train", {"encoder_init": "kmeans"}, "encoder_init"),
    ("quantizer", {"code_fit": "kmeans"}, "code_fit"),
    ("quantizer", {"fit_decay": 1.0}, r"model.quantizer.fit_decay must lie in \[0, 1\)"),
    ("quantizer", {"type": "vanilla"}, "code_fit 'moments' is SimVQ's"),
    ("quantizer", {"bias": False}, "it needs bias: true"),
])
def test_bad_option_values_are_refused_by_name(section, changes, message):
    config_dict = config_to_dict(load_config(TINY_RECIPE))
    target = config_dict["model"]["quantizer"] if section == "quantizer" else config_dict["train"]
    target.update(changes)
    with pytest.raises(UserInputError, match=message):
        config_from_dict(config_dict)


def test_the_vq_twin_recipe_loads_with_the_papers_fit():
    quantizer = load_config(TINY_RECIPE.parent / "tiny_vq.yaml").model.quantizer
    assert (quantizer.type, quantizer.code_fit, quantizer.beta) == ("vanilla", "gradient", 0.25)
