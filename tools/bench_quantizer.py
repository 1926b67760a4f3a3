"""Quantizer benchmark: forward + backward time and peak extra memory, side by side in one run.

Compares, for one training step of a quantizer on ``N`` vectors of dimension ``d``:

* ``simvq-audio``: our SimVQ (tiled exact search, W reached through the N selected rows);
* ``vqp``: ``vector_quantize_pytorch.SimVQ`` (rotation trick off, ``Linear(d, d)`` with bias,
  like ours) — install with ``pip install -e .[bench]``;
* ``naive``: C W^T + b materialised with autograd, ``torch.cdist`` + ``argmin``.

Each case runs in its own process so that peak memory is measured cleanly: the kernel's peak
resident set size (``VmHWM``, reset through ``/proc/self/clear_refs`` just before the step, so
building the model does not count) during the first step minus the resident size just before it
(model, codebook and inputs already allocated). Times are the median of ``--repeats`` further
steps.

    python tools/bench_quantizer.py                  # d 512, N 1500, K 4096 / 65536 / 262144
    python tools/bench_quantizer.py --ks 4096 --repeats 2
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time

from peak_memory import current_rss_mb, peak_rss_mb, reset_peak_rss

METHODS = ("simvq-audio", "vqp", "naive")


def build_step(method: str, num_codes: int, dim: int):
    """Return ``step(z)`` doing one forward + backward of ``method``."""
    import torch
    import torch.nn.functional as F

    if method == "simvq-audio":
        from simvq_audio import SimVQ

        quantizer = SimVQ(num_codes, dim)

        def step(z):
            q, _, loss, _ = quantizer(z)
            (loss + q.sum()).backward()
    elif method == "vqp":
        from vector_quantize_pytorch import SimVQ as VqpSimVQ

        quantizer = VqpSimVQ(dim, num_codes, codebook_transform=torch.nn.Linear(dim, dim),
                             rotation_trick=False)

        def step(z):
            q, _, loss = quantizer(z)
            (loss + q.sum()).backward()
    elif method == "naive":
        codebook = torch.randn(num_codes, dim) * dim ** -0.5
        linear = torch.nn.Linear(dim, dim)

        def step(z):
            codes = linear(codebook)
            rows = z.reshape(-1, dim)
            with torch.no_grad():
                idx = torch.cdist(rows, codes).argmin(1)
            q = codes[idx]
            loss = F.mse_loss(q, rows.detach()) + 0.25 * F.mse_loss(rows, q.detach())
            ((rows + (q - rows).detach()).sum() + loss).backward()
    else:
        raise ValueError(method)
    return step


def run_case(method: str, num_codes: int, dim: int, n: int, repeats: int, threads: int) -> dict:
    """Runs inside the child process: one case, printed as JSON."""
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    step = build_step(method, num_codes, dim)
    z = torch.randn(1, n, dim, requires_grad=True)
    before = current_rss_mb()
    reset_peak_rss()
    start = time.perf_counter()
    step(z)
    first = time.perf_counter() - start
    extra = max(0.0, peak_rss_mb() - before)
    times = [first]
    for _ in range(repeats):
        z.grad = None
        start = time.perf_counter()
        step(z)
        times.append(time.perf_counter() - start)
    return {"method": method, "K": num_codes, "ms": 1000 * statistics.median(times[1:] or times),
            "extra_mb": extra}


def spawn_case(method: str, args) -> dict | None:
    cmd = [sys.executable, __file__, "--child", method, "--ks", "0", "--dim", str(args.dim),
           "--n", str(args.n), "--repeats", str(args.repeats), "--threads", str(args.threads),
           "--child-k", str(args.child_k)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        reason = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "failed"
        print(f"  {method} K={args.child_k}: skipped ({reason})", file=sys.stderr)
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ks", type=int, nargs="+", default=[4096, 65536, 262144])
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--n", type=int, default=1500, help="vectors per step (20 x 1 s x 75/s)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--child", choices=METHODS, help=argparse.SUPPRESS)
    parser.add_argument("--child-k", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_case(args.child, args.child_k, args.dim, args.n, args.repeats,
                                  args.threads)))
        return

    import torch

    print(f"# Quantizer forward+backward, d={args.dim}, N={args.n}, {args.threads} threads, "
          f"torch {torch.__version__}, {platform.processor() or platform.machine()}, "
          f"{time.strftime('%Y-%m-%d')}\n")
    print("| K | method | fwd+bwd ms | peak extra MB | time vs vqp | memory vs vqp |")
    print("|---|---|---:|---:|---:|---:|")
    verdicts = []
    for k in args.ks:
        args.child_k = k
        rows = {m: spawn_case(m, args) for m in args.methods}
        ref = rows.get("vqp")
        for method, row in rows.items():
            if row is None:
                print(f"| {k} | {method} | skipped | | | |")
                continue
            speed = f"{ref['ms'] / row['ms']:.2f}x faster" if ref else "-"
            memory = f"{row['extra_mb'] / ref['extra_mb']:.2f}x" if ref and ref["extra_mb"] else "-"
            print(f"| {k} | {method} | {row['ms']:.0f} | {row['extra_mb']:.0f} | {speed} | "
                  f"{memory} |", flush=True)
        ours = rows.get("simvq-audio")
        if k == 65536 and ours and ref:
            ok = ref["ms"] / ours["ms"] >= 1.4 and ours["extra_mb"] <= ref["extra_mb"] / 4
            verdicts.append(f"K=65536: >=1.4x faster and <=1/4 memory of vqp: "
                            f"{'met' if ok else 'NOT met'}")
        if k == 262144 and ours:
            ok = ours["extra_mb"] <= 256
            verdicts.append(f"K=262144: extra memory <= 256 MB: {'met' if ok else 'NOT met'} "
                            f"({ours['extra_mb']:.0f} MB)")
    print()
    for line in verdicts:
        print(f"- target {line}")


if __name__ == "__main__":
    main()
