"""The image tokenizer's trainer: the audio :class:`~simvq_audio.train.trainer.Trainer` with an
image model, image data and image validation.

Everything about running is inherited unchanged: accelerate (CPU, one or many GPUs), the EMA
model, atomic verified checkpoints and ``--resume`` (:meth:`Trainer._save`, :meth:`Trainer._resume`:
the autoencoder is stored as ``generator``, the PatchGAN as ``discriminator``), the resumable
DDP batch sampler, skipped NaN steps, SIGTERM/SIGINT handling and the TensorBoard monitor. Only
construction, the batch loop body and validation differ.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
from accelerate import Accelerator
from accelerate.utils import set_seed
from torch.utils.data import DataLoader

from simvq_audio.data.sampler import DistributedBatchSampler
from simvq_audio.errors import UserInputError
from simvq_audio.image.config import ImageConfig
from simvq_audio.image.dataset import ImageFolderDataset
from simvq_audio.image.discriminator import PatchDiscriminator
from simvq_audio.image.image_io import find_images
from simvq_audio.image.losses import ImageGeneratorLoss
from simvq_audio.image.metrics import score_batches
from simvq_audio.image.model import ImageAutoencoder
from simvq_audio.image.tokenizer import SimVQImageTokenizer
from simvq_audio.image.train_step import ImageGanStep
from simvq_audio.train import checkpoint as ckpt
from simvq_audio.train.ema import EMA
from simvq_audio.train.faults import BadStepCounter, StopSignals
from simvq_audio.train.monitor import TrainingMonitor
from simvq_audio.train.optim import build_optimizer
from simvq_audio.train.trainer import Trainer


@dataclass
class ImageTrainOptions:
    """Run settings outside the YAML config; ``train_dir``/``valid_dir`` are image folders;
    ``nan_steps`` as in :class:`~simvq_audio.train.trainer.TrainOptions` (testing only)."""

    exp_dir: Path
    train_dir: Path
    valid_dir: Path | None = None
    resume: bool = False
    cpu: bool = False
    max_bad_steps: int = 10
    usage_window: int = 1000
    valid_images: int = 256
    nan_steps: frozenset[int] = field(default_factory=frozenset)


class ImageTrainer(Trainer):
    """``ImageTrainer(config, options).run()``: see :class:`~simvq_audio.train.trainer.Trainer`
    for exit statuses and errors."""

    def __init__(self, config: ImageConfig, options: ImageTrainOptions):
        # Replaces Trainer.__init__ (which builds the audio codec and reads Kaldi data dirs),
        # setting the same attributes the inherited methods use.
        self.config, self.options = config, options
        self.exp_dir = Path(options.exp_dir)
        train = config.train
        if train.mixed_precision == "fp16" and (options.cpu or not torch.cuda.is_available()):
            raise UserInputError("mixed_precision fp16 needs a GPU; use bf16 or no on CPU")
        files = find_images(options.train_dir)
        valid_files = find_images(options.valid_dir)[:options.valid_images] if options.valid_dir \
            else []
        if ckpt.list_checkpoints(self.exp_dir) and not options.resume:
            raise UserInputError(f"{self.exp_dir} already has checkpoints: pass --resume to "
                                 f"continue that run, or choose another --exp-dir")
        self.accelerator = accelerator = Accelerator(cpu=options.cpu,
                                                     mixed_precision=train.mixed_precision)
        set_seed(train.seed)  # identical initial weights on every process
        model = ImageAutoencoder(config.model)
        discriminator = PatchDiscriminator(config.discriminator, config.model.in_channels)
        self.loss = ImageGeneratorLoss(config.loss)
        self.generator, self.discriminator, g_opt, d_opt = accelerator.prepare(
            model, discriminator, build_optimizer(model.parameters(), train),
            build_optimizer(discriminator.parameters(), train))
        self.optimizers = {"generator": g_opt, "discriminator": d_opt}
        self.ema = EMA(model, train.ema_decay)
        self.gan_step = ImageGanStep(accelerator, self.generator, self.discriminator, g_opt,
                                     d_opt, self.loss, train)
        set_seed(train.seed, device_specific=True)

        size = config.model.resolution
        self.dataset = ImageFolderDataset(files, size, train=True, seed=train.seed)
        self.sampler = DistributedBatchSampler(len(files), train.batch_size,
                                               accelerator.num_processes,
                                               accelerator.process_index, seed=train.seed)
        self.loader = DataLoader(self.dataset, batch_sampler=self.sampler,
                                 num_workers=train.num_workers,
                                 pin_memory=accelerator.device.type == "cuda",
                                 generator=torch.Generator().manual_seed(train.seed))
        self.valid_set = ImageFolderDataset(valid_files, size, train=False) if valid_files \
            else None
        self.bad_steps = BadStepCounter(options.max_bad_steps)
        self.step = 0
        self.sampler_state = self.sampler.state_dict()
        self.last_checkpoint: Path | None = None

    def _loop(self, monitor: TrainingMonitor, signals: StopSignals) -> int:
        accelerator, train = self.accelerator, self.config.train
        raw_model = accelerator.unwrap_model(self.generator)
        weight = getattr(getattr(raw_model.quantizer, "linear", None), "weight", None)
        epoch = self.sampler.epoch
        while self.step < train.max_steps:
            self.sampler.set_epoch(epoch)
            self.dataset.set_epoch(epoch)
            consumed = self.sampler.state_dict()["batches_consumed"]
            for images in self.loader:
                images = images.to(accelerator.device, non_blocking=True) * 2 - 1
                result = self.gan_step(images, self.step,
                                       inject_nan=self.step + 1 in self.options.nan_steps)
                self.step += 1
                consumed += 1
                self.sampler_state = self.sampler.state_dict(batches_consumed=consumed)
                if result.skipped is None:
                    self.bad_steps.good()
                    self.ema.update(raw_model)
                else:
                    monitor.message(f"step {self.step}: skipped, {result.skipped}")
                    self.bad_steps.bad(self.step, result.skipped,
                                       self.last_checkpoint and str(self.last_checkpoint))
                monitor.step(self.step, result, 0.0, weight)
                signum = self._stop_signal(signals)
                done = self.step >= train.max_steps
                if self.valid_set is not None and (self.step % train.valid_every == 0
                                                   or done):
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

    def _validate(self, monitor: TrainingMonitor) -> None:
        """PSNR, SSIM and utilisation of the EMA model on the valid images (main process)."""
        if self.accelerator.is_main_process:
            tokenizer, size = SimVQImageTokenizer(self.ema.module), self.config.train.batch_size
            batches = (torch.stack([self.valid_set[i] for i in range(
                start, min(start + size, len(self.valid_set)))])
                for start in range(0, len(self.valid_set), size))
            scores = score_batches(tokenizer.encode, tokenizer.decode, batches,
                                   tokenizer.num_codes)
            scalars = {f"valid/{name}": scores[name] for name in ("psnr", "ssim", "utilisation")}
            if monitor.writer is not None:
                for name, value in scalars.items():
                    monitor.writer.add_scalar(name, value, self.step)
            monitor.message(f"step {self.step}: " + ", ".join(f"{k} {v:.4g}"
                                                               for k, v in scalars.items()))
        self.accelerator.wait_for_everyone()
