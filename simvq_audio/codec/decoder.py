"""Vocos-style decoder: latents ``[B, d, F]`` -> waveform ``[B, F * hop]``, paper or causal.

Both kinds share the network (conv embed, ResNet blocks around one self-attention block,
ConvNeXt blocks, ISTFT head) and differ in what a frame sees:

* ``causal=False``, the paper decoder (the SimVQ authors' network): centred convolutions,
  GroupNorms and self-attention over the whole sequence.
* ``causal=True``: every layer sees only past frames: left-padded convolutions, attention over
  the last ``attention_window`` frames, and a LayerNorm over each frame's channels where the
  paper has GroupNorm. Same parameter count.

Streaming is explicit (:meth:`Decoder.stream` takes and returns a :class:`DecoderState`). A causal
decoder's stream equals one pass (float32 rounding) for every chunking. The paper decoder streams
in windows: it waits for ``lookahead`` frames after the ones it decodes and keeps ``context``
frames before them; the frames of consecutive windows meet in the ISTFT's overlap-add, which
cross-fades them over its window. Either way a sample is final once every ISTFT frame that
overlaps it has arrived: :meth:`Decoder.latency_frames`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn

from simvq_audio.codec.conv import CausalConv1d
from simvq_audio.codec.istft import ISTFTHead
from simvq_audio.codec.named_parts import NamedParts
from simvq_audio.codec.stream_state import LayerState, select_rows


def group_norm(dim: int) -> nn.GroupNorm:
    return nn.GroupNorm(math.gcd(32, dim), dim, eps=1e-6)


class FrameNorm(nn.LayerNorm):
    """LayerNorm over the channels of each frame, ``[B, C, F]`` -> same (eps 1e-6). Where the
    paper decoder pools GroupNorm statistics over all frames, the causal one normalises each
    frame alone."""

    def __init__(self, dim: int):
        super().__init__(dim, eps=1e-6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.transpose(1, 2)).transpose(1, 2)


def time_norm(dim: int, causal: bool) -> nn.Module:
    """The normalisation over ``[B, dim, F]`` of the ResNet and attention blocks."""
    return FrameNorm(dim) if causal else group_norm(dim)


def time_conv(in_channels: int, out_channels: int, kernel_size: int, causal: bool,
              groups: int = 1) -> nn.Module:
    """A stride-1 convolution over frames: centred (paper) or causal (left-padded, without
    weight normalisation; it carries its last ``kernel_size - 1`` inputs in a stream)."""
    if causal:
        return CausalConv1d(in_channels, out_channels, kernel_size, groups=groups,
                            weight_norm=False)
    return nn.Conv1d(in_channels, out_channels, kernel_size, padding=kernel_size // 2,
                     groups=groups)


def run_layers(layers: Iterable[Callable[..., torch.Tensor]], x: torch.Tensor,
               states: list | None) -> tuple[torch.Tensor, list[LayerState]]:
    """``layers`` (modules or functions) in order on ``x [B, C, F]``. Layers that carry state
    across pieces of a stream (the blocks below and causal convs) take theirs from ``states``
    (one entry each, in order; ``None``: the start of the stream) and return the new one;
    norms, activations and the paper's centred convs carry none."""
    carried = iter(states) if states is not None else None
    new_states: list[LayerState] = []
    for layer in layers:
        if isinstance(layer, _STATEFUL):
            x, state = layer(x, next(carried) if carried is not None else None)
            new_states.append(state)
        else:
            x = layer(x)
    return x, new_states


class ResnetLayers(NamedParts):
    """A ResNet block's layers (the reference's names), saved as ``0``, ``2``, ``3``, ``5``,
    ``6``: their places in the ``nn.Sequential`` with SiLUs that saved model directories name
    them by."""

    SAVED_AS = {"norm1": "0", "conv1": "2", "norm2": "3", "dropout": "5", "conv2": "6"}


