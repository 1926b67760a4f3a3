"""SimVQ and VanillaVQ: layouts, loss, straight-through gradients, lookup, frozen C, errors."""

import pytest
import torch
import torch.nn.functional as F

from simvq_audio import SimVQ, VanillaVQ
from simvq_audio.errors import UserInputError


def naive_simvq(quantizer: SimVQ, z: torch.Tensor):
    """Reference: materialise C W^T + b with autograd, full distance matrix, argmin."""
    codes = F.linear(quantizer.codebook, quantizer.linear.weight, quantizer.linear.bias)
    rows = z.reshape(-1, quantizer.dim)
    idx = torch.cdist(rows.detach().double(), codes.detach().double()).argmin(1)
    q = codes[idx]
    loss = F.mse_loss(q, rows.detach()) + quantizer.beta * F.mse_loss(rows, q.detach())
    out = rows + (q - rows).detach()
    return out.reshape(z.shape), idx.reshape(z.shape[:-1]), loss


@pytest.mark.parametrize("bias", [True, False])
def test_simvq_matches_naive_reference_values_and_gradients(bias):
    quantizer = SimVQ(num_codes=500, dim=16, bias=bias)
    z = torch.randn(3, 40, 16, requires_grad=True)
    upstream = torch.randn(3, 40, 16)  # a gradient arriving from the decoder
    q, idx, loss, _ = quantizer(z)
    (loss + (q * upstream).sum()).backward()
    grad_w, grad_z = quantizer.linear.weight.grad.clone(), z.grad.clone()

    quantizer.zero_grad()
    z_ref = z.detach().clone().requires_grad_(True)
    q_ref, idx_ref, loss_ref = naive_simvq(quantizer, z_ref)
    (loss_ref + (q_ref * upstream).sum()).backward()

    assert torch.equal(idx, idx_ref)
    torch.testing.assert_close(q, q_ref)
    torch.testing.assert_close(loss, loss_ref)
    torch.testing.assert_close(grad_w, quantizer.linear.weight.grad)
    torch.testing.assert_close(grad_z, z_ref.grad)
    if bias:
        assert quantizer.linear.bias.grad is not None


def test_loss_is_codebook_plus_beta_commitment():
    quantizer = SimVQ(64, 4, beta=0.5)
    z = torch.randn(10, 4)
    _, idx, loss, _ = quantizer(z)
    q = quantizer.lookup(idx)
    expected = (1 + 0.5) * F.mse_loss(z, q)
    torch.testing.assert_close(loss, expected)


@pytest.mark.parametrize("cls", [SimVQ, VanillaVQ])
@pytest.mark.parametrize("training", [True, False])
def test_lookup_returns_exactly_the_forward_vectors(cls, training):
    quantizer = cls(300, 8).train(training)
    z = torch.randn(2, 50, 8)
    with torch.set_grad_enabled(training):
        q, idx, _, _ = quantizer(z)
        assert torch.equal(quantizer.lookup(idx), q)


def test_lookup_goes_through_w():
    """The public reference's bug: decoding ids with C instead of C W^T + b."""
    quantizer = SimVQ(100, 8).eval()
    with torch.no_grad():
        quantizer.linear.weight.mul_(3.0)
        q, idx, _, _ = quantizer(torch.randn(20, 8))
    assert not torch.allclose(q, quantizer.codebook[idx])
    assert torch.equal(quantizer.lookup(idx), q)


@pytest.mark.parametrize("shape", [(2, 8, 30), (2, 8, 5, 7)])
def test_channel_first_layouts(shape):
    quantizer = SimVQ(200, 8, channel_first=True)
    z = torch.randn(shape)
    q, idx, _, _ = quantizer(z)
    assert q.shape == z.shape
    assert idx.shape == (shape[0], *shape[2:])
    channels_last = SimVQ(200, 8)
    channels_last.load_state_dict(quantizer.state_dict())
    _, idx_last, _, _ = channels_last(z.movedim(1, -1))
    assert torch.equal(idx, idx_last)
    assert torch.equal(quantizer.lookup(idx), q)


