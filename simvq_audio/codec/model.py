"""The codec model: causal encoder -> vector quantizer -> Vocos-style decoder."""

from __future__ import annotations

import torch
from torch import nn

from simvq_audio.codec.config import ModelConfig
from simvq_audio.codec.decoder import Decoder
from simvq_audio.codec.encoder import Encoder
from simvq_audio.errors import UserInputError
from simvq_audio.quantize.base import VectorQuantizer
from simvq_audio.quantize.factory import quantizer_from_config


class CodecModel(nn.Module):
    """Waveform codec at ``hop_length`` samples per token, one codebook.

    ``T`` samples give ``T' = ceil(T / hop_length)`` tokens; how a last partial frame is
    completed is the encoder's ``padding`` (zeros, or the reference's reflection), which
    changes only the last frame.

    Args:
        encoder: ``wav [B, T]`` -> ``z [B, d, T']``; its ``hop_length`` is the model's.
        quantizer: channel-first, ``z [B, d, T']`` -> ``tokens [B, T']``.
        decoder: ``q [B, d, T']`` -> ``wav [B, T' * hop_length]``.
        sample_rate: the rate of the waveforms in Hz.
    """

    def __init__(self, encoder: Encoder, quantizer: VectorQuantizer, decoder: Decoder,
                 sample_rate: int):
        super().__init__()
        self.encoder = encoder
        self.quantizer = quantizer
        self.decoder = decoder
        self.sample_rate = sample_rate
        self.hop_length = encoder.hop_length

    @classmethod
    def from_hparams(cls, config: ModelConfig, search_backend: str = "auto") -> CodecModel:
        """The model a ``model:`` config section describes (untrained); ``search_backend``:
        the quantizer's nearest-code search (``"auto"``, ``"torch"`` or ``"triton"``)."""
        q = config.quantizer
        return cls(Encoder(q.dim, **vars(config.encoder)),
                   quantizer_from_config(q, search_backend),
                   Decoder(q.dim, config.hop_length, **vars(config.decoder)),
                   config.sample_rate)

    def forward(self, wav: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        """``wav [B, T]`` -> ``(wav_hat [B, T], tokens [B, T'], quantizer_loss, stats)``."""
        z = self.encoder(self._check(wav))
        q, tokens, loss, stats = self.quantizer(z)
        return self.decoder(q)[:, :wav.shape[-1]], tokens, loss, stats

    def encode(self, wav: torch.Tensor) -> torch.Tensor:
        """``wav [B, T]`` -> ``tokens [B, ceil(T / hop)]`` int64."""
        _, tokens, _, _ = self.quantizer(self.encoder(self._check(wav)))
        return tokens

    def decode_tokens(self, tokens: torch.Tensor) -> torch.Tensor:
        """``tokens [B, T']`` -> ``wav [B, T' * hop]``; ids map through the quantizer's
        effective codes (``C W`` for SimVQ)."""
        if tokens.dim() != 2:
            raise UserInputError(f"decode_tokens expects tokens [B, T'], got "
                                 f"{tuple(tokens.shape)}")
        return self.decoder(self.quantizer.lookup(tokens))

    def _check(self, wav: torch.Tensor) -> torch.Tensor:
        if not isinstance(wav, torch.Tensor) or wav.dim() != 2 or not wav.is_floating_point():
            shape = tuple(wav.shape) if isinstance(wav, torch.Tensor) else type(wav).__name__
            raise UserInputError(f"the codec expects a float waveform [B, T], got {shape}")
        if wav.shape[-1] == 0:
            raise UserInputError("the codec got an empty waveform (0 samples)")
        return wav
