"""The image tokenizer's trainer: the audio :class:`~simvq_audio.train.trainer.Trainer` with an
image model, image data and image validation.

Everything about running is inherited unchanged: accelerate (CPU, one or many GPUs), the EMA
model, atomic verified checkpoints and ``--resume`` (:meth:`Trainer._save`, :meth:`Trainer._resume`:
the autoencoder is stored as ``generator``, the PatchGAN as ``discriminator``), the resumable
DDP batch sampler, skipped NaN steps, SIGTERM/SIGINT handling, the training loop
(:meth:`Trainer._loop`) and the TensorBoard monitor (throughput in ``train/images_per_second``).
Only construction, the step on one batch (:meth:`ImageTrainer._train_batch`) and validation
differ.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from accelerate.utils import set_seed
from torch.utils.data import DataLoader

from simvq_audio.data.sampler import DistributedBatchSampler
from simvq_audio.image.config import ImageConfig
from simvq_audio.image.dataset import ImageFolderDataset
from simvq_audio.image.discriminator import PatchDiscriminator
from simvq_audio.image.image_io import find_images
from simvq_audio.image.losses import ImageGeneratorLoss
from simvq_audio.image.metrics import score_batches
from simvq_audio.image.model import ImageAutoencoder
from simvq_audio.image.tokenizer import SimVQImageTokenizer
from simvq_audio.image.train_step import ImageGanStep
from simvq_audio.train.monitor import TrainingMonitor
from simvq_audio.train.step import StepResult
from simvq_audio.train.trainer import RunOptions, Trainer


@dataclass
class ImageTrainOptions(RunOptions):
    """Run settings outside the YAML config (:class:`~simvq_audio.train.trainer.RunOptions`);
    ``train_dir``/``valid_dir`` are image folders, of which ``valid_images`` are validated."""

    valid_images: int = 256


class ImageTrainer(Trainer):
    """``ImageTrainer(config, options).run()``: see :class:`~simvq_audio.train.trainer.Trainer`
    for exit statuses and errors."""

    throughput_unit = ("images", "images")

    def __init__(self, config: ImageConfig, options: ImageTrainOptions):
        # Replaces Trainer.__init__ (which builds the audio codec and reads Kaldi data dirs),
        # setting the same attributes the inherited methods use.
        self._begin(config, options)
        train = config.train
        files = find_images(options.train_dir)
        valid_files = find_images(options.valid_dir)[:options.valid_images] if options.valid_dir \
            else []
        self._refuse_existing_run()
        self.accelerator = accelerator = self._make_accelerator()
        set_seed(train.seed)  # identical initial weights on every process
        model = ImageAutoencoder(config.model)
        discriminator = PatchDiscriminator(config.discriminator, config.model.in_channels)
        self.loss = ImageGeneratorLoss(config.loss)
        self._prepare_models(model, discriminator, ImageGanStep)

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
        self._start_state()

    def _train_batch(self, images: torch.Tensor) -> tuple[StepResult, float]:
        """One GAN step on a batch of images in [0, 1]; counts images."""
        images = images.to(self.accelerator.device, non_blocking=True) * 2 - 1
        result = self.gan_step(images, self.step,
                               inject_nan=self.step + 1 in self.options.nan_steps)
        return result, float(images.shape[0])

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
