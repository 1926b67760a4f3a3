"""The typed configuration of a codec and its training, filled from YAML.

One dataclass per section; the defaults are the paper's 24 kHz model (DESIGN.md section 3).
:func:`load_config` reads a YAML file (which may name a ``base:`` file it extends, resolved
relative to itself) and checks every key and type, so a typo is reported with its place and the
keys allowed there. :func:`config_to_dict` / :func:`config_from_dict` convert to and from plain
dicts (``config.json`` in model directories).
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar, Union

import yaml

from simvq_audio.errors import UserInputError

T = TypeVar("T")


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
class QuantizerConfig:
    type: Literal["simvq", "vanilla"] = "simvq"
    num_codes: int = 65536
    dim: int = 512
    beta: float = 0.25
    bias: bool = True


@dataclass
class DecoderConfig:
    """Vocos-style decoder: conv embed, ResNet blocks around one attention block, ConvNeXt
    stack, ISTFT head (its hop is the encoder's)."""

    dim: int = 768
    intermediate_dim: int = 2304
    num_layers: int = 12
    resnet_blocks: int = 4
    attention: bool = True
    dropout: float = 0.1
    n_fft: int = 1280


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
class RunConfig:
    """The optimisation and run settings every trainer reads (the codec's :class:`TrainConfig`
    and the image tokenizer's ``ImageTrainConfig`` extend it): the optimizer and schedule of
    :mod:`simvq_audio.train.optim`, the GAN start, EMA, precision and the step cadences. The
    defaults are the image tokenizer's; a subclass redeclares the fields whose defaults differ.
    ``grad_clip`` 0 turns clipping off. ``mixed_precision`` ``fp16`` needs CUDA: without it
    training runs in float32 and says so."""

    lr: float = 1e-4
    betas: list[float] = field(default_factory=lambda: [0.5, 0.9])
    weight_decay: float = 0.0
    warmup_steps: int = 1000
    scheduler: Literal["constant", "cosine"] = "cosine"
    grad_clip: float = 1.0
    batch_size: int = 20
    max_steps: int = 900_000
    ema_decay: float = 0.999
    mixed_precision: Literal["no", "bf16", "fp16"] = "bf16"
    gan_start_step: int = 0
    checkpoint_every: int = 5000
    keep_checkpoints: int = 3
    log_every: int = 100
    valid_every: int = 5000
    num_workers: int = 4
    seed: int = 0


@dataclass
class TrainConfig(RunConfig):
    """The codec's training; the defaults are the SimVQ reference's (constant lr 1e-4 without
    warm-up, no clipping, fp16). ``max_steps``: about 50 epochs of LibriTTS-960 utterances (one
    random 1 s crop per utterance) at batch 20 on one process.

    ``update_order``: ``generator_first`` (the reference: the generator step, then the
    discriminator step on the same, pre-step reconstruction) or ``discriminator_first``.
    ``short_clips``: utterances shorter than the crop are ``tile``d by repetition (the
    reference) or zero-``pad``ded, the padding left out of the losses.
    """

    warmup_steps: int = 0
    scheduler: Literal["constant", "cosine"] = "constant"
    grad_clip: float = 0.0
    mixed_precision: Literal["no", "bf16", "fp16"] = "fp16"
    segment_seconds: float = 1.0
    short_clips: Literal["tile", "pad"] = "tile"
    update_order: Literal["generator_first", "discriminator_first"] = "generator_first"


@dataclass
class Config:
    model: ModelConfig = field(default_factory=ModelConfig)
    discriminators: DiscriminatorsConfig = field(default_factory=DiscriminatorsConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    train: TrainConfig = field(default_factory=TrainConfig)


def load_config(path: str | Path) -> Config:
    """Read and check a YAML config; a top-level ``base: other.yaml`` is loaded first and this
    file's keys are merged over it (dicts merge key by key, everything else replaces)."""
    return config_from_dict(read_config_file(path), where=str(path))


def read_config_file(path: str | Path) -> dict[str, Any]:
    """The nested dict of a YAML config file with its ``base:`` files merged in (unchecked)."""
    return _read_with_bases(Path(path), ())


def build_dataclass(cls: type[T], data: dict[str, Any], where: str = "config") -> T:
    """Instantiate the config dataclass ``cls`` from nested ``data`` with the same key and type
    checks as :func:`config_from_dict` (for other config schemas, e.g. the image tokenizer's)."""
    return _build(cls, data, where, "")


def config_to_dict(config: Config) -> dict[str, Any]:
    """Plain nested dict (JSON/YAML-safe) of a config."""
    return dataclasses.asdict(config)


def config_from_dict(data: dict[str, Any], where: str = "config") -> Config:
    """Build and check a :class:`Config` from a nested dict; missing keys take defaults."""
    config = _build(Config, data, where, "")
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
        (len(config.loss.mel_resolutions) > 0, "loss.mel_resolutions must not be empty"),
        (len(config.train.betas) == 2, "train.betas must have two values"),
    ]
    bands = config.discriminators.dac_multi_band
    if bands is not None:
        edges = bands.band_edges
        problems.append((len(edges) >= 2 and all(0 <= a < b <= 1 for a, b in zip(edges, edges[1:])),
                         "discriminators.dac_multi_band.band_edges must rise strictly within "
                         "[0, 1]"))
    problems.append((config.train.grad_clip >= 0, "train.grad_clip must be >= 0 (0: off)"))
    for ok, message in problems:
        if not ok:
            raise UserInputError(f"{where}: {message}")


def _read_with_bases(path: Path, seen: tuple[Path, ...]) -> dict[str, Any]:
    if not path.is_file():
        raise UserInputError(f"config file not found: {path}")
    if path.resolve() in seen:
        raise UserInputError(f"{path}: 'base' files form a loop")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise UserInputError(f"{path}: not valid YAML ({error})") from None
    data = {} if data is None else data
    if not isinstance(data, dict):
        raise UserInputError(f"{path}: expected a mapping of sections at the top level")
    base = data.pop("base", None)
    if base is None:
        return data
    if not isinstance(base, str):
        raise UserInputError(f"{path}: 'base' must be a file name, got {base!r}")
    return _merge(_read_with_bases(path.parent / base, seen + (path.resolve(),)), data)


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _build(cls: type, data: Any, where: str, place: str) -> Any:
    """Instantiate dataclass ``cls`` from mapping ``data``, checking keys and types."""
    if not isinstance(data, dict):
        raise UserInputError(f"{where}: {place or 'the top level'} must be a mapping, "
                             f"got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    allowed = [f.name for f in dataclasses.fields(cls)]
    values = {}
    for key, value in data.items():
        name = f"{place}.{key}" if place else str(key)
        if key not in allowed:
            raise UserInputError(f"{where}: unknown key '{name}'; allowed keys"
                                 f"{' in ' + place if place else ''}: {', '.join(allowed)}")
        values[key] = _convert(hints[key], value, where, name)
    return cls(**values)


def _convert(hint: Any, value: Any, where: str, name: str) -> Any:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _convert(inner, value, where, name)
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, where, name)
    if origin is list:
        if not isinstance(value, list):
            raise _type_error(where, name, f"a list of {_describe(args[0])}", value)
        return [_convert(args[0], item, where, f"{name}[{i}]") for i, item in enumerate(value)]
    if origin is Literal:
        if value not in args:
            raise UserInputError(f"{where}: '{name}' must be one of "
                                 f"{', '.join(map(repr, args))}, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, str):  # YAML 1.1 reads "1e-4" (no dot) as a string
            try:
                return float(value)
            except ValueError:
                pass
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise _type_error(where, name, "a number", value)
    if hint in (int, str, bool):
        if type(value) is hint:
            return value
        raise _type_error(where, name, _describe(hint), value)
    raise TypeError(f"config schema uses an unsupported type {hint!r} at {name}")


def _describe(hint: Any) -> str:
    names = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}
    if hint in names:
        return names[hint]
    if typing.get_origin(hint) is list:
        return f"lists of {_describe(typing.get_args(hint)[0])}"
    return "mappings" if dataclasses.is_dataclass(hint) else str(hint)


def _type_error(where: str, name: str, expected: str, value: Any) -> UserInputError:
    return UserInputError(f"{where}: '{name}' must be {expected}, got {value!r} "
                          f"({type(value).__name__})")
