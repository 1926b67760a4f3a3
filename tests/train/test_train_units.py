"""Trainer building blocks: flattened state, lr schedule, EMA, RNG capture, checkpoints, faults."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
import torch

from simvq_audio.codec.config import TrainConfig
from simvq_audio.train import checkpoint as ckpt
from simvq_audio.train.ema import EMA
from simvq_audio.train.faults import BadStepCounter, TrainingDiverged
from simvq_audio.train.flat_state import flatten_state, unflatten_state
from simvq_audio.train.optim import build_optimizer, learning_rate
from simvq_audio.train.rng import capture_rng, restore_rng


def _stepped_adam() -> torch.optim.Adam:
    model = torch.nn.Linear(3, 2)
    optimizer = build_optimizer(model.parameters(), TrainConfig())
    model(torch.randn(4, 3)).sum().backward()
    optimizer.step()
    return optimizer


def test_optimizer_state_round_trips_through_json_and_tensors():
    state = _stepped_adam().state_dict()
    tensors, skeleton = flatten_state(state)
    restored = unflatten_state(json.loads(json.dumps(skeleton)), tensors)
    assert set(restored["state"]) == {0, 1}  # int keys survive JSON
    for key, values in state["state"].items():
        for name, tensor in values.items():
            assert torch.equal(restored["state"][key][name], tensor)
    assert restored["param_groups"][0]["betas"] == [0.5, 0.9]
    fresh = _stepped_adam()
    fresh.load_state_dict(restored)
    assert torch.equal(fresh.state_dict()["state"][0]["exp_avg"], state["state"][0]["exp_avg"])


def test_flatten_refuses_objects_it_cannot_store():
    with pytest.raises(TypeError, match="object"):
        flatten_state({"x": object()})


def test_learning_rate_warms_up_linearly_then_holds_or_decays():
    constant = TrainConfig(lr=1e-3, warmup_steps=10, scheduler="constant", max_steps=100)
    assert learning_rate(0, constant) == pytest.approx(1e-4)
    assert learning_rate(9, constant) == pytest.approx(1e-3)
    assert learning_rate(80, constant) == pytest.approx(1e-3)
    cosine = TrainConfig(lr=1e-3, warmup_steps=10, scheduler="cosine", max_steps=110)
    assert learning_rate(10, cosine) == pytest.approx(1e-3)
    assert learning_rate(60, cosine) == pytest.approx(0.5e-3)
    assert learning_rate(110, cosine) == pytest.approx(0.0, abs=1e-12)


def test_paper_learning_rate_is_constant_from_the_first_step():
    paper = TrainConfig()  # the reference's: scheduler "None", no warm-up
    assert {learning_rate(step, paper) for step in (0, 1, 999, 10**6)} == {1e-4}


def test_ema_moves_towards_the_weights_by_one_minus_decay():
    model = torch.nn.Linear(2, 2)
    ema = EMA(model, decay=0.9)
    before = ema.module.weight.clone()
    with torch.no_grad():
        model.weight.add_(1.0)
    ema.update(model)
    assert torch.allclose(ema.module.weight, before + 0.1)
    assert not ema.module.weight.requires_grad and not ema.module.training


def test_rng_restore_replays_python_numpy_and_torch():
    state = capture_rng()
    tensors, skeleton = flatten_state(state)
    first = (random.random(), np.random.rand(), torch.rand(1).item())
    restore_rng(unflatten_state(json.loads(json.dumps(skeleton)), tensors))
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == first


def _write(exp_dir, step):
    return ckpt.write_checkpoint(exp_dir, step, {"weights": {"w": torch.full((4,), float(step))}},
                                 {"state": {"step": step}})


def test_checkpoint_round_trip_and_newest_complete_is_chosen(tmp_path):
    for step in (2, 4):
        _write(tmp_path, step)
    newest = ckpt.latest_checkpoint(tmp_path)
    assert newest.name == "step_00000004"
    assert ckpt.read_document(newest, "state") == {"step": 4}
    assert torch.equal(ckpt.read_tensors(newest, "weights")["w"], torch.full((4,), 4.0))
    assert not list((tmp_path / ckpt.CHECKPOINTS).glob(".tmp_*"))


@pytest.mark.parametrize("damage, reason", [
    (lambda p: (p / ckpt.MARKER).unlink(), "no COMPLETE marker"),
    (lambda p: (p / "weights.safetensors").write_bytes(
        (p / "weights.safetensors").read_bytes()[:-7]), "truncated or damaged"),
    (lambda p: (p / "state.json").write_text('{"step": 5}'), "truncated or damaged"),
    (lambda p: (p / "weights.safetensors").unlink(), "weights.safetensors is missing"),
])
def test_damaged_newest_checkpoint_is_skipped_with_its_name(tmp_path, damage, reason):
    _write(tmp_path, 2)
    damage(_write(tmp_path, 4))
    messages = []
    assert ckpt.latest_checkpoint(tmp_path, report=messages.append).name == "step_00000002"
    assert len(messages) == 1 and "step_00000004" in messages[0] and reason in messages[0]


def test_prune_keeps_the_newest_and_drops_torn(tmp_path):
    for step in (1, 2, 3, 4):
        _write(tmp_path, step)
    (ckpt.checkpoint_dir(tmp_path, 4) / ckpt.MARKER).unlink()
    ckpt.prune_checkpoints(tmp_path, keep=2)
    assert [p.name for p in ckpt.list_checkpoints(tmp_path)] == ["step_00000002", "step_00000003"]


def test_bad_steps_in_a_row_stop_with_a_clear_message():
    counter = BadStepCounter(max_in_a_row=2)
    counter.bad(5, "generator loss is nan", None)
    counter.good()
    counter.bad(7, "generator loss is nan", "exp/checkpoints/step_00000006")
    with pytest.raises(TrainingDiverged, match=r"step 8: 2 steps in a row.*step_00000006"):
        counter.bad(8, "generator loss is inf", "exp/checkpoints/step_00000006")
    assert counter.total == 3

