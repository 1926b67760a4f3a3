"""Codebook statistics: per-batch perplexity, usage over many batches, effective rank.

Utilisation follows the paper: the fraction of the K codes used at least once over a whole
evaluation set (not per batch).
"""

from __future__ import annotations

import torch
import torch.distributed as dist


def code_counts(indices: torch.Tensor, num_codes: int) -> torch.Tensor:
    """How often each code occurs: ``indices [...]`` int -> ``counts [K]`` int64."""
    return torch.bincount(indices.reshape(-1), minlength=num_codes)


def perplexity(counts: torch.Tensor) -> torch.Tensor:
    """``exp`` of the entropy of the code distribution ``counts [K]``: K for uniform use, 1 for
    one code. Returns a float64 scalar (1 when nothing was counted)."""
    total = counts.sum()
    if total == 0:
        return torch.ones((), dtype=torch.float64, device=counts.device)
    p = counts.double() / total
    entropy = -(p * torch.log(p.clamp_min(1e-300))).sum()
    return entropy.exp()


def batch_stats(indices: torch.Tensor, num_codes: int) -> dict[str, torch.Tensor]:
    """Detached statistics of one batch: ``perplexity`` and ``used_codes`` (scalars)."""
    counts = code_counts(indices.detach(), num_codes)
    return {"perplexity": perplexity(counts), "used_codes": (counts > 0).sum()}


class CodeUsage:
    """Counts code usage over many batches.

    ``update(indices)`` adds a batch; ``utilisation()`` is the fraction of codes used at least
    once, ``dead_codes()`` the number never used. With ``sync=True`` (the default) the counts are
    summed over all processes when ``torch.distributed`` is initialised, so every rank reports
    the utilisation of the whole data set, not of its shard.
    """

    def __init__(self, num_codes: int, device: torch.device | str = "cpu"):
        self.num_codes = num_codes
        self.counts = torch.zeros(num_codes, dtype=torch.long, device=device)

    def update(self, indices: torch.Tensor) -> None:
        """Add the codes of one batch (``indices`` any shape, values in ``[0, K)``)."""
        self.counts += code_counts(indices.detach().to(self.counts.device), self.num_codes)

    def reset(self) -> None:
        self.counts.zero_()

    def total_counts(self, sync: bool = True) -> torch.Tensor:
        """``[K]`` counts, summed over processes when ``sync`` and distributed is initialised."""
        if sync and dist.is_available() and dist.is_initialized():
            counts = self.counts.clone()
            dist.all_reduce(counts, op=dist.ReduceOp.SUM)
            return counts
        return self.counts

    def utilisation(self, sync: bool = True) -> float:
        """Fraction of codes used at least once."""
        return float((self.total_counts(sync) > 0).sum()) / self.num_codes

    def dead_codes(self, sync: bool = True) -> int:
        """Number of codes never used."""
        return int((self.total_counts(sync) == 0).sum())

    def perplexity(self, sync: bool = True) -> float:
        """Perplexity of the accumulated code distribution."""
        return float(perplexity(self.total_counts(sync)))

    def normalised_entropy(self, sync: bool = True) -> float:
        """Usage entropy divided by ``log K``: 1 for perfectly uniform use."""
        return float(torch.log(perplexity(self.total_counts(sync)))) / float(
            torch.log(torch.tensor(float(self.num_codes))))


def effective_rank(matrix: torch.Tensor) -> float:
    """Entropy-based effective rank (Roy & Vetterli 2007) of ``matrix [m, n]``:
    ``exp(H(s / sum s))`` over its singular values ``s``. Equals the rank for equal singular
    values; lower when a few directions dominate."""
    s = torch.linalg.svdvals(matrix.detach().double())
    if s.sum() == 0:
        return 0.0
    p = s / s.sum()
    return float(torch.exp(-(p * torch.log(p.clamp_min(1e-300))).sum()))
