"""Codebook metrics over a whole evaluation set: utilisation, perplexity, usage entropy, bitrate.

Counting reuses :class:`simvq_audio.quantize.stats.CodeUsage`; utilisation is the paper's
fraction of the K codes used at least once over the whole set.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch

from simvq_audio.errors import UserInputError
from simvq_audio.quantize.stats import CodeUsage


def bitrate(tokens_per_second: float, num_codes: int, codebooks: int = 1) -> float:
    """Bits per second of ``codebooks`` token streams at ``tokens_per_second`` each, with
    ``log2(num_codes)`` bits per token (the paper's convention: 75 tokens/s x 12 bits = 900 bps
    for 4096 codes)."""
    return tokens_per_second * codebooks * math.log2(num_codes)


def count_tokens(token_sets: Iterable[torch.Tensor], num_codes: int) -> CodeUsage:
    """Usage of the ``num_codes`` codes over ``token_sets`` (int tensors of any shape).

    Raises :class:`UserInputError` for an id outside ``[0, num_codes)``.
    """
    usage = CodeUsage(num_codes)
    for tokens in token_sets:
        if tokens.numel() and (int(tokens.min()) < 0 or int(tokens.max()) >= num_codes):
            raise UserInputError(f"token ids must lie in [0, {num_codes}), found "
                                 f"{int(tokens.min())}..{int(tokens.max())}")
        usage.update(tokens.long())
    return usage


def codebook_report(usage: CodeUsage, tokens_per_second: float) -> dict:
    """JSON-ready statistics of ``usage``: ``num_codes``, ``num_tokens``, ``used_codes``,
    ``utilisation``, ``perplexity``, ``entropy_bits`` (usage entropy), ``normalised_entropy``
    (entropy / log K), ``tokens_per_second`` and ``bitrate_bps``."""
    perplexity = usage.perplexity(sync=False)
    return {
        "num_codes": usage.num_codes,
        "num_tokens": int(usage.counts.sum()),
        "used_codes": usage.num_codes - usage.dead_codes(sync=False),
        "utilisation": usage.utilisation(sync=False),
        "perplexity": perplexity,
        "entropy_bits": math.log2(perplexity),
        "normalised_entropy": usage.normalised_entropy(sync=False) if usage.num_codes > 1 else 1.0,
        "tokens_per_second": tokens_per_second,
        "bitrate_bps": bitrate(tokens_per_second, usage.num_codes),
    }
