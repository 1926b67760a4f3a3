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
    ``beta``: the commitment weight of the quantizer loss. ``code_fit`` (SimVQ): how W and b are
    fitted, ``"gradient"`` (the paper) or ``"moments"`` (to the latents' running mean and
    covariance, decay ``fit_decay`` per training step; :mod:`simvq_audio.quantize.simvq`)."""

    type: Literal["simvq", "vanilla"] = "simvq"
    num_codes: int = 65536
    dim: int = 512
    beta: float = 0.25
    bias: bool = True
    code_fit: Literal["gradient", "moments"] = "gradient"
    fit_decay: float = 0.9


def quantizer_config_problems(config: QuantizerConfig) -> list[tuple[bool, str]]:
    """``(ok, message)`` checks of a ``model.quantizer`` section's values (for ``check_values``),
    so a config is refused when it is loaded rather than when the model is built."""
    return [(0 <= config.fit_decay < 1,
             f"model.quantizer.fit_decay must lie in [0, 1), got {config.fit_decay}"),
            (config.code_fit == "gradient" or config.type == "simvq",
             "model.quantizer.code_fit 'moments' is SimVQ's (it sets W and b): use it with "
             "type 'simvq'"),
            (config.code_fit == "gradient" or config.bias,
             "model.quantizer.code_fit 'moments' sets the codes' mean through b: it needs "
             "bias: true")]


def build_quantizer(kind: str, num_codes: int, dim: int, beta: float = 0.25, bias: bool = True,
                    channel_first: bool = True, search_backend: str = "auto",
                    code_fit: str = "gradient", fit_decay: float = 0.9) -> VectorQuantizer:
    """``"simvq"`` (``bias``: whether W has one; ``code_fit``, ``fit_decay``: how W and b are
    fitted) or ``"vanilla"``; channel-first by default
    (``z [B, d, T]`` or ``[B, d, H, W]``), as the conv models use them; ``search_backend``:
    ``"auto"``, ``"torch"`` or ``"triton"`` (:attr:`VectorQuantizer.search_backend`). A
    :class:`QuantizerConfig` gives the arguments of the same names (``kind`` is its ``type``)."""
    if kind == "simvq":
        return SimVQ(num_codes, dim, beta, bias=bias, channel_first=channel_first,
                     search_backend=search_backend, code_fit=code_fit, fit_decay=fit_decay)
    if kind == "vanilla":
        if code_fit != "gradient":
            raise UserInputError(f"code_fit {code_fit!r} is SimVQ's (it sets W and b); a "
                                 f"vanilla quantizer learns its codebook by gradient")
        return VanillaVQ(num_codes, dim, beta, channel_first=channel_first,
                         search_backend=search_backend)
    raise UserInputError(f"quantizer type must be 'simvq' or 'vanilla', got {kind!r}")


def quantizer_from_config(config: QuantizerConfig, search_backend: str = "auto"
                          ) -> VectorQuantizer:
    """The channel-first quantizer a model config's ``quantizer`` section describes."""
    return build_quantizer(config.type, config.num_codes, config.dim, config.beta, config.bias,
                           search_backend=search_backend, code_fit=config.code_fit,
                           fit_decay=config.fit_decay)
