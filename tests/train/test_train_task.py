"""The trainer is modality-neutral: a toy task (vectors through a SimVQ autoencoder) trains through
the same :class:`GanTrainer` as the codec and the image tokenizer, with its checkpoints, its
monitoring, resume to identical weights, and NaN steps injected from the test."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch
import torch.nn.functional as F
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from torch import nn
from torch.utils.data import DataLoader

from simvq_audio.data.sampler import DistributedBatchSampler
from simvq_audio.quantize import SimVQ
from simvq_audio.train import checkpoint as ckpt
from simvq_audio.train.faults import TrainingDiverged
from simvq_audio.train.run_config import RunConfig
from simvq_audio.train.step import GanUpdates, StepResult
from simvq_audio.train.task import ThroughputUnit, TrainingData, TrainingTask
from simvq_audio.train.trainer import GanTrainer, RunOptions

from train_helpers import nan_steps

DIM = 8


class ToyAutoencoder(nn.Module):
    """``x [B, 8] -> (x_hat [B, 8], tokens [B], quantizer loss, stats)``."""

    def __init__(self):
        super().__init__()
        self.encoder, self.decoder = nn.Linear(DIM, 4), nn.Linear(4, DIM)
        self.quantizer = SimVQ(16, 4)

    def forward(self, x):
        q, tokens, loss, stats = self.quantizer(self.encoder(x))
        return self.decoder(q), tokens, loss, stats


class ToyLoss(nn.Module):
    def forward(self, x_hat, x, quantizer_loss):
        parts = {"mse": F.mse_loss(x_hat, x), "quantizer": quantizer_loss}
        return parts["mse"] + quantizer_loss, {k: v.detach() for k, v in parts.items()}


class ToyStep:
    """Hinge discriminator update, then the generator's."""

    def __init__(self, gan: GanUpdates, loss: ToyLoss):
        self.gan, self.loss = gan, loss

    def __call__(self, x: torch.Tensor, step: int) -> StepResult:
        gan = self.gan
        scalars = gan.set_learning_rate(step)
        x_hat, tokens, quantizer_loss, _ = gan.generator(x)
        real, fake = gan.discriminator(torch.cat([x, x_hat.detach()])).chunk(2)
        d_loss = F.relu(1 - real).mean() + F.relu(1 + fake).mean()
        skipped = gan.discriminator_update(d_loss, {}, scalars)
        if skipped:
            return StepResult(skipped, scalars, tokens)
        total, parts = self.loss(x_hat, x, quantizer_loss)
        return gan.generator_update(total, parts, scalars, tokens)


class Vectors(torch.utils.data.Dataset):
    """Fixed random vectors; ``set_epoch`` changes nothing (no random crops)."""

    def __init__(self, count: int):
        self.data = torch.randn(count, DIM, generator=torch.Generator().manual_seed(0))

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self):
        return len(self.data)

    def __getitem__(self, index):
        return self.data[index]


@dataclasses.dataclass
class ToyConfig:
    train: RunConfig


class ToyTask:
    throughput_unit = ThroughputUnit("vectors", "vec")

    def __init__(self, train: RunConfig):
        self.config = ToyConfig(train)
        self.valid_set = None
        self.validated_at: list[int] = []

    def read_data(self, train_dir, valid_dir, check_files):
        self.valid_set = None if valid_dir is None else Vectors(12)

    def build_models(self):
        self.loss = ToyLoss()
        return ToyAutoencoder(), nn.Linear(DIM, 1)

    def make_step(self, gan):
        return ToyStep(gan, self.loss)

    def training_data(self, num_processes, process_index, pin_memory):
        dataset = Vectors(12)
        sampler = DistributedBatchSampler(len(dataset), self.config.train.batch_size, num_processes,
                                          process_index, seed=self.config.train.seed)
        return TrainingData(dataset, sampler, DataLoader(dataset, batch_sampler=sampler))

    def batch_units(self, batch):
        return float(batch.shape[0])

    def validate(self, model, accelerator, writer, step):
        self.validated_at.append(step)
        with torch.no_grad():
            data = self.valid_set.data
            return {"valid/mse": float(F.mse_loss(model(data)[0], data))}


