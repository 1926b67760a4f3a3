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
import math
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import yaml
from accelerate import Accelerator
from accelerate.utils import gather_object, set_seed

from simvq_audio.atomic import atomic_path
from simvq_audio.config_loader import config_to_dict
from simvq_audio.errors import UserInputError, quote
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
        UserInputError: bad data (before any model is built), a per-process batch larger than
            the training set (before any batch is built), an exp dir that already has
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
        if train.batch_size > self.sampler.num_items:
            raise UserInputError(f"train.batch_size (--batch-size) is {train.batch_size} per "
                                 f"process, more than the {self.sampler.num_items} training "
                                 f"items in {options.train_dir}: every batch would repeat "
                                 f"items; use at most {self.sampler.num_items}")
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
                status = self._loop(monitor, signals)
        except BaseException:
            monitor.close(failing=True)
            raise
        monitor.close()
        return status

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
        """Write the checkpoint of this step (main process). A failed write (a full disk) stops
        every process: the main one with its message, the others saying so, instead of leaving
        them waiting for it."""
        accelerator = self.accelerator
        rng_tensors, rng_skeleton = flatten_state(gather_object([capture_rng()]))
        failure = None
        if accelerator.is_main_process:
            try:
                self._write_checkpoint(monitor, rng_tensors, rng_skeleton)
            except UserInputError as error:
                failure = error
        failed = torch.tensor([int(failure is not None)], device=accelerator.device)
        if int(accelerator.gather(failed).max()):  # every process takes part: no one waits
            raise failure or UserInputError(f"the main process could not write the checkpoint "
                                            f"of step {self.step} (see its message)")
        self.last_checkpoint = ckpt.checkpoint_dir(self.exp_dir, self.step)

    def _write_checkpoint(self, monitor: TrainingMonitor, rng_tensors: dict,
                          rng_skeleton: object) -> None:
        """Write this step's checkpoint with every process's RNG state and prune old ones."""
        accelerator = self.accelerator
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
        """Restore the newest checkpoint that is complete and whose contents are sound; each
        newer one is skipped with the reason (its marker, a document or tensor file damaged or
        of the wrong structure). With none, the run starts from step 0 and says so."""
        accelerator = self.accelerator
        for path in reversed(ckpt.list_checkpoints(self.exp_dir)):
            problem = ckpt.checkpoint_problem(path)
            if problem is None:
                try:
                    saved = self._read_checkpoint(path)
                except ckpt.DamagedCheckpoint as error:
                    problem = str(error)
                else:
                    self._restore(path, saved)
                    return
            accelerator.print(f"skipping checkpoint {path}: {problem}")
        accelerator.print(f"no usable checkpoint in {self.exp_dir / ckpt.CHECKPOINTS}: "
                          f"starting from step 0")

    def _read_checkpoint(self, path: Path) -> dict:
        """Everything the checkpoint ``path`` holds, read and checked before anything is
        restored: the weights, the optimizer states (structure and tensor shapes against this
        run's optimizers), the trainer state and the RNG states (tried, then undone).

        Raises:
            DamagedCheckpoint: any of them unreadable or of the wrong structure.
        """
        accelerator = self.accelerator
        saved = {name: ckpt.read_tensors(path, name, accelerator.device)
                 for name in ("generator", "ema_generator", "discriminator")}
        for name, optimizer in self.optimizers.items():
            state = _unflatten(path, f"optimizer_{name}")
            _check_optimizer_state(path, name, optimizer, state)
            saved[f"optimizer_{name}"] = state
        saved["trainer_state"] = _trainer_state(path, ckpt.read_document(path, "trainer_state"))
        rng = _unflatten(path, "rng")
        if not isinstance(rng, list) or not rng:
            raise ckpt.DamagedCheckpoint(f"{path}/rng.json: not a list of RNG states")
        saved["rng"] = rng[accelerator.process_index] if accelerator.process_index < len(rng) \
            else None
        if saved["rng"] is not None:
            current = capture_rng()
            try:
                restore_rng(saved["rng"])
            except (TypeError, ValueError, KeyError, IndexError, RuntimeError,
                    AttributeError) as error:
                raise ckpt.DamagedCheckpoint(f"{path}/rng.json: not an RNG state "
                                             f"({type(error).__name__})") from None
            finally:
                restore_rng(current)
        return saved

    def _restore(self, path: Path, saved: dict) -> None:
        """Load what :meth:`_read_checkpoint` read from ``path`` into this run.

        Raises:
            UserInputError: the weights do not fit the config, or the data differs in size.
        """
        accelerator = self.accelerator
        modules = {"generator": accelerator.unwrap_model(self.generator),
                   "ema_generator": self.ema.module,
                   "discriminator": accelerator.unwrap_model(self.discriminator)}
        for name, module in modules.items():
            check_state_dict(module, saved[name])
        state = saved["trainer_state"]
        self.sampler.load_state_dict(state["sampler"])
        for name, module in modules.items():
            module.load_state_dict(saved[name])
        for name, optimizer in self.optimizers.items():
            optimizer.load_state_dict(saved[f"optimizer_{name}"])
        self.step = state["step"]
        self.sampler_state = state["sampler"]
        self.bad_steps.total = state["bad_steps_total"]
        if state["grad_scaler"] is not None and accelerator.scaler is not None:
            accelerator.scaler.load_state_dict(state["grad_scaler"])
        if saved["rng"] is not None:
            restore_rng(saved["rng"])
        self.last_checkpoint = path
        accelerator.print(f"resumed from {path} at step {self.step}")

    def _write_config(self) -> None:
        """``config.yaml`` and ``config.json`` of the run in the exp dir (made if needed); a
        failed write is one UserInputError naming the file and the reason."""
        data = config_to_dict(self.task.config)
        for name, text in (("config.yaml", yaml.safe_dump(data, sort_keys=False)),
                           ("config.json", json.dumps(data, indent=2) + "\n")):
            with atomic_path(self.exp_dir / name) as tmp:
                tmp.write_text(text, encoding="utf-8")


