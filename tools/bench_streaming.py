#!/usr/bin/env python
"""Speed of streaming decode beside one-pass decode, for the paper and the causal decoder.

For each config (random weights: speed does not depend on them), batch size and feed size
(tokens per ``feed``): a stream is first fed past its start (the paper decoder's context and
lookahead) untimed, then timed feed by feed in its steady state, until at least --min-feeds
feeds and either --seconds of audio or --max-wall seconds. Printed per row: the algorithmic
latency (a token's last sample out after this many ms of later tokens), the compute per feed
(mean and largest, ms) and the real-time factor (compute seconds per second of audio; the
batch's streams advance together, so below 1 every stream keeps up with real time); and the
same for one-pass ``decode`` of --one-pass-seconds at the same batch size. The fp32 matmul
rate of the machine is measured in the same run.

    .venv/bin/python tools/bench_streaming.py                      # tiny and paper size, CPU
    .venv/bin/python tools/bench_streaming.py --configs recipes/tiny.yaml --batches 1
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import torch
from bench_generator import matmul_gflops

from simvq_audio.codec import SimVQCodec

CONFIGS = ["recipes/tiny.yaml", "recipes/tiny_causal.yaml", "recipes/simvq_65k.yaml",
           "recipes/simvq_65k_causal.yaml"]


def steady_feeds(codec: SimVQCodec, batch: int, feed: int, seconds: float, min_feeds: int,
                 max_wall: float) -> dict:
    """Time feeds of ``feed`` tokens to a stream of ``batch`` items in its steady state."""
    stream = codec.streaming_decoder(batch_size=batch)
    generator = torch.Generator().manual_seed(0)

    def tokens(frames: int) -> torch.Tensor:
        return torch.randint(0, codec.codebook_size, (batch, frames), generator=generator)

    stream.feed(tokens(stream.context_frames + stream.lookahead_frames + 2 * feed))  # warm-up
    times, audio, hop, rate = [], 0.0, codec.hop_length, codec.sample_rate
    started = time.perf_counter()
    while len(times) < min_feeds or (audio < seconds and time.perf_counter() - started
                                     < max_wall):
        ids = tokens(feed)
        start = time.perf_counter()
        stream.feed(ids)
        times.append(time.perf_counter() - start)
        audio += feed * hop / rate
    return {"latency_ms": stream.latency_ms, "feed_ms": 1000 * sum(times) / len(times),
            "feed_ms_max": 1000 * max(times), "rtf": sum(times) / audio, "feeds": len(times)}


def one_pass_rtf(codec: SimVQCodec, batch: int, seconds: float) -> float:
    frames = round(seconds * codec.sample_rate / codec.hop_length)
    ids = torch.randint(0, codec.codebook_size, (batch, frames),
                        generator=torch.Generator().manual_seed(1))
    codec.decode(ids[:, :8])  # warm-up
    start = time.perf_counter()
    codec.decode(ids)
    return (time.perf_counter() - start) / (frames * codec.hop_length / codec.sample_rate)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configs", nargs="+", default=CONFIGS)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--feeds", type=int, nargs="+", default=[1, 5, 25])
    parser.add_argument("--seconds", type=float, default=2.0,
                        help="audio to time per row (steady state)")
    parser.add_argument("--min-feeds", type=int, default=5)
    parser.add_argument("--max-wall", type=float, default=10.0,
                        help="stop timing a row after this many seconds (at least --min-feeds)")
    parser.add_argument("--one-pass-seconds", type=float, default=10.0)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.manual_seed(0)
    rate = matmul_gflops()
    print(f"{platform.processor() or platform.machine()}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, device {args.device}, fp32 matmul "
          f"{rate:.0f} GFLOP/s")
    print("| config | decoder | batch | feed | latency ms | ms per feed (max) | stream RTF | "
          "one-pass RTF |\n|---|---|---:|---:|---:|---:|---:|---:|")
    for config in args.configs:
        codec = SimVQCodec.from_config(config, device=args.device)
        kind = "causal" if codec.model.decoder.causal else "paper"
        for batch in args.batches:
            whole = one_pass_rtf(codec, batch, args.one_pass_seconds)
            for feed in args.feeds:
                row = steady_feeds(codec, batch, feed, args.seconds, args.min_feeds,
                                   args.max_wall)
                print(f"| {Path(config).stem} | {kind} | {batch} | {feed} | "
                      f"{row['latency_ms']:.1f} | {row['feed_ms']:.1f} ({row['feed_ms_max']:.1f})"
                      f" | {row['rtf']:.3f} | {whole:.4f} |", flush=True)
    print(f"fp32 matmul after the runs: {matmul_gflops():.0f} GFLOP/s")


if __name__ == "__main__":
    main()
