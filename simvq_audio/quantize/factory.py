"""Build a quantizer by name, so every model (audio codec, image tokenizer) picks one the same way."""

from __future__ import annotations

from simvq_audio.errors import UserInputError
from simvq_audio.quantize.base import VectorQuantizer
from simvq_audio.quantize.simvq import SimVQ
from simvq_audio.quantize.vanilla import VanillaVQ


def build_quantizer(kind: str, num_codes: int, dim: int, beta: float = 0.25, bias: bool = True,
                    channel_first: bool = True) -> VectorQuantizer:
    """``"simvq"`` (``bias``: whether W has one) or ``"vanilla"``; channel-first by default
    (``z [B, d, T]`` or ``[B, d, H, W]``), as the conv models use them."""
    if kind == "simvq":
        return SimVQ(num_codes, dim, beta, bias=bias, channel_first=channel_first)
    if kind == "vanilla":
        return VanillaVQ(num_codes, dim, beta, channel_first=channel_first)
    raise UserInputError(f"quantizer type must be 'simvq' or 'vanilla', got {kind!r}")