def test_codebook_is_frozen_saved_buffer_and_w_learns():
    quantizer = SimVQ(256, 8)
    assert "codebook" in quantizer.state_dict()
    assert all(p is not quantizer.codebook for p in quantizer.parameters())
    before_c = quantizer.codebook.clone()
    before_w = quantizer.linear.weight.detach().clone()
    optimiser = torch.optim.Adam(quantizer.parameters(), lr=1e-2)
    for _ in range(5):
        _, _, loss, _ = quantizer(torch.randn(64, 8))
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    assert torch.equal(quantizer.codebook, before_c)
    assert not torch.equal(quantizer.linear.weight, before_w)


def test_trainable_codebook_ablation_updates_c():
    quantizer = SimVQ(64, 4, freeze_codebook=False)
    before = quantizer.codebook.detach().clone()
    optimiser = torch.optim.SGD(quantizer.parameters(), lr=0.1)
    _, _, loss, _ = quantizer(torch.randn(32, 4))
    loss.backward()
    optimiser.step()
    assert not torch.equal(quantizer.codebook, before)


def test_codebook_init_statistics():
    normal = SimVQ(4096, 64).codebook
    assert abs(normal.std().item() - 64 ** -0.5) < 0.01
    uniform = VanillaVQ(1000, 4).codebook
    assert uniform.abs().max() <= 1e-3 and uniform.abs().max() > 5e-4


def test_gradient_reaches_w_through_selected_rows_only():
    """W's gradient only depends on the codes that were picked, never on the others."""
    quantizer = SimVQ(50, 4)
    z = torch.randn(30, 4)
    _, idx, loss, _ = quantizer(z)
    loss.backward()
    grad = quantizer.linear.weight.grad.clone()
    unused = torch.ones(50, dtype=torch.bool)
    unused[idx.unique()] = False
    with torch.no_grad():
        quantizer.codebook[unused] = 1e3  # move unused codes far away: they stay unpicked
    quantizer.zero_grad()
    _, idx2, loss2, _ = quantizer(z)
    loss2.backward()
    assert torch.equal(idx, idx2)
    torch.testing.assert_close(quantizer.linear.weight.grad, grad)


def test_eval_caches_effective_codes_per_weight_version():
    quantizer = SimVQ(100, 8).eval()
    with torch.no_grad():
        first = quantizer.effective_codes()
        assert quantizer.effective_codes() is first
        quantizer.linear.weight.add_(1.0)  # a new weight version
        second = quantizer.effective_codes()
    assert second is not first
    torch.testing.assert_close(second, F.linear(quantizer.codebook, quantizer.linear.weight,
                                                quantizer.linear.bias))


def test_deterministic():
    quantizer = SimVQ(1000, 16)
    z = torch.randn(4, 60, 16)
    first = quantizer(z)
    second = quantizer(z)
    assert torch.equal(first[0], second[0]) and torch.equal(first[1], second[1])


def test_half_precision_input_keeps_dtype_and_float32_loss():
    quantizer = SimVQ(100, 8)
    z = torch.randn(2, 10, 8, dtype=torch.bfloat16)
    q, idx, loss, _ = quantizer(z)
    assert q.dtype == torch.bfloat16 and loss.dtype == torch.float32
    _, idx32, _, _ = quantizer(z.float())
    assert torch.equal(idx, idx32)


def test_vanilla_codebook_learns_from_codebook_loss():
    quantizer = VanillaVQ(32, 4)
    _, idx, loss, _ = quantizer(torch.randn(16, 4))
    loss.backward()
    used = idx.unique()
    grad = quantizer.codebook.grad
    assert grad[used].abs().sum() > 0
    unused = torch.ones(32, dtype=torch.bool)
    unused[used] = False
    assert grad[unused].abs().sum() == 0


def test_stats_of_a_batch():
    quantizer = SimVQ(10, 2)
    with torch.no_grad():
        quantizer.linear.weight.copy_(torch.eye(2))
        quantizer.linear.bias.zero_()
    z = quantizer.codebook[torch.tensor([0, 0, 1, 1, 2, 2, 3, 3])]  # four codes, equally often
    _, _, _, stats = quantizer(z)
    assert stats["used_codes"].item() == 4
    assert stats["perplexity"].item() == pytest.approx(4.0)


