"""Held-out measurements of a trained study model: code usage, reconstruction error, and the
effective rank of the matrix that makes the codes."""

from __future__ import annotations

import torch

from simvq_audio.quantize import CodeUsage, SimVQ, VanillaVQ, VectorQuantizer, effective_rank
from simvq_audio.study.mel_windows import MelWindows
from simvq_audio.study.model import FrameAutoencoder

HELDOUT_FRACTIONS = (0.125, 0.25, 0.5, 1.0)
"""Fractions of the held-out set over which utilisation is also reported (its growth curve)."""


@torch.no_grad()
def evaluate(model: FrameAutoencoder, windows: MelWindows, batch_size: int = 4096) -> dict:
    """Quantize every window of ``windows`` (eval mode) and measure, over the whole set:

    ``vectors``; ``used_codes`` and ``utilisation`` (fraction of the K codes used at least once,
    the paper's definition); ``perplexity`` and ``normalised_entropy`` (usage entropy / log K) of
    the code distribution; ``mse`` (mean squared reconstruction error per element, in the units
    of the standardised log-mel input); ``uniform_bound`` (:func:`uniform_use_bound`);
    ``utilisation_growth`` ``[[fraction, utilisation], ...]``: utilisation over the first
    ``fraction`` of the windows, for each of :data:`HELDOUT_FRACTIONS` (windows are in the order
    of their utterances, so a prefix is a share of the held-out audio). A curve still rising at
    1.0 says that more held-out audio would find more codes in use."""
    was_training = model.training
    model.eval()
    usage = CodeUsage(model.quantizer.num_codes)
    first_use = torch.full((usage.num_codes,), len(windows))  # window where each code appears
    squared_error = 0.0
    for ids in torch.arange(len(windows)).split(batch_size):
        x = windows.gather(ids)
        x_hat, indices, _ = model(x)
        usage.update(indices)
        first_use.scatter_reduce_(0, indices, ids, reduce="amin")
        squared_error += float((x_hat - x).pow(2).sum())
    model.train(was_training)
    num_codes = usage.num_codes
    return {
        "vectors": len(windows),
        "used_codes": num_codes - usage.dead_codes(sync=False),
        "utilisation": usage.utilisation(sync=False),
        "perplexity": usage.perplexity(sync=False),
        "normalised_entropy": usage.normalised_entropy(sync=False),
        "mse": squared_error / (len(windows) * windows.dim),
        "uniform_bound": uniform_use_bound(len(windows), num_codes),
        "utilisation_growth": [[fraction, (first_use < fraction * len(windows)).sum().item()
                                / num_codes] for fraction in HELDOUT_FRACTIONS],
    }


def uniform_use_bound(vectors: int, num_codes: int) -> float:
    """Expected utilisation when ``vectors`` draws pick among ``num_codes`` codes uniformly:
    ``1 - (1 - 1/K)^n``. What even a perfectly balanced codebook reaches on a set of that size
    (98.2 % at n = 4K)."""
    return -torch.expm1(vectors * torch.log1p(torch.tensor(-1.0 / num_codes,
                                                           dtype=torch.float64))).item()


def code_matrix(quantizer: VectorQuantizer) -> torch.Tensor:
    """The learned matrix whose rank the study tracks: SimVQ's ``W`` (``linear.weight [d, d]``),
    VanillaVQ's codebook ``[K, d]`` (its only learned matrix)."""
    if isinstance(quantizer, SimVQ):
        return quantizer.linear.weight
    if isinstance(quantizer, VanillaVQ):
        return quantizer.codebook
    raise TypeError(f"no code matrix defined for {type(quantizer).__name__}")


def code_matrix_rank(quantizer: VectorQuantizer) -> float:
    """Effective rank (entropy of the normalised singular values) of :func:`code_matrix`."""
    return effective_rank(code_matrix(quantizer))
