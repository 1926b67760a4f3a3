"""A tiny image corpus for the CPU recipe and tests: patches of the sample photographs bundled
with scikit-image (nothing is downloaded).

``simvq-audio image patches --out DIR --size 32`` writes PNG patches into an ImageFolder tree
``DIR/train/<image>/`` and ``DIR/valid/<image>/`` (the valid patches come from a held-out band
at the bottom of each photograph).
"""

from __future__ import annotations

from pathlib import Path

import torch

from simvq_audio.errors import UserInputError
from simvq_audio.image.image_io import write_image

SAMPLE_IMAGES = ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry")
VALID_FRACTION = 0.2


def sample_photographs() -> dict[str, torch.Tensor]:
    """The bundled scikit-image RGB photographs as ``[3, H, W]`` float tensors in [0, 1]."""
    try:
        # optional (the image extra): imported when used
        from skimage import data
    except ImportError:
        raise UserInputError("sample images need scikit-image: pip install "
                             "'simvq-audio[image]'") from None
    return {name: torch.from_numpy(getattr(data, name)()).permute(2, 0, 1).float() / 255
            for name in SAMPLE_IMAGES}


def cut_patches(image: torch.Tensor, size: int, count: int, seed: int) -> torch.Tensor:
    """``count`` random ``size x size`` patches of ``image [3, H, W]`` -> ``[count, 3, size,
    size]`` (reproducible for a ``seed``)."""
    _, height, width = image.shape
    if height < size or width < size:
        raise UserInputError(f"patch size {size} exceeds the image ({height}x{width})")
    generator = torch.Generator().manual_seed(seed)
    tops = torch.randint(0, height - size + 1, (count,), generator=generator).tolist()
    lefts = torch.randint(0, width - size + 1, (count,), generator=generator).tolist()
    return torch.stack([image[:, top:top + size, left:left + size]
                        for top, left in zip(tops, lefts)])


def split_patches(size: int, train_count: int, valid_count: int, seed: int = 0
                  ) -> dict[str, dict[str, torch.Tensor]]:
    """``{"train": {name: patches}, "valid": {name: patches}}``: train patches from the top 80 %
    of each photograph, valid patches from the bottom 20 %."""
    splits: dict[str, dict[str, torch.Tensor]] = {"train": {}, "valid": {}}
    for index, (name, image) in enumerate(sample_photographs().items()):
        cut = int(image.shape[1] * (1 - VALID_FRACTION))
        splits["train"][name] = cut_patches(image[:, :cut], size, train_count, seed + index)
        splits["valid"][name] = cut_patches(image[:, cut:], size, valid_count, seed + index)
    return splits


def write_sample_patches(out: Path, size: int, train_count: int, valid_count: int,
                         seed: int = 0) -> int:
    """Write the patches of :func:`split_patches` as PNGs under ``out``; returns the count."""
    written = 0
    for split, images in split_patches(size, train_count, valid_count, seed).items():
        for name, patches in images.items():
            for number, patch in enumerate(patches):
                write_image(Path(out) / split / name / f"{name}_{number:04d}.png", patch)
                written += 1
    return written

