"""The codec's GAN step: update order (the reference's generator-first and ours), NaN skipping
in both orders, gradient clipping on and off, the precision a run uses, and one real step of
the tiny codec updating W but not C."""

import copy

import pytest
import torch
from accelerate import Accelerator

from simvq_audio.codec.config import load_config
from simvq_audio.codec.discriminators import MultiDiscriminator
from simvq_audio.codec.losses import GeneratorLoss
from simvq_audio.codec.model import CodecModel
from simvq_audio.codec.train_step import CodecGanStep
from simvq_audio.train.optim import build_optimizer
from simvq_audio.train.step import GanUpdates, gradient_norm
from simvq_audio.train.trainer import training_precision

from repo_paths import RECIPES
from train_helpers import nan_generator_loss


def micro_config(**train):
    config = load_config(RECIPES / "tiny.yaml")
    config.model.decoder.num_layers = config.model.decoder.resnet_blocks = 1
    d = config.discriminators
    d.multi_period.periods = d.dac_multi_period.periods = [2]
    d.multi_resolution.resolutions, d.dac_multi_band.fft_sizes = [[256, 64]], [256]
    config.loss.mel_resolutions[0].n_fft, config.loss.mel_resolutions[0].hop_length = 512, 128
    for key, value in {"lr": 1e-3, **train}.items():
        setattr(config.train, key, value)
    return config


class Recorder:
    """Logs optimizer steps and discriminator calls in order, with what they saw."""

    def __init__(self, step: CodecGanStep):
        self.events = []
        gan = step.gan
        for name, optimizer, model in (
                ("generator", gan.generator_optimizer, gan.generator),
                ("discriminator", gan.discriminator_optimizer, gan.discriminator)):
            original = optimizer.step

            def record(*args, _name=name, _original=original, _model=model, **kwargs):
                self.events.append((f"{_name} step", gradient_norm(_model.parameters())))
                return _original(*args, **kwargs)
            optimizer.step = record
        gan.discriminator.register_forward_pre_hook(self._discriminator_call)
        self.discriminator = gan.discriminator

    def _discriminator_call(self, module, args):
        weights = torch.cat([p.detach().flatten() for p in module.parameters()]).clone()
        self.events.append(("D", args[0].detach().clone(), weights))

    def names(self):
        return [e[0] if e[0] != "D" else f"D[{e[1].shape[0]}]" for e in self.events]


def make_step(config, seed: int = 0):
    torch.manual_seed(seed)
    generator = CodecModel.from_hparams(config.model)
    discriminator = MultiDiscriminator.from_hparams(config.discriminators)
    train = config.train
    gan = GanUpdates(Accelerator(cpu=True), generator, discriminator,
                     build_optimizer(generator.parameters(), train),
                     build_optimizer(discriminator.parameters(), train), train)
    loss = GeneratorLoss.from_hparams(config.loss, config.discriminators,
                                      config.model.sample_rate)
    return CodecGanStep(gan, loss, train.update_order), generator


def batch(size: int = 2, samples: int = 3200):
    torch.manual_seed(1)
    return torch.randn(size, samples) * 0.1, torch.full((size,), samples)


def test_generator_first_updates_d_on_the_pre_update_reconstruction():
    step, generator = make_step(micro_config(update_order="generator_first"))
    wav, lengths = batch()
    # with autograd on, as in the step (tiny.yaml's W follows the latents of this forward pass,
    # and the encoder's kernels with and without autograd differ in the last bit)
    before = copy.deepcopy(generator)(wav)[0].detach()
    recorder = Recorder(step)
    initial_d = torch.cat([p.detach().flatten() for p in step.gan.discriminator.parameters()])
    result = step(wav, lengths, 0)
    assert result.skipped is None
    # generator loss: D on the reconstruction (with grad), then on real audio; G steps; then
    # the discriminators see real + the same reconstruction, detached, and step
    assert recorder.names() == ["D[2]", "D[2]", "generator step", "D[4]", "discriminator step"]
    fake_for_g, real_for_g, _, both, _ = recorder.events
    assert torch.equal(fake_for_g[1], before) and torch.equal(real_for_g[1], wav)
    assert torch.equal(both[1][:2], wav) and torch.equal(both[1][2:], before)
    assert all(torch.equal(event[2], initial_d) for event in (fake_for_g, real_for_g, both))
    assert {"loss/discriminator", "loss/discriminator/dac_multi_band", "loss/adversarial",
            "loss/adversarial/multi_period", "loss/feature_matching"} <= set(result.scalars)


