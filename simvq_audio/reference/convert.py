"""Map a SimVQ authors' checkpoint (``taming.models.vq_audio.VQModel``) onto our codec model.

Their model and ours are the same network under other names. :func:`convert_state` reads the
sizes from the tensor shapes (:func:`derive_config`), renames every kept tensor, fuses the
attention's ``q``, ``k``, ``v`` convs into our ``qkv`` and checks that every one of our tensors
is filled exactly once, by a tensor of its shape. Nothing is hard-coded to the paper's sizes.

Name map (theirs -> ours; ``L`` is the index of their encoder's LSTM):

* ``encoder.model.{i<L}.….conv.conv.*`` -> ``encoder.downsample.{i}.….conv.*`` (the same
  sequence, so the same indices: conv, then per stage residual units, ELU, strided conv);
  inside a residual unit (``SEANetResnetBlock``) ``block.1``/``block.3`` -> our parts
  ``block.dilated_conv``/``block.pointwise_conv`` and ``shortcut`` -> ``shortcut``;
  ``model.{L}.lstm`` -> ``encoder.lstm.lstm``; ``model.{L+2}`` -> ``encoder.project.conv``.
  Old weight-norm ``weight_g``/``weight_v`` -> ``parametrizations.weight.original0``/
  ``original1``.
* ``quantize.embedding.weight`` (frozen C) -> ``quantizer.codebook``;
  ``quantize.embedding_proj`` (W, b) -> ``quantizer.linear``.
* ``backbone.pos_net.{i}`` -> ``decoder.backbone.context.{i}``: ResnetBlock ``norm1``,
  ``conv1``, ``norm2``, ``conv2`` -> our parts of the same names in ``block``; attention
  ``norm``, ``q``+``k``+``v`` -> ``qkv`` (concatenated on dim 0), ``proj_out`` -> ``proj``;
  the last GroupNorm keeps its index.
* ``backbone.convnext.{i}.pwconv1``/``pwconv2`` -> our parts of the same names in ``mlp``;
  ``backbone.final_layer_norm`` -> ``final_norm``; ``head.out`` -> ``decoder.head.out``.

Our parts are named in code (:class:`~simvq_audio.codec.named_parts.NamedParts`); each is saved
under the state-dict name its container's ``SAVED_AS`` table gives (e.g. ``block.conv2`` is
saved as ``block.6``), and this module reads those tables, so a part renamed in code fails the
import of this module and a part saved elsewhere moves with it.

Dropped: the unused SEANet ``decoder.*``, ``loss.*`` (discriminators, mel buffers),
``head.istft.window`` and the EMA bookkeeping. The EMA copy of a tensor is
``model_ema.<its name without dots>``; only the frozen codebook has none.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from simvq_audio.codec.config import (
    Config,
    DecoderConfig,
    EncoderConfig,
    ModelConfig,
    config_from_dict,
)
from simvq_audio.codec.decoder import ConvNeXtLayers, ResnetLayers
from simvq_audio.codec.encoder import ProjectionLayers, ResidualLayers
from simvq_audio.config_loader import config_to_dict
from simvq_audio.errors import UserInputError, quote
from simvq_audio.quantize.factory import QuantizerConfig
from simvq_audio.reference.safe_pickle import Placeholder, StoredTensor
from simvq_audio.validate import MAX_SAMPLE_RATE, MIN_SAMPLE_RATE
from simvq_audio.weight_shapes import codec_shapes

EMA_PREFIX = "model_ema."
DEFAULT_SAMPLE_RATE = 24000
REFERENCE_DROPOUT = 0.1
"""The reference ResnetBlocks' dropout (inactive in eval mode)."""
_DROPPED_PREFIXES = ("decoder.", "loss.", EMA_PREFIX + "decoder", EMA_PREFIX + "loss")
_DROPPED = {"head.istft.window", EMA_PREFIX + "decay", EMA_PREFIX + "num_updates"}
_FROZEN = {"quantize.embedding.weight"}
"""Tensors the reference never trains, so they have no EMA copy."""
_MAX_LISTED = 8
_MAX_NAME = 200
"""Longest tensor name accepted (the reference's are under 60 characters)."""

