"""Config schema: defaults, YAML loading with bases, clear errors, dict round trip."""

import json
from pathlib import Path

import pytest

from simvq_audio.codec.config import Config, config_from_dict, load_config
from simvq_audio.config_loader import config_to_dict
from simvq_audio.errors import UserInputError

from repo_paths import RECIPES


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text)
    return path


@pytest.mark.parametrize("name,num_codes,kind", [
    ("simvq_4k", 4096, "simvq"), ("simvq_8k", 8192, "simvq"), ("simvq_65k", 65536, "simvq"),
    ("simvq_262k", 262144, "simvq"), ("simvq_4k_stable", 4096, "simvq"),
    ("simvq_8k_stable", 8192, "simvq"), ("simvq_65k_stable", 65536, "simvq"),
    ("simvq_262k_stable", 262144, "simvq"), ("vq_65k", 65536, "vanilla"),
    ("tiny", 1024, "simvq"), ("tiny_causal", 1024, "simvq"),
    ("simvq_65k_causal", 65536, "simvq")])
def test_recipes_load(name, num_codes, kind):
    config = load_config(RECIPES / f"{name}.yaml")
    assert config.model.quantizer.num_codes == num_codes
    assert config.model.quantizer.type == kind
    assert config.model.hop_length == 320


def test_paper_recipe_equals_the_schema_defaults_but_the_encoder_padding():
    config = load_config(RECIPES / "simvq_65k.yaml")
    assert config.model.encoder.padding == "reflect"  # the default stays zeros for old dirs
    config.model.encoder.padding = Config().model.encoder.padding
    assert config == Config()


@pytest.mark.parametrize("size", ["4k", "8k", "65k", "262k"])
def test_stable_variants_change_only_the_schedule_clipping_and_precision(size):
    paper, stable = (load_config(RECIPES / f"simvq_{size}{suffix}.yaml")
                     for suffix in ("", "_stable"))
    changed = {key: value for key, value in config_to_dict(stable)["train"].items()
               if config_to_dict(paper)["train"][key] != value}
    assert changed == {"warmup_steps": 1000, "scheduler": "cosine", "grad_clip": 1.0,
                       "mixed_precision": "bf16"}
    stable.train = paper.train
    assert stable == paper


@pytest.mark.parametrize("base, causal, padding", [("tiny", "tiny_causal", "reflect"),
                                                   ("simvq_65k", "simvq_65k_causal", "zeros")])
def test_causal_recipes_change_only_the_decoder_s_causality_and_the_encoder_padding(
        base, causal, padding):
    paper, streaming = (load_config(RECIPES / f"{name}.yaml") for name in (base, causal))
    assert paper.model.decoder.causal is False
    assert (streaming.model.decoder.causal, streaming.model.decoder.attention_window) == (
        True, 75)
    assert streaming.model.encoder.padding == padding
    streaming.model.decoder.causal = False
    streaming.model.encoder.padding = paper.model.encoder.padding
    assert streaming == paper


def test_paper_training_is_the_reference_s():
    train = load_config(RECIPES / "simvq_65k.yaml").train
    assert (train.lr, train.betas, train.warmup_steps, train.scheduler, train.grad_clip) == (
        1e-4, [0.5, 0.9], 0, "constant", 0.0)
    assert (train.mixed_precision, train.update_order, train.short_clips, train.ema_decay) == (
        "fp16", "generator_first", "tile", 0.999)


def test_base_file_is_extended(tmp_path):
    write(tmp_path, "base.yaml", "train: {lr: 0.5, batch_size: 3}\n")
    child = write(tmp_path, "child.yaml", "base: base.yaml\ntrain: {lr: 2e-4}\n")
    train = load_config(child).train
    assert (train.lr, train.batch_size) == (2e-4, 3)


def test_unknown_key_names_its_place_and_the_allowed_keys(tmp_path):
    path = write(tmp_path, "bad.yaml", "model:\n  encoder:\n    chanels: 8\n")
    with pytest.raises(UserInputError) as error:
        load_config(path)
    message = str(error.value)
    assert "bad.yaml" in message and "model.encoder.chanels" in message
    assert "channels" in message and "strides" in message


@pytest.mark.parametrize("text,fragment", [
    ("train: {batch_size: 2.5}", "'train.batch_size' must be an integer"),
    ("train: {lr: fast}", "'train.lr' must be a number"),
    ("model: {quantizer: {bias: 1}}", "'model.quantizer.bias' must be true or false"),
    ("model: {quantizer: {type: pq}}", "'model.quantizer.type' must be one of 'simvq', 'vanilla'"),
    ("model: {encoder: {strides: [2, x]}}", "'model.encoder.strides[1]' must be an integer"),
    ("model: 3", "model must be a mapping"),
    ("model: {decoder: {n_fft: 1281}}", "n_fft"),
    ("loss: {mel_resolutions: [{n_fft: 512, hop: 128}]}", "loss.mel_resolutions[0].hop"),
    ("discriminators: {multi_band: null}", "allowed keys in discriminators: multi_period, "
                                           "multi_resolution, dac_multi_period, dac_multi_band"),
    ("discriminators: {multi_period: {loss: wgan}}", "'discriminators.multi_period.loss' must "
                                                     "be one of 'hinge', 'lsgan'"),
    ("train: {update_order: random}", "'train.update_order' must be one of"),
    ("train: {short_clips: loop}", "'train.short_clips' must be one of 'tile', 'pad'"),
    ("train: {grad_clip: -1}", "train.grad_clip must be >= 0"),
    ("model: {decoder: {causal: 2}}", "'model.decoder.causal' must be true or false"),
    ("model: {decoder: {attention_window: 0}}", "model.decoder.attention_window must be >= 1"),
])
def test_wrong_values_are_reported_clearly(tmp_path, text, fragment):
    with pytest.raises(UserInputError) as error:
        load_config(write(tmp_path, "c.yaml", text))
    assert fragment in str(error.value)


def test_missing_file_and_base_loop(tmp_path):
    with pytest.raises(UserInputError, match="no such YAML config file"):
        load_config(tmp_path / "nope.yaml")
    loop = write(tmp_path, "loop.yaml", "base: loop.yaml\n")
    with pytest.raises(UserInputError, match="loop"):
        load_config(loop)


def test_disabled_discriminator_and_dict_round_trip():
    config = config_from_dict({"discriminators": {"dac_multi_band": None}})
    assert config.discriminators.dac_multi_band is None
    assert list(config.discriminators.enabled()) == ["multi_period", "multi_resolution",
                                                     "dac_multi_period"]
    data = json.loads(json.dumps(config_to_dict(config)))
    assert config_from_dict(data) == config
