"""The fused Triton pass of the nearest-code search: one sweep over tiles of rows x codes.

Each program owns ``BLOCK_N`` rows of ``z``. For every tile of ``BLOCK_K`` codes it computes
``z.e`` with ``tl.dot`` (``BLOCK_D`` dimensions at a time), adds the code norms to get the scores
``||e||^2 - 2 z.e`` and folds the tile into a running per-row state held in registers: the two
lowest scores with their code indices and the third-lowest score. Nothing of size N x K exists
in memory; the outputs are ``scores [N, 3]`` and ``candidates [N, 2]``, which
:func:`~simvq_audio.quantize.search.resolve_candidates` turns into exact answers (the third
score tells it when more than two codes are near-tied, so it falls back to float64 for that row).

Precision: ``exact`` mode multiplies in IEEE float32 (``input_precision="ieee"``: no TF32), so the
scores obey the same float32 error bound as the torch pass. ``fast`` mode uses TF32 tensor-core
products (10-bit mantissa); see :func:`~simvq_audio.quantize.search.nearest_code` for what it
guarantees. Under ``TRITON_INTERPRET=1`` (set before this module is imported) the kernel runs on
CPU tensors, with numpy products, for tests; the interpreter cannot autotune, so a caller there
passes one tile shape (``tiles=``, small ones so that small test shapes cross every tile
boundary).

Tile shapes (:class:`TritonTiles`) are an argument of :func:`fused_pass`; by default the kernel is
autotuned over :data:`PRODUCTION_TILES` for each ``dim`` and precision.

Importing this module imports triton: only the dispatch in ``search.py`` does, lazily.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
import triton
import triton.language as tl

from simvq_audio.errors import UserInputError

if TYPE_CHECKING:
    from simvq_audio.quantize.search import CodeSource

INTERPRETED = bool(triton.knobs.runtime.interpret)
"""Whether the kernel below was compiled for Triton's CPU interpreter."""

STATE_SCORES = 3
"""Scores kept per row: the best two (with indices) and the third (overflow sentinel)."""

STATE_INDICES = 2

_NO_INDEX = tl.constexpr(2 ** 31 - 1)

_MIN_BLOCK = 16
"""``tl.dot``'s smallest operand side."""


@dataclass(frozen=True)
class TritonTiles:
    """One launch shape of the kernel: ``block_n`` rows of ``z`` per program, ``block_k``
    codes per score tile, ``block_d`` dimensions per ``tl.dot`` step (each a power of two,
    at least 16); ``num_warps`` and ``num_stages`` as in ``triton.Config`` (the interpreter
    ignores them)."""

    block_n: int
    block_k: int
    block_d: int
    num_warps: int = 4
    num_stages: int = 2

    def __post_init__(self):
        for name in ("block_n", "block_k", "block_d"):
            value = getattr(self, name)
            if not (isinstance(value, int) and value >= _MIN_BLOCK and value & (value - 1) == 0):
                raise UserInputError(f"TritonTiles.{name} must be a power of two >= "
                                     f"{_MIN_BLOCK}, got {value!r}")


PRODUCTION_TILES = (TritonTiles(64, 64, 32), TritonTiles(64, 128, 32),
                    TritonTiles(128, 64, 32, num_warps=8), TritonTiles(128, 128, 32, num_warps=8))
"""The shapes the kernel is autotuned over on a GPU, for each ``dim`` and precision."""


