"""The baseline: a plain learned codebook (VQ-VAE), for the collapse comparisons."""

from __future__ import annotations

import torch
from torch import nn

from simvq_audio.quantize.base import VectorQuantizer, init_codebook
from simvq_audio.quantize.search import CodeTransform


class VanillaVQ(VectorQuantizer):
    """VQ-VAE quantizer with a learned ``[K, d]`` codebook, same interface and loss as SimVQ.

    Args:
        num_codes, dim, beta, channel_first: as for :class:`~simvq_audio.quantize.simvq.SimVQ`.
        codebook_init: ``"uniform"`` (default: U(-1/K, 1/K), the VQGAN init) or ``"normal"``.
    """

    def __init__(self, num_codes: int, dim: int, beta: float = 0.25,
                 channel_first: bool = False, codebook_init: str = "uniform",
                 search_backend: str = "auto"):
        super().__init__(num_codes, dim, beta, channel_first, search_backend)
        self.codebook = nn.Parameter(init_codebook(num_codes, dim, codebook_init))

    def search_codebook(self) -> tuple[torch.Tensor, CodeTransform | None]:
        return self.codebook.detach(), None

    def lookup_rows(self, indices: torch.Tensor) -> torch.Tensor:
        return self.codebook[indices].float()
