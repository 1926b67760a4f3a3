"""The collapse study's model: an MLP autoencoder over log-mel windows with a quantizer between
encoder and decoder. Small enough to train in seconds on a CPU, and its latents are learned
features of real speech, so the quantizer sees the kind of input it sees in the codec."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from simvq_audio.quantize import VectorQuantizer


def mlp(sizes: list[int]) -> nn.Sequential:
    """Linear layers of ``sizes`` with GELU between them (none after the last)."""
    layers: list[nn.Module] = []
    for index, (size_in, size_out) in enumerate(zip(sizes, sizes[1:])):
        if index:
            layers.append(nn.GELU())
        layers.append(nn.Linear(size_in, size_out))
    return nn.Sequential(*layers)


class FrameAutoencoder(nn.Module):
    """``x [B, D]`` -> encoder -> ``z [B, d]`` -> quantizer -> decoder -> ``x_hat [B, D]``.

    Args:
        input_dim: D, the flattened window length.
        hidden: width of the two hidden layers of the encoder and of the decoder.
        quantizer: any :class:`VectorQuantizer` with ``dim == d`` (channels last).
    """

    def __init__(self, input_dim: int, hidden: int, quantizer: VectorQuantizer):
        super().__init__()
        self.encoder = mlp([input_dim, hidden, hidden, quantizer.dim])
        self.quantizer = quantizer
        self.decoder = mlp([quantizer.dim, hidden, hidden, input_dim])

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Returns ``(x_hat [B, D], indices [B], quantizer loss scalar)``."""
        q, indices, q_loss, _ = self.quantizer(self.encoder(x))
        return self.decoder(q), indices, q_loss

    def loss(self, x: torch.Tensor) -> torch.Tensor:
        """Training loss of a batch ``x [B, D]``: reconstruction MSE + quantizer loss."""
        x_hat, _, q_loss = self(x)
        return F.mse_loss(x_hat, x) + q_loss