class ResnetBlock(nn.Module):
    """``x + conv2(dropout(silu(norm2(conv1(silu(norm1(x)))))))``, kernel 3: ``[B, C, F]``."""

    def __init__(self, dim: int, dropout: float, causal: bool = False):
        super().__init__()
        self.block = ResnetLayers(
            norm1=time_norm(dim, causal), conv1=time_conv(dim, dim, 3, causal),
            norm2=time_norm(dim, causal), dropout=nn.Dropout(dropout),
            conv2=time_conv(dim, dim, 3, causal))

    def forward(self, x: torch.Tensor, state: list | None = None
                ) -> tuple[torch.Tensor, list[LayerState]]:
        """``x [B, C, F]`` -> ``(y [B, C, F], state)``: the two convs' states."""
        b = self.block
        h, state = run_layers([b.norm1, F.silu, b.conv1, b.norm2, F.silu, b.dropout, b.conv2],
                              x, state)
        return x + h, state


def attention_mask(queries: int, keys: int, window: int, device: torch.device) -> torch.Tensor:
    """``[queries, keys]`` bool, True where attention is allowed: the queries are the last
    ``queries`` of ``keys`` consecutive frames, and each sees itself and the ``window - 1``
    frames before it."""
    key = torch.arange(keys, device=device)
    query = torch.arange(keys - queries, keys, device=device)[:, None]
    return (key <= query) & (key > query - window)


class AttentionBlock(nn.Module):
    """Single-head self-attention over frames with a residual: ``[B, C, F]`` -> same.

    Paper: every frame attends to every frame. Causal (``window`` > 0): frame ``t`` attends to
    frames ``t - window + 1 .. t``; a stream carries the keys and values of its last
    ``window - 1`` frames.
    """

    def __init__(self, dim: int, causal: bool = False, window: int = 0):
        super().__init__()
        if causal and window < 1:
            raise ValueError(f"a causal attention block needs a window >= 1, got {window}")
        self.window = window if causal else 0
        self.norm = time_norm(dim, causal)
        self.qkv = nn.Conv1d(dim, 3 * dim, 1)
        self.proj = nn.Conv1d(dim, dim, 1)

    def forward(self, x: torch.Tensor,
                state: tuple[torch.Tensor, torch.Tensor] | None = None
                ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor] | None]:
        """``x [B, C, F]`` -> ``(y [B, C, F], state)``; causal: ``state`` = the keys and
        values ``[B, 1, <= window - 1, C]`` of the frames before ``x`` (``None``: none)."""
        q, k, v = self.qkv(self.norm(x)).transpose(1, 2).unsqueeze(1).chunk(3, dim=-1)
        if not self.window:
            attended = F.scaled_dot_product_attention(q, k, v)
        else:
            if state is not None:
                k, v = torch.cat([state[0], k], dim=2), torch.cat([state[1], v], dim=2)
            mask = attention_mask(q.shape[2], k.shape[2], self.window, x.device)
            attended = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
            keep = max(0, k.shape[2] - (self.window - 1))
            state = (k[:, :, keep:], v[:, :, keep:])
        return x + self.proj(attended.squeeze(1).transpose(1, 2)), state


class ConvNeXtLayers(NamedParts):
    """A ConvNeXt block's MLP, ``pwconv1`` (to ``intermediate_dim``), GELU, ``pwconv2`` (back),
    saved as ``0`` and ``2``: their places in the ``nn.Sequential`` with the GELU that saved
    model directories name them by."""

    SAVED_AS = {"pwconv1": "0", "pwconv2": "2"}


