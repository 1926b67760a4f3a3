"""The wav2vec 2.0 BASE encoder (Baevski et al., 2020) in plain PyTorch, for inference only: the
self-supervised feature extractor of the UTMOS22 strong learner (:mod:`simvq_audio.metrics.utmos`).

It computes context features ``[B, F, 768]`` at 50 frames per second from raw 16 kHz waveforms
``[B, T]``, as fairseq's ``Wav2Vec2Model(features_only=True, mask=False)`` does for the
``wav2vec_small`` checkpoint:

- feature encoder: 7 bias-free ``Conv1d`` with 512 channels (kernels 10, 3, 3, 3, 3, 2, 2;
  strides 5, 2, 2, 2, 2, 2, 2: a 320-sample hop and a 400-sample receptive field), a
  ``GroupNorm`` with one group per channel after the first, an exact GELU after each;
- ``LayerNorm(512)`` and a linear projection to 768;
- convolutional relative position embedding: a weight-normalised grouped ``Conv1d`` (kernel 128,
  16 groups, padding 64) whose last output frame is dropped, then GELU, added to its input;
- ``LayerNorm(768)`` and 12 post-norm Transformer layers (12 heads, feed-forward 3072, GELU).

The waveform is used as it is (samples in [-1, 1]): the BASE model was pre-trained without input
normalisation and UTMOS22 feeds it ``torchaudio.load``'s samples. Dropout is left out (inference).
fairseq pads the frames to an even count and masks the padded keys in attention; that changes no
unpadded output, so this encoder does not pad.

Parameter names and shapes follow the state dict of ``tarepan/SpeechMOS`` (its
``speechmos/utmos22/fairseq_alt.py``), so that its UTMOS22 file loads with ``strict=True``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

SAMPLE_RATE = 16000
# (channels, kernel, stride) of the feature encoder's convolutions
CONV_LAYERS = ((512, 10, 5),) + ((512, 3, 2),) * 4 + ((512, 2, 2),) * 2
EMBED_DIM = 768
FFN_DIM = 3072
NUM_HEADS = 12
NUM_LAYERS = 12
POS_CONV_KERNEL = 128
POS_CONV_GROUPS = 16
LAYER_NORM_EPS = 1e-5      # torch's default, as in fairseq
GROUP_NORM_EPS = 1e-5


def receptive_field(conv_layers: tuple[tuple[int, int, int], ...] = CONV_LAYERS) -> int:
    """Samples one output frame of the feature encoder sees (400 for wav2vec 2.0)."""
    span, hop = 1, 1
    for _, kernel, stride in conv_layers:
        span += (kernel - 1) * hop
        hop *= stride
    return span


def num_frames(num_samples: int,
               conv_layers: tuple[tuple[int, int, int], ...] = CONV_LAYERS) -> int:
    """Frames the feature encoder makes of ``num_samples`` samples (0 if too short)."""
    length = num_samples
    for _, kernel, stride in conv_layers:
        length = max((length - kernel) // stride + 1, 0)
    return length


class WeightNormConv1d(nn.Module):
    """``Conv1d`` whose weight is ``weight_v * weight_g / ||weight_v||``, the norm taken over the
    input and output channels for each kernel tap (``torch.nn.utils.weight_norm(..., dim=2)``,
    which is how fairseq stores the position convolution: ``weight_g [1, 1, K]``,
    ``weight_v [C, C / groups, K]``)."""

    def __init__(self, channels: int, kernel_size: int, groups: int):
        super().__init__()
        self.groups, self.padding = groups, kernel_size // 2
        self.weight_g = nn.Parameter(torch.ones(1, 1, kernel_size))
        self.weight_v = nn.Parameter(torch.empty(channels, channels // groups, kernel_size))
        self.bias = nn.Parameter(torch.zeros(channels))
        nn.init.normal_(self.weight_v, std=(1.0 / (kernel_size * channels)) ** 0.5)

    def weight(self) -> torch.Tensor:
        """The effective convolution weight ``[C, C / groups, K]``."""
        norm = torch.linalg.vector_norm(self.weight_v, dim=(0, 1), keepdim=True)
        return self.weight_v * (self.weight_g / norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x [B, C, F]`` -> ``[B, C, F + 1]`` (padding ``K / 2`` on both sides, K even)."""
        return F.conv1d(x, self.weight(), self.bias, padding=self.padding, groups=self.groups)


