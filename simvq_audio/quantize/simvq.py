"""SimVQ (arXiv 2411.02038): a frozen random codebook C and one learned linear map W.

The effective codes are ``C W^T + b``, so every update of W moves the whole code space, not
only the codes that were picked: that is what keeps large codebooks in use.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from simvq_audio.quantize.base import VectorQuantizer, init_codebook
from simvq_audio.quantize.search import CodeTransform
from simvq_audio.quantize.stats import effective_rank


class SimVQ(VectorQuantizer):
    """SimVQ quantizer. See :class:`~simvq_audio.quantize.base.VectorQuantizer` for shapes.

    Args:
        num_codes: K, from 2 to 2^24.
        dim: code dimension d (also the input's channel size).
        beta: commitment weight in ``||sg(z) - q||^2 + beta ||z - sg(q)||^2``.
        bias: whether the linear map W has a bias (the reference keeps it).
        channel_first: input layout, see the base class.
        codebook_init: ``"normal"`` (paper: N(0, d^-0.5)) or ``"uniform"`` (ablation).
        freeze_codebook: keep C fixed (paper). ``False`` trains C together with W (ablation).

    C is a buffer saved in the state dict (``codebook``), never touched by an optimiser. The
    search reads ``C W^T + b`` tile by tile; the backward pass reaches W only through the N
    selected rows. In inference (no gradient needed) ``C W^T + b`` is computed once per weight
    version and cached.
    """

    def __init__(self, num_codes: int, dim: int, beta: float = 0.25, bias: bool = True,
                 channel_first: bool = False, codebook_init: str = "normal",
                 freeze_codebook: bool = True, search_backend: str = "auto"):
        super().__init__(num_codes, dim, beta, channel_first, search_backend)
        codebook = init_codebook(num_codes, dim, codebook_init)
        if freeze_codebook:
            self.register_buffer("codebook", codebook)
        else:
            self.codebook = nn.Parameter(codebook)
        self.linear = nn.Linear(dim, dim, bias=bias)
        self._cache_key: tuple | None = None
        self._cache: torch.Tensor | None = None

    def transform(self, raw: torch.Tensor) -> torch.Tensor:
        """Raw codes ``[k, d]`` -> effective codes ``[k, d]`` (float32)."""
        weight = self.linear.weight.float()
        bias = None if self.linear.bias is None else self.linear.bias.float()
        return F.linear(raw.float(), weight, bias)

    def _needs_grad(self) -> bool:
        return torch.is_grad_enabled() and any(p.requires_grad for p in self.parameters())

    def effective_codes(self) -> torch.Tensor:
        """All effective codes ``[K, d]`` float32, computed once per weight version (no grad)."""
        tensors = [self.codebook, self.linear.weight] + (
            [self.linear.bias] if self.linear.bias is not None else [])
        key = tuple((t._version, t.data_ptr(), t.device, t.dtype) for t in tensors)
        if self._cache_key != key:
            with torch.no_grad(), torch.autocast(self.codebook.device.type, enabled=False):
                self._cache = self.transform(self.codebook)
            self._cache_key = key
        return self._cache

    def monitoring(self, counts: torch.Tensor) -> dict[str, float]:
        """The base class's numbers and ``rank_W``, the effective rank of W (d when the map
        keeps every direction of the code space, lower when a few dominate)."""
        rank = effective_rank(self.linear.weight.float())
        return {**super().monitoring(counts), "rank_W": rank}

    def search_codebook(self) -> tuple[torch.Tensor, CodeTransform | None]:
        if self._needs_grad():
            return self.codebook, self.transform
        return self.effective_codes(), None

    def lookup_rows(self, indices: torch.Tensor) -> torch.Tensor:
        if self._needs_grad():
            return self.transform(self.codebook[indices])
        return self.effective_codes()[indices]
