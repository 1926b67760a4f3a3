"""Wall time of ``simvq-audio encode DIR OUT`` on many short files, this tree against another
commit, side by side in one run.

Generates ``--files`` speech-like files of ``--min-seconds`` to ``--max-seconds`` (16 kHz, so
every file is resampled), checks the commit out with ``git worktree add`` (default ``2061a4b``,
the commit before the redesign of issue 17), makes the tiny codec's model directory with each
checkout's own code (same seed, the same model: each checkout's ``recipes/tiny.yaml`` with
64-dimensional codes, as it was before) and times each checkout's CLI, run from the same Python
(this ``.venv``) with ``PYTHONPATH`` set to the checkout. Runs alternate between the checkouts; each
row gives the median of ``--repeats`` runs of the whole command (start-up and model loading
included), files per second and the ratio to this tree. The CPU's float32 matmul GFLOP/s, with
the thread count the commands get, says how fast the machine was.

    python tools/bench_cli_encode.py [--base 2061a4b] [--files 100] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from simvq_audio.data.audio_io import write_audio
from simvq_audio.metrics.synthetic import speech_like

REPO = Path(__file__).resolve().parents[1]
RATE = 16000
MAKE_MODEL = ("import sys, torch; from simvq_audio.codec import SimVQCodec; torch.manual_seed(0); "
              "SimVQCodec.from_config(sys.argv[2]).save_pretrained(sys.argv[1])")
MODEL_YAML = "base: {checkout}/recipes/tiny.yaml\nmodel:\n  quantizer:\n    dim: 64\n"


def make_files(folder: Path, count: int, low: float, high: float) -> float:
    """``count`` speech-like wav files of ``low``-``high`` seconds; their total seconds."""
    rng = np.random.default_rng(0)
    total = 0.0
    for index in range(count):
        wav = speech_like(float(rng.uniform(low, high)), RATE, rng)
        write_audio(folder / f"utt{index:04d}.wav", torch.from_numpy(wav).float(), RATE)
        total += len(wav) / RATE
    return total


def run(checkout: Path, *args: str) -> float:
    """Seconds of one ``python -m simvq_audio.cli ...`` (or ``-c``) in ``checkout``."""
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    start = time.perf_counter()
    result = subprocess.run([sys.executable, *args], cwd=checkout, env=env,
                            capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(f"{checkout}: {' '.join(args)} failed:\n{result.stderr[-3000:]}")
    return elapsed


def matmul_gflops(size: int = 1024, seconds: float = 1.0) -> float:
    """float32 ``size x size`` matmuls per second x ``2 size^3`` flops, in GFLOP/s."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        a @ b
        count += 1
    return 2 * size ** 3 * count / (time.perf_counter() - start) / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", default="2061a4b", help="commit to compare with")
    parser.add_argument("--files", type=int, default=100)
    parser.add_argument("--min-seconds", type=float, default=0.5)
    parser.add_argument("--max-seconds", type=float, default=3.0)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench_cli_encode.") as tmp:
        root = Path(tmp)
        (root / "in").mkdir()
        audio_seconds = make_files(root / "in", args.files, args.min_seconds, args.max_seconds)
        base = root / "base"
        subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(base),
                        args.base], check=True, capture_output=True)
        try:
            checkouts = {"this tree": REPO, f"base {args.base}": base}
            times: dict[str, list[float]] = {name: [] for name in checkouts}
            for name, checkout in checkouts.items():
                (root / name).mkdir()
                (root / name / "model.yaml").write_text(MODEL_YAML.format(checkout=checkout))
                run(checkout, "-c", MAKE_MODEL, str(root / name / "model"),
                    str(root / name / "model.yaml"))
            for repeat in range(args.repeats):
                for name, checkout in checkouts.items():
                    out = root / name / f"out{repeat}"
                    times[name].append(run(checkout, "-m", "simvq_audio.cli", "encode",
                                           "--model", str(root / name / "model"),
                                           str(root / "in"), str(out)))
                    made = len(list(out.rglob("*.codes")))
                    if made != args.files:
                        sys.exit(f"{name}: wrote {made} .codes files, expected {args.files}")
        finally:
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(base)],
                           check=False, capture_output=True)

    print(f"simvq-audio encode of {args.files} files ({args.min_seconds:g}-{args.max_seconds:g} "
          f"s, {audio_seconds:.0f} s of 16 kHz audio), tiny codec, CPU, median of "
          f"{args.repeats} runs each")
    print(f"CPU float32 matmul: {matmul_gflops():.1f} GFLOP/s on {torch.get_num_threads()} "
          f"thread(s) ({os.cpu_count()} cores)")
    mine = statistics.median(times["this tree"])
    print("\n| checkout | wall s (runs) | files/s | time / this tree |\n|---|---|---|---|")
    for name, runs in times.items():
        wall = statistics.median(runs)
        shown = ", ".join(f"{value:.2f}" for value in runs)
        print(f"| {name} | {wall:.2f} ({shown}) | {args.files / wall:.1f} | "
              f"{wall / mine:.2f} |")


if __name__ == "__main__":
    main()
