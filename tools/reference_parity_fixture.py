"""Reference outputs of the SimVQ authors' discriminators and GAN losses, for our parity tests.

Runs the authors' own classes from a checkout of github youngsheen/SimVQ (@ d8bd94d):
``taming.modules.losses.stft.VQSTFTWithDiscriminator`` with the loss parameters of their
``configs/libritts_24khz.yaml``, i.e. the four paper-size discriminators (84.2 M parameters)
and the generator and discriminator objectives. Their weights are filled by
:func:`fill_discriminators`, their inputs made by :func:`parity_inputs`; the test
(tests/codec/test_audio_parity.py) applies the same two functions to our modules, so nothing
large is stored. Written to ``--out`` (npz, 0.37 MB):

* ``inputs.fingerprint``: sums and samples of the inputs (the test checks its own copy);
* ``<family>.<k>.logits_real`` / ``logits_fake``: sub-discriminator ``k``'s logits ``[2, n]``
  on the real and the reconstructed batch (families: ``multi_period``, ``multi_resolution``,
  ``dac_multi_period``, ``dac_multi_band``, in the reference's order);
* ``<family>.<k>.feature_stats``: ``[maps, 4]``, per feature map that feature matching uses,
  the mean and mean absolute value on real and on reconstructed input;
* ``<variant>.generator.<term>`` / ``<variant>.discriminator.<term>``: the objectives and each
  logged term (the reference's log names) for variant ``paper`` (the config's weights) and
  ``weighted`` (``gen_loss_weight`` 2, ``mrd_loss_coeff`` 0.5);
* ``<variant>.generator.grad_window``: the generator loss' gradient w.r.t. the reconstruction,
  samples 11000-12999 of both items; ``grad_norm`` its 2-norm over the whole batch.

The reference's imports are satisfied without installing anything of theirs: the ``taming``
packages are entered without running their ``__init__`` files (which pull in LPIPS and
torchvision), and ``torchaudio`` (no build for torch 2.13) is a stub whose ``MelSpectrogram``
transcribes torchaudio's (HTK mel filters built in float32, periodic Hann window, centred
frames with reflect padding, magnitude, ``matmul(spec^T, fb)^T``), written independently of
simvq_audio's mel code.

    python tools/reference_parity_fixture.py --reference /work/simvq_ref \\
        --out tests/fixtures/reference_gan_parity.npz

The stored file was made with this command, torch 2.13.0+cpu, numpy 2.4.6, 2 threads; a rerun
gives the same file.
"""

from __future__ import annotations

import argparse
import math
import sys
import types
from pathlib import Path

import numpy as np
import torch
from torch import nn

SAMPLE_RATE = 24000
BATCH, SAMPLES = 2, 24000
COMMITMENT = 0.0123
WEIGHT_SEED = 20241104
INPUT_SEED = 7
GRAD_WINDOW = (11000, 13000)
FAMILIES = ("multi_period", "multi_resolution", "dac_multi_period", "dac_multi_band")
VARIANTS = {"paper": None, "weighted": {"gen_loss_weight": 2.0, "mrd_loss_coeff": 0.5}}


