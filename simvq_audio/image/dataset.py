"""Training and evaluation sets of square images from an ImageFolder-style tree (batches come
from :class:`~simvq_audio.data.sampler.DistributedBatchSampler`, as for audio).

Training items are random crops (a random square of the resized image, random horizontal flip);
evaluation items are centre crops. The randomness of item ``i`` in ``epoch`` comes from a
generator seeded by ``(seed, epoch, i)``, so a resumed run sees the same crops.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch.utils.data import Dataset

from simvq_audio.image.image_io import center_square, read_image, resized_crop


class ImageFolderDataset(Dataset):
    """``dataset[i] -> image [3, size, size]`` in [0, 1] from ``files[i]``."""

    def __init__(self, files: list[Path], size: int, train: bool, seed: int = 0):
        self.files, self.size, self.train, self.seed = list(files), size, train, seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> torch.Tensor:
        image = read_image(self.files[index])
        if not self.train:
            return center_square(image, self.size)
        seed = (self.seed * 1_000_003 + self.epoch) * 1_000_003 + index
        generator = torch.Generator().manual_seed(seed)
        top, left, flip = torch.rand(3, generator=generator).tolist()
        crop = resized_crop(image, self.size, (top, left))
        return crop.flip(-1) if flip < 0.5 else crop