def test_discriminator_first_feeds_g_through_the_updated_discriminators():
    step, _ = make_step(micro_config(update_order="discriminator_first"))
    wav, lengths = batch()
    recorder = Recorder(step)
    assert step(wav, lengths, 0).skipped is None
    assert recorder.names() == ["D[4]", "discriminator step", "D[2]", "D[2]", "generator step"]
    assert not torch.equal(recorder.events[0][2], recorder.events[2][2])


@pytest.mark.parametrize("order,steps", [("generator_first", []),
                                         ("discriminator_first", ["discriminator step"])])
def test_a_nan_generator_loss_skips_the_step_in_both_orders(order, steps):
    step, generator = make_step(micro_config(update_order=order))
    wav, lengths = batch()
    trained = [p for p in generator.parameters() if p.requires_grad]
    weights = [p.detach().clone() for p in trained]
    fitted = generator.quantizer.fit_count.clone()
    recorder = Recorder(step)
    with nan_generator_loss(step.loss):
        result = step(wav, lengths, 0)
    assert result.skipped.startswith("generator loss is nan")
    assert [e[0] for e in recorder.events if e[0] != "D"] == steps
    assert all(torch.equal(a, b) for a, b in zip(weights, trained))
    # tiny.yaml's W and b follow the latents in the forward pass, as BatchNorm's running
    # statistics do: the finite latents of a skipped step still count
    assert int(generator.quantizer.fit_count) == int(fitted) + 1


def test_a_nan_discriminator_loss_after_the_generator_step_is_reported():
    step, _ = make_step(micro_config(update_order="generator_first"))
    wav, lengths = batch()
    weights = [p.detach().clone() for p in step.gan.discriminator.parameters()]
    step.gan.discriminator.register_forward_pre_hook(
        lambda _, args: (args[0] * float("nan"),) if args[0].shape[0] == 4 else None)
    result = step(wav, lengths, 0)
    assert result.skipped.startswith("discriminator loss is nan")
    assert all(torch.equal(a, b) for a, b in zip(weights, step.gan.discriminator.parameters()))


@pytest.mark.parametrize("clip", [0.0, 1e-3])
def test_grad_clip_zero_measures_the_norm_and_leaves_gradients_alone(clip):
    step, _ = make_step(micro_config(grad_clip=clip))
    wav, lengths = batch()
    recorder = Recorder(step)
    result = step(wav, lengths, 0)
    at_step = dict((e[0], e[1]) for e in recorder.events if e[0] != "D")
    for name in ("generator", "discriminator"):
        measured = result.scalars[f"grad_norm/{name}"]
        assert measured > 1e-3  # before clipping
        if clip:
            assert at_step[f"{name} step"] == pytest.approx(clip, rel=1e-3)
        else:
            assert at_step[f"{name} step"] == pytest.approx(float(measured), rel=1e-6)


def test_paper_lr_is_constant_from_step_zero_in_the_step():
    step, _ = make_step(micro_config(lr=1e-4))
    wav, lengths = batch()
    assert float(step(wav, lengths, 0).scalars["lr"]) == pytest.approx(1e-4)
    assert step.gan.generator_optimizer.param_groups[0]["lr"] == pytest.approx(1e-4)


def test_fp16_without_a_gpu_trains_in_float32_and_says_which_key():
    precision, warning = training_precision("fp16", cpu=True)
    assert precision == "no" and "train.mixed_precision" in warning and "fp16" in warning
    assert training_precision("bf16", cpu=True) == ("bf16", None)
    assert training_precision("no", cpu=False) == ("no", None)
    if not torch.cuda.is_available():
        assert training_precision("fp16", cpu=False)[0] == "no"


def test_one_training_step_updates_w_but_not_c():
    config = load_config(RECIPES / "tiny.yaml")
    step, generator = make_step(config)
    codebook = generator.quantizer.codebook.clone()
    weight = generator.quantizer.linear.weight.detach().clone()
    wav, lengths = batch()
    result = step(wav, lengths, 0)
    assert result.skipped is None
    assert all(torch.isfinite(v) for v in result.scalars.values())
    assert not generator.quantizer.codebook.requires_grad
    assert torch.equal(generator.quantizer.codebook, codebook)
    assert not torch.equal(generator.quantizer.linear.weight, weight)


def test_a_causal_decoder_trains_with_the_same_step():
    config = load_config(RECIPES / "tiny_causal.yaml")
    step, generator = make_step(config)
    embed = generator.decoder.backbone.embed.conv.weight.detach().clone()
    result = step(*batch(), 0)
    assert result.skipped is None
    assert all(torch.isfinite(v) for v in result.scalars.values())
    assert not torch.equal(generator.decoder.backbone.embed.conv.weight, embed)
