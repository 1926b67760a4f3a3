"""The nearest-code search equals a brute force, including on adversarial inputs."""

import pytest
import torch

from simvq_audio.errors import UserInputError
from simvq_audio.quantize import search
from simvq_audio.quantize.search import nearest_code


def brute_force(z: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
    """True nearest code in float64 on the float32 values; ties to the lowest index."""
    dist = (z.double()[:, None, :] - codes.double()[None]).pow(2).sum(-1)
    return dist.argmin(dim=1)  # torch returns the first minimum


def float32_cdist(z: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
    return torch.cdist(z.float(), codes.float()).argmin(dim=1)


@pytest.mark.parametrize("n,k,d", [(1, 2, 1), (37, 2, 3), (300, 1000, 16), (513, 4099, 8)])
def test_random_inputs_match_brute_force(n, k, d):
    z, codes = torch.randn(n, d), torch.randn(k, d)
    result = nearest_code(z, codes)
    assert torch.equal(result.indices, brute_force(z, codes))
    assert torch.equal(result.indices, float32_cdist(z, codes))
    true = (z.double() - codes[result.indices].double()).pow(2).sum(1)
    torch.testing.assert_close(result.distances.double(), true, rtol=1e-4, atol=1e-4)


def test_small_tiles_match_one_big_tile():
    z, codes = torch.randn(200, 8), torch.randn(777, 8)
    tiled = nearest_code(z, codes, tile_elements=64)  # many row and code blocks
    assert torch.equal(tiled.indices, nearest_code(z, codes).indices)
    assert torch.equal(tiled.indices, brute_force(z, codes))


def test_duplicate_codes_go_to_the_lowest_index():
    base = torch.randn(50, 6)
    codes = torch.cat([base, base, base])  # every code appears at i, i+50, i+100
    z = torch.randn(400, 6)
    idx = nearest_code(z, codes, tile_elements=128).indices
    assert (idx < 50).all()
    assert torch.equal(idx, brute_force(z, codes))


def test_many_exact_ties_overflow_the_candidate_list():
    codes = torch.zeros(64, 4)  # every code identical: K-way tie for every row
    codes[40] = 5.0
    z = torch.randn(30, 4)
    assert (nearest_code(z, codes, tile_elements=32).indices == 0).all()


def test_query_equidistant_from_two_codes():
    codes = torch.tensor([[1.0, 0.0], [0.0, 0.0], [-1.0, 0.0], [0.0, 3.0]])
    z = torch.tensor([[0.5, 0.0], [-0.5, 0.0], [0.0, 1.5]])  # ties: (0,1), (1,2), (1,3)
    assert nearest_code(z, codes).indices.tolist() == [0, 1, 1]


def test_huge_common_offset_where_the_expanded_formula_cancels():
    # Codes and queries far from the origin, close to each other: ||z||^2 ~ 1e10 swamps the
    # float32 score, so only the exact re-ranking can tell the codes apart.
    offset = torch.full((8,), 3.0e4)
    codes = offset + torch.randn(100, 8) * 0.5
    z = offset + torch.randn(60, 8) * 0.5
    assert torch.equal(nearest_code(z, codes).indices, brute_force(z, codes))


@pytest.mark.parametrize("scale", [1e-20, 1e-6, 1e6, 1e15])
def test_tiny_and_huge_norms(scale):
    z, codes = torch.randn(100, 8) * scale, torch.randn(300, 8) * scale
    assert torch.equal(nearest_code(z, codes).indices, brute_force(z, codes))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_inputs(dtype):
    z, codes = torch.randn(200, 16).to(dtype), torch.randn(500, 16).to(dtype)
    assert torch.equal(nearest_code(z, codes).indices, brute_force(z, codes))


def test_autocast_does_not_change_the_answer():
    z, codes = torch.randn(200, 16), torch.randn(500, 16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        idx = nearest_code(z, codes).indices
    assert torch.equal(idx, brute_force(z, codes))


def test_code_transform_equals_searching_the_transformed_codes():
    raw, z = torch.randn(300, 8), torch.randn(100, 8)
    linear = torch.nn.Linear(8, 8)
    with torch.no_grad():
        expected = brute_force(z, linear(raw))
    assert torch.equal(nearest_code(z, raw, code_transform=linear, tile_elements=256).indices,
                       expected)


def test_no_tile_reaches_n_by_k(monkeypatch):
    """Every score tile the search builds stays within the tile budget, far below N x K."""
    seen = []
    real_addmm = torch.addmm

    def spy(*args, **kwargs):
        out = real_addmm(*args, **kwargs)
        seen.append(out.numel())
        return out

    monkeypatch.setattr(search.torch, "addmm", spy)
    n, k = 3000, 5000
    nearest_code(torch.randn(n, 4), torch.randn(k, 4), tile_elements=1 << 16)
    assert seen and max(seen) <= 1 << 16 < n * k


@pytest.mark.parametrize("z,codes,match", [
    (torch.randn(5), torch.randn(4, 5), "z \\[N, d\\]"),
    (torch.randn(5, 3), torch.randn(4, 5), "dimension 3"),
    (torch.ones(5, 3, dtype=torch.long), torch.randn(4, 3), "floating-point"),
    (torch.randn(5, 3), torch.randn(0, 3), "empty"),
])
def test_bad_inputs_are_refused(z, codes, match):
    with pytest.raises(UserInputError, match=match):
        nearest_code(z, codes)
