"""Weight-normalised convolutions, and the causal 1-D convolution the encoder is built from."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrizations

PADDING_MODES = ("zeros", "reflect")


def wn_conv1d(*args, **kwargs) -> nn.Module:
    """``nn.Conv1d`` with weight normalisation."""
    return parametrizations.weight_norm(nn.Conv1d(*args, **kwargs))


def wn_conv2d(*args, **kwargs) -> nn.Module:
    """``nn.Conv2d`` with weight normalisation."""
    return parametrizations.weight_norm(nn.Conv2d(*args, **kwargs))


def reflect_pad(x: torch.Tensor, left: int, right: int) -> torch.Tensor:
    """``x [B, C, T]`` -> ``[B, C, left + T + right]``, mirrored at both ends (the edge sample
    is not repeated). When ``T`` is too short to mirror, ``x`` is first extended with zeros on
    the right and those zeros are cut again afterwards (as the SEANet reference does)."""
    extension = max(left, right) - x.shape[-1] + 1
    if extension <= 0:
        return F.pad(x, (left, right), mode="reflect")
    padded = F.pad(F.pad(x, (0, extension)), (left, right), mode="reflect")
    return padded[..., :padded.shape[-1] - extension]


class CausalConv1d(nn.Module):
    """``Conv1d`` that sees no input after its output frame (weight-normalised unless
    ``weight_norm=False``; ``groups`` as in ``Conv1d``):
    ``x [B, C_in, T]`` -> ``y [B, C_out, ceil(T / stride)]``.

    Output frame ``n`` is computed from input samples up to ``(n + 1) * stride - 1``, with
    ``left_padding`` samples before the first. What stands there depends on ``padding``:

    * ``"zeros"``: zeros. ``T`` must be a multiple of ``stride``.
    * ``"reflect"``: the mirror image of samples ``1 .. left_padding``; and when ``final`` and
      ``T`` is not a multiple of ``stride``, the input is mirrored on the right up to the next
      multiple (the SEANet reference). A first piece of a stream then needs more than
      ``left_padding`` samples to equal a one-pass run on those frames.

    ``forward(x, history, final)`` continues a signal: ``history [B, C_in, left_padding]`` (the
    previous piece's last input samples, the second value returned by the previous call)
    replaces the left padding; ``None`` starts the signal. Feeding pieces whose lengths are
    multiples of ``stride`` (all but a ``final`` last one) gives the output of one pass.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int,
                 stride: int = 1, dilation: int = 1, padding: str = "zeros", groups: int = 1,
                 weight_norm: bool = True):
        super().__init__()
        if padding not in PADDING_MODES:
            raise ValueError(f"padding must be one of {PADDING_MODES}, got {padding!r}")
        conv = nn.Conv1d(in_channels, out_channels, kernel_size, stride, dilation=dilation,
                         groups=groups)
        self.conv = parametrizations.weight_norm(conv) if weight_norm else conv
        self.stride = stride
        self.padding = padding
        self.left_padding = (kernel_size - 1) * dilation - (stride - 1)

    def forward(self, x: torch.Tensor, history: torch.Tensor | None = None,
                final: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """``x [B, C_in, T]`` -> ``(y [B, C_out, ceil(T / stride)], history [B, C_in, p])``."""
        right = -x.shape[-1] % self.stride
        if right and not (final and self.padding == "reflect"):
            raise ValueError(f"CausalConv1d: {x.shape[-1]} input samples are not a multiple "
                             f"of the stride {self.stride}")
        if history is not None:
            x = torch.cat([history, x], dim=-1)
            if right:
                x = reflect_pad(x, 0, right)
        elif self.padding == "zeros":
            x = F.pad(x, (self.left_padding, 0))
        else:
            x = reflect_pad(x, self.left_padding, right)
        end = x.shape[-1] - right
        return self.conv(x), x[..., end - self.left_padding:end]