@triton.jit
def _fold_codes_kernel(z_ptr, codes_ptr, code_sq_ptr, prev_scores_ptr, prev_idx_ptr,
                       scores_ptr, idx_ptr, n_rows, n_codes, dim, index_base,
                       PRECISION: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr,
                       BLOCK_D: tl.constexpr):
    """Fold ``codes [n_codes, dim]`` (indices ``index_base + j``) into the per-row state.

    ``z [n_rows, dim]``; ``code_sq [n_codes]`` float32 squared norms; state in
    ``prev_scores [n_rows, 3]`` float32 ascending and ``prev_idx [n_rows, 2]`` int64, written
    updated to ``scores``/``idx``. Ties go to the lowest index (earlier codes win).
    """
    rows = tl.program_id(0) * BLOCK_N + tl.arange(0, BLOCK_N)
    row_ok = rows < n_rows
    row_off = rows.to(tl.int64) * dim
    v1 = tl.load(prev_scores_ptr + rows * 3, mask=row_ok, other=float("inf"))
    v2 = tl.load(prev_scores_ptr + rows * 3 + 1, mask=row_ok, other=float("inf"))
    v3 = tl.load(prev_scores_ptr + rows * 3 + 2, mask=row_ok, other=float("inf"))
    i1 = tl.load(prev_idx_ptr + rows * 2, mask=row_ok, other=0).to(tl.int32)
    i2 = tl.load(prev_idx_ptr + rows * 2 + 1, mask=row_ok, other=0).to(tl.int32)
    for k0 in range(0, n_codes, BLOCK_K):
        cols = k0 + tl.arange(0, BLOCK_K)
        col_ok = cols < n_codes
        col_off = cols.to(tl.int64) * dim
        dots = tl.zeros([BLOCK_N, BLOCK_K], dtype=tl.float32)
        for d0 in range(0, dim, BLOCK_D):
            dims = d0 + tl.arange(0, BLOCK_D)
            dim_ok = dims < dim
            z_tile = tl.load(z_ptr + row_off[:, None] + dims[None, :],
                             mask=row_ok[:, None] & dim_ok[None, :], other=0.0)
            e_tile = tl.load(codes_ptr + col_off[None, :] + dims[:, None],
                             mask=dim_ok[:, None] & col_ok[None, :], other=0.0)
            dots = tl.dot(z_tile, e_tile, dots, input_precision=PRECISION)
        code_sq = tl.load(code_sq_ptr + cols, mask=col_ok, other=0.0)
        s = tl.where(col_ok[None, :], code_sq[None, :] - 2.0 * dots, float("inf"))
        t1 = tl.min(s, axis=1)
        if tl.sum((t1 < v3).to(tl.int32)) > 0:  # skip tiles that cannot change any row
            a1 = tl.min(tl.where(s == t1[:, None], cols[None, :], _NO_INDEX), axis=1)
            s = tl.where(cols[None, :] == a1[:, None], float("inf"), s)
            t2 = tl.min(s, axis=1)
            a2 = tl.min(tl.where(s == t2[:, None], cols[None, :], _NO_INDEX), axis=1)
            s = tl.where(cols[None, :] == a2[:, None], float("inf"), s)
            t3 = tl.min(s, axis=1)
            a1 += index_base
            a2 += index_base
            # merge the sorted state (v1, v2, v3) with the sorted tile (t1, t2, t3);
            # strict comparisons: on equal scores the state (lower indices) wins.
            first_from_tile = t1 < v1
            state_v = tl.where(first_from_tile, v1, v2)
            state_i = tl.where(first_from_tile, i1, i2)
            tile_v = tl.where(first_from_tile, t2, t1)
            tile_i = tl.where(first_from_tile, a2, a1)
            second_from_tile = tile_v < state_v
            taken = first_from_tile.to(tl.int32) + second_from_tile.to(tl.int32)
            state_next = tl.where(taken == 0, v3, tl.where(taken == 1, v2, v1))
            tile_next = tl.where(taken == 0, t1, tl.where(taken == 1, t2, t3))
            new_v1 = tl.where(first_from_tile, t1, v1)
            new_i1 = tl.where(first_from_tile, a1, i1)
            v2 = tl.where(second_from_tile, tile_v, state_v)
            i2 = tl.where(second_from_tile, tile_i, state_i)
            v3 = tl.minimum(state_next, tile_next)
            v1 = new_v1
            i1 = new_i1
    tl.store(scores_ptr + rows * 3, v1, mask=row_ok)
    tl.store(scores_ptr + rows * 3 + 1, v2, mask=row_ok)
    tl.store(scores_ptr + rows * 3 + 2, v3, mask=row_ok)
    tl.store(idx_ptr + rows * 2, i1.to(tl.int64), mask=row_ok)
    tl.store(idx_ptr + rows * 2 + 1, i2.to(tl.int64), mask=row_ok)


