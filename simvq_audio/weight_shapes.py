"""The tensors a model directory of a given config holds, name -> shape, from the config alone.

``from_pretrained`` compares a directory's weights with these shapes before it builds anything,
so a ``config.json`` asking for a codebook of ``2**24`` codes or a width of a million channels
is refused before one byte of it is allocated, and the model is then built once, on its real
device. Nothing here imports torch or builds a module: each function walks its network's layout
the way the modules' constructors do and yields ``(state-dict name, shape)`` pairs lazily, so a
config asking for a billion layers costs only as many steps as a caller reads.

The names and shapes are the model-directory format of each modality (what
``save_pretrained`` writes; they also decide :func:`~simvq_audio.model_dir.model_hash`).
``tests/codec/test_weight_shapes.py`` checks them against the modules' own state dicts.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from simvq_audio.codec.config import ModelConfig
    from simvq_audio.image.config import ImageModelConfig
    from simvq_audio.quantize.factory import QuantizerConfig

Shape = tuple[int, ...]
Shapes = Iterator[tuple[str, Shape]]


def codec_shapes(config: ModelConfig) -> Shapes:
    """The state dict of :class:`~simvq_audio.codec.model.CodecModel` for the ``model:``
    section ``config``: encoder, quantizer, decoder backbone and ISTFT head."""
    dim = config.quantizer.dim
    yield from _prefixed("encoder.", _encoder(config, dim))
    yield from _prefixed("quantizer.", quantizer_shapes(config.quantizer))
    yield from _prefixed("decoder.backbone.", _backbone(config, dim))
    out = config.decoder.n_fft + 2  # log-magnitude and phase of n_fft / 2 + 1 bins
    yield from _linear("decoder.head.out.", config.decoder.dim, out)


def image_shapes(config: ImageModelConfig) -> Shapes:
    """The state dict of :class:`~simvq_audio.image.model.ImageAutoencoder` for the ``model:``
    section ``config``."""
    widths = [config.channels * m for m in config.channel_mult]
    yield from _prefixed("encoder.layers.", _image_encoder(config, widths))
    yield from _prefixed("quantizer.", quantizer_shapes(config.quantizer))
    yield from _prefixed("decoder.layers.", _image_decoder(config, widths[::-1]))


def quantizer_shapes(config: QuantizerConfig) -> Shapes:
    """A quantizer section's tensors: the codebook ``[K, d]``; SimVQ's map ``W`` (``linear``,
    with its bias when ``bias``) and, for ``code_fit: moments``, the running statistics."""
    codes, dim = config.num_codes, config.dim
    yield "codebook", (codes, dim)
    if config.type != "simvq":
        return
    if config.code_fit == "moments":
        yield from (("latent_mean", (dim,)), ("latent_cov", (dim, dim)), ("fit_count", ()))
    yield "linear.weight", (dim, dim)
    if config.bias:
        yield "linear.bias", (dim,)


# -- audio codec ---------------------------------------------------------------------------------
def _encoder(config: ModelConfig, dim: int) -> Shapes:
    """:class:`~simvq_audio.codec.encoder.Encoder`: ``downsample.{i}`` counts every layer of its
    sequence, ELUs included."""
    encoder = config.encoder
    channels, index = encoder.channels, 0
    yield from _causal(f"downsample.{index}.", 1, channels, encoder.kernel_size)
    for stride in encoder.strides:
        for _ in range(encoder.residual_units):
            index += 1
            unit = f"downsample.{index}."
            yield from _causal(unit + "block.1.", channels, channels // 2,
                               encoder.residual_kernel_size)
            yield from _causal(unit + "block.3.", channels // 2, channels, 1)
            yield from _causal(unit + "shortcut.", channels, channels, 1)
        index += 2  # an ELU, then the strided conv
        yield from _causal(f"downsample.{index}.", channels, 2 * channels, 2 * stride)
        channels *= 2
    for layer in range(encoder.lstm_layers):
        for kind in ("ih", "hh"):
            yield f"lstm.lstm.weight_{kind}_l{layer}", (4 * channels, channels)
        for kind in ("ih", "hh"):
            yield f"lstm.lstm.bias_{kind}_l{layer}", (4 * channels,)
    yield from _causal("project.1.", channels, dim, encoder.last_kernel_size)


def _causal(prefix: str, in_channels: int, out_channels: int, kernel: int) -> Shapes:
    """A weight-normalised :class:`~simvq_audio.codec.conv.CausalConv1d`: gain ``original0``
    ``[out, 1, 1]`` and direction ``original1`` ``[out, in, kernel]``."""
    yield f"{prefix}conv.bias", (out_channels,)
    yield f"{prefix}conv.parametrizations.weight.original0", (out_channels, 1, 1)
    yield f"{prefix}conv.parametrizations.weight.original1", (out_channels, in_channels, kernel)


def _backbone(config: ModelConfig, input_dim: int) -> Shapes:
    """:class:`~simvq_audio.codec.decoder.Backbone`: ``context.{i}`` holds the ResNet blocks
    with the attention block in their middle, then a norm."""
    decoder = config.decoder
    dim, causal = decoder.dim, decoder.causal
    yield from _time_conv("embed.", input_dim, dim, 7, causal)
    resnets = max(decoder.resnet_blocks, 0)
    blocks = itertools.chain(itertools.repeat(False, resnets // 2), [True] * decoder.attention,
                             itertools.repeat(False, resnets - resnets // 2))
    count = 0
    for count, attention in enumerate(blocks, 1):
        block = f"context.{count - 1}."
        yield from _attention_block(block, dim) if attention else _resnet_block(block, dim, causal)
    yield from _norm(f"context.{count}.", dim)
    yield from _norm("norm.", dim)
    for index in range(decoder.num_layers):
        block = f"convnext.{index}."
        yield f"{block}gamma", (dim,)
        yield from _time_conv(block + "dwconv.", 1, dim, 7, causal)  # depthwise: 1 per group
        yield from _norm(block + "norm.", dim)
        yield from _linear(block + "mlp.0.", dim, decoder.intermediate_dim)
        yield from _linear(block + "mlp.2.", decoder.intermediate_dim, dim)
    yield from _norm("final_norm.", dim)


def _resnet_block(prefix: str, dim: int, causal: bool) -> Shapes:
    """:class:`~simvq_audio.codec.decoder.ResnetBlock`: norm, SiLU, conv, norm, SiLU, dropout,
    conv, numbered as one sequence."""
    yield from _norm(prefix + "block.0.", dim)
    yield from _time_conv(prefix + "block.2.", dim, dim, 3, causal)
    yield from _norm(prefix + "block.3.", dim)
    yield from _time_conv(prefix + "block.6.", dim, dim, 3, causal)


def _attention_block(prefix: str, dim: int) -> Shapes:
    """:class:`~simvq_audio.codec.decoder.AttentionBlock`: norm and two 1x1 convs."""
    yield from _norm(prefix + "norm.", dim)
    yield from _conv(prefix + "qkv.", dim, 3 * dim, 1)
    yield from _conv(prefix + "proj.", dim, dim, 1)


def _time_conv(prefix: str, in_channels: int, out_channels: int, kernel: int,
               causal: bool) -> Shapes:
    """:func:`~simvq_audio.codec.decoder.time_conv`: a plain ``Conv1d``, inside a
    :class:`~simvq_audio.codec.conv.CausalConv1d` (as its ``conv``) when ``causal``."""
    yield from _conv(prefix + "conv." if causal else prefix, in_channels, out_channels, kernel)


# -- image tokenizer -----------------------------------------------------------------------------
def _image_encoder(config: ImageModelConfig, widths: list[int]) -> Shapes:
    """:class:`~simvq_audio.image.model.Encoder`, its ``layers.{i}`` a sequence that counts
    SiLUs too."""
    layer = _Counter()
    yield from _conv(layer.next(), config.in_channels, widths[0], 3, 3)
    current = widths[0]
    for level, width in enumerate(widths):
        for _ in range(config.res_blocks):
            yield from _res_block(layer.next(), current, width)
            current = width
        if level < len(widths) - 1:
            yield from _conv(layer.next() + "conv.", current, current, 3, 3)
    yield from _image_middle(layer, current, config.attention)
    yield from _norm(layer.next(), current)
    layer.next()  # SiLU
    yield from _conv(layer.next(), current, config.quantizer.dim, 3, 3)


def _image_decoder(config: ImageModelConfig, widths: list[int]) -> Shapes:
    """:class:`~simvq_audio.image.model.Decoder`: the encoder mirrored (``widths`` from the
    deepest level), one more residual block per level."""
    layer = _Counter()
    current = widths[0]
    yield from _conv(layer.next(), config.quantizer.dim, current, 3, 3)
    yield from _image_middle(layer, current, config.attention)
    for level, width in enumerate(widths):
        for _ in range(config.res_blocks + 1):
            yield from _res_block(layer.next(), current, width)
            current = width
        if level < len(widths) - 1:
            yield from _conv(layer.next() + "conv.", current, current, 3, 3)
    yield from _norm(layer.next(), current)
    layer.next()  # SiLU
    yield from _conv(layer.next(), current, config.in_channels, 3, 3)


def _image_middle(layer: _Counter, channels: int, attention: bool) -> Shapes:
    """Residual block, self-attention (when ``attention``), residual block."""
    yield from _res_block(layer.next(), channels, channels)
    if attention:
        prefix = layer.next()
        yield from _norm(prefix + "norm.", channels)
        yield from _conv(prefix + "qkv.", channels, 3 * channels, 1, 1)
        yield from _conv(prefix + "out.", channels, channels, 1, 1)
    yield from _res_block(layer.next(), channels, channels)


def _res_block(prefix: str, in_channels: int, out_channels: int) -> Shapes:
    """:class:`~simvq_audio.image.blocks.ResBlock`: norm, SiLU, conv 3x3, norm, SiLU,
    conv 3x3, and a 1x1 conv skip when the width changes."""
    yield from _norm(prefix + "body.0.", in_channels)
    yield from _conv(prefix + "body.2.", in_channels, out_channels, 3, 3)
    yield from _norm(prefix + "body.3.", out_channels)
    yield from _conv(prefix + "body.5.", out_channels, out_channels, 3, 3)
    if in_channels != out_channels:
        yield from _conv(prefix + "skip.", in_channels, out_channels, 1, 1)


class _Counter:
    """The names ``"0."``, ``"1."``, ... of an ``nn.Sequential``'s layers, one per call."""

    def __init__(self):
        self.count = 0

    def next(self) -> str:
        self.count += 1
        return f"{self.count - 1}."


# -- layers --------------------------------------------------------------------------------------
def _conv(prefix: str, in_channels: int, out_channels: int, *kernel: int) -> Shapes:
    """``Conv1d``/``Conv2d`` (``in_channels`` per group): weight ``[out, in, *kernel]``, bias."""
    yield f"{prefix}weight", (out_channels, in_channels, *kernel)
    yield f"{prefix}bias", (out_channels,)


def _linear(prefix: str, in_features: int, out_features: int) -> Shapes:
    yield f"{prefix}weight", (out_features, in_features)
    yield f"{prefix}bias", (out_features,)


def _norm(prefix: str, dim: int) -> Shapes:
    """``GroupNorm`` or ``LayerNorm`` over ``dim`` channels: weight and bias ``[dim]``."""
    yield f"{prefix}weight", (dim,)
    yield f"{prefix}bias", (dim,)


def _prefixed(prefix: str, shapes: Shapes) -> Shapes:
    return ((prefix + name, shape) for name, shape in shapes)
