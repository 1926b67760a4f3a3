"""The one interface of the audio codec and the image tokenizer: both pass the same tests of
from_config / save_pretrained / from_pretrained, model_hash, the modality key and the grad mode."""

import json
from dataclasses import dataclass
from typing import Callable

import pytest
import torch

from simvq_audio.codec import SimVQCodec
from simvq_audio.errors import UserInputError
from simvq_audio.image.tokenizer import SimVQImageTokenizer
from simvq_audio.model_dir import CONFIG_NAME, model_hash, read_modality
from simvq_audio.pretrained_tokenizer import PretrainedTokenizer, load_pretrained

from repo_paths import RECIPES


@dataclass
class Case:
    cls: type[PretrainedTokenizer]
    recipe: str
    encode: Callable[[PretrainedTokenizer], torch.Tensor]
    """Tokens of a fixed input."""


CASES = {
    "audio": Case(SimVQCodec, "tiny.yaml",
                  lambda model: model.encode(torch.linspace(-0.5, 0.5, 2000), 24000).ids),
    "image": Case(SimVQImageTokenizer, "image_tiny.yaml",
                  lambda model: model.encode(torch.linspace(0, 1, 3 * 32 * 32).reshape(1, 3, 32,
                                                                                      32))),
}


@pytest.fixture(scope="module", params=sorted(CASES))
def case(request):
    return CASES[request.param]


@pytest.fixture(scope="module")
def model(case):
    torch.manual_seed(0)
    return case.cls.from_config(RECIPES / case.recipe)


def test_from_config_takes_a_recipe_or_its_model_config(case, model):
    torch.manual_seed(0)
    again = case.cls.from_config(model.config)
    assert again.config == model.config
    assert again.model_hash == model.model_hash  # same seed, same weights


def test_save_and_load_round_trip(case, model, tmp_path):
    path = model.save_pretrained(tmp_path / "model", card="# card\n")
    saved = json.loads((path / CONFIG_NAME).read_text())
    assert saved["modality"] == case.cls.modality and isinstance(saved["model"], dict)
    loaded = case.cls.from_pretrained(path, device="cpu", dtype=torch.float32)
    assert type(loaded) is case.cls and loaded.config == model.config
    assert loaded.model_hash == model.model_hash
    assert torch.equal(case.encode(loaded), case.encode(model))
    assert type(load_pretrained(path)) is case.cls


def test_model_hash_follows_the_weights(case, model):
    fresh = case.cls(case.cls.build_model(model.config), model.config)
    fresh.model.load_state_dict(model.model.state_dict())
    before = fresh.model_hash
    assert before == model.model_hash
    weight = next(fresh.model.parameters())
    with torch.no_grad():
        weight.add_(1.0)
    assert fresh.model_hash != before
    assert fresh.model_hash == model_hash(fresh.model.state_dict(), fresh.identity_settings())
    with torch.no_grad():
        weight.sub_(1.0)
    fresh.model.load_state_dict(model.model.state_dict())
    assert fresh.model_hash == before


def test_grad_mode_is_the_same(case, model, tmp_path):
    loaded = case.cls.from_pretrained(model.save_pretrained(tmp_path / "model"))
    for each in (model, loaded):
        assert not each.model.training
        assert not any(p.requires_grad for p in each.model.parameters())
        modes = []
        hooks = [part.register_forward_pre_hook(
            lambda module, args: modes.append(torch.is_inference_mode_enabled()))
            for part in (each.model.encoder, each.model.decoder)]
        try:
            tokens = case.encode(each)
            output = each.decode(tokens)
        finally:
            for hook in hooks:
                hook.remove()
        assert modes and all(modes)  # encoder and decoder both ran, under inference_mode
        assert not tokens.requires_grad and not output.requires_grad


def test_the_modality_key_picks_the_class(case, model, tmp_path):
    path = model.save_pretrained(tmp_path / "model")
    other = next(c.cls for c in CASES.values() if c.cls is not case.cls)
    with pytest.raises(UserInputError, match=f"load it with {case.cls.__name__}"):
        other.from_pretrained(path)
    config = json.loads((path / CONFIG_NAME).read_text())
    (path / CONFIG_NAME).write_text(json.dumps({**config, "modality": "video"}))
    with pytest.raises(UserInputError, match="'modality' must be one of 'audio', 'image'"):
        load_pretrained(path)


def test_a_directory_without_modality_is_an_audio_codec(tmp_path):
    """Codec directories were written without the key; image directories always had it."""
    torch.manual_seed(0)
    codec = SimVQCodec.from_config(RECIPES / "tiny.yaml")
    path = codec.save_pretrained(tmp_path / "model")
    config = json.loads((path / CONFIG_NAME).read_text())
    del config["modality"]
    (path / CONFIG_NAME).write_text(json.dumps(config))
    assert read_modality(config) == "audio"
    loaded = load_pretrained(path)
    assert type(loaded) is SimVQCodec and loaded.model_hash == codec.model_hash
    with pytest.raises(UserInputError, match="not an image tokenizer"):
        SimVQImageTokenizer.from_pretrained(path)


def test_the_search_backend_is_fixed_when_the_model_is_built(case, model, tmp_path):
    path = model.save_pretrained(tmp_path / "model")
    built = case.cls.from_config(model.config, search_backend="torch")
    loaded = case.cls.from_pretrained(path, search_backend="torch")
    assert built.model.quantizer.search_backend == loaded.model.quantizer.search_backend == "torch"
    assert model.model.quantizer.search_backend == "auto"
    with pytest.raises(UserInputError, match="backend must be one of"):
        case.cls.from_pretrained(path, search_backend="gpu")


def test_to_only_moves_and_set_compute_dtype_chooses_the_autocast_dtype(case, model):
    """``.to(torch.bfloat16)`` used to set the autocast dtype while the weights stayed float32:
    it is refused, naming the call that does that."""
    fresh = case.cls(case.cls.build_model(model.config), model.config)
    for call in (lambda: fresh.to(torch.bfloat16), lambda: fresh.to("cpu", dtype=torch.float16)):
        with pytest.raises(UserInputError, match=r"\.set_compute_dtype\(torch\.(bfloat|float)16"):
            call()
    assert fresh.compute_dtype == torch.float32
    assert fresh.to("cpu") is fresh and fresh.device == torch.device("cpu")
    assert fresh.set_compute_dtype(torch.bfloat16) is fresh
    assert fresh.compute_dtype == torch.bfloat16
    assert {p.dtype for p in fresh.model.parameters()} == {torch.float32}
    autocast = []
    hooks = [part.register_forward_pre_hook(
        lambda module, args: autocast.append(torch.get_autocast_dtype("cpu")
                                             if torch.is_autocast_enabled("cpu") else None))
        for part in fresh.model.modules()]
    try:
        case.encode(fresh)
    finally:
        for hook in hooks:
            hook.remove()
    assert autocast and set(autocast) == {torch.bfloat16}
    with pytest.raises(UserInputError, match="compute dtype must be float32, bfloat16"):
        fresh.set_compute_dtype(torch.int8)
