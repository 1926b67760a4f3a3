"""The image tokenizer as a :class:`~simvq_audio.train.task.TrainingTask`: ImageFolder trees
in, random crops out (:class:`~simvq_audio.image.dataset.ImageFolderDataset`), the autoencoder
and its PatchGAN trained by :class:`~simvq_audio.image.train_step.ImageGanStep`, the EMA
autoencoder scored (PSNR, SSIM, utilisation) on the valid images. Throughput counts images
(``train/images_per_second``). In checkpoints the autoencoder is the ``generator`` and the
PatchGAN the ``discriminator``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import torch
from accelerate import Accelerator
from torch import nn
from torch.utils.data import DataLoader

from simvq_audio.data.sampler import DistributedBatchSampler
from simvq_audio.image.config import ImageConfig, load_config
from simvq_audio.image.dataset import ImageFolderDataset
from simvq_audio.image.discriminator import PatchDiscriminator
from simvq_audio.image.image_io import find_images
from simvq_audio.image.losses import ImageGeneratorLoss
from simvq_audio.image.metrics import score_batches
from simvq_audio.image.model import ImageAutoencoder
from simvq_audio.image.tokenizer import SimVQImageTokenizer
from simvq_audio.image.train_step import ImageGanStep
from simvq_audio.train.step import GanUpdates, StepResult
from simvq_audio.train.task import ThroughputUnit, TrainingData, TrainStep
from simvq_audio.train.trainer import GanTrainer, RunOptions

if TYPE_CHECKING:
    from torch.utils.tensorboard import SummaryWriter


class ImageTask:
    """Training of the image tokenizer of ``config``; ``valid_images``: validate on the first N
    images of the valid folder."""

    throughput_unit = ThroughputUnit("images", "images")

    def __init__(self, config: ImageConfig, valid_images: int = 256):
        self.config = config
        self.valid_images = valid_images
        self.files: list[Path] = []
        self.valid_set: ImageFolderDataset | None = None
        self.loss: ImageGeneratorLoss | None = None

    def read_data(self, train_dir: Path, valid_dir: Path | None, check_files: bool) -> None:
        """The image files of both folders (``check_files`` is not needed: every image is
        decoded when it is used)."""
        self.files = find_images(train_dir)
        valid_files = find_images(valid_dir)[:self.valid_images] if valid_dir else []
        if valid_files:
            self.valid_set = ImageFolderDataset(valid_files, self.config.model.resolution,
                                                train=False)

    def build_models(self) -> tuple[nn.Module, nn.Module]:
        config = self.config
        model = ImageAutoencoder.from_hparams(config.model)
        discriminator = PatchDiscriminator.from_hparams(config.discriminator,
                                                        config.model.in_channels)
        self.loss = ImageGeneratorLoss.from_hparams(config.loss)
        return model, discriminator

    def make_step(self, gan: GanUpdates) -> TrainStep:
        image_step = ImageGanStep(gan, self.loss)
        device = gan.accelerator.device

        def step(images: torch.Tensor, number: int) -> StepResult:
            return image_step(images.to(device, non_blocking=True) * 2 - 1, number)
        return step

    def training_data(self, num_processes: int, process_index: int,
                      pin_memory: bool) -> TrainingData:
        """Images ``[B, 3, size, size]`` in [0, 1]."""
        train = self.config.train
        dataset = ImageFolderDataset(self.files, self.config.model.resolution, train=True,
                                     seed=train.seed)
        sampler = DistributedBatchSampler(len(self.files), train.batch_size, num_processes,
                                          process_index, seed=train.seed)
        loader = DataLoader(dataset, batch_sampler=sampler, num_workers=train.num_workers,
                            pin_memory=pin_memory,
                            generator=torch.Generator().manual_seed(train.seed))
        return TrainingData(dataset, sampler, loader)

    def batch_units(self, batch: torch.Tensor) -> float:
        """The number of images in ``batch [B, 3, H, W]``."""
        return float(batch.shape[0])

    def validate(self, model: nn.Module, accelerator: Accelerator,
                 writer: SummaryWriter | None, step: int) -> dict[str, float]:
        """``valid/psnr``, ``valid/ssim`` and ``valid/utilisation`` of ``model`` on the valid
        images, computed by the main process (the others return no scores)."""
        scalars = {}
        if accelerator.is_main_process:
            tokenizer = SimVQImageTokenizer(model, self.config.model)
            size = self.config.train.batch_size
            batches = (torch.stack([self.valid_set[i] for i in range(
                start, min(start + size, len(self.valid_set)))])
                for start in range(0, len(self.valid_set), size))
            scores = score_batches(tokenizer.encode, tokenizer.decode, batches,
                                   tokenizer.num_codes)
            scalars = {f"valid/{name}": scores[name] for name in ("psnr", "ssim", "utilisation")}
        accelerator.wait_for_everyone()
        return scalars


def train_image_tokenizer(config_path: str | Path, exp_dir: Path, train_dir: Path,
                          valid_dir: Path | None = None, resume: bool = False,
                          cpu: bool = False, max_steps: int | None = None) -> int:
    """Train the image tokenizer of the YAML config ``config_path`` on the images under
    ``train_dir`` (validated on those under ``valid_dir``, if given) with checkpoints and logs
    under ``exp_dir``, ``max_steps`` (if given) replacing ``train.max_steps``; ``resume``: go on
    from the newest checkpoint; ``cpu``: train on the CPU. Returns the exit status: 0 when
    done, 128 + the signal number when stopped by a signal (after a checkpoint)."""
    config = load_config(config_path)
    if max_steps is not None:
        config.train.max_steps = max_steps
    options = RunOptions(exp_dir, train_dir, valid_dir, resume, cpu)
    return GanTrainer(ImageTask(config), options).run()
