"""The audio codec's config schema: the model (encoder, quantizer, decoder), discriminators,
losses and training, one dataclass per YAML section.

The defaults are the paper's 24 kHz model: hop 320 (75 tokens/s), one codebook of 65536 codes
of dimension 512, the Vocos-style decoder of dim 768. :func:`load_config` reads a recipe with the
strict loader of :mod:`simvq_audio.config_loader`; :func:`config_from_dict` checks a nested dict
(``config.json`` of a model directory).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from simvq_audio.config_loader import build_dataclass, check_values, read_config_file
from simvq_audio.quantize.factory import QuantizerConfig, quantizer_config_problems
from simvq_audio.train.run_config import RunConfig, run_config_problems


@dataclass
class EncoderConfig:
    """Causal SEANet encoder. The hop is the product of ``strides``; the output size is the
    quantizer's ``dim``.

    ``padding`` is how each causal conv sees the signal's edges:

    * ``"zeros"``: zeros before the start; the input is zero-padded once at the end to a whole
      number of frames (model directories written before this option existed behave so).
    * ``"reflect"``: the SEANet reference (the SimVQ authors' code): each conv's left padding
      reflects the signal's first samples, and when the length is not a whole number of frames
      every strided conv reflects its input's last samples on the right. Token ``t`` then also
      depends on up to ``left_padding`` samples after the start of each layer's input (a stream
      emits its first tokens once about 7 frames have arrived).
    """

    channels: int = 32
    strides: list[int] = field(default_factory=lambda: [2, 4, 5, 8])
    kernel_size: int = 7
    last_kernel_size: int = 7
    residual_kernel_size: int = 3
    residual_units: int = 1
    lstm_layers: int = 2
    padding: Literal["zeros", "reflect"] = "zeros"


@dataclass
class DecoderConfig:
    """Vocos-style decoder: conv embed, ResNet blocks around one attention block, ConvNeXt
    stack, ISTFT head (its hop is the encoder's).

    ``causal``: ``false`` is the paper's decoder (it looks at the whole sequence); ``true``
    makes every layer see only past frames (left-padded convs, per-frame LayerNorm for
    GroupNorm, attention over the last ``attention_window`` frames; the default, 75, is the
    1 s training crop at 75 frames/s), so it streams exactly (see
    :mod:`simvq_audio.codec.decoder`). Model directories written before the option load as
    ``false``.
    """

    dim: int = 768
    intermediate_dim: int = 2304
    num_layers: int = 12
    resnet_blocks: int = 4
    attention: bool = True
    dropout: float = 0.1
    n_fft: int = 1280
    causal: bool = False
    attention_window: int = 75


@dataclass
class ModelConfig:
    sample_rate: int = 24000
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    quantizer: QuantizerConfig = field(default_factory=QuantizerConfig)
    decoder: DecoderConfig = field(default_factory=DecoderConfig)

    @property
    def hop_length(self) -> int:
        return math.prod(self.encoder.strides)


@dataclass
class AdversarialConfig:
    """How one discriminator family enters the losses (the fields every family section has).

    ``loss``: ``hinge`` (Vocos) or ``lsgan`` (least squares, DAC). ``reduction``: how the terms of
    the family's sub-discriminators are combined, ``mean`` (Vocos: divided by their number) or
    ``sum`` (DAC). ``weight`` scales the family's adversarial, feature-matching and
    discriminator terms (the reference's ``mrd_loss_coeff`` for the multi-resolution family).
    """

    loss: Literal["hinge", "lsgan"] = "hinge"
    reduction: Literal["mean", "sum"] = "mean"
    weight: float = 1.0


@dataclass
class MultiPeriodConfig(AdversarialConfig):
    """Vocos (HiFi-GAN) multi-period discriminator: the waveform folded into ``[T / p, p]``
    images. ``channels``: outputs of the strided convs (the last is repeated once, unstrided).
    Feature matching uses every hidden map but the first, plus the logits map."""

    periods: list[int] = field(default_factory=lambda: [2, 3, 5, 7, 11])
    channels: list[int] = field(default_factory=lambda: [32, 128, 512, 1024])


@dataclass
class MultiResolutionConfig(AdversarialConfig):
    """Vocos (UnivNet) multi-resolution discriminator on magnitude STFTs with rectangular
    windows; ``resolutions`` are ``[n_fft, hop]`` pairs, ``channels`` the width of its convs."""

    resolutions: list[list[int]] = field(
        default_factory=lambda: [[1024, 256], [2048, 512], [512, 128]])
    channels: int = 64


@dataclass
class DacMultiPeriodConfig(MultiPeriodConfig):
    """DAC's multi-period discriminator: the Vocos network on the DAC-preprocessed waveform (DC
    removed, peak 0.8), always padded (a whole period when ``T % p == 0``); feature matching
    uses every hidden map, not the logits. Least squares, summed over periods."""

    loss: Literal["hinge", "lsgan"] = "lsgan"
    reduction: Literal["mean", "sum"] = "sum"


@dataclass
class DacMultiBandConfig(AdversarialConfig):
    """DAC's multi-band multi-resolution discriminator: complex STFTs (rectangular window, hop
    ``n_fft / 4``) of the DAC-preprocessed waveform, cut into bands at ``band_edges``
    (fractions of Nyquist), one conv stack per band. Least squares, summed over FFT sizes."""

    loss: Literal["hinge", "lsgan"] = "lsgan"
    reduction: Literal["mean", "sum"] = "sum"
    fft_sizes: list[int] = field(default_factory=lambda: [2048, 1024, 512])
    band_edges: list[float] = field(default_factory=lambda: [0.0, 0.1, 0.25, 0.5, 0.75, 1.0])
    channels: int = 32


@dataclass
class DiscriminatorsConfig:
    """The four families of the SimVQ reference; a family is on when its section is present,
    ``null`` turns it off."""

    multi_period: MultiPeriodConfig | None = field(default_factory=MultiPeriodConfig)
    multi_resolution: MultiResolutionConfig | None = field(default_factory=MultiResolutionConfig)
    dac_multi_period: DacMultiPeriodConfig | None = field(default_factory=DacMultiPeriodConfig)
    dac_multi_band: DacMultiBandConfig | None = field(default_factory=DacMultiBandConfig)

    def enabled(self) -> dict[str, AdversarialConfig]:
        """The sections that are on, by name, in this order."""
        return {f.name: section for f in dataclasses.fields(self)
                if (section := getattr(self, f.name)) is not None}


@dataclass
class MelResolution:
    n_fft: int = 1024
    hop_length: int = 256
    n_mels: int = 100


@dataclass
class LossConfig:
    """Generator objective: ``mel_weight`` x log-mel L1 (torchaudio's mel, as the reference;
    the mean over ``mel_resolutions``) + ``quantizer_weight`` x quantizer loss + for each
    discriminator family, its weight x (``adversarial_weight`` x adversarial +
    ``feature_matching_weight`` x feature matching). The reference's ``gen_loss_weight`` is
    both of the last two."""

    mel_resolutions: list[MelResolution] = field(default_factory=lambda: [MelResolution()])
    mel_weight: float = 45.0
    quantizer_weight: float = 1000.0
    adversarial_weight: float = 1.0
    feature_matching_weight: float = 1.0


@dataclass
class TrainConfig(RunConfig):
    """The codec's training; the defaults are the SimVQ reference's (constant lr 1e-4 without
    warm-up, no clipping, fp16). ``max_steps``: about 50 epochs of LibriTTS-960 utterances (one
    random 1 s crop per utterance) at batch 20 on one process.

    ``update_order``: ``generator_first`` (the reference: the generator step, then the
    discriminator step on the same, pre-step reconstruction) or ``discriminator_first``.
    ``short_clips``: utterances shorter than the crop are ``tile``d by repetition (the
    reference) or zero-``pad``ded, the padding left out of the losses.
    ``encoder_init``: ``random`` (PyTorch's default init, the reference) or ``data``: weight
    normalisation's data-dependent init of the encoder's convs on the first training batch
    (:meth:`~simvq_audio.codec.encoder.Encoder.init_from_data`), against the collapse of a
    small codec whose untrained latents are far narrower than its codes.
    """

    warmup_steps: int = 0
    scheduler: Literal["constant", "cosine"] = "constant"
    grad_clip: float = 0.0
    mixed_precision: Literal["no", "bf16", "fp16"] = "fp16"
    segment_seconds: float = 1.0
    short_clips: Literal["tile", "pad"] = "tile"
    update_order: Literal["generator_first", "discriminator_first"] = "generator_first"
    encoder_init: Literal["random", "data"] = "random"


@dataclass
class Config:
    model: ModelConfig = field(default_factory=ModelConfig)
    discriminators: DiscriminatorsConfig = field(default_factory=DiscriminatorsConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    train: TrainConfig = field(default_factory=TrainConfig)


def load_config(path: str | Path) -> Config:
    """Read and check a YAML config; a top-level ``base: other.yaml`` is loaded first and this
    file's keys are merged over it (dicts merge key by key, everything else replaces)."""
    return config_from_dict(read_config_file(path, Config), where=str(path))


def config_from_dict(data: dict[str, Any], where: str = "config") -> Config:
    """Build and check a :class:`Config` from a nested dict; missing keys take defaults."""
    config = build_dataclass(Config, data, where)
    check_config(config, where)
    return config


def check_config(config: Config, where: str = "config") -> None:
    """Raise :class:`UserInputError` for values that have the right type but cannot work."""
    model = config.model
    problems = [
        (model.sample_rate > 0, "model.sample_rate must be positive"),
        (len(model.encoder.strides) > 0 and all(s > 0 for s in model.encoder.strides),
         "model.encoder.strides must be a non-empty list of positive integers"),
        (model.encoder.channels > 0 and model.quantizer.dim > 0 and model.decoder.dim > 0,
         "channel counts (model.encoder.channels, model.quantizer.dim, model.decoder.dim) "
         "must be positive"),
        ((model.decoder.n_fft - model.hop_length) % 2 == 0
         and model.decoder.n_fft >= model.hop_length,
         f"model.decoder.n_fft must be >= the hop ({model.hop_length}) and differ from it by an "
         f"even number, got {model.decoder.n_fft}"),
        (model.decoder.attention_window >= 1,
         f"model.decoder.attention_window must be >= 1 frame, got "
         f"{model.decoder.attention_window}"),
        (len(config.loss.mel_resolutions) > 0, "loss.mel_resolutions must not be empty"),
        *run_config_problems(config.train),
        *quantizer_config_problems(model.quantizer),
    ]
    bands = config.discriminators.dac_multi_band
    if bands is not None:
        edges = bands.band_edges
        problems.append((len(edges) >= 2 and all(0 <= a < b <= 1 for a, b in zip(edges, edges[1:])),
                         "discriminators.dac_multi_band.band_edges must rise strictly within "
                         "[0, 1]"))
    problems.append((config.train.grad_clip >= 0, "train.grad_clip must be >= 0 (0: off)"))
    check_values(problems, where)
