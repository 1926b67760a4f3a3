"""Vocos-style decoder: latents ``[B, d, F]`` -> waveform ``[B, F * hop]``."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from simvq_audio.codec.istft import ISTFTHead


def group_norm(dim: int) -> nn.GroupNorm:
    return nn.GroupNorm(math.gcd(32, dim), dim, eps=1e-6)


class ResnetBlock(nn.Module):
    """``x + conv(drop(act(norm(conv(act(norm(x)))))))``, kernel 3, SiLU: ``[B, C, F]``."""

    def __init__(self, dim: int, dropout: float):
        super().__init__()
        self.block = nn.Sequential(
            group_norm(dim), nn.SiLU(), nn.Conv1d(dim, dim, 3, padding=1),
            group_norm(dim), nn.SiLU(), nn.Dropout(dropout), nn.Conv1d(dim, dim, 3, padding=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x)


class AttentionBlock(nn.Module):
    """Single-head self-attention over frames with a residual: ``[B, C, F]`` -> same."""

    def __init__(self, dim: int):
        super().__init__()
        self.norm = group_norm(dim)
        self.qkv = nn.Conv1d(dim, 3 * dim, 1)
        self.proj = nn.Conv1d(dim, dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self.qkv(self.norm(x)).transpose(1, 2).unsqueeze(1).chunk(3, dim=-1)
        attended = F.scaled_dot_product_attention(q, k, v).squeeze(1).transpose(1, 2)
        return x + self.proj(attended)


class ConvNeXtBlock(nn.Module):
    """Depthwise conv 7, LayerNorm, MLP (GELU), layer scale, residual: ``[B, C, F]``."""

    def __init__(self, dim: int, intermediate_dim: int, layer_scale: float):
        super().__init__()
        self.dwconv = nn.Conv1d(dim, dim, 7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = nn.Sequential(nn.Linear(dim, intermediate_dim), nn.GELU(),
                                 nn.Linear(intermediate_dim, dim))
        self.gamma = nn.Parameter(torch.full((dim,), layer_scale))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.mlp(self.norm(self.dwconv(x).transpose(1, 2))) * self.gamma
        return x + y.transpose(1, 2)


def init_vocos_weights(module: nn.Module) -> None:
    """Vocos' initialisation of the convolutions and linear layers in ``module``: weights from a
    normal distribution of std 0.02 (``trunc_normal_``, cut at +-2, i.e. 100 std), biases 0."""
    for layer in module.modules():
        if isinstance(layer, (nn.Conv1d, nn.Linear)):
            nn.init.trunc_normal_(layer.weight, std=0.02)
            nn.init.zeros_(layer.bias)


class Backbone(nn.Module):
    """``[B, d, F]`` -> ``[B, F, dim]``: conv embed (kernel 7), ResNet blocks with the attention
    block in their middle and a GroupNorm, LayerNorm, ConvNeXt blocks, LayerNorm.

    Initialised as the SimVQ reference's backbone: :func:`init_vocos_weights` on the embed and
    the ConvNeXt blocks; the ResNet and attention blocks keep PyTorch's defaults (the reference
    builds them after initialising the rest).
    """

    def __init__(self, input_dim: int = 512, dim: int = 768, intermediate_dim: int = 2304,
                 num_layers: int = 12, resnet_blocks: int = 4, attention: bool = True,
                 dropout: float = 0.1):
        super().__init__()
        self.embed = nn.Conv1d(input_dim, dim, 7, padding=3)
        resnets = [ResnetBlock(dim, dropout) for _ in range(resnet_blocks)]
        half = resnet_blocks // 2
        middle = [AttentionBlock(dim)] if attention else []
        self.context = nn.Sequential(*resnets[:half], *middle, *resnets[half:], group_norm(dim))
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.convnext = nn.Sequential(*[
            ConvNeXtBlock(dim, intermediate_dim, 1 / num_layers) for _ in range(num_layers)])
        self.final_norm = nn.LayerNorm(dim, eps=1e-6)
        init_vocos_weights(self.embed)
        init_vocos_weights(self.convnext)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.context(self.embed(z))
        x = self.norm(x.transpose(1, 2)).transpose(1, 2)
        return self.final_norm(self.convnext(x).transpose(1, 2))


class Decoder(nn.Module):
    """``z [B, input_dim, F]`` -> ``wav [B, F * hop_length]``: the :class:`Backbone` (the
    arguments of the same names) and an ISTFT head of ``n_fft`` over ``hop_length``."""

    def __init__(self, input_dim: int = 512, hop_length: int = 320, n_fft: int = 1280,
                 dim: int = 768, intermediate_dim: int = 2304, num_layers: int = 12,
                 resnet_blocks: int = 4, attention: bool = True, dropout: float = 0.1):
        super().__init__()
        self.backbone = Backbone(input_dim, dim, intermediate_dim, num_layers, resnet_blocks,
                                 attention, dropout)
        self.head = ISTFTHead(dim, n_fft, hop_length)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(z))
