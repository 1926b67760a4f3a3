#!/usr/bin/env python
"""Benchmark of ``simvq-audio score``: one hour of 24 kHz speech-like audio, scored with --nj 2.

Targets: the signal metrics alone under 5 minutes of wall time on 2 CPU cores (issue 6); with every
offline model metric (DNSMOS, Resemblyzer speaker similarity, PocketSphinx WER: ``--model-metrics
auto``, the default) under 10 minutes (issue 23). Generates references (harmonic syllables with
pitch glides, noise bursts, pauses; 2-15 s utterances cut from a pool), degraded hypotheses (noise
at 10-30 dB SNR, some low-passed, a small gain change) and random ``.codes`` files (4096 codes,
75 tokens/s), runs the CLI in a subprocess and prints a table with audio-hours per hour; with
``--second-system`` it scores the same references again, as for a second codec, whose reference
values (DNSMOS, transcripts) now come from the reference cache.
``--profile`` first prints each metric's CPU time per audio second and its share of the total, on
a few utterances. The audio is not speech: PocketSphinx's time on it is indicative only.

    .venv/bin/python tools/bench_score.py [--hours 1] [--nj 2] [--model-metrics auto|none]
                                          [--workdir DIR] [--profile] [--second-system]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile
import torch

from simvq_audio.codes import CodesHeader, write_codes
from simvq_audio.metrics.synthetic import speech_like

RATE, HOP, NUM_CODES = 24000, 320, 4096
TARGETS_S = {"none": 300.0, "auto": 600.0}   # --model-metrics -> seconds per hour of audio
POOL_SECONDS = 300


def degrade(wav: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A plausible reconstruction error: noise at 10-30 dB SNR, a low-pass in a third of cases,
    a gain change of up to 1 dB."""
    noise = rng.standard_normal(len(wav))
    noise *= np.sqrt(np.mean(wav ** 2) / np.mean(noise ** 2)) / 10 ** (rng.uniform(10, 30) / 20)
    out = wav + noise
    if rng.random() < 1 / 3:
        spectrum = np.fft.rfft(out)
        spectrum[np.fft.rfftfreq(len(out), 1 / RATE) > rng.uniform(4000, 8000)] = 0
        out = np.fft.irfft(spectrum, len(out))
    return (out * 10 ** (rng.uniform(-1, 1) / 20)).astype(np.float32)


