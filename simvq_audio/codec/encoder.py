"""Causal SEANet encoder (EnCodec style): waveform ``[B, T]`` -> latents ``[B, d, T / hop]``.

Streaming is explicit: :meth:`Encoder.stream` takes and returns an :class:`EncoderState` (each
causal conv's last input samples and the LSTM's ``(h, c)``), so a signal fed piece by piece
gives the latents of one pass over the whole signal.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from simvq_audio.codec.conv import CausalConv1d
from simvq_audio.codec.named_parts import NamedParts
from simvq_audio.codec.stream_state import LayerState, select_rows
from simvq_audio.errors import UserInputError


@dataclass
class EncoderState:
    """What a stream carries from one piece to the next: one entry per stateful layer, in
    order (causal conv: its last input samples ``[B, C, left_padding]``; residual unit: those
    of its three convs; LSTM: ``(h, c)``, each ``[B, layers, C]``)."""

    layers: list[LayerState]

    def select(self, rows: list[int] | torch.Tensor) -> EncoderState:
        """The state of batch items ``rows`` only (to continue those signals alone)."""
        return EncoderState(select_rows(self.layers, rows))


class ResidualLayers(NamedParts):
    """The convs of a residual unit's branch, saved as ``1`` and ``3`` (their places in the
    ``nn.Sequential`` of ELUs and convs that saved model directories and the SEANet reference
    name them by)."""

    SAVED_AS = {"dilated_conv": "1", "pointwise_conv": "3"}


class ResidualUnit(nn.Module):
    """``shortcut(x) + block(x)`` with ``block = ELU, dilated_conv (kernel k, dim -> dim/2),
    ELU, pointwise_conv (kernel 1, dim/2 -> dim)`` and a 1x1 conv shortcut.
    ``[B, dim, T]`` -> ``[B, dim, T]``."""

    def __init__(self, dim: int, kernel_size: int, dilation: int, padding: str):
        super().__init__()
        self.block = ResidualLayers(
            dilated_conv=CausalConv1d(dim, dim // 2, kernel_size, dilation=dilation,
                                      padding=padding),
            pointwise_conv=CausalConv1d(dim // 2, dim, 1, padding=padding))
        self.shortcut = CausalConv1d(dim, dim, 1, padding=padding)

    def forward(self, x: torch.Tensor, state: tuple[torch.Tensor, ...] | None = None,
                final: bool = True) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        """``x [B, dim, T]`` -> ``(y [B, dim, T], state)``; ``state`` as for
        :class:`CausalConv1d`, one history per conv (``None``: start of the signal)."""
        first, second, skip = state if state is not None else (None, None, None)
        h, first = self.block.dilated_conv(F.elu(x), first, final)
        h, second = self.block.pointwise_conv(F.elu(h), second, final)
        shortcut, skip = self.shortcut(x, skip, final)
        return shortcut + h, (first, second, skip)


class SkipLSTM(nn.Module):
    """Unidirectional LSTM with a residual connection: ``[B, C, T]`` -> ``[B, C, T]``.

    Causal; ``state`` is the LSTM's ``(h, c)``, batch first (``[B, layers, C]`` each),
    which a stream carries between pieces (``None``: zeros, the start of the signal)."""

    def __init__(self, dim: int, num_layers: int):
        super().__init__()
        self.lstm = nn.LSTM(dim, dim, num_layers)

    def forward(self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None,
                final: bool = True) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """``x [B, C, T]`` -> ``(y [B, C, T], (h, c))``; ``final`` is not needed here."""
        sequence = x.permute(2, 0, 1)
        if state is not None:
            state = tuple(item.transpose(0, 1).contiguous() for item in state)
        y, (h, c) = self.lstm(sequence, state)
        return (y + sequence).permute(1, 2, 0), (h.transpose(0, 1), c.transpose(0, 1))


_STATEFUL = (CausalConv1d, ResidualUnit, SkipLSTM)
"""The encoder's layers that carry state across the pieces of a stream."""


class ProjectionLayers(NamedParts):
    """The encoder's last conv (to ``dim``), saved as ``1``: its place after an ELU in the
    ``nn.Sequential`` that saved model directories name it by."""

    SAVED_AS = {"conv": "1"}