@pytest.mark.parametrize("cls", [SimVQ, VanillaVQ])
@pytest.mark.parametrize("channel_first, shape", [(False, (3, 50, 8)), (True, (3, 8, 50)),
                                                  (True, (2, 8, 5, 7))])
@pytest.mark.parametrize("training", [True, False])
def test_encode_gives_forwards_ids_and_nothing_else(monkeypatch, cls, channel_first, shape,
                                                    training):
    """The inference path: the same ids as ``forward`` (training or eval, grad on or off),
    no autograd graph, no loss, no statistics, and it runs under inference_mode."""
    from simvq_audio.quantize import base

    quantizer = cls(300, 8, channel_first=channel_first).train(training)
    z = torch.randn(*shape, requires_grad=True)
    _, expected, _, _ = quantizer(z)

    def forbidden(*args, **kwargs):
        raise AssertionError("encode computed a loss or statistics")

    monkeypatch.setattr(base, "batch_stats", forbidden)
    monkeypatch.setattr(base.F, "mse_loss", forbidden)
    ids = quantizer.encode(z)
    assert torch.equal(ids, expected) and ids.dtype == torch.int64
    assert not ids.requires_grad and ids.grad_fn is None
    with torch.inference_mode():
        assert torch.equal(quantizer.encode(z.detach()), expected)
    with torch.no_grad():
        assert torch.equal(quantizer.encode(z), expected)


def test_encode_refuses_what_forward_refuses():
    for z, match in ((torch.tensor([[0.0, float("nan"), 0.0, 0.0]]), "NaN"),
                     (torch.randn(2, 10, 5), "expected z"),
                     (torch.ones(2, 4, dtype=torch.long), "floating-point")):
        with pytest.raises(UserInputError, match=match):
            SimVQ(10, 4).encode(z)


@pytest.mark.parametrize("make,match", [
    (lambda: SimVQ(1, 4), "num_codes"),
    (lambda: SimVQ(0, 4), "num_codes"),
    (lambda: SimVQ(10, 0), "dim"),
    (lambda: VanillaVQ(1, 4), "num_codes"),
    (lambda: SimVQ(10, 4, codebook_init="xavier"), "codebook_init"),
])
def test_bad_construction(make, match):
    with pytest.raises(UserInputError, match=match):
        make()


@pytest.mark.parametrize("z,match", [
    (torch.randn(2, 10, 5), "expected z \\[..., 4\\]"),
    (torch.randn(4), "expected z"),
    (torch.ones(2, 3, 4, dtype=torch.long), "floating-point"),
    (torch.tensor([[0.0, float("nan"), 0.0, 0.0]]), "NaN"),
    (torch.tensor([[0.0, float("inf"), 0.0, 0.0]]), "NaN or infinite"),
])
def test_bad_inputs(z, match):
    with pytest.raises(UserInputError, match=match):
        SimVQ(10, 4)(z)


def test_bad_channel_first_input():
    with pytest.raises(UserInputError, match="channel-first"):
        SimVQ(10, 4, channel_first=True)(torch.randn(2, 10, 4))


@pytest.mark.parametrize("indices,match", [
    (torch.tensor([0, 10]), "\\[0, 10\\)"),
    (torch.tensor([-1]), "\\[0, 10\\)"),
    (torch.tensor([0.5]), "integer"),
])
def test_bad_lookup(indices, match):
    with pytest.raises(UserInputError, match=match):
        SimVQ(10, 4).lookup(indices)


def test_largest_codebook_builds_and_quantizes():
    quantizer = SimVQ(262144, 8).eval()
    with torch.no_grad():
        q, idx, _, _ = quantizer(torch.randn(100, 8))
    assert idx.max() < 262144 and torch.equal(quantizer.lookup(idx), q)
    assert quantizer.bits_per_code == 18


def test_build_quantizer_by_name():
    from simvq_audio.quantize.factory import build_quantizer

    assert type(build_quantizer("simvq", 16, 4)) is SimVQ
    assert type(build_quantizer("vanilla", 16, 4)) is VanillaVQ
    assert build_quantizer("simvq", 16, 4, bias=False).linear.bias is None
    with pytest.raises(UserInputError, match="'simvq' or 'vanilla'"):
        build_quantizer("rvq", 16, 4)