class FeatureEncoder(nn.Module):
    """The convolutional waveform encoder: ``[B, T]`` -> ``[B, 512, F]``.

    Each block is ``conv_layers.<i>.0`` (the convolution) and, in the first block only,
    ``conv_layers.0.2`` (the group norm); index 1 is fairseq's (parameterless) dropout slot, kept
    as an identity so that the parameter names match.
    """

    def __init__(self, conv_layers: tuple[tuple[int, int, int], ...] = CONV_LAYERS):
        super().__init__()
        blocks, in_channels = [], 1
        for index, (channels, kernel, stride) in enumerate(conv_layers):
            layers = [nn.Conv1d(in_channels, channels, kernel, stride=stride, bias=False),
                      nn.Identity()]
            if index == 0:
                layers.append(nn.GroupNorm(channels, channels, eps=GROUP_NORM_EPS))
            layers.append(nn.GELU())
            blocks.append(nn.Sequential(*layers))
            in_channels = channels
        self.conv_layers = nn.ModuleList(blocks)

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        """``wave [B, T]`` -> features ``[B, 512, F]``, ``F = num_frames(T)``."""
        x = wave[:, None]
        for block in self.conv_layers:
            x = block(x)
        return x


class SelfAttention(nn.Module):
    """Multi-head self-attention with separate q/k/v/out projections (fairseq's names)."""

    def __init__(self, dim: int = EMBED_DIM, num_heads: int = NUM_HEADS):
        super().__init__()
        self.num_heads = num_heads
        self.q_proj = nn.Linear(dim, dim)
        self.k_proj = nn.Linear(dim, dim)
        self.v_proj = nn.Linear(dim, dim)
        self.out_proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x [B, F, D]`` -> ``[B, F, D]``; scores scaled by ``1 / sqrt(D / heads)``."""
        batch, frames, dim = x.shape

        def heads(projection: nn.Linear) -> torch.Tensor:     # [B, H, F, D / H]
            return projection(x).view(batch, frames, self.num_heads, -1).transpose(1, 2)

        attended = F.scaled_dot_product_attention(heads(self.q_proj), heads(self.k_proj),
                                                  heads(self.v_proj))
        return self.out_proj(attended.transpose(1, 2).reshape(batch, frames, dim))


class TransformerLayer(nn.Module):
    """Post-norm Transformer layer: ``x = LN(x + attn(x))``, ``x = LN(x + fc2(gelu(fc1(x))))``."""

    def __init__(self, dim: int = EMBED_DIM, ffn_dim: int = FFN_DIM, num_heads: int = NUM_HEADS):
        super().__init__()
        self.self_attn = SelfAttention(dim, num_heads)
        self.self_attn_layer_norm = nn.LayerNorm(dim, eps=LAYER_NORM_EPS)
        self.fc1 = nn.Linear(dim, ffn_dim)
        self.fc2 = nn.Linear(ffn_dim, dim)
        self.final_layer_norm = nn.LayerNorm(dim, eps=LAYER_NORM_EPS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x [B, F, D]`` -> ``[B, F, D]``."""
        x = self.self_attn_layer_norm(x + self.self_attn(x))
        return self.final_layer_norm(x + self.fc2(F.gelu(self.fc1(x))))


class TransformerEncoder(nn.Module):
    """Position convolution, layer norm, Transformer layers: ``[B, F, D]`` -> ``[B, F, D]``.

    The position convolution is ``pos_conv.0`` (a one-element list: fairseq's ``Sequential``
    of the convolution, the frame trim and the GELU, of which only the first has parameters).
    """

    def __init__(self, dim: int = EMBED_DIM, ffn_dim: int = FFN_DIM, num_heads: int = NUM_HEADS,
                 num_layers: int = NUM_LAYERS):
        super().__init__()
        self.pos_conv = nn.ModuleList([WeightNormConv1d(dim, POS_CONV_KERNEL, POS_CONV_GROUPS)])
        self.layer_norm = nn.LayerNorm(dim, eps=LAYER_NORM_EPS)
        self.layers = nn.ModuleList([TransformerLayer(dim, ffn_dim, num_heads)
                                     for _ in range(num_layers)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x [B, F, D]`` -> ``[B, F, D]``."""
        position = self.pos_conv[0](x.transpose(1, 2))[:, :, :-1]     # even kernel: F + 1 -> F
        x = self.layer_norm(x + F.gelu(position).transpose(1, 2))
        for layer in self.layers:
            x = layer(x)
        return x


class Wav2Vec2Encoder(nn.Module):
    """wav2vec 2.0 BASE: waveform ``[B, T]`` at 16 kHz -> context features ``[B, F, 768]``.

    ``mask_emb [768]`` (the pre-training mask vector) is unused at inference but is part of the
    checkpoint, so it is kept as a parameter.
    """

    def __init__(self):
        super().__init__()
        conv_channels = CONV_LAYERS[-1][0]
        self.feature_extractor = FeatureEncoder(CONV_LAYERS)
        self.layer_norm = nn.LayerNorm(conv_channels, eps=LAYER_NORM_EPS)
        self.post_extract_proj = nn.Linear(conv_channels, EMBED_DIM)
        self.encoder = TransformerEncoder()
        self.mask_emb = nn.Parameter(torch.zeros(EMBED_DIM))

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        """``wave [B, T]`` (T >= 400) -> ``[B, F, 768]``, ``F = num_frames(T)``."""
        features = self.feature_extractor(wave).transpose(1, 2)
        return self.encoder(self.post_extract_proj(self.layer_norm(features)))
