"""Throughput of ``simvq-audio tokenize``: audio-hours per hour of wall time.

Generates ``--minutes`` of 24 kHz audio (utterances of 2-12 s, like LibriTTS) in a data dir and
tokenizes it with untrained codecs of each config (the speed does not depend on the weights):
on the CPU with 1 process (all cores' threads) and with 2 processes under ``accelerate launch``
(one thread each), and on the GPU when there is one. Each row gives the rate over the wall time
of the whole command (start-up and model loading included, which dominate short runs) and over
the time the slowest process spent in its shard loop (reading, encoding, writing).

    python tools/bench_tokenize.py [--minutes 2] [--configs recipes/tiny.yaml ...]
"""

from __future__ import annotations

import argparse
import datetime
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile
import torch

from simvq_audio.codec import SimVQCodec
from simvq_audio.data.kaldi_dir import write_data_dir

REPO = Path(__file__).resolve().parents[1]
RATE = 24000


def make_corpus(root: Path, minutes: float) -> tuple[Path, float]:
    """Noisy harmonic tones of 2-12 s until ``minutes`` are reached; ``(data dir, seconds)``."""
    rng = np.random.default_rng(0)
    wav_scp, utt2dur, total = {}, {}, 0.0
    (root / "wav").mkdir(parents=True)
    while total < minutes * 60:
        seconds = float(rng.uniform(2, 12))
        t = np.arange(round(seconds * RATE)) / RATE
        pitch = rng.uniform(90, 250) * (1 + 0.1 * np.sin(2 * np.pi * 0.5 * t))
        wav = sum(0.2 / k * np.sin(2 * np.pi * k * np.cumsum(pitch) / RATE) for k in (1, 2, 3))
        wav = wav + 0.01 * rng.standard_normal(len(t))
        utt_id = f"utt{len(wav_scp):05d}"
        path = root / "wav" / f"{utt_id}.wav"
        soundfile.write(path, wav.astype(np.float32), RATE)
        wav_scp[utt_id], utt2dur[utt_id] = str(path), len(t) / RATE
        total += len(t) / RATE
    write_data_dir(root / "data", wav_scp, utt2dur=utt2dur)
    return root / "data", total


def tokenize_seconds(model: Path, data: Path, out: Path, processes: int,
                     device: str) -> tuple[float, float]:
    """One ``simvq-audio tokenize`` run (1 process, or several under accelerate):
    ``(wall seconds of the whole command, seconds the slowest rank spent encoding)``."""
    command = ["-m", "simvq_audio.cli", "tokenize", "--model", str(model), "--data-dir",
               str(data), "--out", str(out), "--device", device, "--format", "both",
               "--shard-size", "8", "--batch-size", "16"]
    if processes > 1:
        command = ["-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes",
                   str(processes), "--num_machines", "1", "--mixed_precision", "no",
                   "--dynamo_backend", "no", "--main_process_port", str(_free_port()), *command]
    env = {**os.environ, "PYTHONPATH": str(REPO),
           "OMP_NUM_THREADS": str(max(1, (os.cpu_count() or 1) // processes))}
    start = time.monotonic()
    result = subprocess.run([sys.executable, *command], capture_output=True, text=True, env=env)
    elapsed = time.monotonic() - start
    if result.returncode != 0:
        sys.exit(f"tokenize failed:\n{result.stderr[-3000:]}")
    encoding = [float(seconds) for seconds in re.findall(r"h of audio in ([0-9.]+) s",
                                                         result.stderr)]
    return elapsed, max(encoding)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=2.0, help="audio to generate")
    parser.add_argument("--configs", nargs="+", default=[str(REPO / "recipes" / "tiny.yaml"),
                                                         str(REPO / "recipes" / "simvq_65k.yaml")])
    args = parser.parse_args()
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    print(f"# bench_tokenize {datetime.date.today()}: {os.cpu_count()} CPU cores, "
          f"GPU: {gpu or 'none'}, torch {torch.__version__}")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        data, seconds = make_corpus(root / "corpus", args.minutes)
        count = len(list((root / "corpus" / "wav").iterdir()))
        print(f"# {seconds / 60:.1f} min of audio in {count} utterances; wall: the whole "
              "command (start-up, model loading); encode: the slowest rank's shard loop")
        print(f"{'config':<18} {'codes':>6} {'where':<22} {'wall s':>7} {'audio-h/h':>10} "
              f"{'encode s':>9} {'audio-h/h':>10}")
        for config in args.configs:
            codec = SimVQCodec.from_config(config)
            model = codec.save_pretrained(root / Path(config).stem)
            cores = os.cpu_count() or 1
            runs = [(1, "cpu", f"CPU 1 proc x {cores} thr"),
                    (2, "cpu", f"CPU 2 proc x {max(1, cores // 2)} thr")]
            runs += [(1, "cuda", f"GPU {gpu}")] if gpu else []
            for processes, device, where in runs:
                out = root / "out" / f"{Path(config).stem}-{device}-{processes}"
                wall, encoding = tokenize_seconds(model, data, out, processes, device)
                print(f"{Path(config).name:<18} {codec.codebook_size:>6} {where:<22} "
                      f"{wall:>7.1f} {seconds / wall:>10.1f} {encoding:>9.1f} "
                      f"{seconds / encoding:>10.1f}", flush=True)
            if not gpu:
                print(f"{Path(config).name:<18} {codec.codebook_size:>6} {'GPU':<22} "
                      "no GPU in this session")


if __name__ == "__main__":
    main()
