"""The image autoencoder: conv encoder -> SimVQ (or VQ) -> conv decoder, VQGAN-style.

The quantizer is built by the same function, from the same classes and search back ends, as the
audio codec's (:func:`simvq_audio.quantize.factory.quantizer_from_config`): channel-first, so
it takes ``z [B, d, h, w]`` and returns ``tokens [B, h, w]``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from simvq_audio.errors import UserInputError
from simvq_audio.image.blocks import Downsample, ResBlock, SelfAttention, Upsample, group_norm
from simvq_audio.image.config import ImageModelConfig, check_image_model
from simvq_audio.quantize.base import VectorQuantizer
from simvq_audio.quantize.factory import quantizer_from_config


def _middle(channels: int, attention: bool) -> list[nn.Module]:
    """Residual block, optional self-attention, residual block at the token resolution."""
    return [ResBlock(channels, channels)] + (
        [SelfAttention(channels)] if attention else []) + [ResBlock(channels, channels)]


class Encoder(nn.Module):
    """``images [B, in_channels, H, W]`` -> ``z [B, dim, H / f, W / f]``,
    ``f = 2^(len(channel_mult) - 1)``: ``res_blocks`` residual blocks of width
    ``channels * channel_mult[level]`` per level, a 2x downsampling between levels, then the
    middle (residual, optional self-attention, residual) and a conv to ``dim``."""

    def __init__(self, in_channels: int = 3, channels: int = 128,
                 channel_mult: Sequence[int] = (1, 1, 2, 4), res_blocks: int = 2,
                 attention: bool = True, dim: int = 128):
        super().__init__()
        self.in_channels = in_channels
        self.downsampling = 2 ** (len(channel_mult) - 1)
        widths = [channels * m for m in channel_mult]
        layers: list[nn.Module] = [nn.Conv2d(in_channels, widths[0], 3, padding=1)]
        current = widths[0]
        for level, width in enumerate(widths):
            for _ in range(res_blocks):
                layers.append(ResBlock(current, width))
                current = width
            if level < len(widths) - 1:
                layers.append(Downsample(current))
        layers += _middle(current, attention)
        layers += [group_norm(current), nn.SiLU(), nn.Conv2d(current, dim, 3, padding=1)]
        self.layers = nn.Sequential(*layers)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.layers(images)


class Decoder(nn.Module):
    """``q [B, dim, h, w]`` -> ``images [B, in_channels, h f, w f]`` (unbounded; the target
    range is [-1, 1]): the :class:`Encoder` of the same arguments mirrored, with one more
    residual block per level."""

    def __init__(self, in_channels: int = 3, channels: int = 128,
                 channel_mult: Sequence[int] = (1, 1, 2, 4), res_blocks: int = 2,
                 attention: bool = True, dim: int = 128):
        super().__init__()
        widths = [channels * m for m in reversed(channel_mult)]
        current = widths[0]
        layers: list[nn.Module] = [nn.Conv2d(dim, current, 3, padding=1)]
        layers += _middle(current, attention)
        for level, width in enumerate(widths):
            for _ in range(res_blocks + 1):
                layers.append(ResBlock(current, width))
                current = width
            if level < len(widths) - 1:
                layers.append(Upsample(current))
        layers += [group_norm(current), nn.SiLU(), nn.Conv2d(current, in_channels, 3, padding=1)]
        self.layers = nn.Sequential(*layers)

    def forward(self, q: torch.Tensor) -> torch.Tensor:
        return self.layers(q)


class ImageAutoencoder(nn.Module):
    """Images in [-1, 1] ``[B, C_in, H, W]`` (``H`` and ``W`` multiples of the downsampling
    ``f``) <-> tokens ``[B, H / f, W / f]``.

    Args:
        encoder: ``images [B, C_in, H, W]`` -> ``z [B, d, H / f, W / f]``; its
            ``in_channels`` and ``downsampling`` are the model's.
        quantizer: channel-first, ``z [B, d, h, w]`` -> ``tokens [B, h, w]``.
        decoder: ``q [B, d, h, w]`` -> ``images [B, C_in, h f, w f]``.
    """

    def __init__(self, encoder: Encoder, quantizer: VectorQuantizer, decoder: Decoder):
        super().__init__()
        self.in_channels = encoder.in_channels
        self.downsampling = encoder.downsampling
        self.encoder = encoder
        self.quantizer = quantizer
        self.decoder = decoder

    @classmethod
    def from_hparams(cls, config: ImageModelConfig, search_backend: str = "auto"
                     ) -> ImageAutoencoder:
        """The model a ``model:`` config section describes (untrained; its values are checked
        first); ``search_backend``: the quantizer's nearest-code search (``"auto"``,
        ``"torch"`` or ``"triton"``)."""
        check_image_model(config)
        q = config.quantizer
        shape = dict(in_channels=config.in_channels, channels=config.channels,
                     channel_mult=config.channel_mult, res_blocks=config.res_blocks,
                     attention=config.attention, dim=q.dim)
        return cls(Encoder(**shape),
                   quantizer_from_config(q, search_backend),
                   Decoder(**shape))

    def forward(self, images: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        """``images [B, C, H, W]`` -> ``(reconstruction [B, C, H, W], tokens [B, h, w],
        quantizer_loss, stats)``."""
        q, tokens, loss, stats = self.quantizer(self.encoder(self.check_images(images)))
        return self.decoder(q), tokens, loss, stats

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """``images [B, C, H, W]`` in [-1, 1] -> ``tokens [B, H / f, W / f]`` int64."""
        return self.quantizer(self.encoder(self.check_images(images)))[1]

    def decode(self, tokens: torch.Tensor) -> torch.Tensor:
        """``tokens [B, h, w]`` -> ``images [B, C, h f, w f]`` (ids map through the effective
        codes, ``C W`` for SimVQ)."""
        if not isinstance(tokens, torch.Tensor) or tokens.dim() != 3:
            shape = tuple(tokens.shape) if isinstance(tokens, torch.Tensor) else type(tokens)
            raise UserInputError(f"image tokens must be [B, h, w], got {shape}")
        return self.decoder(self.quantizer.lookup(tokens))

    def check_images(self, images: torch.Tensor) -> torch.Tensor:
        """Return ``images`` if they are a float ``[B, C_in, H, W]`` batch with ``H`` and ``W``
        positive multiples of the downsampling; else raise :class:`UserInputError`."""
        channels, f = self.in_channels, self.downsampling
        if not isinstance(images, torch.Tensor) or not images.is_floating_point():
            kind = images.dtype if isinstance(images, torch.Tensor) else type(images).__name__
            raise UserInputError(f"images must be a floating-point tensor, got {kind}")
        if images.dim() != 4 or images.shape[1] != channels:
            raise UserInputError(f"images must be [B, {channels}, H, W] ({channels} channels), "
                                 f"got {tuple(images.shape)}")
        height, width = images.shape[-2:]
        if height == 0 or width == 0 or height % f or width % f:
            raise UserInputError(f"image height and width must be positive multiples of {f} "
                                 f"(the downsampling), got {height}x{width}")
        return images
