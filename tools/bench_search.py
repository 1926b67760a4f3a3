"""Nearest-code search benchmark on a GPU: the fused Triton kernel against the torch ways.

For each ``N`` (rows), ``K`` (codes) and ``d`` it times one search ``z [N, d]`` against a
codebook ``[K, d]`` (float32, TF32 off) with:

* ``fused exact``: ``nearest_code(backend="triton")`` (kernel + exactness check);
* ``fused fast``: ``nearest_code(backend="triton", fast=True)`` (TF32 products, no check);
* ``torch chunked``: ``nearest_code(backend="torch")``;
* ``cdist+argmin``: ``torch.cdist(z, C).argmin(1)`` (materialises N x K);
* ``vqp SimVQ``: ``vector_quantize_pytorch.SimVQ`` forward, rotation trick off, its linear map
  set to the identity (so it also pays the K x d x d codebook transform);
* ``fp32 matmul``: ``z @ C.T`` alone, the yardstick of the targets.

It reports the median time, the peak extra memory (``max_memory_allocated`` minus what was
allocated before the call), the achieved TFLOP/s (``2 N K d`` / time), that figure against the
device's float32 matmul throughput measured in the same run, and each method's agreement with
the exact torch search. Methods that would not fit in memory are skipped and say so.

    python tools/bench_search.py               # on a GPU: the full grid, a markdown table
    python tools/bench_search.py --cpu-smoke   # no GPU: tiny shapes, kernel in the interpreter
"""

from __future__ import annotations

import argparse
import datetime
import os
import statistics
import sys
import time

TARGET_SHAPE = (16384, 262144, 128)
"""(N, K, d) of the time targets in docs/benchmarks.md."""

MEMORY_TARGET_MB = 64


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cpu-smoke", action="store_true",
                        help="run tiny shapes on CPU, the kernel through TRITON_INTERPRET=1")
    parser.add_argument("--rows", type=int, nargs="+", default=[1500, 16384])
    parser.add_argument("--codes", type=int, nargs="+", default=[4096, 65536, 262144])
    parser.add_argument("--dims", type=int, nargs="+", default=[8, 128, 512])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    if args.cpu_smoke:
        args.rows, args.codes, args.dims, args.repeats = [40], [100], [8, 24], 1
    return args


class Meter:
    """Times a call and measures its peak extra memory on one device."""

    def __init__(self, torch, device: str):
        self.torch, self.device = torch, device
        self.cuda = device == "cuda"

    def free_bytes(self) -> float:
        return self.torch.cuda.mem_get_info()[0] if self.cuda else float("inf")

    def sync(self) -> None:
        if self.cuda:
            self.torch.cuda.synchronize()

    def peak_extra_mb(self, fn) -> float | None:
        """Run ``fn`` once: the peak memory it added, MiB (None on CPU)."""
        if not self.cuda:
            return None
        self.sync()
        base = self.torch.cuda.memory_allocated()
        self.torch.cuda.reset_peak_memory_stats()
        fn()
        self.sync()
        return (self.torch.cuda.max_memory_allocated() - base) / 2 ** 20

    def median_seconds(self, fn, repeats: int) -> float:
        times = []
        for _ in range(repeats):
            self.sync()
            start = time.perf_counter()
            fn()
            self.sync()
            times.append(time.perf_counter() - start)
        return statistics.median(times)


def device_matmul_tflops(torch, meter: Meter, size: int) -> float:
    """Measured float32 (TF32 off) throughput of a ``size``-cube matmul, TFLOP/s."""
    a = torch.randn(size, size, device=meter.device)
    b = torch.randn(size, size, device=meter.device)
    torch.mm(a, b)
    return 2 * size ** 3 / meter.median_seconds(lambda: torch.mm(a, b), 3) / 1e12


def build_methods(torch, z, codes):
    """``{name: (fn() -> indices [N], bytes it needs beyond O(N + tile))}``."""
    from simvq_audio.quantize.search import nearest_code

    n, k, d = z.shape[0], codes.shape[0], z.shape[1]
    full = 4 * n * k  # one float32 N x K matrix
    tiles = None  # the search's default: the production tiles, autotuned
    if z.device.type == "cpu":  # the interpreter cannot autotune: one small tile shape
        from simvq_audio.quantize.triton_search import TritonTiles
        tiles = [TritonTiles(block_n=16, block_k=32, block_d=16)]
    methods = {
        "fused exact": (lambda: nearest_code(z, codes, backend="triton",
                                             triton_tiles=tiles).indices, 0),
        "fused fast": (lambda: nearest_code(z, codes, backend="triton", fast=True,
                                            triton_tiles=tiles).indices, 0),
        "torch chunked": (lambda: nearest_code(z, codes, backend="torch").indices, 0),
        "cdist+argmin": (lambda: torch.cdist(z, codes).argmin(1), 2 * full),
        "fp32 matmul": (lambda: z @ codes.t(), full),
    }
    try:
        from vector_quantize_pytorch import SimVQ
    except ImportError:
        print("vector_quantize_pytorch not installed (pip install -e .[bench]): vqp skipped")
        return methods
    vqp = SimVQ(dim=d, codebook_size=k, rotation_trick=False).to(z.device).eval()
    with torch.no_grad():
        vqp.frozen_codebook.copy_(codes)
        vqp.code_transform.weight.copy_(torch.eye(d, device=z.device))

    def vqp_search():
        with torch.no_grad():
            return vqp(z[None])[1][0]
    methods["vqp SimVQ"] = (vqp_search, 2 * full + 4 * k * d)
    return methods


