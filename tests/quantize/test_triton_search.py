"""The fused Triton search kernel and the back-end dispatch.

The ``test_kernel_*`` cases run the kernel: on CUDA when a GPU is present, and on CPU through
Triton's interpreter in a subprocess started by :func:`test_interpreter_runs_the_kernel_cases`
(``TRITON_INTERPRET`` must be set before triton is imported, so it never leaks into this
process). Every result is compared with a float64 brute force, ties to the lowest index.
The kernel cases pass one small tile shape (:data:`SMALL_TILES`), so that their small shapes
cross every tile boundary and the interpreter, which cannot autotune, runs them; on a GPU they
also run with the production tiles (the search's default).
"""

import os
import subprocess
import sys

import pytest
import torch

from simvq_audio import quantize as quantize_package
from simvq_audio.commands import SEARCH_BACKEND_ENV
from simvq_audio.commands import search_backend as cli_search_backend
from simvq_audio.errors import UserInputError
from simvq_audio.quantize import SimVQ
from simvq_audio.quantize.search import CodeSource, nearest_code, resolve_candidates, search_backend

from repo_paths import TOOLS

INTERPRETED = os.environ.get("TRITON_INTERPRET") == "1"
KERNEL_DEVICE = "cpu" if INTERPRETED else ("cuda" if torch.cuda.is_available() else None)
kernel_case = pytest.mark.skipif(KERNEL_DEVICE is None, reason="needs CUDA; on CPU these run "
                                 "in the interpreter subprocess")
SMALL_TILES = {"block_n": 16, "block_k": 32, "block_d": 16}


@pytest.fixture(params=["small"] if INTERPRETED else ["small", "production"])
def tiles(request):
    """The kernel cases' ``triton_tiles``: one small shape, or None (the production default,
    autotuned: GPU only)."""
    from simvq_audio.quantize.triton_search import TritonTiles
    return (TritonTiles(**SMALL_TILES),) if request.param == "small" else None


