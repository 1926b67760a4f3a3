"""SimVQ (arXiv 2411.02038): a frozen random codebook C and one learned linear map W.

The effective codes are ``C W^T + b``, so every update of W moves the whole code space, not
only the codes that were picked: that is what keeps large codebooks in use.

How W and b are fitted (``code_fit``):

* ``"gradient"`` (the paper): by the codebook term ``||sg(z) - q||^2`` of the loss, through the
  codes that were picked.
* ``"moments"``: in every training forward pass, W and b are set so that the codes have the
  running mean and covariance of the latents (C ~ N(0, I/d), so ``b = mean`` and ``W W^T = d
  cov``; W is the Cholesky factor). The code cloud then follows the encoder however fast the
  encoder changes; no optimiser touches W or b. This is the codec's remedy for collapse in short
  runs (docs/collapse_study.md: with the gradient, W moves far slower than the latents do).
  Like BatchNorm's running statistics, the moments take in every training forward pass,
  including one whose update the trainer then skips for a non-finite loss; non-finite latents
  are refused before they reach them.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from simvq_audio.errors import UserInputError
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
        code_fit: ``"gradient"`` (paper) or ``"moments"`` (see the module docstring; needs the
            paper's frozen normal C).
        fit_decay: for ``"moments"``, the decay of the running mean and covariance per training
            forward pass (0: the current batch only).

    C is a buffer saved in the state dict (``codebook``), never touched by an optimiser. The
    search reads ``C W^T + b`` tile by tile; the backward pass reaches W only through the N
    selected rows. In inference (no gradient needed) ``C W^T + b`` is computed once per weight
    version and cached.
    """

    def __init__(self, num_codes: int, dim: int, beta: float = 0.25, bias: bool = True,
                 channel_first: bool = False, codebook_init: str = "normal",
                 freeze_codebook: bool = True, search_backend: str = "auto",
                 code_fit: str = "gradient", fit_decay: float = 0.9):
        super().__init__(num_codes, dim, beta, channel_first, search_backend)
        if code_fit not in ("gradient", "moments"):
            raise UserInputError(f"code_fit must be 'gradient' or 'moments', got {code_fit!r}")
        if code_fit == "moments" and (codebook_init != "normal" or not freeze_codebook
                                      or not bias):
            raise UserInputError("code_fit 'moments' needs the paper's codebook and map: "
                                 "codebook_init 'normal', frozen, W with a bias")
        if not 0 <= fit_decay < 1:
            raise UserInputError(f"fit_decay must lie in [0, 1), got {fit_decay!r}")
        self.code_fit, self.fit_decay = code_fit, fit_decay
        codebook = init_codebook(num_codes, dim, codebook_init)
        if freeze_codebook:
            self.register_buffer("codebook", codebook)
        else:
            self.codebook = nn.Parameter(codebook)
        self.linear = nn.Linear(dim, dim, bias=bias)
        if code_fit == "moments":
            self.linear.requires_grad_(False)
            # the first training pass replaces these (its decay is 0): until then W and b keep
            # PyTorch's init
            self.register_buffer("latent_mean", torch.zeros(dim))
            self.register_buffer("latent_cov", torch.zeros(dim, dim))
            self.register_buffer("fit_count", torch.zeros((), dtype=torch.long))
        self._cache_key: tuple | None = None
        self._cache: torch.Tensor | None = None

    @torch.no_grad()
    def fit_codes(self, rows: torch.Tensor) -> None:
        """``code_fit: moments``: fold ``rows [N, d]`` (this batch's latents, on every process
        when distributed) into the running mean and covariance, then set W and b from them.
        ``code_fit: gradient``: nothing (the loss trains W)."""
        if self.code_fit != "moments":
            return
        x = rows.double()
        sums = torch.cat([x.new_tensor([x.shape[0]]), x.sum(0), (x.T @ x).reshape(-1)])
        if dist.is_available() and dist.is_initialized():
            dist.all_reduce(sums)
        count, d = sums[0].clamp_min(1), self.dim
        mean = sums[1:d + 1] / count
        cov = sums[d + 1:].reshape(d, d) / count - torch.outer(mean, mean)
        decay = self.fit_decay if int(self.fit_count) > 0 else 0.0
        self.latent_mean.lerp_(mean.float(), 1 - decay)
        self.latent_cov.lerp_(cov.float(), 1 - decay)
        self.fit_count += 1
        self.set_from_moments(self.latent_mean, self.latent_cov)

    @torch.no_grad()
    def set_from_moments(self, mean: torch.Tensor, cov: torch.Tensor) -> None:
        """Set W and b so that the codes ``C W^T + b`` (C ~ N(0, I/d)) have mean ``mean [d]``
        and covariance ``cov [d, d]``: ``b = mean``, ``W = sqrt(d) cholesky(cov)`` (a tiny
        multiple of the identity is added to ``cov``, so a singular one is fine)."""
        if self.linear.bias is None:
            raise UserInputError("setting the codes' mean needs W with a bias")
        cov = cov.double()
        jitter = 1e-6 * cov.diagonal().mean().clamp_min(1e-12)
        factor = torch.linalg.cholesky(cov + jitter * torch.eye(self.dim, dtype=cov.dtype,
                                                                device=cov.device))
        self.linear.weight.copy_(factor * self.dim ** 0.5)
        self.linear.bias.copy_(mean)

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
