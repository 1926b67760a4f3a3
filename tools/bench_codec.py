"""Benchmark SimVQCodec on the CPU: encode/decode throughput and long-file encoding memory.

1. Throughput: encode + decode of 60 s of 24 kHz audio, batch 1 and 16, for each config; the
   real-time factor is processing time / audio time (lower is faster; < 1 is faster than real
   time).
2. Long file: a file of ``--hours`` of audio is written to disk and encoded with
   ``encode_file`` in a subprocess that reports its peak RSS (``VmHWM``, see peak_memory.py); its
   first ``--prefix-seconds`` of tokens are compared with a one-pass ``CodecModel.encode`` of that
   prefix.
3. Windowed decode: the difference between one-pass and windowed decoding of 60 s.

    python tools/bench_codec.py [--configs recipes/tiny.yaml recipes/simvq_65k.yaml]
                                [--seconds 60] [--batches 1 16] [--hours 1]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile
import torch

from simvq_audio.codec import SimVQCodec
from simvq_audio.metrics.synthetic import speech_like

RATE = 24000


def throughput(config: str, seconds: float, batch: int) -> dict:
    codec = SimVQCodec.from_config(config)
    wav = torch.stack([torch.as_tensor(speech_like(seconds, RATE, np.random.default_rng(i)))
                       for i in range(batch)])
    start = time.perf_counter()
    tokens = codec.encode(wav[:, None].float(), RATE)
    encoded = time.perf_counter()
    codec.decode(tokens)
    done = time.perf_counter()
    audio = seconds * batch
    return {"config": Path(config).stem, "batch": batch, "audio_s": audio,
            "encode_rtf": (encoded - start) / audio, "decode_rtf": (done - encoded) / audio}


def long_file(config: str, hours: float, prefix_seconds: float, folder: Path) -> dict:
    path = folder / "long.wav"
    with soundfile.SoundFile(path, "w", RATE, 1, subtype="PCM_16") as out:
        for minute in range(round(hours * 60)):
            out.write(speech_like(60.0, RATE, np.random.default_rng(minute)))
    child = subprocess.run([sys.executable, __file__, "--child", config, str(path),
                            str(prefix_seconds)], capture_output=True, text=True, check=True)
    return json.loads(child.stdout.strip().splitlines()[-1])


def child(config: str, path: str, prefix_seconds: float) -> None:
    """Runs in the subprocess: encode the file, compare the prefix, print JSON."""
    from peak_memory import peak_rss_mb, reset_peak_rss

    torch.manual_seed(0)
    codec = SimVQCodec.from_config(config)
    reset_peak_rss()  # the process's whole peak during encode_file, model included
    start = time.perf_counter()
    tokens = codec.encode_file(path).ids[0]
    elapsed = time.perf_counter() - start
    peak_mb = peak_rss_mb()
    prefix, _ = soundfile.read(path, frames=round(prefix_seconds * RATE), dtype="float32")
    with torch.inference_mode():
        reference = codec.model.encode(torch.from_numpy(prefix)[None])[0]
    frames = len(reference) - 1  # the last prefix frame sees zero padding, not the next samples
    print(json.dumps({"audio_s": soundfile.info(path).duration, "frames": len(tokens),
                      "encode_s": elapsed, "peak_rss_mb": peak_mb, "prefix_frames": frames,
                      "prefix_identical": bool(torch.equal(tokens[:frames], reference[:frames]))}))


def windowed_decode_error(config: str, seconds: float) -> dict:
    codec = SimVQCodec.from_config(config)
    wav = torch.as_tensor(speech_like(seconds, RATE, np.random.default_rng(0))).float()
    tokens = codec.encode(wav, RATE)
    whole = codec.decode(tokens)
    codec.decode_window_frames, codec.decode_context_frames = 750, 150  # 10 s windows, 2 s context
    windowed = codec.decode(tokens)
    error = (whole - windowed).square().mean().sqrt() / whole.square().mean().sqrt()
    return {"config": Path(config).stem, "relative_rms_difference": float(error)}


def main() -> None:
    if len(sys.argv) == 5 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3], float(sys.argv[4]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", nargs="+",
                        default=["recipes/tiny.yaml", "recipes/simvq_65k.yaml"])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--hours", type=float, default=1.0)
    parser.add_argument("--prefix-seconds", type=float, default=60.0)
    parser.add_argument("--long-config", default="recipes/tiny.yaml")
    args = parser.parse_args()
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"{'config':<12} {'batch':>5} {'audio s':>8} {'encode RTF':>11} {'decode RTF':>11}")
    for config in args.configs:
        for batch in args.batches:
            row = throughput(config, args.seconds, batch)
            print(f"{row['config']:<12} {row['batch']:>5} {row['audio_s']:>8.0f} "
                  f"{row['encode_rtf']:>11.4f} {row['decode_rtf']:>11.4f}", flush=True)
    for config in args.configs:
        row = windowed_decode_error(config, args.seconds)
        print(f"windowed decode ({row['config']}, 10 s windows, 2 s context): relative RMS "
              f"difference to one pass {row['relative_rms_difference']:.2e}", flush=True)
    if args.hours > 0:
        with tempfile.TemporaryDirectory() as folder:
            row = long_file(args.long_config, args.hours, args.prefix_seconds, Path(folder))
        print(f"long file ({Path(args.long_config).stem}): {row['audio_s']:.0f} s of audio, "
              f"{row['frames']} frames in {row['encode_s']:.1f} s, peak RSS "
              f"{row['peak_rss_mb']:.0f} MB (target < 1536), first {row['prefix_frames']} "
              f"frames identical to one pass: {row['prefix_identical']}")


if __name__ == "__main__":
    main()
