"""The typed configuration of the image tokenizer and its training, filled from YAML with the
same strict loader as the audio codec's (:mod:`simvq_audio.config_loader`).

The defaults are the paper's image setting: 128x128 RGB -> 16x16 tokens (three 2x
downsamplings), code dimension 128, L1 + PatchGAN (hinge) + quantizer loss. As in
:mod:`simvq_audio.codec.config`, :func:`load_config` reads a recipe and :func:`config_from_dict`
checks a nested dict (a checkpoint's config).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from simvq_audio.config_loader import build_dataclass, check_values, read_config_file
from simvq_audio.quantize.factory import QuantizerConfig, quantizer_config_problems
from simvq_audio.train.run_config import RunConfig, run_config_problems


@dataclass
class ImageModelConfig:
    """Conv autoencoder. ``channel_mult`` has one entry per resolution level: ``len - 1``
    downsamplings by 2, so the token grid is ``resolution / 2^(len - 1)`` on each side."""

    resolution: int = 128
    in_channels: int = 3
    channels: int = 128
    channel_mult: list[int] = field(default_factory=lambda: [1, 1, 2, 4])
    res_blocks: int = 2
    attention: bool = True
    quantizer: QuantizerConfig = field(
        default_factory=lambda: QuantizerConfig(num_codes=65536, dim=128))

    @property
    def downsampling(self) -> int:
        return 2 ** (len(self.channel_mult) - 1)

    @property
    def token_grid(self) -> tuple[int, int]:
        side = self.resolution // self.downsampling
        return side, side


@dataclass
class PatchDiscriminatorConfig:
    """PatchGAN: ``layers`` strided 4x4 convs from ``channels`` doubling (at most 8x)."""

    channels: int = 64
    layers: int = 3


@dataclass
class ImageLossConfig:
    """``perceptual_weights``: a local LPIPS weights file (none ships; see losses.py)."""

    l1_weight: float = 1.0
    quantizer_weight: float = 1.0
    adversarial_weight: float = 0.1
    perceptual_weight: float = 1.0
    perceptual_weights: str | None = None


@dataclass
class ImageTrainConfig(RunConfig):
    """The shared run settings (:class:`simvq_audio.train.run_config.RunConfig`) with the image
    setting's defaults."""

    batch_size: int = 32
    max_steps: int = 400_000
    gan_start_step: int = 20_000


@dataclass
class ImageConfig:
    model: ImageModelConfig = field(default_factory=ImageModelConfig)
    discriminator: PatchDiscriminatorConfig = field(default_factory=PatchDiscriminatorConfig)
    loss: ImageLossConfig = field(default_factory=ImageLossConfig)
    train: ImageTrainConfig = field(default_factory=ImageTrainConfig)


def load_config(path: str | Path) -> ImageConfig:
    """Read and check an image YAML config (``base:`` files allowed, as for audio configs)."""
    return config_from_dict(read_config_file(path, ImageConfig), where=str(path))


def config_from_dict(data: dict[str, Any], where: str = "config") -> ImageConfig:
    """Build and check an :class:`ImageConfig` from a nested dict; missing keys take
    defaults."""
    config = build_dataclass(ImageConfig, data, where)
    check_config(config, where)
    return config


def check_config(config: ImageConfig, where: str = "config") -> None:
    """Raise :class:`UserInputError` for values that have the right type but cannot work."""
    check_image_model(config.model, where)
    check_values(run_config_problems(config.train), where)


def check_image_model(model: ImageModelConfig, where: str = "config") -> None:
    """Raise :class:`UserInputError` for model values of the right type that cannot work."""
    problems = [
        (model.in_channels > 0 and model.channels > 0 and model.quantizer.dim > 0,
         "model.in_channels, model.channels and model.quantizer.dim must be positive"),
        (len(model.channel_mult) > 0 and all(m > 0 for m in model.channel_mult),
         "model.channel_mult must be a non-empty list of positive integers"),
        (model.res_blocks >= 0, "model.res_blocks must be >= 0"),
        (model.resolution > 0 and model.resolution % model.downsampling == 0,
         f"model.resolution must be a positive multiple of the downsampling "
         f"{model.downsampling}, got {model.resolution}"),
        *quantizer_config_problems(model.quantizer),
    ]
    check_values(problems, where)
