"""The model directory: round trip, refusal of every bad directory, state-dict checks, hashing."""

import pickle

import pytest
import torch
from torch import nn

from simvq_audio.errors import UserInputError
from simvq_audio.model_dir import (
    CONFIG_NAME,
    WEIGHTS_NAME,
    check_state_dict,
    load_model_dir,
    model_hash,
    save_model_dir,
)

CONFIG = {"codebook_size": 4096, "dim": 8, "strides": [2, 4], "name": "tiny"}


def small_model() -> nn.Module:
    return nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3), nn.Embedding(5, 3))


@pytest.fixture
def saved(tmp_path):
    model = small_model()
    path = save_model_dir(tmp_path / "model", CONFIG, model.state_dict(), card="# tiny\n")
    return path, model


def test_round_trip(saved):
    path, model = saved
    assert sorted(p.name for p in path.iterdir()) == ["README.md", CONFIG_NAME, WEIGHTS_NAME]
    config, state = load_model_dir(path)
    assert config == CONFIG
    expected = model.state_dict()
    assert state.keys() == expected.keys()
    assert all(torch.equal(state[k], expected[k]) and state[k].dtype == expected[k].dtype
               for k in expected)
    fresh = small_model()
    check_state_dict(fresh, state)
    fresh.load_state_dict(state)
    assert model_hash(fresh.state_dict()) == model_hash(expected)


def test_save_into_nested_new_directory_and_overwrite(tmp_path):
    path = tmp_path / "a" / "b"
    save_model_dir(path, {"v": 1}, {"w": torch.zeros(2)})
    save_model_dir(path, {"v": 2}, {"w": torch.ones(2)})
    config, state = load_model_dir(path)
    assert config == {"v": 2} and torch.equal(state["w"], torch.ones(2))
    assert sorted(p.name for p in path.iterdir()) == [CONFIG_NAME, WEIGHTS_NAME]


def test_tied_and_sliced_tensors_are_saved(tmp_path):
    base = torch.arange(12.0)
    tied = {"a": base[:6], "b": base[6:], "c": base, "d": base.view(3, 4).t(), "e": torch.empty(0)}
    save_model_dir(tmp_path, {}, tied)
    _, state = load_model_dir(tmp_path)
    assert all(torch.equal(state[k], tied[k]) for k in tied)


def test_save_refuses_a_file_path(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(UserInputError, match="not a directory"):
        save_model_dir(tmp_path / "file", {}, {})


def test_unserialisable_config_writes_nothing(tmp_path):
    with pytest.raises(TypeError):
        save_model_dir(tmp_path / "m", {"bad": object()}, {"w": torch.zeros(1)})
    assert not (tmp_path / "m").exists()


def write_weights(path, content: bytes):
    (path / WEIGHTS_NAME).write_bytes(content)


def pickled_checkpoint(path):
    torch.save({"w": torch.zeros(2)}, path / WEIGHTS_NAME)


@pytest.mark.parametrize("damage, message", [
    (lambda p: (p / CONFIG_NAME).unlink(), "config.json is missing"),
    (lambda p: (p / WEIGHTS_NAME).unlink(), "model.safetensors is missing"),
    (lambda p: (p / CONFIG_NAME).write_text("{not json"), "not valid JSON"),
    (lambda p: (p / CONFIG_NAME).write_bytes(b"\xff\xfe\x00"), "not valid JSON"),
    (lambda p: (p / CONFIG_NAME).write_text("[1, 2]"), "JSON object"),
    (lambda p: write_weights(p, b""), "not a valid safetensors"),
    (lambda p: write_weights(p, bytes(range(256)) * 4), "damaged"),
    (lambda p: write_weights(p, (p / WEIGHTS_NAME).read_bytes()[:-5]), "damaged or truncated"),
    (lambda p: write_weights(p, (p / WEIGHTS_NAME).read_bytes() + b"junk"), "not a valid"),
    (lambda p: write_weights(p, pickle.dumps({"w": [1.0]})), "pickled torch checkpoint"),
    (pickled_checkpoint, "pickled torch checkpoint"),
])
def test_bad_directories_are_refused(saved, damage, message):
    path, _ = saved
    damage(path)
    with pytest.raises(UserInputError) as caught:
        load_model_dir(path)
    text = str(caught.value)
    assert message in text and str(path) in text and "\n" not in text


def test_missing_directory_and_file_instead_of_directory(tmp_path):
    with pytest.raises(UserInputError, match="does not exist"):
        load_model_dir(tmp_path / "nowhere")
    (tmp_path / "plain").write_text("x")
    with pytest.raises(UserInputError, match="is not a directory"):
        load_model_dir(tmp_path / "plain")


def test_pickle_is_never_executed(saved, monkeypatch):
    path, _ = saved
    pickled_checkpoint(path)
    monkeypatch.setattr(pickle, "loads", lambda *a, **k: pytest.fail("unpickled"))
    monkeypatch.setattr(torch, "load", lambda *a, **k: pytest.fail("torch.load called"))
    with pytest.raises(UserInputError):
        load_model_dir(path)


def test_check_state_dict_lists_every_problem():
    model = small_model()
    state = dict(model.state_dict())
    del state["0.bias"]
    state["extra.weight"] = torch.zeros(1)
    state["2.weight"] = torch.zeros(6, 3)
    with pytest.raises(UserInputError) as caught:
        check_state_dict(model, state)
    text = str(caught.value)
    assert "missing (1): 0.bias" in text and "unexpected (1): extra.weight" in text
    assert "2.weight (file [6, 3], model [5, 3])" in text


def test_check_state_dict_shortens_long_lists():
    model = nn.Sequential(*[nn.Linear(1, 1) for _ in range(10)])
    with pytest.raises(UserInputError, match=r"missing \(20\): .*, \.\.\. and 16 more"):
        check_state_dict(model, {})


def test_hash_is_stable_and_sensitive():
    state = small_model().state_dict()
    digest = model_hash(state)
    assert len(digest) == 32 and int(digest, 16) >= 0
    reordered = {k: state[k].clone() for k in reversed(list(state))}
    assert model_hash(reordered) == digest
    for name in state:
        if state[name].is_floating_point():
            changed = dict(state)
            changed[name] = state[name].clone()
            changed[name].view(-1)[0] += 1e-3
            assert model_hash(changed) != digest, name
    retyped = {**state, "0.weight": state["0.weight"].double()}
    reshaped = {**state, "0.weight": state["0.weight"].reshape(-1)}
    renamed = {("x" if k == "0.weight" else k): v for k, v in state.items()}
    assert len({digest, model_hash(retyped), model_hash(reshaped), model_hash(renamed)}) == 4


def test_hash_survives_save_and_load(saved):
    path, model = saved
    assert model_hash(load_model_dir(path)[1]) == model_hash(model.state_dict())
