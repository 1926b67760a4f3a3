"""What every vector quantizer here shares: tensor layouts, the search, the loss, the
straight-through estimator and the batch statistics. Subclasses say where codes come from.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from simvq_audio.errors import UserInputError
from simvq_audio.quantize.search import CodeTransform, check_backend, nearest_code
from simvq_audio.quantize.stats import batch_stats, perplexity

MAX_CODES = 1 << 24
"""Largest codebook accepted (indices are later stored in at most 24 bits)."""


def init_codebook(num_codes: int, dim: int, kind: str = "normal") -> torch.Tensor:
    """A ``[K, d]`` codebook: ``"normal"`` draws N(0, d^-0.5) (SimVQ's frozen C);
    ``"uniform"`` draws U(-1/K, 1/K) (the classic VQ-VAE/VQGAN codebook init)."""
    if kind == "normal":
        return torch.randn(num_codes, dim).mul_(dim ** -0.5)  # in place: no second K x d copy
    if kind == "uniform":
        return torch.rand(num_codes, dim).mul_(2).sub_(1).div_(num_codes)
    raise UserInputError(f"codebook_init must be 'normal' or 'uniform', got {kind!r}")


class VectorQuantizer(nn.Module):
    """Base class. ``forward(z) -> (q, indices, loss, stats)`` for training; ``encode(z) ->
    indices`` for inference (the same ids, nothing else computed).

    Layouts (fixed at construction by ``channel_first``):

    * ``channel_first=False``: ``z [..., d]``, e.g. ``[B, T, d]``; ``indices [...]``.
    * ``channel_first=True``: ``z [B, d, *spatial]``, e.g. ``[B, d, T]`` or ``[B, d, H, W]``;
      ``indices [B, *spatial]``.

    ``q`` has the layout and dtype of ``z``; its value is exactly ``lookup(indices)`` (in the same
    mode, train or eval) and its gradient passes straight through to ``z``. ``loss`` is
    ``||sg(z) - q||^2 + beta ||z - sg(q)||^2`` (means over all elements), computed in float32.
    ``stats`` holds the batch ``perplexity`` and ``used_codes`` (detached).
    """

    def __init__(self, num_codes: int, dim: int, beta: float = 0.25,
                 channel_first: bool = False, search_backend: str = "auto"):
        super().__init__()
        if not isinstance(num_codes, int) or not 2 <= num_codes <= MAX_CODES:
            raise UserInputError(f"num_codes must be an integer in [2, {MAX_CODES}], "
                                 f"got {num_codes!r}")
        if not isinstance(dim, int) or dim < 1:
            raise UserInputError(f"dim must be a positive integer, got {dim!r}")
        self.num_codes = num_codes
        self.dim = dim
        self.beta = beta
        self.channel_first = channel_first
        self.search_backend = check_backend(search_backend)
        """How the nearest codes are searched (:func:`~simvq_audio.quantize.search.
        nearest_code`): ``"auto"`` (Triton for CUDA tensors when it imports, else torch),
        ``"torch"`` or ``"triton"``."""

    @property
    def bits_per_code(self) -> int:
        """Bits one index takes: ``ceil(log2 K)``."""
        return math.ceil(math.log2(self.num_codes))

    # -- what subclasses provide -------------------------------------------------------------
    def search_codebook(self) -> tuple[torch.Tensor, CodeTransform | None]:
        """The ``[K, d]`` tensor the search scans and the row-wise map applied to it."""
        raise NotImplementedError

    def lookup_rows(self, indices: torch.Tensor) -> torch.Tensor:
        """Codes of flat ``indices [n]`` as float32 ``[n, d]``, differentiable w.r.t. the
        parameters that make the codes."""
        raise NotImplementedError

    # -- shared ------------------------------------------------------------------------------
    def forward(self, z: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        rows, index_shape, restore = self._to_rows(z)
        if self.training:
            self.fit_codes(rows)
        indices = self._nearest(rows)
        with torch.autocast(z.device.type, enabled=False):
            q = self.lookup_rows(indices)
            x = rows.float()
            loss = F.mse_loss(q, x.detach()) + self.beta * F.mse_loss(x, q.detach())
            q_st = q.detach() + (x - x.detach())  # value: exactly q; gradient: identity to z
        indices = indices.reshape(index_shape)
        return restore(q_st.to(z.dtype)), indices, loss, batch_stats(indices, self.num_codes)

    def encode(self, z: torch.Tensor) -> torch.Tensor:
        """The ids ``forward`` gives (``indices [...]``, or ``[B, *spatial]`` when
        ``channel_first``; int64) without ``q``, the loss or the statistics: no autograd graph
        is built, and it runs under ``torch.inference_mode``."""
        rows, index_shape, _ = self._to_rows(z)
        return self._nearest(rows).reshape(index_shape)

    def lookup(self, indices: torch.Tensor) -> torch.Tensor:
        """Vectors of ``indices`` in the forward output's layout: ``[..., d]``, or
        ``[B, d, *spatial]`` for ``indices [B, *spatial]`` when ``channel_first``. float32."""
        if indices.dtype not in (torch.int64, torch.int32, torch.int16, torch.uint8):
            raise UserInputError(f"indices must be an integer tensor, got {indices.dtype}")
        if indices.numel() and (int(indices.min()) < 0 or int(indices.max()) >= self.num_codes):
            raise UserInputError(f"indices must lie in [0, {self.num_codes}), got values in "
                                 f"[{int(indices.min())}, {int(indices.max())}]")
        if self.channel_first and indices.dim() < 2:
            raise UserInputError("channel-first lookup needs indices [B, *spatial]")
        q = self.lookup_rows(indices.reshape(-1).long()).reshape(*indices.shape, self.dim)
        return q.movedim(-1, 1) if self.channel_first else q

    def fit_codes(self, rows: torch.Tensor) -> None:
        """Training forward passes call this with the batch's latents ``rows [N, d]`` (finite)
        before the search. Here it does nothing: the codes learn from the loss. A quantizer
        whose codes follow the latents directly (SimVQ's ``code_fit: moments``) updates them."""

    def monitoring(self, counts: torch.Tensor) -> dict[str, float]:
        """What a training run logs about this quantizer, from ``counts [K]``: how often each
        code was picked over many batches (:class:`~simvq_audio.quantize.CodeUsage`).
        ``utilisation`` (fraction of codes used at least once), ``dead_codes`` (codes never
        used) and ``perplexity`` of the usage; subclasses add their own numbers."""
        return {"utilisation": float((counts > 0).double().mean()),
                "dead_codes": float((counts == 0).sum()),
                "perplexity": float(perplexity(counts))}

    def _nearest(self, rows: torch.Tensor) -> torch.Tensor:
        """Nearest code of each row of ``rows [N, d]`` (checked finite by ``_to_rows``): ``[N]``."""
        codebook, transform = self.search_codebook()
        return nearest_code(rows, codebook, transform, backend=self.search_backend).indices

    def _to_rows(self, z: torch.Tensor
                 ) -> tuple[torch.Tensor, torch.Size, Callable[[torch.Tensor], torch.Tensor]]:
        """``z`` -> ``(rows [N, d], index shape, function mapping rows back to z's layout)``;
        non-finite values are refused."""
        if not isinstance(z, torch.Tensor) or not z.is_floating_point():
            kind = z.dtype if isinstance(z, torch.Tensor) else type(z).__name__
            raise UserInputError(f"quantizer input must be a floating-point tensor, got {kind}")
        if self.channel_first:
            if z.dim() < 3 or z.shape[1] != self.dim:
                raise UserInputError(f"expected channel-first z [B, {self.dim}, *spatial], "
                                     f"got {tuple(z.shape)}")
            moved = z.movedim(1, -1)
            shape = moved.shape
            rows, restore = moved.reshape(-1, self.dim), lambda r: r.reshape(shape).movedim(-1, 1)
        else:
            if z.dim() < 2 or z.shape[-1] != self.dim:
                raise UserInputError(f"expected z [..., {self.dim}] (channels last), "
                                     f"got {tuple(z.shape)}")
            shape = z.shape
            rows, restore = z.reshape(-1, self.dim), lambda r: r.reshape(shape)
        if not torch.isfinite(rows).all():
            raise UserInputError("quantizer input contains NaN or infinite values")
        return rows, shape[:-1], restore