def float64_distances(z: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
    """``[N, K]`` squared distances of the float32 values, computed in float64."""
    diff = z.float().double()[:, None, :] - codes.float().double()[None, :, :]
    return diff.pow(2).sum(-1)


def brute_force(z: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
    """``[N]`` nearest codes; ``argmin`` returns the first minimum: ties to the lowest index."""
    return float64_distances(z, codes).argmin(1)


def random_case(n: int, k: int, d: int, dtype=torch.float32):
    device = KERNEL_DEVICE or "cpu"
    return (torch.randn(n, d, device=device).to(dtype),
            torch.randn(k, d, device=device).to(dtype))


def assert_exact(z: torch.Tensor, codes: torch.Tensor, tiles, **kwargs) -> None:
    result = nearest_code(z, codes, backend="triton", triton_tiles=tiles, **kwargs)
    assert torch.equal(result.indices.cpu(), brute_force(z, codes).cpu())
    best = float64_distances(z, codes).min(1).values.float()
    torch.testing.assert_close(result.distances.cpu(), best.cpu(), rtol=1e-5, atol=1e-5)


# -- the kernel ------------------------------------------------------------------------------
@kernel_case
def test_kernel_state_holds_two_best_codes_and_third_score(tiles):
    from simvq_audio.quantize.triton_search import PRODUCTION_TILES, fused_pass
    z, codes = random_case(37, 100, 24)
    # 40 codes per launch: three launches, the last one ragged
    scores, candidates, max_norm = fused_pass(z, CodeSource(codes, None), 40 * 24,
                                              tiles=tiles or PRODUCTION_TILES)
    ordered, order = float64_distances(z, codes).sort(1)
    assert torch.equal(candidates.cpu(), order[:, :2].cpu())
    z_sq = z.double().pow(2).sum(1, keepdim=True)
    torch.testing.assert_close(scores.double(), ordered[:, :3] - z_sq, rtol=1e-5, atol=1e-4)
    assert max_norm == pytest.approx(float(codes.norm(dim=1).max()), rel=1e-6)


@kernel_case
@pytest.mark.parametrize("n, k, d, tile_elements", [
    (37, 90, 24, 1 << 22),  # ragged rows, codes and dimensions inside one launch
    (20, 70, 8, 8 * 30),  # d below the dot tile, codes split over three launches
    (3, 1, 5, 1 << 22),  # one code
    (5, 2, 40, 1 << 22),  # two codes: no third score
])
def test_kernel_matches_float64_brute_force(n, k, d, tile_elements, tiles):
    z, codes = random_case(n, k, d)
    assert_exact(z, codes, tiles, tile_elements=tile_elements)


@kernel_case
def test_kernel_breaks_ties_to_the_lowest_index(tiles):
    z, codes = random_case(12, 90, 16)
    codes[40] = codes[70] = codes[5]  # three copies: more near-ties than indices kept
    codes[80] = codes[10]  # two copies, in different tiles: re-ranked in float64
    codes[33] = codes[32]  # two copies in one tile
    z[:4] = codes[[70, 80, 33, 5]]
    z[4] = codes[5] + 1e-7  # a hair off a triple
    assert_exact(z, codes, tiles, tile_elements=16 * 50)
    found = nearest_code(z[:4], codes, backend="triton", triton_tiles=tiles)
    assert found.indices.tolist() == [5, 10, 32, 5]


@kernel_case
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_kernel_takes_half_precision_inputs(dtype, tiles):
    z, codes = random_case(19, 60, 16, dtype)
    codes[50] = codes[7]  # duplicates are common in half precision
    assert_exact(z, codes, tiles)


@kernel_case
@pytest.mark.parametrize("scale", [1e12, 1e-12])
def test_kernel_handles_huge_and_tiny_norms(scale, tiles):
    z, codes = random_case(18, 50, 12)
    assert_exact(z * scale, codes * scale, tiles)


@kernel_case
def test_kernel_applies_the_code_transform_block_by_block(tiles):
    z, raw = random_case(17, 75, 16)
    linear = torch.nn.Linear(16, 16).to(raw.device)
    with torch.no_grad():
        codes = linear(raw)
        result = nearest_code(z, raw, linear, tile_elements=16 * 32, backend="triton",
                              triton_tiles=tiles)
    assert torch.equal(result.indices.cpu(), brute_force(z, codes).cpu())


@kernel_case
def test_kernel_fast_mode_stays_within_its_documented_bound(tiles):
    z, codes = random_case(33, 80, 32)
    result = nearest_code(z, codes, backend="triton", fast=True, triton_tiles=tiles)
    dist = float64_distances(z, codes)
    chosen = dist.gather(1, result.indices[:, None])[:, 0]
    max_norm = codes.double().norm(dim=1).max()
    bound = (2.0 ** -8 + 34 * 2.0 ** -24) * (max_norm ** 2 + 2 * z.double().norm(dim=1) * max_norm)
    assert (chosen - dist.min(1).values <= 2 * bound).all()
    torch.testing.assert_close(result.distances.double(), chosen, rtol=1e-5, atol=1e-5)


@pytest.mark.skipif(not INTERPRETED, reason="runs in the interpreter subprocess")
def test_kernel_interpreter_takes_one_tile_shape_not_the_production_ones():
    """Production code picks no tiles for the interpreter: the default (autotuned) ones are
    refused there with one message, and the caller passes one shape."""
    from simvq_audio.quantize.triton_search import PRODUCTION_TILES, TritonTiles
    z, codes = random_case(5, 9, 4)
    message = "cannot be autotuned: pass one tile shape, got 4"
    with pytest.raises(UserInputError, match=message):
        nearest_code(z, codes, backend="triton")
    with pytest.raises(UserInputError, match=message):
        nearest_code(z, codes, backend="triton", triton_tiles=PRODUCTION_TILES)
    assert_exact(z, codes, [TritonTiles(**SMALL_TILES)])


@pytest.mark.parametrize("bad, message", [
    ({**SMALL_TILES, "block_k": 24}, "block_k must be a power of two >= 16, got 24"),
    ({**SMALL_TILES, "block_d": 8}, "block_d must be a power of two >= 16, got 8"),
    ({**SMALL_TILES, "block_n": 16.0}, "block_n must be a power of two >= 16, got 16.0"),
])
def test_tile_shapes_are_checked(bad, message):
    pytest.importorskip("triton")
    from simvq_audio.quantize.triton_search import TritonTiles
    with pytest.raises(UserInputError, match=message):
        TritonTiles(**bad)


def test_tiles_are_a_non_empty_sequence_of_tile_shapes():
    pytest.importorskip("triton")
    from simvq_audio.quantize.triton_search import check_tiles
    with pytest.raises(UserInputError, match="one or more TritonTiles, got \\(\\)"):
        check_tiles([])
    with pytest.raises(UserInputError, match="one or more TritonTiles"):
        check_tiles([SMALL_TILES])


def test_interpreter_runs_the_kernel_cases():
    if INTERPRETED:
        pytest.skip("already inside the interpreter run")
    pytest.importorskip("triton")
    env = {**os.environ, "TRITON_INTERPRET": "1"}
    run = subprocess.run([sys.executable, "-m", "pytest", __file__, "-q", "-k", "test_kernel_",
                          "-p", "no:cacheprovider"], env=env, capture_output=True, text=True,
                         timeout=300)
    report = run.stdout + run.stderr
    assert run.returncode == 0, report
    assert "skipped" not in report and " passed" in report, report


# -- the dispatch and the exactness hand-off -------------------------------------------------
def test_auto_and_a_named_backend_choose_the_backend(monkeypatch):
    z, codes = torch.randn(4, 3), torch.randn(5, 3)
    monkeypatch.setenv(SEARCH_BACKEND_ENV, "triton")  # the library never reads it
    assert search_backend("auto", z, codes) == "torch"  # auto: CPU tensors go to torch
    assert search_backend("torch", z, codes) == "torch"
    with pytest.raises(UserInputError, match="backend must be one of"):
        nearest_code(z, codes, backend="gpu")


def test_only_the_cli_reads_the_environment_variable(monkeypatch):
    monkeypatch.delenv(SEARCH_BACKEND_ENV, raising=False)
    assert cli_search_backend() == "auto"
    monkeypatch.setenv(SEARCH_BACKEND_ENV, "torch")
    assert cli_search_backend() == "torch"
    monkeypatch.setenv(SEARCH_BACKEND_ENV, "cuda")
    with pytest.raises(UserInputError, match=SEARCH_BACKEND_ENV):
        cli_search_backend()


def test_a_quantizer_checks_its_backend_when_it_is_built():
    with pytest.raises(UserInputError, match="backend must be one of"):
        SimVQ(8, 3, search_backend="gpu")
    assert SimVQ(8, 3, search_backend="torch").search_backend == "torch"


def test_forcing_triton_without_triton_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "triton", None)  # makes `import triton` raise ImportError
    monkeypatch.setitem(sys.modules, "simvq_audio.quantize.triton_search", None)
    monkeypatch.delattr(quantize_package, "triton_search", raising=False)  # imported before
    z, codes = torch.randn(4, 3), torch.randn(5, 3)
    with pytest.raises(UserInputError, match=r"pip install 'simvq-audio\[gpu\]'"):
        nearest_code(z, codes, backend="triton")
    with pytest.raises(UserInputError, match="needs the triton package"):
        SimVQ(8, 3, search_backend="triton")(torch.randn(2, 4, 3))
    assert search_backend("auto", z, codes) == "torch"


def test_forcing_triton_on_cpu_needs_the_interpreter():
    if INTERPRETED:
        pytest.skip("the interpreter runs the kernel on CPU")
    pytest.importorskip("triton")
    with pytest.raises(UserInputError, match="TRITON_INTERPRET"):
        nearest_code(torch.randn(4, 3), torch.randn(5, 3), backend="triton")


def test_quantizers_pass_their_backend_choice_to_the_search():
    vq = SimVQ(8, 3)
    vq.search_backend = "no-such-backend"
    with pytest.raises(UserInputError, match="backend must be one of"):
        vq(torch.randn(2, 4, 3))


def test_importing_and_searching_on_cpu_never_imports_triton():
    code = ("import sys, torch; from simvq_audio.quantize import nearest_code; "
            "nearest_code(torch.randn(5, 4), torch.randn(7, 4)); "
            "assert 'triton' not in sys.modules, 'triton was imported'")
    env = {k: v for k, v in os.environ.items() if k != SEARCH_BACKEND_ENV}
    run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stderr


def test_resolve_takes_one_score_more_than_candidates():
    """The Triton pass hands over scores [N, 3] but indices [N, 2]: the third score only says
    whether a row has more near-ties than indices kept (then a float64 search decides)."""
    z, codes = torch.randn(30, 6), torch.randn(40, 6)
    codes[[9, 20, 31]] = codes[2].clone()  # four copies
    codes[25] = codes[12]  # two copies
    z[:10] = codes[[31, 25]].repeat(5, 1)
    scores = (codes * codes).sum(1)[None] - 2 * z @ codes.t()
    ordered, order = scores.sort(dim=1, stable=True)
    norm = float(codes.norm(dim=1).max())
    result = resolve_candidates(z, CodeSource(codes, None), ordered[:, :3], order[:, :2], norm)
    expected = brute_force(z, codes)
    assert torch.equal(result.indices, expected)
    assert result.indices[:2].tolist() == [2, 12]


def test_benchmark_script_smoke_run_on_cpu():
    pytest.importorskip("triton")
    script = str(TOOLS / "bench_search.py")
    run = subprocess.run([sys.executable, script, "--cpu-smoke"], capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    exact_rows = [line for line in run.stdout.splitlines() if "| fused exact |" in line]
    assert len(exact_rows) == 2 and all(row.endswith("| 100.000 |") for row in exact_rows)
