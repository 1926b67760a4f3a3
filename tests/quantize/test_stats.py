"""Codebook statistics on constructed cases, and usage summed across processes."""

import math

import pytest
import torch

from simvq_audio.quantize import SimVQ, VanillaVQ
from simvq_audio.quantize.stats import CodeUsage, code_counts, effective_rank, perplexity

from dist_helpers import run_on_two_processes


def test_perplexity_of_constructed_distributions():
    assert perplexity(torch.tensor([5, 5, 5, 5])).item() == pytest.approx(4.0)
    assert perplexity(torch.tensor([7, 0, 0])).item() == pytest.approx(1.0)
    two_to_one = perplexity(torch.tensor([2, 1])).item()
    expected = math.exp(-(2 / 3 * math.log(2 / 3) + 1 / 3 * math.log(1 / 3)))
    assert two_to_one == pytest.approx(expected)
    assert perplexity(torch.zeros(3, dtype=torch.long)).item() == 1.0


def test_code_usage_over_batches():
    usage = CodeUsage(8)
    usage.update(torch.tensor([[0, 1], [1, 1]]))
    usage.update(torch.tensor([2, 2, 7]))
    assert usage.counts.tolist() == [1, 3, 2, 0, 0, 0, 0, 1]
    assert usage.utilisation() == pytest.approx(4 / 8)
    assert usage.dead_codes() == 4
    assert usage.perplexity() == pytest.approx(float(perplexity(usage.counts)))
    usage.reset()
    assert usage.utilisation() == 0.0


def test_normalised_entropy_bounds():
    usage = CodeUsage(16)
    usage.update(torch.arange(16).repeat(3))
    assert usage.normalised_entropy() == pytest.approx(1.0)
    usage.reset()
    usage.update(torch.zeros(10, dtype=torch.long))
    assert usage.normalised_entropy() == pytest.approx(0.0)


def test_code_counts_keeps_unused_codes():
    assert code_counts(torch.tensor([3]), 6).tolist() == [0, 0, 0, 1, 0, 0]


def test_effective_rank():
    assert effective_rank(torch.eye(6)) == pytest.approx(6.0)
    rank_one = torch.outer(torch.randn(5), torch.randn(7))
    assert effective_rank(rank_one) == pytest.approx(1.0, abs=1e-6)
    skewed = torch.diag(torch.tensor([10.0, 1.0, 0.1]))
    assert 1.0 < effective_rank(skewed) < 2.0
    assert effective_rank(torch.zeros(3, 3)) == 0.0


def test_a_quantizer_gives_its_own_monitoring_numbers():
    counts = torch.tensor([3, 0, 1, 0])
    shared = {"utilisation": 0.5, "dead_codes": 2.0,
              "perplexity": pytest.approx(float(perplexity(counts)))}
    assert VanillaVQ(4, 3).monitoring(counts) == shared
    simvq = SimVQ(4, 3)
    with torch.no_grad():
        simvq.linear.weight.copy_(torch.diag(torch.tensor([1.0, 1.0, 0.0])))
    assert simvq.monitoring(counts) == {**shared, "rank_W": pytest.approx(2.0)}


def _usage_on(rank: int) -> tuple:
    usage = CodeUsage(10)
    usage.update(torch.tensor([0, 1, 2]) if rank == 0 else torch.tensor([2, 3, 9]))
    return usage.utilisation(), usage.utilisation(sync=False), usage.dead_codes()


def test_usage_is_summed_across_processes():
    results = run_on_two_processes(_usage_on)
    # each rank saw 3 codes; together they used 5 distinct codes of 10
    assert results[0] == (0.5, 0.3, 5)
    assert results[1] == (0.5, 0.3, 5)
