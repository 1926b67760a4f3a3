"""CPU inference speed of the codec generator (encode + decode), beside the arithmetic bound.

For each config: batch 1, ``--seconds`` of audio, ``--threads`` threads, eval mode, no grad
(SimVQ's ``C W`` is cached in eval, so the search reads a ready codebook). Prints per stage
(encoder, search, decoder) the measured time and the FLOPs, and for the whole
encode + decode the real-time factor (seconds of audio per second of compute) beside the bound
``seconds of audio / (FLOPs / matmul rate)``, where the fp32 matmul rate of this machine is
measured in the same run (before and after the models; the higher of the two is used, since a
busy machine lowers it).

FLOPs: convolutions and matmuls counted by ``torch.utils.flop_counter``; the LSTM, which it does
not count, by hand (``2 * 4 * H * (input + H)`` per step and layer).

    python tools/bench_generator.py                       # tiny and simvq_65k
    python tools/bench_generator.py --configs recipes/simvq_262k.yaml --repeats 2
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from simvq_audio.codec.config import load_config
from simvq_audio.codec.model import CodecModel

RECIPES = Path(__file__).resolve().parents[1] / "recipes"


def matmul_gflops(size: int = 1024, repeats: int = 20) -> float:
    """Best fp32 GFLOP/s of a ``size``-square matmul on this machine."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    torch.mm(a, b)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - start)
    return 2 * size ** 3 / best / 1e9


def lstm_flops(lstm: torch.nn.LSTM, steps: int) -> int:
    """Multiply-adds of a unidirectional LSTM over ``steps`` frames, batch 1, as FLOPs."""
    hidden = lstm.hidden_size
    inputs = [lstm.input_size] + [hidden] * (lstm.num_layers - 1)
    return sum(2 * 4 * hidden * (size + hidden) * steps for size in inputs)


def count_flops(fn) -> int:
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def best_time(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def bench(config_path: Path, seconds: float, repeats: int) -> list[tuple[str, float, int]]:
    """``(stage, best seconds, FLOPs)`` for encoder, search, decoder and encode+decode."""
    config = load_config(config_path)
    generator = CodecModel.from_hparams(config.model).eval()
    wav = torch.randn(1, int(seconds * config.model.sample_rate)) * 0.1
    with torch.no_grad():
        z = generator.encoder(wav)
        q, _, _, _ = generator.quantizer(z)  # also fills SimVQ's eval cache of C W
        stages = {
            "encoder": lambda: generator.encoder(wav),
            "search": lambda: generator.quantizer(z),
            "decoder": lambda: generator.decoder(q),
        }
        flops = {name: count_flops(fn) for name, fn in stages.items()}
        flops["encoder"] += lstm_flops(generator.encoder.lstm.lstm, z.shape[-1])
        rows = [(name, best_time(fn, repeats), flops[name]) for name, fn in stages.items()]
        total = best_time(lambda: generator.decode_tokens(generator.encode(wav)), repeats)
    return rows + [("encode+decode", total, sum(flops.values()))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--configs", nargs="+", type=Path,
                        default=[RECIPES / "tiny.yaml", RECIPES / "simvq_65k.yaml"])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rate_before = matmul_gflops()
    results = {path.stem: bench(path, args.seconds, args.repeats) for path in args.configs}
    rate_after = matmul_gflops()
    rate = max(rate_before, rate_after)
    print(f"# {platform.processor() or platform.machine()}, torch {torch.__version__}, "
          f"{args.threads} threads, {args.seconds:g} s of audio, batch 1, fp32 matmul "
          f"{rate_before:.1f} GFLOP/s before, {rate_after:.1f} after; bound uses {rate:.1f}")
    print(f"{'config':<12} {'stage':<16} {'seconds':>9} {'GFLOP':>9} {'RTF':>8} {'bound':>8}")
    for name, rows in results.items():
        for stage, elapsed, flops in rows:
            ratios = ""
            if stage == "encode+decode":
                bound = args.seconds / (flops / (rate * 1e9))
                ratios = f"{args.seconds / elapsed:>7.1f}x {bound:>7.1f}x"
            print(f"{name:<12} {stage:<16} {elapsed:>9.3f} {flops / 1e9:>9.1f} {ratios}")


if __name__ == "__main__":
    main()