class Encoder(nn.Module):
    """``wav [B, T]`` -> ``z [B, dim, ceil(T / hop_length)]``.

    Conv in (kernel ``kernel_size``), then per stride: ``residual_units`` residual units
    (kernel ``residual_kernel_size``, dilations 1, 2, 4, ...), ELU, a strided conv (kernel
    ``2 * stride``) doubling the channels from ``channels``; then the skip LSTM
    (``lstm_layers``), ELU and a conv (kernel ``last_kernel_size``) to ``dim``. Every conv is
    causal (see :class:`CausalConv1d`; ``padding`` says what stands before the start and after
    a last partial frame, see :class:`~simvq_audio.codec.config.EncoderConfig`): with
    ``"zeros"`` frame ``t`` depends only on samples before ``(t + 1) * hop_length``; with
    ``"reflect"`` the first frames also see up to :attr:`start_samples` samples.

    State-dict names: ``downsample.{i}`` is the ``i``-th layer of the sequence above up to the
    LSTM, ELUs included (the indices of the SEANet reference's ``encoder.model.{i}``);
    ``lstm.lstm``; ``project`` (:class:`ProjectionLayers`); inside residual units
    :class:`ResidualLayers` and ``shortcut``.
    """

    def __init__(self, dim: int = 512, channels: int = 32,
                 strides: Sequence[int] = (2, 4, 5, 8), kernel_size: int = 7,
                 last_kernel_size: int = 7, residual_kernel_size: int = 3,
                 residual_units: int = 1, lstm_layers: int = 2, padding: str = "zeros"):
        super().__init__()
        self.dim = dim
        self.hop_length = math.prod(strides)
        self.padding = padding
        layers: list[nn.Module] = [CausalConv1d(1, channels, kernel_size, padding=padding)]
        for stride in strides:
            layers += [ResidualUnit(channels, residual_kernel_size, 2 ** j, padding)
                       for j in range(residual_units)]
            layers += [nn.ELU(), CausalConv1d(channels, 2 * channels, 2 * stride, stride,
                                              padding=padding)]
            channels *= 2
        self.downsample = nn.Sequential(*layers)
        self.lstm = SkipLSTM(channels, lstm_layers)
        self.project = ProjectionLayers(conv=CausalConv1d(channels, dim, last_kernel_size,
                                                          padding=padding))
        self.start_samples = self._start_frames() * self.hop_length
        """Length of a stream's first piece from which it equals one pass on those frames:
        one frame with ``"zeros"``; with ``"reflect"``, enough that every conv's input is
        longer than its left padding (7 frames for the paper model)."""

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        """One pass over whole signals: ``wav [B, T]`` -> ``z [B, dim, ceil(T / hop)]``."""
        return self.stream(wav, None, final=True)[0]

    def stream(self, wav: torch.Tensor, state: EncoderState | None, final: bool
               ) -> tuple[torch.Tensor, EncoderState]:
        """Continue signals: ``wav [B, T]`` -> ``(z [B, dim, ceil(T / hop)], state)``.

        ``state``: what the previous piece returned (``None``: the start). Unless ``final``
        (the piece ends the signals), ``T`` must be a multiple of the hop. With ``"zeros"``
        a final piece is padded with zeros to a whole frame first.
        """
        if wav.dim() != 2:
            raise UserInputError(f"encoder expects wav [B, T], got {tuple(wav.shape)}")
        extra = -wav.shape[-1] % self.hop_length
        if extra and not final:
            raise UserInputError(f"a piece that does not end the signal must be a multiple of "
                                 f"{self.hop_length} samples, got {wav.shape[-1]}")
        if extra and self.padding == "zeros":
            wav = nn.functional.pad(wav, (0, extra))
        carried = iter(state.layers) if state is not None else None
        layers: list[LayerState] = []
        x = wav.unsqueeze(1)
        for layer in [*self.downsample, self.lstm, F.elu, self.project.conv]:
            if isinstance(layer, _STATEFUL):
                x, layer_state = layer(x, next(carried) if carried else None, final)
                layers.append(layer_state)
            else:  # ELU
                x = layer(x)
        return x, EncoderState(layers)

    @torch.no_grad()
    def init_from_data(self, wav: torch.Tensor, eps: float = 1e-5) -> None:
        """Weight normalisation's data-dependent initialisation (Salimans & Kingma, 2016) on a
        batch ``wav [B, T]``: conv by conv, in order, each output channel's gain and bias are
        set so that on this batch it has mean 0 and standard deviation 1 (over batch and time).

        PyTorch's default conv init shrinks activations layer by layer: the tiny encoder's
        untrained latents vary by about 0.001 per dimension, far below the codes' spread, so
        every frame starts on the same code. After this they vary by about 1 and span most
        dimensions. The LSTM is left as it is.
        """
        def normalise(conv: nn.Module, inputs: tuple, out: torch.Tensor) -> torch.Tensor:
            mean, std = out.mean(dim=(0, 2)), out.std(dim=(0, 2)) + eps
            conv.parametrizations.weight.original0.div_(std.view(-1, 1, 1))
            conv.bias.sub_(mean).div_(std)
            return (out - mean.view(1, -1, 1)) / std.view(1, -1, 1)

        hooks = [module.conv.register_forward_hook(normalise) for module in self.modules()
                 if isinstance(module, CausalConv1d)]
        try:
            self(wav)
        finally:
            for hook in hooks:
                hook.remove()

    def _start_frames(self) -> int:
        """Frames a first piece needs so that each conv input is longer than its padding."""
        if self.padding == "zeros":
            return 1
        frames, rate = 1, 1  # rate: input samples per sample of the current conv's input
        for module in self.modules():
            if isinstance(module, CausalConv1d):
                frames = max(frames, module.left_padding * rate // self.hop_length + 1)
                rate *= module.stride
        return frames
