"""The quantizer section of a model config and the factory that builds a quantizer by name, so
every model (audio codec, image tokenizer) describes and picks its quantizer the same way."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from simvq_audio.errors import UserInputError
from simvq_audio.quantize.base import VectorQuantizer
from simvq_audio.quantize.simvq import SimVQ
from simvq_audio.quantize.vanilla import VanillaVQ


@dataclass
class QuantizerConfig:
    """``type``: ``"simvq"`` (frozen codebook through a learned linear map, ``bias``: whether the
    map has one) or ``"vanilla"`` (learned codebook); ``num_codes`` codes of ``dim`` values;
    ``beta``: the commitment weight of the quantizer loss."""

    type: Literal["simvq", "vanilla"] = "simvq"
    num_codes: int = 65536
    dim: int = 512
    beta: float = 0.25
    bias: bool = True


def build_quantizer(kind: str, num_codes: int, dim: int, beta: float = 0.25, bias: bool = True,
                    channel_first: bool = True, search_backend: str = "auto") -> VectorQuantizer:
    """``"simvq"`` (``bias``: whether W has one) or ``"vanilla"``; channel-first by default
    (``z [B, d, T]`` or ``[B, d, H, W]``), as the conv models use them; ``search_backend``:
    ``"auto"``, ``"torch"`` or ``"triton"`` (:attr:`VectorQuantizer.search_backend`). A
    :class:`QuantizerConfig` gives the arguments of the same names (``kind`` is its ``type``)."""
    if kind == "simvq":
        return SimVQ(num_codes, dim, beta, bias=bias, channel_first=channel_first,
                     search_backend=search_backend)
    if kind == "vanilla":
        return VanillaVQ(num_codes, dim, beta, channel_first=channel_first,
                         search_backend=search_backend)
    raise UserInputError(f"quantizer type must be 'simvq' or 'vanilla', got {kind!r}")
