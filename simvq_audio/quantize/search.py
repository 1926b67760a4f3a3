"""Exact nearest-code search that never materialises the N x K distance matrix.

The contract (shared by every back end):

* **Exact.** The returned index is the arg-min of the true squared L2 distance between the
  float32 values of ``z`` and of the codes, ties going to the lowest index. This equals a float32
  brute force (``cdist`` + ``argmin``) wherever float32 arithmetic can tell the codes apart, and
  is right where it cannot (near-duplicate codes, huge norms, fp16/bf16 inputs).
* **Memory-bounded.** Scores ``||e||^2 - 2 z.e`` are computed tile by tile (a block of rows
  against a block of codes) in float32 with autocast off; each tile only updates the per-row
  best few candidates. Extra memory is O(N + tile), never O(N x K).

How exactness is kept without paying for float64 everywhere: the float32 score of each code has
a rounding error of at most ``tol = (d + 2) u (M^2 + 2 ||z|| M)`` (``u = 2^-24``, ``M`` the
largest code norm). The search keeps the ``CANDIDATES`` lowest scores per row. A row whose
second-best score is more than ``2 tol`` above its best is decided. For the few rows where it is
not, the kept candidates within ``2 tol`` are re-ranked by their distance computed directly in
float64; a row with more near-ties than candidates kept (duplicate codes) is re-searched
directly in float64 over the whole codebook, still tile by tile.

Back ends (``backend=``, which a quantizer's ``search_backend`` passes on): ``"torch"`` runs
the float32 pass above with torch ops; ``"triton"`` runs it as one fused Triton kernel
(``triton_search.py``) and feeds the same exactness machinery; ``"auto"`` (default) takes Triton
for CUDA tensors when it imports, torch otherwise. Triton is imported only when chosen.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from simvq_audio.errors import UserInputError

if TYPE_CHECKING:
    from simvq_audio.quantize.triton_search import TritonTiles

CANDIDATES = 4
"""Best-scoring codes kept per row during the float32 pass."""

TILE_ELEMENTS = 1 << 22
"""Rows x codes per score tile (16 MiB in float32): bounds the extra memory of a search."""

UNIT_ROUNDOFF = 2.0 ** -24

BACKENDS = ("auto", "torch", "triton")

CodeTransform = Callable[[torch.Tensor], torch.Tensor]
"""A row-wise map applied to raw codebook rows ``[k, d] -> [k, d]`` (SimVQ's linear layer)."""


@dataclass
class SearchResult:
    """``indices [N]`` int64 nearest codes; ``distances [N]`` float32 squared L2 distances."""

    indices: torch.Tensor
    distances: torch.Tensor


def nearest_code(z: torch.Tensor, codebook: torch.Tensor,
                 code_transform: CodeTransform | None = None,
                 tile_elements: int = TILE_ELEMENTS, backend: str = "auto",
                 fast: bool = False, triton_tiles: Sequence[TritonTiles] | None = None
                 ) -> SearchResult:
    """Find the nearest code of every row of ``z``.

    Args:
        z: ``[N, d]`` queries (float32, float16 or bfloat16; compared in float32).
        codebook: ``[K, d]`` codes, or raw codes that ``code_transform`` maps to the real ones.
        code_transform: optional row-wise map applied to codebook rows tile by tile, so that
            the transformed ``[K, d]`` codebook is never held in memory at once.
        tile_elements: rows x codes per score tile (Triton: codes per launch x d).
        backend: ``"auto"``, ``"torch"`` or ``"triton"``.
        fast: Triton back end only (the torch back end is always exact): TF32 dot products and
            no exactness check. The returned code's true distance is then within ``2 t`` of
            the minimum, ``t = (2^-8 + (d + 2) 2^-24) (M^2 + 2 ||z|| M)`` (``M`` the largest
            code norm; TF32 keeps 10 mantissa bits), but need not be the exact arg-min;
            ``distances`` are recomputed in float32 for the returned codes.
        triton_tiles: Triton back end only: the kernel's launch shapes
            (:class:`~simvq_audio.quantize.triton_search.TritonTiles`) to autotune over;
            ``None``: its ``PRODUCTION_TILES``. Under ``TRITON_INTERPRET=1`` pass one.

    Returns:
        :class:`SearchResult` with ``indices [N]`` and ``distances [N]``.
    """
    check_search_inputs(z, codebook)
    use_triton = search_backend(backend, z, codebook) == "triton"
    codes = CodeSource(codebook, code_transform)
    with torch.autocast(z.device.type, enabled=False), torch.no_grad():
        z32 = z.detach().float()
        if not use_triton:
            scores, candidates, max_code_norm = _float32_pass(z32, codes, tile_elements)
        else:
            # optional (the gpu extra): CUDA tensors only
            from simvq_audio.quantize.triton_search import PRODUCTION_TILES, fused_pass
            tiles = PRODUCTION_TILES if triton_tiles is None else triton_tiles
            scores, candidates, max_code_norm = fused_pass(z32, codes, tile_elements, fast,
                                                           tiles)
            if fast:
                best = candidates[:, 0]
                return SearchResult(best, (z32 - codes.gather(best)).pow(2).sum(1))
        return resolve_candidates(z32, codes, scores, candidates, max_code_norm, tile_elements)


def check_backend(name: object) -> str:
    """``name`` if it is one of :data:`BACKENDS`; else raise :class:`UserInputError`."""
    if name not in BACKENDS:
        raise UserInputError(f"search backend must be one of {', '.join(BACKENDS)}; "
                             f"got {name!r}")
    return name


def search_backend(backend: str, z: torch.Tensor, codebook: torch.Tensor) -> str:
    """Which back end searches ``z [N, d]`` against ``codebook [K, d]``: ``"torch"`` or
    ``"triton"``. Raises :class:`UserInputError` for an unknown name or a forced Triton that
    cannot run here."""
    name = check_backend(backend)
    if name == "torch" or (name == "auto" and (z.device.type != "cuda" or z.shape[0] == 0
                                               or codebook.shape[0] >= 2 ** 31)):
        return "torch"
    try:
        # optional (the gpu extra): CUDA tensors only
        from simvq_audio.quantize import triton_search
    except ImportError as error:
        if name == "auto":
            return "torch"
        raise UserInputError(f"the triton search back end needs the triton package "
                             f"(pip install 'simvq-audio[gpu]'): {error}") from error
    if z.device.type != "cuda" and not triton_search.INTERPRETED:
        raise UserInputError(f"the triton search back end runs on CUDA tensors, got "
                             f"{z.device.type} (CPU only under TRITON_INTERPRET=1, for tests)")
    return "triton"


def check_search_inputs(z: torch.Tensor, codebook: torch.Tensor) -> None:
    """Raise :class:`UserInputError` for shapes or dtypes the search cannot take."""
    if z.dim() != 2 or codebook.dim() != 2:
        raise UserInputError(f"search needs z [N, d] and codebook [K, d], got "
                             f"{tuple(z.shape)} and {tuple(codebook.shape)}")
    if z.shape[1] != codebook.shape[1]:
        raise UserInputError(f"z has dimension {z.shape[1]} but the codes have {codebook.shape[1]}")
    if not (z.is_floating_point() and codebook.is_floating_point()):
        raise UserInputError(f"search needs floating-point tensors, got {z.dtype} and "
                             f"{codebook.dtype}")
    if codebook.shape[0] < 1:
        raise UserInputError("the codebook is empty")


class CodeSource:
    """The codes a search compares against, read in float32 on demand: ``codebook [k, d]``
    through the optional row-wise ``transform`` (SimVQ's ``C W^T + b``). The torch passes and
    the Triton pass (:mod:`simvq_audio.quantize.triton_search`) read it by blocks of rows
    (:meth:`rows`) or by index (:meth:`gather`)."""

    def __init__(self, codebook: torch.Tensor, transform: CodeTransform | None):
        self.codebook = codebook
        self.transform = transform
        self.size = codebook.shape[0]

    def rows(self, start: int, stop: int) -> torch.Tensor:
        """Codes ``start:stop`` -> ``[stop - start, d]`` float32."""
        raw = self.codebook[start:stop]
        return (self.transform(raw) if self.transform is not None else raw).float()

    def gather(self, indices: torch.Tensor) -> torch.Tensor:
        """``indices [...]`` -> their codes ``[..., d]`` float32."""
        raw = self.codebook[indices.reshape(-1)]
        out = self.transform(raw) if self.transform is not None else raw
        return out.float().reshape(*indices.shape, -1)


def _tiles(rows: int, codes: int, tile_elements: int) -> tuple[int, int]:
    """Row and code block sizes whose product stays within ``tile_elements``."""
    code_block = max(1, min(codes, tile_elements // max(1, min(rows, 1024))))
    row_block = max(1, min(rows, tile_elements // code_block))
    return row_block, code_block


def _float32_pass(z: torch.Tensor, codes: CodeSource, tile_elements: int
                  ) -> tuple[torch.Tensor, torch.Tensor, float]:
    """One pass over the codebook keeping the lowest float32 scores per row.

    Returns ``scores [N, m]`` ascending, ``candidates [N, m]`` int64 and the largest code norm.
    """
    n, keep = z.shape[0], min(CANDIDATES, codes.size)
    best = z.new_full((n, keep), float("inf"))
    best_idx = torch.zeros(n, keep, dtype=torch.long, device=z.device)
    row_block, code_block = _tiles(n, codes.size, tile_elements)
    max_norm = 0.0
    for start in range(0, codes.size, code_block):
        e = codes.rows(start, start + code_block)
        e_sq = (e * e).sum(1)
        max_norm = max(max_norm, float(e_sq.max().sqrt()))
        take = min(keep, e.shape[0])
        for r0 in range(0, n, row_block):
            r1 = min(n, r0 + row_block)
            tile = torch.addmm(e_sq[None], z[r0:r1], e.t(), beta=1.0, alpha=-2.0)
            vals, idx = tile.topk(take, dim=1, largest=False, sorted=False)
            merged = torch.cat([best[r0:r1], vals], 1)
            merged_idx = torch.cat([best_idx[r0:r1], idx + start], 1)
            best[r0:r1], pos = merged.topk(keep, dim=1, largest=False, sorted=True)
            best_idx[r0:r1] = merged_idx.gather(1, pos)
    return best, best_idx, max_norm


def by_row_blocks(fn: Callable[[torch.Tensor], torch.Tensor], z: torch.Tensor,
                  elements: int) -> torch.Tensor:
    """``fn`` (``[n, d] -> [n]``) over blocks of rows of ``z [N, d]`` holding at most ``elements``
    values each, concatenated to ``[N]``: keeps temporaries like ``z.double()`` small."""
    return torch.cat([fn(block) for block in z.split(max(1, elements // max(1, z.shape[1])))])


def score_tolerance(z: torch.Tensor, max_code_norm: float) -> torch.Tensor:
    """Bound ``[N]`` on the float32 rounding error of one score ``||e||^2 - 2 z.e``."""
    d = z.shape[1]
    z_norm = by_row_blocks(lambda rows: rows.double().norm(dim=1), z, TILE_ELEMENTS // 2)
    return (d + 2) * UNIT_ROUNDOFF * (max_code_norm ** 2 + 2 * z_norm * max_code_norm)


def resolve_candidates(z: torch.Tensor, codes: CodeSource, scores: torch.Tensor,
                       candidates: torch.Tensor, max_code_norm: float,
                       tile_elements: int = TILE_ELEMENTS) -> SearchResult:
    """Turn per-row float32 candidates into exact answers (see the module docstring).

    Args:
        z: ``[N, d]`` float32 queries.
        codes: where code rows come from.
        scores: ``[N, m]`` float32 scores ``||e||^2 - 2 z.e`` of the kept candidates, ascending;
            ``m == 1`` is allowed when the codebook has one code.
        candidates: ``[N, m]`` their code indices, or ``[N, m - 1]``: the last score then only
            tells whether more codes are near-tied than indices kept (the Triton pass).
        max_code_norm: the largest code norm, for the error bound.
    """
    n, keep = scores.shape
    indices = candidates[:, 0].clone()
    z_sq = by_row_blocks(lambda rows: (rows * rows).sum(1), z, tile_elements)
    distances = (scores[:, 0] + z_sq).clamp_min(0)
    if keep == 1 or n == 0:
        return SearchResult(indices, distances)
    margin = 2 * score_tolerance(z, max_code_norm)
    near = (scores.double() - scores[:, :1].double()) <= margin[:, None]  # [N, m]
    ambiguous = near[:, 1]
    overflow = near[:, -1] & (codes.size > candidates.shape[1])
    rerank = torch.nonzero(ambiguous & ~overflow).flatten()
    if rerank.numel():
        near_kept = near[rerank, :candidates.shape[1]]
        exact = (z[rerank, None, :].double() - codes.gather(candidates[rerank]).double())
        dist = exact.pow(2).sum(-1).masked_fill(~near_kept, float("inf"))  # [R, m]
        lowest = dist.min(dim=1, keepdim=True).values
        tied_idx = candidates[rerank].masked_fill(dist != lowest, codes.size)
        indices[rerank] = tied_idx.min(dim=1).values
        distances[rerank] = lowest[:, 0].float()
    full = torch.nonzero(overflow).flatten()
    if full.numel():
        indices[full], distances[full] = _float64_search(z[full], codes, tile_elements)
    return SearchResult(indices, distances)


def _float64_search(z: torch.Tensor, codes: CodeSource, tile_elements: int
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """Direct float64 distances, tile by tile: the slow exact path for rows with many near-ties.

    ``z [R, d]`` -> ``(indices [R], distances [R] float32)``, ties to the lowest index.
    """
    r, d = z.shape
    best = z.new_full((r,), float("inf"), dtype=torch.float64)
    best_idx = torch.zeros(r, dtype=torch.long, device=z.device)
    row_block, code_block = _tiles(r, codes.size, max(1, tile_elements // max(1, 2 * d)))
    z64 = z.double()
    for start in range(0, codes.size, code_block):
        e = codes.rows(start, start + code_block).double()
        for r0 in range(0, r, row_block):
            r1 = min(r, r0 + row_block)
            dist = (z64[r0:r1, None, :] - e[None]).pow(2).sum(-1)
            vals, idx = dist.min(dim=1)  # first minimum: lowest index within the tile
            better = vals < best[r0:r1]  # strict: earlier tiles win ties
            best[r0:r1] = torch.where(better, vals, best[r0:r1])
            best_idx[r0:r1] = torch.where(better, idx + start, best_idx[r0:r1])
    return best_idx, best.float()