@functools.cache
def _tuned_kernel(tiles: tuple[TritonTiles, ...]) -> triton.runtime.Autotuner:
    """The kernel autotuned over ``tiles`` (one shape: used as it is, nothing is timed)."""
    configs = [triton.Config({"BLOCK_N": t.block_n, "BLOCK_K": t.block_k, "BLOCK_D": t.block_d},
                             num_warps=t.num_warps, num_stages=t.num_stages) for t in tiles]
    return triton.autotune(configs=configs, key=["dim", "PRECISION"])(_fold_codes_kernel)


def check_tiles(tiles: Sequence[TritonTiles]) -> tuple[TritonTiles, ...]:
    """``tiles`` as a tuple; :class:`UserInputError` unless it holds :class:`TritonTiles`, one
    of them under the interpreter (which cannot time several)."""
    tiles = tuple(tiles)
    if not tiles or not all(isinstance(t, TritonTiles) for t in tiles):
        raise UserInputError(f"triton tiles must be one or more TritonTiles, got {tiles!r}")
    if INTERPRETED and len(tiles) > 1:
        raise UserInputError(f"under TRITON_INTERPRET=1 the kernel cannot be autotuned: pass "
                             f"one tile shape, got {len(tiles)}")
    return tiles


def fold_codes(z: torch.Tensor, codes: torch.Tensor, code_sq: torch.Tensor, index_base: int,
               scores: torch.Tensor, candidates: torch.Tensor, fast: bool = False,
               tiles: tuple[TritonTiles, ...] = PRODUCTION_TILES
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """Update a search state with one block of codes (one kernel launch).

    Args:
        z: ``[N, d]`` contiguous float32 queries.
        codes: ``[k, d]`` contiguous float32 codes, global indices
            ``index_base .. index_base + k - 1``.
        code_sq: ``[k]`` float32 squared norms of ``codes``.
        scores: ``[N, 3]`` float32 ascending state (``inf`` where empty).
        candidates: ``[N, 2]`` int64 indices of ``scores[:, :2]``.
        fast: TF32 products instead of IEEE float32.
        tiles: the launch shapes to autotune over, as :func:`check_tiles` returns them
            (:func:`fused_pass` checks them once for all its launches).

    Returns:
        The updated ``(scores [N, 3], candidates [N, 2])`` (new tensors).
    """
    n, d = z.shape
    new_scores, new_candidates = torch.empty_like(scores), torch.empty_like(candidates)
    if n == 0:
        return new_scores, new_candidates
    grid = lambda meta: (triton.cdiv(n, meta["BLOCK_N"]),)  # noqa: E731
    _tuned_kernel(tiles)[grid](
        z, codes, code_sq, scores, candidates, new_scores, new_candidates, n, codes.shape[0], d,
        index_base, PRECISION="tf32" if fast else "ieee")
    return new_scores, new_candidates


def fused_pass(z: torch.Tensor, codes: CodeSource, tile_elements: int, fast: bool = False,
               tiles: Sequence[TritonTiles] = PRODUCTION_TILES
               ) -> tuple[torch.Tensor, torch.Tensor, float]:
    """The Triton replacement of the torch float32 pass of ``search.py``.

    Codes are read in blocks of ``tile_elements // d`` rows (a transformed codebook is therefore
    never held whole); each block is one kernel launch that updates the per-row state.

    Args:
        z: ``[N, d]`` float32 queries.
        codes: the code source (raw codebook and optional row-wise transform).
        tile_elements: codes per launch x ``d``.
        fast: TF32 products instead of IEEE float32.
        tiles: the launch shapes to autotune over (see :func:`check_tiles`).

    Returns:
        ``scores [N, 3]`` float32 ascending, ``candidates [N, 2]`` int64 (the codes of the first
        two scores) and the largest code norm.
    """
    n, d = z.shape
    tiles = check_tiles(tiles)
    z = z.contiguous()
    scores = z.new_full((n, STATE_SCORES), float("inf"), dtype=torch.float32)
    candidates = torch.zeros(n, STATE_INDICES, dtype=torch.long, device=z.device)
    max_sq = torch.zeros((), device=z.device)
    block = max(1, tile_elements // d)
    for start in range(0, codes.size, block):
        e = codes.rows(start, start + block).contiguous()
        e_sq = (e * e).sum(1)
        max_sq = torch.maximum(max_sq, e_sq.max())
        scores, candidates = fold_codes(z, e, e_sq, start, scores, candidates, fast, tiles)
    return scores, candidates, float(max_sq.sqrt())
