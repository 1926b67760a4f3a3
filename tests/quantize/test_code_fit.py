"""SimVQ's ``code_fit: moments``: W and b follow the latents' running mean and covariance."""

import pytest
import torch

from simvq_audio.errors import UserInputError
from simvq_audio.quantize import SimVQ
from simvq_audio.quantize.factory import build_quantizer

from dist_helpers import run_on_two_processes


def correlated_latents(n: int, dim: int, scale: float = 1.0, seed: int = 0,
                       shape: int = 0) -> torch.Tensor:
    """``[n, dim]`` Gaussian rows (drawn with ``seed``) with a mean and a correlated covariance
    (drawn with ``shape``), times ``scale``."""
    g = torch.Generator().manual_seed(shape)
    mix = torch.randn(dim, dim, generator=g) / dim ** 0.5
    offset = torch.randn(dim, generator=g)
    g.manual_seed(1000 + seed)
    return (torch.randn(n, dim, generator=g) @ mix + offset) * scale


def moments(rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    x = rows.double()
    mean = x.mean(0)
    return mean, (x - mean).T @ (x - mean) / x.shape[0]


def test_one_training_pass_gives_the_codes_the_batch_moments():
    quantizer = SimVQ(num_codes=20000, dim=6, code_fit="moments").train()
    rows = correlated_latents(4000, 6)
    quantizer(rows)
    mean, cov = moments(rows)
    weight, bias = quantizer.linear.weight.double(), quantizer.linear.bias.double()
    torch.testing.assert_close(bias, mean.to(bias.dtype), atol=1e-5, rtol=0)
    torch.testing.assert_close(weight @ weight.T / 6, cov, atol=1e-4, rtol=1e-4)
    assert torch.equal(weight, weight.tril())  # the Cholesky factor
    # so the effective codes (C ~ N(0, I/d)) are spread like the latents
    code_mean, code_cov = moments(quantizer.effective_codes())
    torch.testing.assert_close(code_mean, mean, atol=0.05, rtol=0)
    torch.testing.assert_close(code_cov, cov, atol=0.05, rtol=0)


def test_running_moments_decay_per_training_pass_and_eval_leaves_them():
    quantizer = SimVQ(num_codes=64, dim=3, code_fit="moments", fit_decay=0.75).train()
    first = correlated_latents(500, 3, seed=1, shape=1)
    second = correlated_latents(500, 3, 3.0, seed=2, shape=2)
    quantizer(first)
    quantizer(second)
    (m1, c1), (m2, c2) = moments(first), moments(second)
    torch.testing.assert_close(quantizer.latent_mean.double(), 0.75 * m1 + 0.25 * m2,
                               atol=1e-5, rtol=0)
    torch.testing.assert_close(quantizer.latent_cov.double(), 0.75 * c1 + 0.25 * c2,
                               atol=1e-4, rtol=1e-5)
    state = {k: v.clone() for k, v in quantizer.state_dict().items()}
    quantizer.eval()
    quantizer(correlated_latents(100, 3, 10.0, seed=3))
    quantizer.encode(correlated_latents(100, 3, 10.0, seed=4))
    assert all(torch.equal(v, quantizer.state_dict()[k]) for k, v in state.items())
    assert int(quantizer.fit_count) == 2


def test_no_optimiser_touches_w_and_the_loss_reaches_only_the_encoder():
    quantizer = SimVQ(num_codes=64, dim=4, beta=0.25, code_fit="moments").train()
    assert not any(p.requires_grad for p in quantizer.parameters())
    z = correlated_latents(200, 4).requires_grad_(True)
    q, _, loss, _ = quantizer(z)
    (loss + q.sum()).backward()
    assert z.grad is not None and quantizer.linear.weight.grad is None
    # the paper's fit keeps W trainable
    assert all(p.requires_grad for p in SimVQ(num_codes=64, dim=4).parameters())


def test_the_codes_follow_latents_that_shrink_where_a_fixed_map_collapses():
    """The codec's collapse in miniature: the latents contract by 0.85 per step (to 0.5 % in
    the end); codes fitted by gradient stay where they were (here: not updated at all), codes
    fitted to the moments follow, and the batch keeps using most of them."""
    torch.manual_seed(0)
    following = SimVQ(num_codes=256, dim=4, code_fit="moments", fit_decay=0.5).train()
    fixed = SimVQ(num_codes=256, dim=4).train()
    with torch.no_grad():
        fixed.linear.weight.copy_(torch.eye(4) * 2)
        fixed.linear.bias.zero_()
    for step in range(33):
        rows = correlated_latents(4096, 4, scale=0.85 ** step, seed=step)
        used_following = following(rows)[1].unique().numel()
        used_fixed = fixed(rows)[1].unique().numel()
    assert used_fixed <= 3
    assert used_following >= 0.85 * 256


def test_moments_are_summed_over_processes_as_one_batch():
    rows = correlated_latents(600, 5, seed=7)
    results = run_on_two_processes(_fit_half, rows)
    alone = SimVQ(num_codes=32, dim=5, code_fit="moments").train()
    alone(rows)
    for weight, bias in results.values():
        torch.testing.assert_close(weight, alone.linear.weight, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(bias, alone.linear.bias, atol=1e-6, rtol=0)


def _fit_half(rank: int, rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    quantizer = SimVQ(num_codes=32, dim=5, code_fit="moments").train()
    quantizer(rows[:400] if rank == 0 else rows[400:])  # uneven halves
    return quantizer.linear.weight.detach().clone(), quantizer.linear.bias.detach().clone()


def test_non_finite_latents_are_refused_without_touching_the_fit():
    quantizer = SimVQ(num_codes=64, dim=3, code_fit="moments").train()
    quantizer(correlated_latents(300, 3))
    state = {k: v.clone() for k, v in quantizer.state_dict().items()}
    bad = correlated_latents(300, 3)
    bad[7, 1] = float("nan")
    with pytest.raises(UserInputError, match="NaN or infinite"):
        quantizer(bad)
    assert all(torch.equal(v, quantizer.state_dict()[k]) for k, v in state.items())


def test_resume_restores_the_running_moments_and_the_map():
    source = SimVQ(num_codes=64, dim=3, code_fit="moments").train()
    source(correlated_latents(300, 3))
    copy = SimVQ(num_codes=64, dim=3, code_fit="moments").train()
    copy.load_state_dict(source.state_dict())
    later = correlated_latents(300, 3, seed=5)
    source(later)
    copy(later)
    assert torch.equal(source.linear.weight, copy.linear.weight)


@pytest.mark.parametrize("kwargs, message", [
    ({"code_fit": "kmeans"}, "code_fit must be 'gradient' or 'moments'"),
    ({"code_fit": "moments", "codebook_init": "uniform"}, "needs the paper's codebook"),
    ({"code_fit": "moments", "freeze_codebook": False}, "needs the paper's codebook"),
    ({"code_fit": "moments", "bias": False}, "W with a bias"),
    ({"code_fit": "moments", "fit_decay": 1.0}, r"fit_decay must lie in \[0, 1\)"),
    ({"code_fit": "moments", "fit_decay": -0.1}, r"fit_decay must lie in \[0, 1\)"),
])
def test_bad_fit_arguments_are_refused(kwargs, message):
    with pytest.raises(UserInputError, match=message):
        SimVQ(num_codes=16, dim=4, **kwargs)


def test_a_vanilla_quantizer_refuses_the_moments_fit():
    with pytest.raises(UserInputError, match="SimVQ's"):
        build_quantizer("vanilla", 16, 4, code_fit="moments")
