"""Weight-normalised convolutions, and the causal 1-D convolution the encoder is built from."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import weight_norm


def wn_conv1d(*args, **kwargs) -> nn.Module:
    """``nn.Conv1d`` with weight normalisation."""
    return weight_norm(nn.Conv1d(*args, **kwargs))


def wn_conv2d(*args, **kwargs) -> nn.Module:
    """``nn.Conv2d`` with weight normalisation."""
    return weight_norm(nn.Conv2d(*args, **kwargs))


class CausalConv1d(nn.Module):
    """Weight-normalised ``Conv1d`` padded on the left only: ``x [B, C_in, T]`` ->
    ``[B, C_out, T // stride]`` for ``T`` a multiple of ``stride``.

    Output frame ``n`` sees input samples up to ``(n + 1) * stride - 1`` and nothing later.
    The zeros on the left stand for the ``left_padding`` input samples before the start; a
    streaming encoder feeds chunks whose length is a multiple of ``stride`` and puts the last
    ``left_padding`` samples of the previous chunk there instead, which gives the same output
    as one pass over the whole input.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int,
                 stride: int = 1, dilation: int = 1):
        super().__init__()
        self.conv = wn_conv1d(in_channels, out_channels, kernel_size, stride,
                              dilation=dilation)
        self.stride = stride
        self.left_padding = (kernel_size - 1) * dilation - (stride - 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.pad(x, (self.left_padding, 0)))