_RESNET_PARTS = ("norm1", "conv1", "norm2", "conv2")
"""The reference ResnetBlock's layers: our :class:`ResnetLayers` parts of the same names."""
_CONVNEXT_PARTS = ("pwconv1", "pwconv2")
"""The reference ConvNeXt MLP's layers: our :class:`ConvNeXtLayers` parts of the same names."""
_RESIDUAL_PARTS = {"1": "dilated_conv", "3": "pointwise_conv"}
"""The reference SEANet residual unit's ``block.{i}`` convs -> our :class:`ResidualLayers`
parts."""

_RULES = [(re.compile(pattern), target) for pattern, target in [
    (r"quantize\.embedding\.weight", "quantizer.codebook"),
    (r"quantize\.embedding_proj\.(weight|bias)", r"quantizer.linear.\1"),
    (r"backbone\.embed\.(weight|bias)", r"decoder.backbone.embed.\1"),
    *[(rf"backbone\.pos_net\.(\d+)\.{part}\.(weight|bias)",
       rf"decoder.backbone.context.\1.block.{ResnetLayers.SAVED_AS[part]}.\2")
      for part in _RESNET_PARTS],
    (r"backbone\.pos_net\.(\d+)\.norm\.(weight|bias)", r"decoder.backbone.context.\1.norm.\2"),
    (r"backbone\.pos_net\.(\d+)\.proj_out\.(weight|bias)", r"decoder.backbone.context.\1.proj.\2"),
    (r"backbone\.pos_net\.(\d+)\.(weight|bias)", r"decoder.backbone.context.\1.\2"),
    (r"backbone\.norm\.(weight|bias)", r"decoder.backbone.norm.\1"),
    (r"backbone\.convnext\.(\d+)\.gamma", r"decoder.backbone.convnext.\1.gamma"),
    (r"backbone\.convnext\.(\d+)\.(dwconv|norm)\.(weight|bias)",
     r"decoder.backbone.convnext.\1.\2.\3"),
    *[(rf"backbone\.convnext\.(\d+)\.{part}\.(weight|bias)",
       rf"decoder.backbone.convnext.\1.mlp.{ConvNeXtLayers.SAVED_AS[part]}.\2")
      for part in _CONVNEXT_PARTS],
    (r"backbone\.final_layer_norm\.(weight|bias)", r"decoder.backbone.final_norm.\1"),
    (r"head\.out\.(weight|bias)", r"decoder.head.out.\1"),
]]
_QKV = re.compile(r"backbone\.pos_net\.(\d+)\.([qkv])\.(weight|bias)")
_ENCODER = re.compile(r"encoder\.model\.(\d{1,9})\.(.+)")
_WEIGHT_NORM = {"weight_g": "parametrizations.weight.original0",
                "weight_v": "parametrizations.weight.original1"}


@dataclass
class Converted:
    """A reference checkpoint as our model: ``config``, ``state_dict`` (our names, float32) and
    what was read (``notes``: where the sample rate came from, which weights)."""

    config: ModelConfig
    state_dict: dict[str, torch.Tensor]
    notes: dict[str, Any] = field(default_factory=dict)


def convert_state(root: Any, raw: bool = False) -> Converted:
    """The unpickled checkpoint ``root`` (see :class:`~simvq_audio.reference.safe_pickle.
    TorchCheckpoint`) -> :class:`Converted`: EMA weights, or the raw ones with ``raw``."""
    if not isinstance(root, dict) or not isinstance(root.get("state_dict"), dict):
        raise UserInputError("not a SimVQ Lightning checkpoint: it has no 'state_dict' dict")
    state = root["state_dict"]
    bad = [k for k, v in state.items() if not isinstance(k, str) or not isinstance(v, StoredTensor)]
    if bad:
        raise UserInputError(f"the checkpoint's state_dict holds non-tensor entries: "
                             f"{_short(map(quote, bad))}")
    odd = [name for name in state if len(name) > _MAX_NAME or not name.isprintable()]
    if odd:  # every message below may name a tensor
        raise UserInputError(f"the checkpoint's state_dict has tensor names longer than "
                             f"{_MAX_NAME} characters or with control characters: "
                             f"{_short(map(quote, odd))}")
    kept = [n for n in state if n not in _DROPPED and not n.startswith(_DROPPED_PREFIXES)]
    model_names = [n for n in kept if not n.startswith(EMA_PREFIX)]
    hparams = _mapping(root.get("hyper_parameters"))
    config, notes = derive_config({n: state[n].shape for n in model_names}, hparams)
    plan = _plan(model_names, _lstm_index(model_names))
    sources = _pick_sources(state, model_names, [n for n in kept if n.startswith(EMA_PREFIX)],
                            raw)
    notes["weights"] = "raw" if raw else "EMA"
    return Converted(config, _fill(config, plan, sources), notes)


