"""PatchGAN discriminator (pix2pix / VQGAN): one real/fake logit per overlapping image patch."""

from __future__ import annotations

import torch
from torch import nn

from simvq_audio.image.blocks import group_norm
from simvq_audio.image.config import PatchDiscriminatorConfig


class PatchDiscriminator(nn.Module):
    """``images [B, C, H, W]`` -> ``logits [B, 1, H', W']`` (``H' ~ H / 2^layers``).

    ``layers`` strided 4x4 convs (channels doubling from ``channels``, capped at 8x), a stride-1
    4x4 conv and a 4x4 conv to one logit; LeakyReLU(0.2). GroupNorm stands in for VQGAN's
    BatchNorm so that the logits of an image do not depend on the rest of its batch.
    """

    def __init__(self, channels: int = 64, layers: int = 3, in_channels: int = 3):
        super().__init__()
        width = channels
        modules: list[nn.Module] = [nn.Conv2d(in_channels, width, 4, 2, 1), nn.LeakyReLU(0.2)]
        for index in range(1, layers + 1):
            stride = 2 if index < layers else 1
            wider = channels * min(2 ** index, 8)
            modules += [nn.Conv2d(width, wider, 4, stride, 1, bias=False), group_norm(wider),
                        nn.LeakyReLU(0.2)]
            width = wider
        modules.append(nn.Conv2d(width, 1, 4, 1, 1))
        self.layers = nn.Sequential(*modules)

    @classmethod
    def from_hparams(cls, config: PatchDiscriminatorConfig,
                     in_channels: int) -> PatchDiscriminator:
        """The discriminator a ``discriminator:`` config section describes, for images of
        ``in_channels`` channels (the model's)."""
        return cls(config.channels, config.layers, in_channels)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.layers(images)
