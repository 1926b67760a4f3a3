"""Parameter counts of each part of a codec config, built on the meta device (shapes only, so
any config is counted without memory). Torch's weight norm on the meta device imports
torch._dynamo (about a second); ``simvq-audio params`` is informational and pays it, where
``from_pretrained`` builds nothing on the meta device."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
from torch import nn

from simvq_audio.codec.config import Config, load_config
from simvq_audio.codec.discriminators import MultiDiscriminator
from simvq_audio.codec.model import CodecModel


@dataclass
class PartCount:
    """``trainable`` parameters and ``frozen`` elements (buffers saved with the weights)."""

    part: str
    trainable: int
    frozen: int = 0


def _trainable(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def _frozen(module: nn.Module) -> int:
    return sum(b.numel() for b in module.state_dict().values()) - _trainable(module)


def count_parameters(config: Config) -> list[PartCount]:
    """Rows: encoder, quantizer, decoder backbone, ISTFT head, generator total, then each
    discriminator family and the discriminators' total."""
    with torch.device("meta"):
        generator = CodecModel.from_hparams(config.model)
        discriminator = MultiDiscriminator.from_hparams(config.discriminators)
    parts = {"encoder": generator.encoder, "quantizer": generator.quantizer,
             "decoder backbone": generator.decoder.backbone,
             "ISTFT head": generator.decoder.head, "generator": generator}
    parts.update({f"discriminator {name}": family
                  for name, family in discriminator.families.items()})
    parts["discriminators"] = discriminator
    return [PartCount(name, _trainable(m), _frozen(m)) for name, m in parts.items()]


def parameter_table(config_path: str | os.PathLike) -> str:
    """The text ``simvq-audio params`` prints for the YAML config ``config_path``: the quantizer
    and frame rate, then one line per :func:`count_parameters` row."""
    config = load_config(config_path)
    quantizer = config.model.quantizer
    lines = [f"{config_path}: {quantizer.type}, K = {quantizer.num_codes}, d = {quantizer.dim}, "
             f"hop {config.model.hop_length} at {config.model.sample_rate} Hz",
             f"{'part':<34} {'trainable':>14} {'frozen':>14}"]
    for row in count_parameters(config):
        frozen = f"{row.frozen:,}" if row.frozen else "-"
        lines.append(f"{row.part:<34} {row.trainable:>14,} {frozen:>14}")
    return "\n".join(lines) + "\n"