def make_corpus(root: Path, hours: float, seed: int = 0) -> tuple[int, float]:
    """Write ``root/{ref,hyp,codes}``; returns (utterances, seconds of audio)."""
    rng = np.random.default_rng(seed)
    pool = speech_like(POOL_SECONDS, RATE, rng)
    for name in ("ref", "hyp", "codes"):
        (root / name).mkdir(parents=True, exist_ok=True)
    count, total = 0, 0.0
    while total < hours * 3600:
        seconds = float(rng.uniform(2, 15))
        length = int(seconds * RATE)
        start = int(rng.integers(0, len(pool) - length))
        ref = pool[start:start + length] * rng.uniform(0.5, 1.5)
        utt_id = f"utt{count:05d}"
        soundfile.write(str(root / "ref" / f"{utt_id}.wav"), ref, RATE)
        soundfile.write(str(root / "hyp" / f"{utt_id}.wav"), degrade(ref, rng), RATE)
        frames = -(-length // HOP)
        header = CodesHeader(model_hash="0" * 32, codebook_size=NUM_CODES, sample_rate=RATE,
                             hop_length=HOP, num_samples=length, channels=1, grid=(frames,))
        write_codes(root / "codes" / f"{utt_id}.codes",
                    torch.from_numpy(rng.integers(0, NUM_CODES, frames)), header)
        count, total = count + 1, total + seconds
    return count, total


def profile_metrics(root: Path, model_metrics: str, utterances: int = 5) -> None:
    """CPU seconds per metric (and per model scorer) over the first ``utterances`` pairs (one
    process, one thread), with each one's share of the total."""
    from simvq_audio.data.audio_io import read_audio
    from simvq_audio.metrics.pairs import at_rate
    from simvq_audio.metrics.scorers import SCORERS, ScoreInput, ScorerOptions, load_scorers
    from simvq_audio.metrics.utterance import METRICS

    torch.set_num_threads(1)
    scorers = load_scorers(list(SCORERS) if model_metrics == "auto" else [], ScorerOptions())
    costs = dict.fromkeys([*(metric.name for metric in METRICS), *scorers.names], 0.0)
    audio = 0.0
    for path in sorted((root / "ref").glob("*.wav"))[:utterances]:
        ref = read_audio(path)[0][0].double().numpy()
        hyp = read_audio(root / "hyp" / path.name)[0][0].double().numpy()
        audio += len(ref) / RATE
        for metric in METRICS:
            rate = metric.rate or RATE
            pair = at_rate(ref, RATE, rate), at_rate(hyp, RATE, rate)
            metric.compute(pair[0][:rate], pair[1][:rate], rate)     # warm-up (numba, caches)
            start = time.process_time()
            metric.compute(*pair, rate)
            costs[metric.name] += time.process_time() - start
        for scorer in scorers.scorers:
            start = time.process_time()
            scorer.score(ScoreInput(ref, hyp, RATE))
            costs[scorer.name] += time.process_time() - start
    total = sum(costs.values())
    print(f"| metric | CPU s per audio s ({audio:.0f} s profiled) | share |\n|---|---:|---:|")
    for name, cost in sorted(costs.items(), key=lambda item: -item[1]):
        print(f"| {name} | {cost / audio:.4f} | {100 * cost / total:.1f} % |")
    print(f"| total | {total / audio:.4f} | 100 % |\n")
    for name, reason in scorers.unavailable.items():
        print(f"not profiled: {name}: {reason}")
    print()


def score(root: Path, args: argparse.Namespace, out: str) -> float:
    """Wall seconds of ``simvq-audio score`` of ``root``'s corpus into ``root/out``, with the
    reference cache ``root/reference-cache`` (empty before the first run)."""
    command = [sys.executable, "-m", "simvq_audio.cli", "score", "--ref", str(root / "ref"),
               "--hyp", str(root / "hyp"), "--codes", str(root / "codes"),
               "--out", str(root / out), "--nj", str(args.nj),
               "--model-metrics", args.model_metrics,
               "--reference-cache", str(root / "reference-cache")]
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=1.0)
    parser.add_argument("--nj", type=int, default=2)
    parser.add_argument("--model-metrics", choices=sorted(TARGETS_S), default="auto",
                        help="auto: every offline model metric installed; none: signal metrics")
    parser.add_argument("--workdir", help="keep the generated corpus here (default: a temp dir)")
    parser.add_argument("--profile", action="store_true", help="time each metric first")
    parser.add_argument("--second-system", action="store_true",
                        help="score the same references again, their model-metric values now in "
                        "the reference cache (what every system after the first costs)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(args.workdir or scratch)
        start = time.perf_counter()
        count, seconds = make_corpus(root, args.hours)
        print(f"generated {count} utterances, {seconds / 3600:.2f} h, "
              f"in {time.perf_counter() - start:.0f} s\n")
        if args.profile:
            profile_metrics(root, args.model_metrics)
        shutil.rmtree(root / "reference-cache", ignore_errors=True)
        runs = [score(root, args, "out")]          # a cold reference cache: the first system
        if args.second_system:                     # the same references, their values cached
            runs.append(score(root, args, "out-second"))
        models = json.loads((root / "out" / "summary.json").read_text())["models"]
    target = TARGETS_S[args.model_metrics] * args.hours
    print(f"model metrics: {', '.join(models) or 'none'}\n")
    print("| run | audio | utterances | nj | wall (s) | target (s) | audio-h per hour | result |")
    print("|---|---|---:|---:|---:|---:|---:|---|")
    for name, wall in zip(("first system", "second system (reference values cached)"), runs):
        print(f"| {name} | {seconds / 3600:.2f} h @ 24 kHz | {count} | {args.nj} | {wall:.0f} "
              f"| {target:.0f} | {seconds / wall:.1f} | {'PASS' if wall < target else 'FAIL'} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
