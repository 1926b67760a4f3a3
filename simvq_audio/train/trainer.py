"""The GAN trainer, the same for every modality: it runs a
:class:`~simvq_audio.train.task.TrainingTask` (the speech codec, the image tokenizer) under
accelerate, keeps the EMA generator, writes and restores checkpoints, skips NaN steps, stops
cleanly on SIGTERM/SIGINT and monitors the run. It knows nothing about audio or images.

Runs unchanged under ``python``, ``accelerate launch`` (CPU with gloo, one or many GPUs) and
multi-node launches: models and optimizers go through ``accelerator.prepare``; the data loader
does not, it is sharded by :class:`~simvq_audio.data.sampler.DistributedBatchSampler` so that its
position can be saved and resumed exactly.

A checkpoint holds ``generator``, ``ema_generator``, ``discriminator`` and ``optimizer_<name>``
(tensors), and the ``config`` (the task's), ``trainer_state`` and per-process ``rng`` documents.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import yaml
from accelerate import Accelerator
from accelerate.utils import gather_object, set_seed

from simvq_audio.atomic import atomic_path
from simvq_audio.config_loader import config_to_dict
from simvq_audio.errors import UserInputError
from simvq_audio.model_dir import check_state_dict
from simvq_audio.train import checkpoint as ckpt
from simvq_audio.train.ema import EMA
from simvq_audio.train.faults import BadStepCounter, StopSignals
from simvq_audio.train.flat_state import flatten_state, unflatten_state
from simvq_audio.train.monitor import TrainingMonitor
from simvq_audio.train.optim import build_optimizer
from simvq_audio.train.rng import capture_rng, restore_rng
from simvq_audio.train.step import GanUpdates
from simvq_audio.train.task import TrainingTask


def training_precision(requested: str, cpu: bool) -> tuple[str, str | None]:
    """The mixed precision a run uses for the config's ``requested`` one, and a warning when
    they differ: fp16 (with its gradient scaler) needs CUDA, so without a GPU (or with
    ``cpu``) the run trains in float32 ("no") instead; bf16 and no run anywhere."""
    if requested == "fp16" and (cpu or not torch.cuda.is_available()):
        return "no", ("train.mixed_precision is fp16, which needs a CUDA GPU: training in "
                      "float32 on this machine (set train.mixed_precision to bf16 or no to "
                      "choose yourself)")
    return requested, None


@dataclass
class RunOptions:
    """Run settings outside the YAML config: the experiment folder, the training data and the
    optional validation data (a task reads them; both are recorded in every checkpoint),
    ``resume``, ``cpu``, the limit of NaN/inf steps in a row and the window (steps) of the
    codebook statistics."""

    exp_dir: Path
    train_dir: Path
    valid_dir: Path | None = None
    resume: bool = False
    cpu: bool = False
    max_bad_steps: int = 10
    usage_window: int = 1000


class GanTrainer:
    """``GanTrainer(task, options).run()`` trains to ``task.config.train.max_steps`` and returns the
    exit status: 0 when done, ``128 + signal`` after a SIGTERM/SIGINT (checkpoint written).

    Raises:
        UserInputError: bad data (before any model is built), an exp dir that already has
            checkpoints without ``resume``, checkpoint weights that do not fit the config, or
            :class:`~simvq_audio.train.faults.TrainingDiverged`.
    """

    def __init__(self, task: TrainingTask, options: RunOptions):
        self.task, self.options = task, options
        self.train = train = task.config.train
        self.exp_dir = Path(options.exp_dir)
        self.accelerator = accelerator = self._make_accelerator()
        task.read_data(Path(options.train_dir),
                       Path(options.valid_dir) if options.valid_dir else None,
                       check_files=accelerator.is_main_process)
        if ckpt.list_checkpoints(self.exp_dir) and not options.resume:
            raise UserInputError(f"{self.exp_dir} already has checkpoints: pass --resume to "
                                 f"continue that run, or choose another --exp-dir")

        set_seed(train.seed)  # identical initial weights on every process
        generator, discriminator = task.build_models()
        self.generator, self.discriminator, g_opt, d_opt = accelerator.prepare(
            generator, discriminator,
            build_optimizer(generator.parameters(), train, generator.quantizer.parameters()),
            build_optimizer(discriminator.parameters(), train))
        self.optimizers = {"generator": g_opt, "discriminator": d_opt}
        self.ema = EMA(generator, train.ema_decay)
        self.train_step = task.make_step(GanUpdates(accelerator, self.generator,
                                                    self.discriminator, g_opt, d_opt, train))
        set_seed(train.seed, device_specific=True)  # different dropout on each process

        self.dataset, self.sampler, self.loader = task.training_data(
            accelerator.num_processes, accelerator.process_index,
            pin_memory=accelerator.device.type == "cuda")
        self.bad_steps = BadStepCounter(options.max_bad_steps)
        self.step = 0
        self.sampler_state = self.sampler.state_dict()
        self.last_checkpoint: Path | None = None

    def _make_accelerator(self) -> Accelerator:
        """The run's accelerator, with :func:`training_precision`'s precision (the main
        process prints why when it differs from the config's)."""
        precision, warning = training_precision(self.train.mixed_precision,
                                                self.options.cpu)
        accelerator = Accelerator(cpu=self.options.cpu, mixed_precision=precision)
        if warning:
            accelerator.print(f"warning: {warning}")
        return accelerator

    # -- the loop ------------------------------------------------------------------------------
    def run(self) -> int:
        accelerator, train = self.accelerator, self.train
        if accelerator.is_main_process:
            self._write_config()
        if self.options.resume:
            self._resume()
        monitor = TrainingMonitor(accelerator, self.exp_dir,
                                  accelerator.unwrap_model(self.generator).quantizer,
                                  self.task.throughput_unit, train.log_every,
                                  self.options.usage_window, self.step, train.max_steps)
        try:
            with StopSignals() as signals:
                return self._loop(monitor, signals)
        finally:
            monitor.close()

    def _loop(self, monitor: TrainingMonitor, signals: StopSignals) -> int:
        train = self.train
        raw_generator = self.accelerator.unwrap_model(self.generator)
        epoch = self.sampler.epoch
        while self.step < train.max_steps:
            self.sampler.set_epoch(epoch)
            self.dataset.set_epoch(epoch)
            consumed = self.sampler.state_dict()["batches_consumed"]
            for batch in self.loader:
                result = self.train_step(batch, self.step)
                self.step += 1
                consumed += 1
                self.sampler_state = self.sampler.state_dict(batches_consumed=consumed)
                if result.skipped is None:
                    self.bad_steps.good()
                    self.ema.update(raw_generator)
                else:
                    monitor.message(f"step {self.step}: skipped, {result.skipped} "
                                    f"({self.bad_steps.in_a_row + 1} in a row, "
                                    f"{self.bad_steps.total + 1} in total)")
                    self.bad_steps.bad(self.step, result.skipped,
                                       self.last_checkpoint and str(self.last_checkpoint))
                monitor.step(self.step, result, self.task.batch_units(batch))
                signum = self._stop_signal(signals)
                done = self.step >= train.max_steps
                due = self.step % train.valid_every == 0 or done
                if due and self.task.valid_set is not None:
                    self._validate(monitor)
                if self.step % train.checkpoint_every == 0 or done or signum:
                    self._save(monitor)
                if signum:
                    monitor.message(f"stopped by signal {signum} at step {self.step}; "
                                    f"resume with --resume")
                    return 128 + signum
                if done:
                    break
            epoch += 1
        return 0

    def _stop_signal(self, signals: StopSignals) -> int:
        """The signal received by any process (0 if none), the same on every process."""
        received = torch.tensor([signals.received or 0], device=self.accelerator.device)
        return int(self.accelerator.gather(received).max())

    def _validate(self, monitor: TrainingMonitor) -> None:
        scalars = self.task.validate(self.ema.module, self.accelerator, monitor.writer,
                                     self.step)
        monitor.write(self.step, scalars)
        monitor.message(f"step {self.step}: " + ", ".join(f"{k} {v:.4g}"
                                                           for k, v in scalars.items()))

    # -- checkpoints ---------------------------------------------------------------------------
    def _save(self, monitor: TrainingMonitor) -> None:
        accelerator = self.accelerator
        rng_tensors, rng_skeleton = flatten_state(gather_object([capture_rng()]))
        if accelerator.is_main_process:
            tensors = {"generator": accelerator.unwrap_model(self.generator).state_dict(),
                       "ema_generator": self.ema.module.state_dict(),
                       "discriminator": accelerator.unwrap_model(self.discriminator).state_dict(),
                       "rng": rng_tensors}
            documents = {"rng": rng_skeleton, "config": config_to_dict(self.task.config),
                         "trainer_state": self._trainer_state()}
            for name, optimizer in self.optimizers.items():
                tensors[f"optimizer_{name}"], documents[f"optimizer_{name}"] = flatten_state(
                    optimizer.state_dict())
            path = ckpt.write_checkpoint(self.exp_dir, self.step, tensors, documents)
            ckpt.prune_checkpoints(self.exp_dir, self.train.keep_checkpoints)
            monitor.message(f"step {self.step}: checkpoint {path}")
        self.last_checkpoint = ckpt.checkpoint_dir(self.exp_dir, self.step)
        accelerator.wait_for_everyone()

    def _trainer_state(self) -> dict:
        scaler = self.accelerator.scaler
        return {"step": self.step, "sampler": self.sampler_state,
                "bad_steps_total": self.bad_steps.total,
                "num_processes": self.accelerator.num_processes,
                "grad_scaler": scaler.state_dict() if scaler is not None else None,
                "train_dir": str(self.options.train_dir),
                "valid_dir": str(self.options.valid_dir) if self.options.valid_dir else None,
                "saved_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}

    def _resume(self) -> None:
        accelerator = self.accelerator
        path = ckpt.latest_checkpoint(self.exp_dir, report=accelerator.print)
        if path is None:
            accelerator.print(f"no complete checkpoint in {self.exp_dir / ckpt.CHECKPOINTS}: "
                              f"starting from step 0")
            return
        device = accelerator.device
        for name, module in (("generator", accelerator.unwrap_model(self.generator)),
                             ("ema_generator", self.ema.module),
                             ("discriminator", accelerator.unwrap_model(self.discriminator))):
            state = ckpt.read_tensors(path, name, device)
            check_state_dict(module, state)
            module.load_state_dict(state)
        for name, optimizer in self.optimizers.items():
            optimizer.load_state_dict(unflatten_state(
                ckpt.read_document(path, f"optimizer_{name}"),
                ckpt.read_tensors(path, f"optimizer_{name}")))
        state = ckpt.read_document(path, "trainer_state")
        self.step = state["step"]
        self.sampler.load_state_dict(state["sampler"])
        self.sampler_state = state["sampler"]
        self.bad_steps.total = state["bad_steps_total"]
        if state["grad_scaler"] is not None and accelerator.scaler is not None:
            accelerator.scaler.load_state_dict(state["grad_scaler"])
        rng = unflatten_state(ckpt.read_document(path, "rng"), ckpt.read_tensors(path, "rng"))
        if accelerator.process_index < len(rng):
            restore_rng(rng[accelerator.process_index])
        self.last_checkpoint = path
        accelerator.print(f"resumed from {path} at step {self.step}")

    def _write_config(self) -> None:
        self.exp_dir.mkdir(parents=True, exist_ok=True)
        data = config_to_dict(self.task.config)
        for name, text in (("config.yaml", yaml.safe_dump(data, sort_keys=False)),
                           ("config.json", json.dumps(data, indent=2) + "\n")):
            with atomic_path(self.exp_dir / name) as tmp:
                tmp.write_text(text, encoding="utf-8")
