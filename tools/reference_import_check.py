"""Import a paper-size checkpoint made by the SimVQ authors' own ``VQModel`` and compare tokens.

The released checkpoints cannot be downloaded here, so this builds one of the same size and
layout with the authors' code (github youngsheen/SimVQ @ d8bd94d, imported from a checkout with
the stubs of ``tools/reference_parity_fixture.py``): their ``configs/libritts_24khz.yaml`` with K
codes, seeded random weights, EMA copies perturbed by 1 % (so EMA and raw differ), and an EMA
``W, b`` that spreads the codes over the encoder's latents (random weights otherwise map every
frame to a few codes). It is saved in the Lightning layout, imported with
``simvq-audio import-reference``, and both models encode the same synthetic voiced signals.

Printed per input: frames, distinct reference tokens, the share of frames where our tokens equal
the reference's, the share where they equal the reference's distance formula evaluated in
float64, the largest gap in true (float64) squared distance between the reference's pick and
ours at frames where they differ (relative to ``|z|^2``), and our decoded audio's largest
difference from the reference's (relative to its peak) when both decode the reference's ids.

    python tools/reference_import_check.py --reference /path/to/SimVQ [--codes 262144]

Needs about 4 GB of memory and 2 GB of disk (a temporary folder) and a few minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import importlib
import math
import subprocess
import sys
import tempfile
import types
from pathlib import Path

import torch
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
import reference_parity_fixture as fixture  # noqa: E402  (the shared stubs)

SAMPLE_RATE = 24000


def reference_model_class(checkout: Path):
    """The authors' ``VQModel``, importable without Lightning, torchaudio or their main.py."""
    fixture.import_reference(checkout)
    for name in ("taming.models", "taming.modules.diffusionmodules", "taming.modules.vqvae",
                 "taming.modules.scheduler"):
        package = types.ModuleType(name)
        package.__path__ = [str(checkout / name.replace(".", "/"))]
        sys.modules[name] = package
    torchaudio = sys.modules["torchaudio"]
    torchaudio.__path__ = []
    functional = types.ModuleType("torchaudio.functional")
    functional.__path__ = []
    mel_scale = types.ModuleType("torchaudio.functional.functional")
    mel_scale._hz_to_mel = lambda hz, mel_scale="htk": 2595.0 * math.log10(1.0 + hz / 700.0)
    mel_scale._mel_to_hz = lambda mel, mel_scale="htk": 700.0 * (10.0 ** (mel / 2595.0) - 1.0)
    sys.modules.update({"torchaudio.functional": functional,
                        "torchaudio.functional.functional": mel_scale})
    lightning = types.ModuleType("lightning")
    lightning.LightningModule = torch.nn.Module
    main = types.ModuleType("main")
    main.instantiate_from_config = _instantiate
    sys.modules.update({"lightning": lightning, "main": main})
    from taming.models.vq_audio import VQModel
    return VQModel


def _instantiate(config: dict):
    module, name = config["target"].rsplit(".", 1)
    return getattr(importlib.import_module(module), name)(**config.get("params", {}))