class ConvNeXtBlock(nn.Module):
    """Depthwise conv 7, LayerNorm, MLP (``pwconv1``, GELU, ``pwconv2``), layer scale,
    residual: ``[B, C, F]``."""

    def __init__(self, dim: int, intermediate_dim: int, layer_scale: float,
                 causal: bool = False):
        super().__init__()
        self.dwconv = time_conv(dim, dim, 7, causal, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = ConvNeXtLayers(pwconv1=nn.Linear(dim, intermediate_dim),
                                  pwconv2=nn.Linear(intermediate_dim, dim))
        self.gamma = nn.Parameter(torch.full((dim,), layer_scale))

    def forward(self, x: torch.Tensor, state: list | None = None
                ) -> tuple[torch.Tensor, list[LayerState]]:
        """``x [B, C, F]`` -> ``(y [B, C, F], state)``: the depthwise conv's state."""
        h, state = run_layers([self.dwconv], x, state)
        y = self.mlp.pwconv2(F.gelu(self.mlp.pwconv1(self.norm(h.transpose(1, 2)))))
        y = y * self.gamma
        return x + y.transpose(1, 2), state


_STATEFUL = (CausalConv1d, ResnetBlock, AttentionBlock, ConvNeXtBlock)


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

    ``causal``: see the module docstring (``attention_window``: the causal attention's span in
    frames). Initialised as the SimVQ reference's backbone: :func:`init_vocos_weights` on the
    embed and the ConvNeXt blocks; the ResNet and attention blocks keep PyTorch's defaults (the
    reference builds them after initialising the rest).
    """

    def __init__(self, input_dim: int = 512, dim: int = 768, intermediate_dim: int = 2304,
                 num_layers: int = 12, resnet_blocks: int = 4, attention: bool = True,
                 dropout: float = 0.1, causal: bool = False, attention_window: int = 75):
        super().__init__()
        self.causal = causal
        self.embed = time_conv(input_dim, dim, 7, causal)
        resnets = [ResnetBlock(dim, dropout, causal) for _ in range(resnet_blocks)]
        half = resnet_blocks // 2
        middle = [AttentionBlock(dim, causal, attention_window)] if attention else []
        self.context = nn.Sequential(*resnets[:half], *middle, *resnets[half:],
                                     time_norm(dim, causal))
        self.norm = FrameNorm(dim)
        self.convnext = nn.Sequential(*[
            ConvNeXtBlock(dim, intermediate_dim, 1 / num_layers, causal)
            for _ in range(num_layers)])
        self.final_norm = FrameNorm(dim)
        init_vocos_weights(self.embed)
        init_vocos_weights(self.convnext)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """One pass: ``z [B, d, F]`` -> ``x [B, F, dim]``."""
        return self.stream(z, None)[0]

    def stream(self, z: torch.Tensor, state: list | None
               ) -> tuple[torch.Tensor, list[LayerState]]:
        """Continue a causal backbone: ``z [B, d, n]`` (``n >= 1``) -> ``(x [B, n, dim],
        state)``; ``state``: what the previous piece returned (``None``: the start). The paper
        backbone has no state: it runs whole sequences only."""
        if state is not None and not self.causal:
            raise ValueError("the paper (non-causal) backbone does not continue a stream; "
                             "Decoder.stream decodes it in windows")
        layers = [self.embed, *self.context, self.norm, *self.convnext, self.final_norm]
        x, state = run_layers(layers, z, state)
        return x.transpose(1, 2), state


@dataclass
class DecoderState:
    """What a decoder's stream carries from one piece to the next (every tensor has the batch
    on dim 0, every count is the same for all items).

    ``overlap [B, n_fft - hop]``: the ISTFT's overlap-add sums over the samples after the last
    final one; ``frames``: frames handed to the ISTFT so far. Causal decoder: ``layers``, the
    backbone's state (each causal conv's last inputs ``[B, C, kernel - 1]``, the attention's
    keys and values ``[B, 1, <= window - 1, C]``). Paper decoder: ``latents [B, d, m]``, up to
    ``context`` frames already decoded followed by the ``pending`` frames not decoded yet.
    """

    overlap: torch.Tensor
    frames: int = 0
    layers: list[LayerState] | None = None
    latents: torch.Tensor | None = None
    pending: int = 0

    def select(self, rows: list[int] | torch.Tensor) -> DecoderState:
        """The state of batch items ``rows`` only (to continue or end those streams alone)."""
        return replace(self, overlap=self.overlap[rows], layers=select_rows(self.layers, rows),
                       latents=select_rows(self.latents, rows))


class Decoder(nn.Module):
    """``z [B, input_dim, F]`` -> ``wav [B, F * hop_length]``: the :class:`Backbone` (the
    arguments of the same names) and an ISTFT head of ``n_fft`` over ``hop_length``."""

    def __init__(self, input_dim: int = 512, hop_length: int = 320, n_fft: int = 1280,
                 dim: int = 768, intermediate_dim: int = 2304, num_layers: int = 12,
                 resnet_blocks: int = 4, attention: bool = True, dropout: float = 0.1,
                 causal: bool = False, attention_window: int = 75):
        super().__init__()
        self.causal = causal
        self.backbone = Backbone(input_dim, dim, intermediate_dim, num_layers, resnet_blocks,
                                 attention, dropout, causal, attention_window)
        self.head = ISTFTHead(dim, n_fft, hop_length)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(z))

    def latency_frames(self, lookahead: int = 0) -> int:
        """Frames that must arrive after token ``t`` before the last sample of its hop is
        final: the ``lookahead`` plus the ISTFT's overlap (2 for n_fft 1280, hop 320)."""
        istft = self.head.istft
        return lookahead + (istft.hop_length - 1 + istft.pad) // istft.hop_length

    def stream(self, z: torch.Tensor, state: DecoderState | None, final: bool = False,
               lookahead: int = 0, context: int = 0) -> tuple[torch.Tensor, DecoderState]:
        """Continue decoding: the next frames' latents ``z [B, d, n]`` (``n >= 0``) ->
        ``(wav [B, m], state)``, the samples that became final.

        ``state``: what the previous call returned (``None``: the start). ``final``: ``z`` ends
        the streams; the rest of the audio is returned. All the pieces of a stream together
        give ``F * hop`` samples. Causal decoder: ``lookahead`` and ``context`` must be 0;
        the pieces equal :meth:`forward` on all frames. Paper decoder: frames are decoded once
        ``lookahead`` later frames have arrived (or at the end), in one window with up to
        ``context`` decoded frames before them.
        """
        if state is None:
            state = DecoderState(self.head.istft.start_overlap(z.shape[0], z.device))
        if self.causal:
            if lookahead or context:
                raise ValueError("a causal decoder streams exactly: lookahead and context "
                                 "must be 0")
            x, layers = (self.backbone.stream(z, state.layers) if z.shape[-1]
                         else (self._no_frames(z), state.layers))
            state = replace(state, layers=layers)
        else:
            x, state = self._window(z, state, final, lookahead, context)
        wav, overlap = self.head.stream(x, state.overlap, state.frames)
        state = replace(state, overlap=overlap, frames=state.frames + x.shape[1])
        if final:
            wav = torch.cat([wav, self.head.istft.finish(state.overlap, state.frames)], dim=-1)
        return wav, state

    def _no_frames(self, z: torch.Tensor) -> torch.Tensor:
        """``[B, 0, dim]``: no backbone frames this time."""
        return z.new_zeros(z.shape[0], 0, self.head.out.in_features)

    def _window(self, z: torch.Tensor, state: DecoderState, final: bool, lookahead: int,
                context: int) -> tuple[torch.Tensor, DecoderState]:
        """The paper decoder's next frames ``x [B, n, dim]`` from one backbone pass over the
        kept and new latents, the last ``lookahead`` frames held back unless ``final``."""
        latents = z if state.latents is None else torch.cat([state.latents, z], dim=-1)
        pending = state.pending + z.shape[-1]
        ready = pending if final else max(0, pending - lookahead)
        if not ready:
            return self._no_frames(z), replace(state, latents=latents, pending=pending)
        decoded = latents.shape[-1] - pending
        x = self.backbone(latents)[:, decoded:decoded + ready]
        kept = latents[..., max(0, decoded + ready - context):]
        return x, replace(state, latents=kept, pending=pending - ready)