def toy_config(**changes) -> RunConfig:
    return RunConfig(**{"lr": 1e-2, "warmup_steps": 0, "scheduler": "constant",
                        "batch_size": 4, "max_steps": 6, "checkpoint_every": 2,
                        "keep_checkpoints": 3, "log_every": 1, "valid_every": 3,
                        "mixed_precision": "no", "num_workers": 0, **changes})


def train(task: TrainingTask, exp, resume: bool = False, valid: bool = False, **options) -> int:
    return GanTrainer(task, RunOptions(exp, exp.parent / "train",
                                       exp.parent / "valid" if valid else None, resume=resume,
                                       cpu=True, usage_window=2, **options)).run()


def test_a_toy_task_trains_through_the_gan_trainer(tmp_path):
    task = ToyTask(toy_config())
    exp = tmp_path / "exp"
    assert train(task, exp, valid=True) == 0
    assert [p.name for p in ckpt.list_checkpoints(exp)] == [
        "step_00000002", "step_00000004", "step_00000006"]
    newest = ckpt.latest_checkpoint(exp)
    assert sorted(p.name for p in newest.iterdir()) == sorted(
        ["COMPLETE"] + [f"{name}.safetensors" for name in (
            "generator", "ema_generator", "discriminator", "optimizer_generator",
            "optimizer_discriminator", "rng")]
        + [f"{name}.json" for name in ("config", "trainer_state", "rng", "optimizer_generator",
                                       "optimizer_discriminator")])
    state = ckpt.read_document(newest, "trainer_state")
    assert state["step"] == 6 and state["train_dir"] == str(tmp_path / "train")
    assert state["valid_dir"] == str(tmp_path / "valid")
    assert json.loads((exp / "config.json").read_text()) == {
        "train": dataclasses.asdict(task.config.train)}
    assert task.validated_at == [3, 6]

    scalars = set(EventAccumulator(str(exp / "tensorboard")).Reload().Tags()["scalars"])
    assert {"loss/mse", "loss/quantizer", "loss/generator", "loss/discriminator",
            "grad_norm/generator", "grad_norm/discriminator", "lr",
            "train/vectors_per_second", "train/steps_per_second", "train/skipped_steps",
            "codebook/utilisation", "codebook/perplexity", "codebook/dead_codes",
            "codebook/rank_W", "valid/mse"} <= scalars


def test_a_resumed_toy_run_ends_with_the_weights_of_an_uninterrupted_one(tmp_path):
    assert train(ToyTask(toy_config()), tmp_path / "straight") == 0
    assert train(ToyTask(toy_config(max_steps=3)), tmp_path / "split") == 0
    assert train(ToyTask(toy_config()), tmp_path / "split", resume=True) == 0
    for name in ("generator", "ema_generator", "discriminator", "optimizer_generator"):
        straight, resumed = (ckpt.read_tensors(ckpt.checkpoint_dir(tmp_path / run, 6), name)
                             for run in ("straight", "split"))
        assert straight.keys() == resumed.keys()
        assert all(torch.equal(straight[k], resumed[k]) for k in straight), name


def test_nan_steps_injected_by_the_test_are_skipped_counted_and_stop_the_run(tmp_path, capsys):
    with nan_steps(ToyStep, {2, 3}):
        assert train(ToyTask(toy_config()), tmp_path / "two", max_bad_steps=3) == 0
    out = capsys.readouterr().out
    assert "step 2: skipped, generator loss is nan (1 in a row, 1 in total)" in out
    assert "step 3: skipped, generator loss is nan (2 in a row, 2 in total)" in out
    state = ckpt.read_document(ckpt.checkpoint_dir(tmp_path / "two", 6), "trainer_state")
    assert state["bad_steps_total"] == 2
    assert train(ToyTask(toy_config(max_steps=1)), tmp_path / "one") == 0
    after_nan, after_one = (ckpt.read_tensors(ckpt.checkpoint_dir(tmp_path / run, step),
                                              "generator")
                            for run, step in (("two", 2), ("one", 1)))
    assert all(torch.equal(after_nan[k], after_one[k]) for k in after_one)  # step 2 left out

    with nan_steps(ToyStep, {2, 3, 4}), pytest.raises(
            TrainingDiverged, match=r"step 4: 3 steps in a row.*step_00000002"):
        train(ToyTask(toy_config()), tmp_path / "many", max_bad_steps=3)
    assert ckpt.latest_checkpoint(tmp_path / "many").name == "step_00000002"
