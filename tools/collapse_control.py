"""Control experiment for the collapse study: the same model and quantizers on Gaussian vectors.

The collapse study (tools/collapse_study.py) trains on speech features whose intrinsic dimension
is low. This control replaces them with Gaussian vectors of a chosen rank, so that the effect of
the data can be told apart from the effect of the implementation: on full-rank Gaussian inputs
SimVQ should use nearly every code and VanillaVQ should collapse; lowering ``--rank`` shows how
the intrinsic dimension of the data limits SimVQ's utilisation at a fixed training budget.

    python tools/collapse_control.py                       # K 1024, ranks 32 and 4, 800 steps
    python tools/collapse_control.py --ks 1024 8192 --ranks 32 --steps 1500
"""

from __future__ import annotations

import argparse
import time

import torch

from simvq_audio import CodeUsage, SimVQ, VanillaVQ
from simvq_audio.study.model import FrameAutoencoder

QUANTIZERS = {"vanilla": VanillaVQ, "simvq": SimVQ}


def gaussian_source(dim: int, rank: int, seed: int):
    """``sample(n) -> [n, dim]`` Gaussian vectors of the given rank (unit average variance)."""
    generator = torch.Generator().manual_seed(seed)
    mixing = torch.randn(dim, rank, generator=generator) @ torch.randn(rank, dim,
                                                                       generator=generator)
    mixing /= (mixing.pow(2).sum() / dim).sqrt()
    return lambda n: torch.randn(n, dim, generator=generator) @ mixing


def run(kind: str, num_codes: int, args, rank: int) -> dict:
    """Train one model and return its held-out utilisation and final training loss."""
    sample = gaussian_source(args.input_dim, rank, args.seed)
    heldout = sample(args.heldout)
    torch.manual_seed(args.seed)
    model = FrameAutoencoder(args.input_dim, args.hidden, QUANTIZERS[kind](num_codes, args.dim))
    optimiser = torch.optim.Adam(model.parameters(), lr=args.lr)
    start = time.perf_counter()
    for _ in range(args.steps):
        loss = model.loss(sample(args.batch))
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    usage = CodeUsage(num_codes)
    model.eval()
    with torch.no_grad():
        for block in heldout.split(4096):
            usage.update(model(block)[1])
    return {"utilisation": usage.utilisation(), "loss": loss.item(),
            "seconds": time.perf_counter() - start}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ks", type=int, nargs="+", default=[1024])
    parser.add_argument("--ranks", type=int, nargs="+", default=[32, 4])
    parser.add_argument("--input-dim", type=int, default=32)
    parser.add_argument("--dim", type=int, default=32, help="code dimension d")
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--steps", type=int, default=800)
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--heldout", type=int, default=16384)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(min(2, torch.get_num_threads()))
    print(f"# Gaussian control: d={args.dim}, {args.steps} steps x {args.batch}, lr {args.lr}, "
          f"{args.heldout} held-out vectors, {time.strftime('%Y-%m-%d')}\n")
    print("| K | input rank | VanillaVQ util | SimVQ util | SimVQ loss | Vanilla loss |")
    print("|---:|---:|---:|---:|---:|---:|")
    for k in args.ks:
        for rank in args.ranks:
            result = {kind: run(kind, k, args, rank) for kind in QUANTIZERS}
            print(f"| {k} | {rank} | {result['vanilla']['utilisation']:.1%} | "
                  f"{result['simvq']['utilisation']:.1%} | {result['simvq']['loss']:.3f} | "
                  f"{result['vanilla']['loss']:.3f} |", flush=True)


if __name__ == "__main__":
    main()
