"""Building blocks of the VQGAN-style autoencoder: group norm, residual block, single-head
self-attention, 2x down/upsampling. All map ``[B, C, H, W]`` feature maps."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def group_norm(channels: int) -> nn.GroupNorm:
    """GroupNorm with up to 32 groups (fewer when ``channels`` is not a multiple of 32)."""
    return nn.GroupNorm(math.gcd(32, channels), channels, eps=1e-6)


class ResBlock(nn.Module):
    """``x [B, C_in, H, W]`` -> ``[B, C_out, H, W]``: two norm-SiLU-conv3x3 layers plus a skip
    (1x1 conv when the channel count changes)."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.body = nn.Sequential(
            group_norm(in_channels), nn.SiLU(),
            nn.Conv2d(in_channels, out_channels, 3, padding=1),
            group_norm(out_channels), nn.SiLU(),
            nn.Conv2d(out_channels, out_channels, 3, padding=1))
        self.skip = (nn.Identity() if in_channels == out_channels
                     else nn.Conv2d(in_channels, out_channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.skip(x) + self.body(x)


class SelfAttention(nn.Module):
    """Single-head self-attention over the ``H * W`` positions of ``x [B, C, H, W]``, with a
    residual connection."""

    def __init__(self, channels: int):
        super().__init__()
        self.norm = group_norm(channels)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.out = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(b, 3, c, h * w).transpose(-1, -2).unbind(1)
        y = F.scaled_dot_product_attention(q[:, None], k[:, None], v[:, None])[:, 0]
        return x + self.out(y.transpose(-1, -2).reshape(b, c, h, w))


class Downsample(nn.Module):
    """``[B, C, H, W]`` -> ``[B, C, H / 2, W / 2]`` with a strided 3x3 conv."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class Upsample(nn.Module):
    """``[B, C, H, W]`` -> ``[B, C, 2H, 2W]``: nearest-neighbour upsampling, then a 3x3 conv."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))
