"""Config schema: defaults, YAML loading with bases, clear errors, dict round trip."""

import json
from pathlib import Path

import pytest

from simvq_audio.config import Config, config_from_dict, config_to_dict, load_config
from simvq_audio.errors import UserInputError

RECIPES = Path(__file__).resolve().parents[1] / "recipes"


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text)
    return path


@pytest.mark.parametrize("name,num_codes,kind", [
    ("simvq_4k", 4096, "simvq"), ("simvq_8k", 8192, "simvq"), ("simvq_65k", 65536, "simvq"),
    ("simvq_262k", 262144, "simvq"), ("vq_65k", 65536, "vanilla"), ("tiny", 1024, "simvq")])
def test_recipes_load(name, num_codes, kind):
    config = load_config(RECIPES / f"{name}.yaml")
    assert config.model.quantizer.num_codes == num_codes
    assert config.model.quantizer.type == kind
    assert config.model.hop_length == 320


def test_paper_recipe_equals_the_schema_defaults():
    assert load_config(RECIPES / "simvq_65k.yaml") == Config()


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
])
def test_wrong_values_are_reported_clearly(tmp_path, text, fragment):
    with pytest.raises(UserInputError) as error:
        load_config(write(tmp_path, "c.yaml", text))
    assert fragment in str(error.value)


def test_missing_file_and_base_loop(tmp_path):
    with pytest.raises(UserInputError, match="not found"):
        load_config(tmp_path / "nope.yaml")
    loop = write(tmp_path, "loop.yaml", "base: loop.yaml\n")
    with pytest.raises(UserInputError, match="loop"):
        load_config(loop)


def test_disabled_discriminator_and_dict_round_trip():
    config = config_from_dict({"discriminators": {"multi_band": None}})
    assert config.discriminators.multi_band is None
    data = json.loads(json.dumps(config_to_dict(config)))
    assert config_from_dict(data) == config
