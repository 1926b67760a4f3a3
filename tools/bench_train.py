"""Training throughput: seconds of audio per second and steps per second of the trainer's GAN
step (generator + discriminators, both updates, EMA) on generated audio, no data loading.

    python tools/bench_train.py                                       # tiny config, CPU
    python tools/bench_train.py --config recipes/simvq_65k.yaml --device cuda   # batch 20 x 1 s

Batch size, segment length and mixed precision come from the config's ``train`` section unless
given. Without a GPU, ``--device cuda`` prints that no GPU is present and measures nothing.
"""

from __future__ import annotations

import argparse
import datetime
import platform
import time
from pathlib import Path

import torch
from accelerate import Accelerator

from simvq_audio.codec.config import load_config
from simvq_audio.codec.discriminators import MultiDiscriminator
from simvq_audio.codec.losses import GeneratorLoss
from simvq_audio.codec.model import CodecModel
from simvq_audio.codec.train_step import CodecGanStep
from simvq_audio.train.ema import EMA
from simvq_audio.train.optim import build_optimizer
from simvq_audio.train.step import GanUpdates

RECIPES = Path(__file__).resolve().parents[1] / "recipes"


def synthetic_batch(batch: int, samples: int, sample_rate: int, device) -> torch.Tensor:
    """``[batch, samples]`` of harmonic tones with noise, amplitude about 0.3."""
    t = torch.arange(samples, device=device) / sample_rate
    f0 = torch.linspace(100, 300, batch, device=device)[:, None]
    wav = sum(torch.sin(2 * torch.pi * k * f0 * t) / k for k in (1, 2, 3))
    return 0.15 * wav + 0.01 * torch.randn(batch, samples, device=device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(RECIPES / "tiny.yaml"))
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--seconds", type=float, help="segment length (default: the config's)")
    parser.add_argument("--mixed-precision", choices=("no", "bf16", "fp16"))
    parser.add_argument("--steps", type=int, default=5, help="timed steps")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    args = parser.parse_args()
    config = load_config(args.config)
    train = config.train
    batch = args.batch_size or train.batch_size
    seconds = args.seconds or train.segment_seconds
    if args.device == "cuda" and not torch.cuda.is_available():
        print(f"no GPU in this session: nothing measured for {args.config} on cuda")
        return
    precision = args.mixed_precision or (train.mixed_precision if args.device == "cuda" else "no")
    accelerator = Accelerator(cpu=args.device == "cpu", mixed_precision=precision)
    generator = CodecModel.from_hparams(config.model)
    discriminator = MultiDiscriminator.from_hparams(config.discriminators)
    loss = GeneratorLoss.from_hparams(config.loss, config.discriminators, config.model.sample_rate)
    loss = loss.to(accelerator.device)
    generator, discriminator, g_opt, d_opt = accelerator.prepare(
        generator, discriminator, build_optimizer(generator.parameters(), train),
        build_optimizer(discriminator.parameters(), train))
    ema = EMA(accelerator.unwrap_model(generator), train.ema_decay)
    step = CodecGanStep(GanUpdates(accelerator, generator, discriminator, g_opt, d_opt, train),
                        loss, train.update_order)
    samples = round(seconds * config.model.sample_rate)
    wav = synthetic_batch(batch, samples, config.model.sample_rate, accelerator.device)
    lengths = torch.full((batch,), samples, device=accelerator.device)

    def run(count: int) -> float:
        start = time.perf_counter()
        for number in range(count):
            step(wav, lengths, train.gan_start_step + number)
            ema.update(accelerator.unwrap_model(generator))
        if accelerator.device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - start

    run(args.warmup)
    elapsed = run(args.steps)
    cpu = f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"
    device = torch.cuda.get_device_name() if accelerator.device.type == "cuda" else cpu
    print(f"# bench_train {datetime.date.today()} | {device} | torch {torch.__version__}")
    print("| config | device | precision | batch x seconds | steps/s | audio s/s |")
    print("|---|---|---|---|---|---|")
    print(f"| {Path(args.config).name} | {args.device} | {precision} | {batch} x {seconds:g} | "
          f"{args.steps / elapsed:.3f} | {args.steps * batch * seconds / elapsed:.2f} |")


if __name__ == "__main__":
    main()