def derive_config(shapes: Mapping[str, torch.Size],
                  hparams: Mapping[str, Any] | None = None) -> tuple[ModelConfig, dict[str, Any]]:
    """Our :class:`ModelConfig` from the reference tensors' ``shapes`` (non-EMA names) and, for
    the sample rate and beta, the checkpoint's ``hyper_parameters`` when they hold plain values.
    Returns ``(config, notes)``; ``notes["sample_rate_from"]`` says where the rate came from."""
    hparams = hparams or {}
    _check_reference_options(hparams)
    need = _Needs(shapes)
    codebook = need.shape("quantize.embedding.weight", 2)
    lstm = _lstm_index(list(shapes))
    stages = _encoder_modules(shapes, lstm)
    strides = []
    for index in stages["downsample"]:
        kernel = need.kernel(f"encoder.model.{index}")
        if kernel % 2:
            raise UserInputError(f"encoder.model.{index} is a downsampling conv with an odd "
                                 f"kernel ({kernel}); a stride-s conv has kernel 2s")
        strides.append(kernel // 2)
    if not strides:
        raise UserInputError("the checkpoint's encoder has no downsampling convs "
                             "(encoder.model.*.conv.conv.*)")
    residual = stages["residual"]
    if len(residual) % len(strides):
        raise UserInputError(f"the checkpoint's encoder has {len(residual)} residual units for "
                             f"{len(strides)} stages; every stage needs the same number")
    encoder = EncoderConfig(
        channels=need.conv_shape("encoder.model.0")[0], strides=strides,
        kernel_size=need.kernel("encoder.model.0"),
        last_kernel_size=need.kernel(f"encoder.model.{lstm + 2}"),
        residual_kernel_size=need.kernel(f"encoder.model.{residual[0]}.block.1") if residual else 3,
        residual_units=len(residual) // len(strides),
        lstm_layers=_count(shapes, rf"encoder\.model\.{lstm}\.lstm\.\w+_l(\d+)"),
        padding="reflect")
    out = need.shape("head.out.weight", 2)
    decoder = DecoderConfig(
        dim=need.shape("backbone.embed.weight", 3)[0],
        intermediate_dim=need.shape("backbone.convnext.0.pwconv1.weight", 2)[0],
        num_layers=_count(shapes, r"backbone\.convnext\.(\d+)\..+"),
        resnet_blocks=_count(shapes, r"backbone\.pos_net\.(\d+)\.(norm1|conv1|norm2|conv2)\..+"),
        attention=_count(shapes, r"backbone\.pos_net\.(\d+)\.(q|k|v|proj_out)\..+") > 0,
        dropout=REFERENCE_DROPOUT, n_fft=out[0] - 2)
    beta = _number(_get(hparams, "quantconfig", "params", "beta"))
    if beta is not None and not 0 <= beta <= sys.float_info.max:  # NaN and inf fail too
        raise UserInputError(f"the checkpoint's hyper_parameters.quantconfig.params.beta is "
                             f"{quote(beta)}; expected a finite number >= 0")
    quantizer = QuantizerConfig(type="simvq", num_codes=codebook[0], dim=codebook[1],
                                beta=0.25 if beta is None else float(beta),
                                bias="quantize.embedding_proj.bias" in shapes)
    rate = _number(_get(hparams, "sample_rate"))
    if rate is not None and not (MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE
                                 and rate == int(rate)):
        raise UserInputError(f"the checkpoint's hyper_parameters.sample_rate is {quote(rate)}; "
                             f"expected a whole number of Hz in {MIN_SAMPLE_RATE}-"
                             f"{MAX_SAMPLE_RATE}")
    model = ModelConfig(sample_rate=DEFAULT_SAMPLE_RATE if rate is None else int(rate),
                        encoder=encoder, quantizer=quantizer, decoder=decoder)
    checked = config_from_dict(config_to_dict(Config(model=model)), "the derived config").model
    notes = {"sample_rate_from": "hyper_parameters.sample_rate" if rate is not None else
             f"not in the checkpoint; the reference's {DEFAULT_SAMPLE_RATE} Hz assumed"}
    return checked, notes


class _Needs:
    """Shape look-ups that fail with one message naming the missing tensor."""

    def __init__(self, shapes: Mapping[str, torch.Size]):
        self.shapes = shapes

    def shape(self, name: str, dims: int) -> torch.Size:
        if name not in self.shapes:
            raise UserInputError(f"the checkpoint has no {name}: not a SimVQ audio checkpoint "
                                 f"(or a damaged one)")
        if len(self.shapes[name]) != dims:
            raise UserInputError(f"{name} has shape {list(self.shapes[name])}, expected "
                                 f"{dims} dimensions")
        return self.shapes[name]

    def conv_shape(self, module: str) -> torch.Size:
        """``[out, in, kernel]`` of the weight-normalised conv ``module`` (an SConv1d)."""
        for suffix in ("weight_v", "parametrizations.weight.original1"):
            if f"{module}.conv.conv.{suffix}" in self.shapes:
                return self.shape(f"{module}.conv.conv.{suffix}", 3)
        raise UserInputError(f"the checkpoint has no weight-normalised conv {module}.conv.conv "
                             f"(weight_v): not a SimVQ audio checkpoint (or a damaged one)")

    def kernel(self, module: str) -> int:
        return int(self.conv_shape(module)[2])


def _encoder_modules(shapes: Mapping[str, torch.Size], lstm: int) -> dict[str, list[int]]:
    """Indices of ``encoder.model`` before the LSTM: residual units and downsampling convs
    (index 0, the input conv, is neither)."""
    found: dict[str, set[int]] = {"residual": set(), "downsample": set()}
    for name in shapes:
        match = _ENCODER.fullmatch(name)
        if match and 0 < int(match[1]) < lstm:
            kind = "residual" if match[2].startswith(("block.", "shortcut.")) else "downsample"
            found[kind].add(int(match[1]))
    return {kind: sorted(indices) for kind, indices in found.items()}


def _lstm_index(names: list[str]) -> int:
    indices = {int(m[1]) for n in names if (m := _ENCODER.fullmatch(n)) and
               m[2].startswith("lstm.")}
    if len(indices) != 1:
        raise UserInputError("the checkpoint's encoder has no LSTM (encoder.model.*.lstm.*) or "
                             "more than one; the SimVQ encoder has one")
    return indices.pop()


def _plan(names: list[str], lstm: int) -> dict[str, dict[int, str]]:
    """Our name -> {part: their name} (part 0 unless fused: q, k, v are parts 0, 1, 2)."""
    plan: dict[str, dict[int, str]] = {}
    unknown = []
    for name in names:
        target = _our_name(name, lstm)
        if target is None:
            unknown.append(name)
            continue
        ours, part = target
        parts = plan.setdefault(ours, {})
        if part in parts:
            raise UserInputError(f"{ours} would be filled by both {parts[part]} and {name}")
        parts[part] = name
    if unknown:
        raise UserInputError(f"the checkpoint has tensors this converter does not know "
                             f"({len(unknown)}): {_short(unknown)}")
    return plan


def _our_name(name: str, lstm: int) -> tuple[str, int] | None:
    match = _QKV.fullmatch(name)
    if match:
        return f"decoder.backbone.context.{match[1]}.qkv.{match[3]}", "qkv".index(match[2])
    match = _ENCODER.fullmatch(name)
    if match:
        return _our_encoder_name(int(match[1]), match[2], lstm)
    for pattern, target in _RULES:
        match = pattern.fullmatch(name)
        if match:
            return match.expand(target), 0
    return None


def _our_encoder_name(index: int, rest: str, lstm: int) -> tuple[str, int] | None:
    """Our name of their ``encoder.model.{index}.{rest}`` (``lstm``: their LSTM's index), or
    None where our encoder has no such part."""
    if index == lstm:
        return f"encoder.lstm.{rest}", 0
    if index < lstm:
        place = f"downsample.{index}"
        unit = re.fullmatch(r"block\.(\d+)\.(.+)", rest)
        if unit:  # a conv of a residual unit's branch
            if unit[1] not in _RESIDUAL_PARTS:
                return None
            rest = f"block.{ResidualLayers.SAVED_AS[_RESIDUAL_PARTS[unit[1]]]}.{unit[2]}"
    elif index == lstm + 2:  # after the LSTM: ELU, then the last conv
        place = f"project.{ProjectionLayers.SAVED_AS['conv']}"
    else:
        return None
    rest = re.sub(r"(^|\.)conv\.conv\.", r"\1conv.", rest)
    head, _, leaf = rest.rpartition(".")
    rest = f"{head}.{_WEIGHT_NORM.get(leaf, leaf)}" if head else rest
    return f"encoder.{place}.{rest}", 0


def _pick_sources(state: Mapping[str, StoredTensor], names: list[str], ema_names: list[str],
                  raw: bool) -> dict[str, tuple[str, StoredTensor]]:
    """Their name -> ``(key, stored tensor)`` to use: its EMA copy, or (``raw``, or the
    frozen codebook) the tensor itself. Every kept EMA copy must be used."""
    if raw:
        return {name: (name, state[name]) for name in names}
    if not ema_names:
        raise UserInputError("the checkpoint holds no EMA weights (model_ema.*); import its raw "
                             "weights with --raw (raw=True)")
    by_ema: dict[str, str] = {}
    for name in names:
        ema = EMA_PREFIX + name.replace(".", "")
        if ema in by_ema:
            raise UserInputError(f"{name} and {by_ema[ema]} share the EMA name {ema}")
        by_ema[ema] = name
    missing = [n for e, n in by_ema.items() if e not in state and n not in _FROZEN]
    unused = [e for e in ema_names if e not in by_ema]
    reshaped = [f"{e} {list(state[e].shape)} vs {list(state[n].shape)}"
                for e, n in by_ema.items() if e in state and state[e].shape != state[n].shape]
    problems = [f"{label} ({len(items)}): {_short(items)}" for label, items in
                (("tensors without an EMA copy", missing),
                 ("EMA copies of no model tensor", unused),
                 ("EMA copies shaped unlike their tensor", reshaped)) if items]
    if problems:
        raise UserInputError("the checkpoint's EMA weights do not match its model: "
                             + "; ".join(problems) + " (--raw imports the raw weights)")
    return {name: (ema, state[ema]) if ema in state else (name, state[name])
            for ema, name in by_ema.items()}


def _fill(config: ModelConfig, plan: dict[str, dict[int, str]],
          sources: Mapping[str, tuple[str, StoredTensor]]) -> dict[str, torch.Tensor]:
    """Read, fuse and check the tensors: every one of ours once, with its shape."""
    try:
        expected = dict(codec_shapes(config))  # from the config alone: nothing built
    except UserInputError:
        raise
    except (ArithmeticError, LookupError, RuntimeError, TypeError, ValueError) as error:
        raise UserInputError(f"the checkpoint's tensor shapes describe a model that cannot be "
                             f"built ({type(error).__name__}: {str(error)[:200]})") from None
    missing = sorted(expected.keys() - plan.keys())
    extra = sorted(f"{ours} (from {', '.join(parts.values())})"
                   for ours, parts in plan.items() if ours not in expected)
    incomplete = sorted(f"{ours} (has {', '.join(parts.values())})"
                        for ours, parts in plan.items() if sorted(parts) != list(range(len(parts)))
                        or (".qkv." in ours) != (len(parts) == 3))
    problems = [f"{label} ({len(items)}): {_short(items)}" for label, items in
                (("not filled", missing), ("no place in our model", extra),
                 ("incomplete q/k/v", incomplete)) if items]
    if problems:
        raise UserInputError("the checkpoint does not fit a SimVQ codec: " + "; ".join(problems))
    chosen = {ours: [sources[parts[i]] for i in range(len(parts))] for ours, parts in plan.items()}
    wrong = []
    for ours, stored in chosen.items():
        shape = _fused_shape([tensor.shape for _, tensor in stored])
        if shape != expected[ours]:
            wrong.append(f"{ours} (checkpoint {list(shape) if shape else 'mixed'}, "
                         f"model {list(expected[ours])})")
    if wrong:
        raise UserInputError(f"the checkpoint's tensors do not have the shapes its sizes imply "
                             f"({len(wrong)}): {_short(wrong)}")
    result = {}
    for ours, stored in chosen.items():
        tensors = [_as_float(tensor, key) for key, tensor in stored]
        result[ours] = tensors[0] if len(tensors) == 1 else torch.cat(tensors, dim=0)
    return result


def _fused_shape(shapes: list[torch.Size]) -> torch.Size | None:
    if len(shapes) == 1:
        return shapes[0]
    if any(len(s) == 0 or s[1:] != shapes[0][1:] for s in shapes):
        return None
    return torch.Size([sum(s[0] for s in shapes), *shapes[0][1:]])


def _as_float(stored: StoredTensor, name: str) -> torch.Tensor:
    if not stored.dtype.is_floating_point:
        raise UserInputError(f"{name} is {stored.dtype}, expected floating-point weights")
    return stored.load().float()


def _check_reference_options(hparams: Mapping[str, Any]) -> None:
    """Refuse reference options our model does not implement, when the checkpoint records them."""
    checks = [
        (("ddconfig", "causal"), lambda v: v is not False, "a non-causal encoder"),
        (("ddconfig", "pad_mode"), lambda v: v in (None, "reflect"),
         "an encoder pad_mode other than 'reflect'"),
        (("ddconfig", "dilation_base"), lambda v: v in (None, 2),
         "a residual dilation base other than 2"),
        (("audio_normalize",), lambda v: v is not True, "input loudness normalisation"),
    ]
    for path, ok, what in checks:
        value = _get(hparams, *path)
        if not ok(value):
            raise UserInputError(f"the checkpoint was trained with {what} "
                                 f"({'.'.join(path)} = {quote(value)}), which this codec does "
                                 f"not implement")


def _mapping(obj: Any) -> dict[str, Any] | None:
    """A plain dict, or the content of an inert dict-like object (Lightning's AttributeDict,
    omegaconf's DictConfig, whose ``_content`` may be another such object); None otherwise,
    and for a chain of ``_content`` that loops back on itself (a pickle can build one)."""
    seen = set()
    while isinstance(obj, Placeholder) and id(obj) not in seen:
        seen.add(id(obj))
        if obj.items:
            return obj.items
        if not (isinstance(obj.state, dict) and "_content" in obj.state):
            return None
        obj = obj.state["_content"]
    return obj if isinstance(obj, dict) else None


def _get(mapping: Mapping[str, Any] | None, *path: str) -> Any:
    """``mapping[path[0]][path[1]]...`` through inert dict-likes and omegaconf value nodes;
    None where any step is missing."""
    value: Any = mapping
    for key in path:
        container = _mapping(value)
        if container is None or key not in container:
            return None
        value = container[key]
        if isinstance(value, Placeholder) and isinstance(value.state, dict) \
                and "_val" in value.state:
            value = value.state["_val"]
    return value


def _number(value: Any) -> float | int | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    return None


def _count(shapes: Mapping[str, torch.Size], pattern: str) -> int:
    """How many distinct values group 1 of ``pattern`` takes over the names (layer indices)."""
    return len({match[1] for name in shapes if (match := re.fullmatch(pattern, name))})


def _short(names: Any) -> str:
    """The first names (each cut to 80 characters) and how many more there are."""
    names = list(names)
    shown = ", ".join(name if len(name) <= 80 else name[:77] + "..."
                      for name in names[:_MAX_LISTED])
    return shown + (f", ... and {len(names) - _MAX_LISTED} more" if len(names) > _MAX_LISTED
                    else "")