def voiced(seconds: float, seed: int) -> torch.Tensor:
    """``[1, 1, T]``: a harmonic glide with a moving envelope and gated noise (speech-like)."""
    generator = torch.Generator().manual_seed(seed)
    t = torch.arange(round(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    f0 = 100 + 120 * torch.sin(2 * math.pi * 0.37 * t) ** 2
    phase = 2 * math.pi * torch.cumsum(f0, 0) / SAMPLE_RATE
    tone = sum(torch.sin(k * phase) / k for k in range(1, 16))
    envelope = 0.3 + 0.7 * torch.sin(2 * math.pi * 2.1 * t).abs()
    noise = torch.randn(len(t), generator=generator) * (torch.sin(2 * math.pi * 0.9 * t) > 0.3)
    return (0.1 * tone * envelope + 0.03 * noise)[None, None]


@torch.no_grad()
def build_checkpoint(checkout: Path, codes: int, path: Path):
    """The authors' model with K = ``codes``, saved at ``path``; returns it in EMA eval mode."""
    config = yaml.safe_load((checkout / "configs" / "libritts_24khz.yaml").read_text())
    arguments = config["model"]["init_args"]
    arguments["quantconfig"]["params"]["n_e"] = codes
    arguments["target_bandwidths"] = None  # VQModel requires it; the yaml lacks it
    torch.manual_seed(0)
    model = reference_model_class(checkout)(**arguments).eval()
    generator = torch.Generator().manual_seed(1)
    for buffer in model.model_ema.buffers():
        if buffer.is_floating_point() and buffer.dim() > 0:
            buffer.mul_(1 + 0.01 * torch.randn(buffer.shape, generator=generator))
    with model.ema_scope():
        latents = model.encoder(voiced(2.0, seed=99))
    mean = latents.mean(dim=(0, 2))
    scale = ((latents - mean[:, None]).std() / model.quantize.embedding.weight.std()).item()
    model.model_ema.quantizeembedding_projweight.copy_(torch.eye(mean.numel()) * scale)
    model.model_ema.quantizeembedding_projbias.copy_(mean)
    torch.save({"epoch": 49, "global_step": 138600, "state_dict": model.state_dict(),
                "hyper_parameters": {"sample_rate": SAMPLE_RATE}}, path)
    model.model_ema.store(model.parameters())
    model.model_ema.copy_to(model)
    return model


@torch.no_grad()
def compare(model, codec, wav: torch.Tensor) -> dict:
    """Token and audio agreement of the reference ``model`` and our ``codec`` on ``wav``."""
    (quant, scale), _, ids, _ = model.encode(wav)
    latents = model.encoder(wav)[0].T.double()
    codes = model.quantize.embedding_proj(model.quantize.embedding.weight).double()
    exact = torch.cat([((z ** 2).sum(1, keepdim=True) + (codes ** 2).sum(1) - 2 * z @ codes.T
                        ).argmin(1) for z in latents.split(64)])
    ours = codec.encode(wav[0], SAMPLE_RATE).ids[0]
    gaps = [0.0]
    for frame in (ours != ids).nonzero().flatten().tolist():
        distance = ((codes - latents[frame]) ** 2).sum(1)
        gaps.append(float((distance[ids[frame]] - distance[ours[frame]])
                          / latents[frame].square().sum()))
    reference_audio = model.decode((quant, scale))[0, 0]
    our_audio = codec.decode(ids.flatten())
    return {"frames": ids.numel(), "distinct": ids.unique().numel(),
            "equal": (ours == ids).float().mean().item(),
            "equal_fp64": (ours == exact).float().mean().item(), "gap": max(gaps),
            "audio": ((our_audio - reference_audio).abs().max()
                      / reference_audio.abs().max()).item()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reference", type=Path, required=True, help="SimVQ checkout")
    parser.add_argument("--codes", type=int, default=262144)
    parser.add_argument("--seconds", type=float, default=20.0, help="the long test signal")
    args = parser.parse_args()
    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory() as work:
        checkpoint, out = Path(work) / "epoch=49-step=138600.ckpt", Path(work) / "model"
        model = build_checkpoint(args.reference, args.codes, checkpoint)
        subprocess.run([sys.executable, "-m", "simvq_audio.cli", "import-reference",
                        str(checkpoint), str(out)], check=True)
        from simvq_audio.codec import SimVQCodec
        codec = SimVQCodec.from_pretrained(out)
        print(f"K = {args.codes}: {codec.config.encoder}\n{codec.config.decoder}")
        print("| input (samples) | frames | distinct | ids equal | equal to fp64 formula "
              "| largest gap / abs(z)^2 | audio from the same ids |")
        print("|---:|---:|---:|---:|---:|---:|---:|")
        for seconds, seed in ((1.0, 1), (48123 / SAMPLE_RATE, 2), (0.125, 3),
                              (args.seconds, 4)):
            wav = voiced(seconds, seed)
            r = compare(model, codec, wav)
            print(f"| {wav.shape[-1]} | {r['frames']} | {r['distinct']} | {100 * r['equal']:.2f} % "
                  f"| {100 * r['equal_fp64']:.2f} % | {r['gap']:.1e} | {r['audio']:.1e} |")


if __name__ == "__main__":
    main()