def measure_shape(torch, meter: Meter, n: int, k: int, d: int, repeats: int) -> list[dict]:
    z = torch.randn(n, d, device=meter.device) * d ** -0.5  # the scale of SimVQ's codes
    codes = torch.randn(k, d, device=meter.device) * d ** -0.5
    methods = build_methods(torch, z, codes)
    reference = methods["torch chunked"][0]()
    rows = []
    for name, (fn, needs) in methods.items():
        row = {"N": n, "K": k, "d": d, "method": name}
        if needs > 0.9 * meter.free_bytes():
            row["note"] = f"skipped: needs {needs / 2 ** 30:.1f} GiB"
            rows.append(row)
            continue
        try:
            out = fn()  # warm-up: Triton compiles and autotunes here, outside the figures
            row["extra_mb"] = meter.peak_extra_mb(fn)
            row["seconds"] = meter.median_seconds(fn, repeats)
        except torch.cuda.OutOfMemoryError:
            torch.cuda.empty_cache()
            row["note"] = "skipped: out of memory"
            rows.append(row)
            continue
        if name != "fp32 matmul":
            row["agree"] = float((out == reference).double().mean())
        row["tflops"] = 2 * n * k * d / row["seconds"] / 1e12
        rows.append(row)
        del out
    return rows


def print_table(rows: list[dict], device_tflops: float) -> None:
    print("| N | K | d | method | ms | extra MB | TFLOP/s | % of fp32 peak | agree % |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        if "note" in r:
            print(f"| {r['N']} | {r['K']} | {r['d']} | {r['method']} | {r['note']} |||||")
            continue
        mem = "n/a" if r["extra_mb"] is None else f"{r['extra_mb']:.1f}"
        agree = f"{100 * r['agree']:.3f}" if "agree" in r else ""
        print(f"| {r['N']} | {r['K']} | {r['d']} | {r['method']} | {1e3 * r['seconds']:.2f} | "
              f"{mem} | {r['tflops']:.3g} | {100 * r['tflops'] / device_tflops:.0f} | {agree} |")


def print_targets(rows: list[dict]) -> None:
    """The targets of docs/benchmarks.md: met, missed or not measured."""
    def seconds(method):
        found = [r for r in rows if (r["N"], r["K"], r["d"]) == TARGET_SHAPE
                 and r["method"] == method and "seconds" in r]
        return found[0]["seconds"] if found else None

    exact, matmul, cdist = seconds("fused exact"), seconds("fp32 matmul"), seconds("cdist+argmin")
    if exact and matmul:
        verdict = "met" if exact <= 2 * matmul else "MISSED"
        print(f"- exact / fp32 matmul at N,K,d={TARGET_SHAPE}: {exact / matmul:.2f}x "
              f"(target <= 2x): {verdict}")
    if exact and cdist:
        verdict = "met" if cdist >= 3 * exact else "MISSED"
        print(f"- cdist+argmin / exact: {cdist / exact:.2f}x (target >= 3x): {verdict}")
    if not (exact and matmul and cdist):
        print(f"- time targets not measured (shape {TARGET_SHAPE} not in this run or skipped)")
    memory = [r["extra_mb"] for r in rows
              if r["method"] == "fused exact" and r.get("extra_mb") is not None]
    if memory:
        verdict = "met" if max(memory) < MEMORY_TARGET_MB else "MISSED"
        print(f"- fused exact extra memory, worst shape: {max(memory):.1f} MB "
              f"(target < {MEMORY_TARGET_MB} MB): {verdict}")


def main() -> int:
    args = parse_args()
    if args.cpu_smoke:
        os.environ["TRITON_INTERPRET"] = "1"  # before the kernel module is imported
    import torch

    if not args.cpu_smoke and not torch.cuda.is_available():
        print("no CUDA GPU here: nothing to measure (--cpu-smoke checks the script on CPU)")
        return 0
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.manual_seed(0)
    device = "cpu" if args.cpu_smoke else "cuda"
    meter = Meter(torch, device)
    name = "CPU (interpreter smoke run)" if args.cpu_smoke else torch.cuda.get_device_name()
    peak = device_matmul_tflops(torch, meter, 512 if args.cpu_smoke else 8192)
    print(f"device: {name}; date: {datetime.date.today()}; torch {torch.__version__}")
    print(f"command: {' '.join([os.path.basename(sys.executable)] + sys.argv)}")
    print(f"measured float32 (TF32 off) matmul throughput: {peak:.2f} TFLOP/s\n")
    rows = []
    for n in args.rows:
        for k in args.codes:
            for d in args.dims:
                rows += measure_shape(torch, meter, n, k, d, args.repeats)
    print_table(rows, peak)
    print()
    print_targets(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