# -- the rules the test shares -------------------------------------------------------------------
def weight_norm_tensors(conv: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    """``(g, v)`` of a weight-normalised conv, old (``weight_g``/``weight_v``) or
    parametrized (``parametrizations.weight.original0/1``) style."""
    if hasattr(conv, "weight_g"):
        return conv.weight_g, conv.weight_v
    original = conv.parametrizations.weight
    return original.original0, original.original1


@torch.no_grad()
def fill_discriminators(module: nn.Module, seed: int = WEIGHT_SEED) -> int:
    """Deterministic weights for every ``Conv2d`` of ``module``, in ``modules()`` order (both
    codes build their four families in the same order, each sub-discriminator's convs before
    its output conv): conv ``i`` draws from a generator seeded ``seed + i``: ``v`` standard
    normal, ``g`` the norm PyTorch's default init gives a row (``1 / sqrt(3)``) times
    U(0.5, 1.5), bias U(-1, 1) / sqrt(fan_in). Returns the number of convs filled."""
    convs = [m for m in module.modules() if isinstance(m, nn.Conv2d)]
    for index, conv in enumerate(convs):
        generator = torch.Generator().manual_seed(seed + index)
        g, v = weight_norm_tensors(conv)
        fan_in = math.prod(v.shape[1:])
        v.copy_(torch.randn(v.shape, generator=generator))
        g.copy_((0.5 + torch.rand(g.shape, generator=generator)) / math.sqrt(3))
        conv.bias.copy_((2 * torch.rand(conv.bias.shape, generator=generator) - 1)
                        / math.sqrt(fan_in))
    return len(convs)


def parity_inputs(seed: int = INPUT_SEED) -> tuple[torch.Tensor, torch.Tensor]:
    """``(real, reconstruction)``, each ``[2, 24000]`` float32: voiced-speech-like harmonics
    with a gliding pitch, amplitude modulation and noise; the reconstruction is a smoothed,
    rescaled, slightly shifted copy with its own noise (what a codec might return)."""
    rng = np.random.default_rng(seed)
    t = np.arange(SAMPLES) / SAMPLE_RATE
    real, fake = [], []
    for item in range(BATCH):
        f0 = 110 + 60 * item + 25 * np.sin(2 * np.pi * 0.7 * t)
        phase = 2 * np.pi * np.cumsum(f0) / SAMPLE_RATE
        voiced = sum(np.sin(h * phase + rng.uniform(0, 2 * np.pi)) / h for h in range(1, 16))
        envelope = 0.5 + 0.5 * np.sin(2 * np.pi * (2.5 + item) * t) ** 2
        wav = 0.25 * envelope * voiced + 0.01 * rng.standard_normal(SAMPLES) + 0.003 * item
        smooth = np.convolve(wav, np.ones(5) / 5, mode="same")
        hat = 0.9 * np.roll(smooth, 3) + 0.02 * rng.standard_normal(SAMPLES)
        real.append(wav)
        fake.append(hat)
    return (torch.tensor(np.stack(real), dtype=torch.float32),
            torch.tensor(np.stack(fake), dtype=torch.float32))


def fingerprint(real: torch.Tensor, fake: torch.Tensor) -> np.ndarray:
    """Sums (float64), absolute sums and a few samples of both inputs."""
    values = []
    for x in (real.double(), fake.double()):
        values += [float(x.sum()), float(x.abs().sum()), *x[:, ::4801].flatten().tolist()]
    return np.array(values)


# -- the reference, imported from a checkout -------------------------------------------------
class _Spectrogram(nn.Module):
    """torchaudio.transforms.Spectrogram with MelSpectrogram's settings (power 1)."""

    def __init__(self, n_fft: int, hop_length: int):
        super().__init__()
        self.n_fft, self.hop_length = n_fft, hop_length
        self.register_buffer("window", torch.hann_window(n_fft))

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        shape = waveform.shape
        flat = waveform.reshape(-1, shape[-1])
        spec = torch.stft(flat, self.n_fft, hop_length=self.hop_length, win_length=self.n_fft,
                          window=self.window, center=True, pad_mode="reflect",
                          normalized=False, onesided=True, return_complex=True)
        return spec.reshape(shape[:-1] + spec.shape[-2:]).abs()


class _MelScale(nn.Module):
    """torchaudio.transforms.MelScale with its defaults: HTK scale, no norm, float32."""

    def __init__(self, n_mels: int, sample_rate: int, n_stft: int):
        super().__init__()
        f_max = float(sample_rate // 2)
        frequencies = torch.linspace(0, sample_rate // 2, n_stft)
        to_mel = [2595.0 * math.log10(1.0 + hz / 700.0) for hz in (0.0, f_max)]
        points = torch.linspace(to_mel[0], to_mel[1], n_mels + 2)
        points = 700.0 * (10.0 ** (points / 2595.0) - 1.0)
        gaps = points[1:] - points[:-1]
        slopes = points.unsqueeze(0) - frequencies.unsqueeze(1)       # [n_stft, n_mels + 2]
        down = (-1.0 * slopes[:, :-2]) / gaps[:-1]
        up = slopes[:, 2:] / gaps[1:]
        self.register_buffer("fb", torch.max(torch.zeros(1), torch.min(down, up)))

    def forward(self, spec: torch.Tensor) -> torch.Tensor:
        return torch.matmul(spec.transpose(-1, -2), self.fb).transpose(-1, -2)


class _MelSpectrogram(nn.Module):
    """The stub's torchaudio.transforms.MelSpectrogram (only what the reference passes)."""

    def __init__(self, sample_rate: int = 16000, n_fft: int = 400, hop_length: int | None = None,
                 n_mels: int = 128, center: bool = True, power: float = 2.0):
        super().__init__()
        if not center or power != 1:
            raise NotImplementedError("the stub covers center=True, power=1 only")
        self.spectrogram = _Spectrogram(n_fft, hop_length or n_fft // 2)
        self.mel_scale = _MelScale(n_mels, sample_rate, n_fft // 2 + 1)

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        return self.mel_scale(self.spectrogram(waveform))


def import_reference(checkout: Path):
    """``VQSTFTWithDiscriminator`` from the checkout, with the stubs described above."""
    for name, folder in (("taming", "taming"), ("taming.modules", "taming/modules"),
                         ("taming.modules.losses", "taming/modules/losses"),
                         ("taming.modules.discriminator", "taming/modules/discriminator")):
        package = types.ModuleType(name)
        package.__path__ = [str(checkout / folder)]
        sys.modules[name] = package
    torchaudio = types.ModuleType("torchaudio")
    torchaudio.transforms = types.SimpleNamespace(MelSpectrogram=_MelSpectrogram)
    sys.modules["torchaudio"] = torchaudio
    from taming.modules.losses.stft import VQSTFTWithDiscriminator
    return VQSTFTWithDiscriminator


def loss_parameters(checkout: Path) -> dict:
    """``lossconfig.params`` of the reference's ``configs/libritts_24khz.yaml``."""
    import yaml
    config = yaml.safe_load((checkout / "configs" / "libritts_24khz.yaml").read_text())
    return dict(config["model"]["init_args"]["lossconfig"]["params"])


def _feature_stats(real_maps: list, fake_maps: list) -> np.ndarray:
    return np.array([[float(r.mean()), float(r.abs().mean()), float(g.mean()),
                      float(g.abs().mean())] for r, g in zip(real_maps, fake_maps)])


@torch.no_grad()
def discriminator_outputs(loss_module, real: torch.Tensor, fake: torch.Tensor) -> dict:
    """Logits and feature statistics of every reference sub-discriminator."""
    y, y_hat = real.unsqueeze(1), fake.unsqueeze(1)
    out = {}
    for family, disc in (("multi_period", loss_module.multiperioddisc),
                         ("multi_resolution", loss_module.multiresddisc)):
        logits_r, logits_g, maps_r, maps_g = disc(y=y, y_hat=y_hat)
        for k, parts in enumerate(zip(logits_r, logits_g, maps_r, maps_g)):
            out[f"{family}.{k}.logits_real"], out[f"{family}.{k}.logits_fake"] = (
                parts[0].numpy(), parts[1].numpy())
            out[f"{family}.{k}.feature_stats"] = _feature_stats(parts[2], parts[3])
    dac_real, dac_fake = loss_module.dac(y), loss_module.dac(y_hat)
    periods = len(loss_module.dac.discriminators) - 3
    for k, (maps_r, maps_g) in enumerate(zip(dac_real, dac_fake)):
        family, index = ("dac_multi_period", k) if k < periods else ("dac_multi_band", k - periods)
        out[f"{family}.{index}.logits_real"] = maps_r[-1].flatten(1).numpy()
        out[f"{family}.{index}.logits_fake"] = maps_g[-1].flatten(1).numpy()
        out[f"{family}.{index}.feature_stats"] = _feature_stats(maps_r[:-1], maps_g[:-1])
    return out


def objectives(loss_module, real: torch.Tensor, fake: torch.Tensor, prefix: str) -> dict:
    """Both objectives and their logged terms; the generator loss' input gradient."""
    commitment = types.SimpleNamespace(commitment=torch.tensor(COMMITMENT))
    y = real.unsqueeze(1)
    y_hat = fake.unsqueeze(1).clone().requires_grad_(True)
    out = {}
    total, log = loss_module(torch.tensor(0.0), commitment, y, y_hat, 0, 0, split="p")
    total.backward()
    for name, value in log.items():
        out[f"{prefix}.generator.{name.split('/', 1)[1]}"] = np.array(float(value))
    grad = y_hat.grad[:, 0]
    out[f"{prefix}.generator.grad_window"] = grad[:, GRAD_WINDOW[0]:GRAD_WINDOW[1]].numpy()
    out[f"{prefix}.generator.grad_norm"] = np.array(float(grad.double().norm()))
    with torch.no_grad():
        _, log = loss_module(torch.tensor(0.0), commitment, y, fake.unsqueeze(1), 1, 0,
                             split="p")
    for name, value in log.items():
        out[f"{prefix}.discriminator.{name.split('/', 1)[1]}"] = np.array(float(value))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", type=Path, required=True,
                        help="checkout of github youngsheen/SimVQ (d8bd94d)")
    parser.add_argument("--out", type=Path, default=Path("tests/fixtures/reference_gan_parity.npz"))
    args = parser.parse_args()
    torch.set_num_threads(2)
    loss_class = import_reference(args.reference)
    params = loss_parameters(args.reference)
    loss_module = loss_class(**params)
    filled = fill_discriminators(loss_module)
    real, fake = parity_inputs()
    out = {"inputs.fingerprint": fingerprint(real, fake),
           "meta.convs_filled": np.array(filled),
           "meta.torch_version": np.array(torch.__version__)}
    out.update(discriminator_outputs(loss_module, real, fake))
    for variant, changes in VARIANTS.items():
        for name in ("gen_loss_weight", "mrd_loss_coeff"):
            setattr(loss_module, name, (changes or params)[name])
        out.update(objectives(loss_module, real, fake, variant))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, **out)
    print(f"wrote {args.out}: {len(out)} arrays, {args.out.stat().st_size:,} bytes, "
          f"{filled} convs filled")


if __name__ == "__main__":
    main()