def _unflatten(path: Path, name: str) -> object:
    """The nested state stored as ``name.json`` + ``name.safetensors`` in checkpoint ``path``."""
    skeleton, tensors = ckpt.read_document(path, name), ckpt.read_tensors(path, name)
    try:
        return unflatten_state(skeleton, tensors)
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise ckpt.DamagedCheckpoint(f"{path}/{name}.json: not a stored state "
                                     f"({type(error).__name__}: {quote(str(error))})") from None


def _check_optimizer_state(path: Path, name: str, optimizer: torch.optim.Optimizer,
                           state: object) -> None:
    """Refuse a saved optimizer state that would not fit ``optimizer`` or would fail at its next
    step: its groups must list as many parameters as ours, and each per-parameter entry must map
    names to numbers or tensors that are scalars or of its parameter's shape."""
    where = f"{path}/optimizer_{name}.json"
    params = [p for group in optimizer.param_groups for p in group["params"]]
    groups = state.get("param_groups") if isinstance(state, dict) else None
    entries = state.get("state") if isinstance(state, dict) else None
    if not (isinstance(groups, list) and isinstance(entries, dict) and all(
            isinstance(group, dict) and isinstance(group.get("params"), list) for group in groups)
            and [len(group["params"]) for group in groups] ==
            [len(group["params"]) for group in optimizer.param_groups]):
        raise ckpt.DamagedCheckpoint(f"{where}: does not hold a state of this run's optimizer")
    for index, entry in entries.items():
        fits = type(index) is int and 0 <= index < len(params) and isinstance(entry, dict) and all(
            isinstance(key, str) and (
                (isinstance(value, torch.Tensor) and value.is_floating_point() and (
                    value.numel() == 1 or value.shape == params[index].shape)) or
                (type(value) in (int, float) and math.isfinite(value)))
            for key, value in entry.items())
        if not fits:
            raise ckpt.DamagedCheckpoint(f"{where}: the state of parameter {quote(index)} does "
                                         "not fit this run's optimizer")


_SAMPLER_FIELDS = ("epoch", "seed", "num_items", "batch_size", "num_replicas", "batches_consumed")
_SCALER_FIELDS = {"scale", "growth_factor", "backoff_factor", "growth_interval", "_growth_tracker"}


def _trainer_state(path: Path, state: object) -> dict:
    """``state`` (a checkpoint's ``trainer_state`` document) once checked: the step of the
    folder's name, whole non-negative counts, a sampler position and a grad scaler mapping."""
    def count(value: object, least: int = 0) -> bool:
        return type(value) is int and value >= least

    sampler = state.get("sampler") if isinstance(state, dict) else None
    scaler = state.get("grad_scaler") if isinstance(state, dict) else None
    sound = (isinstance(state, dict) and state.get("step") == ckpt.checkpoint_step(path)
             and count(state.get("bad_steps_total")) and isinstance(sampler, dict)
             and all(count(sampler.get(key), 1 if key in ("batch_size", "num_replicas") else 0)
                     for key in _SAMPLER_FIELDS)
             and (scaler is None or isinstance(scaler, dict) and scaler.keys() >= _SCALER_FIELDS
                  and all(type(value) in (int, float) and math.isfinite(value)
                          for value in scaler.values())))
    if not sound:
        raise ckpt.DamagedCheckpoint(f"{path}/trainer_state.json: not the trainer state of "
                                     "this checkpoint (missing fields or wrong types)")
    return state
