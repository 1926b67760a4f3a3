"""``simvq-audio info FILE.codes``: check a ``.codes`` file and print its header, in memory
bounded whatever the file holds (:func:`~simvq_audio.codes.verify_codes`); a FIFO or other
non-regular file is refused before it is opened."""

from __future__ import annotations

import argparse

NAME = "info"
HELP = "check a .codes file (checksums included) and print its header"
NEEDS_TORCH = False
"""Starts without torch (:func:`~simvq_audio.codes.verify_codes` needs numpy only): fast."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", metavar="FILE.codes", help="the .codes file to describe")


def run(args: argparse.Namespace) -> int:
    # Imported here, not at the top: it imports numpy, which `info --help` does without
    # (`info --help` 0.06 s, `info FILE` with numpy 0.13 s: docs/benchmarks.md).
    from simvq_audio.codes import verify_codes

    header = verify_codes(args.file)
    source = header.source
    rows = [
        ("file", args.file),
        ("format version", header.version),
        ("model hash", header.model_hash),
        ("input", "not recorded" if source is None else
         f"{source.size} bytes, sha256 {source.sha256}..., "
         + ("from a stream" if not int(source.location, 16) else f"path hash {source.location}")),
        ("codebook size", f"{header.codebook_size} ({header.bits_per_token} bits per token)"),
        ("token grid", "x".join(map(str, header.grid)) + f" ({header.num_tokens} tokens)"),
    ]
    if header.sample_rate:
        rows += [
            ("sample rate", f"{header.sample_rate} Hz"),
            ("hop length", f"{header.hop_length} samples"),
            ("frames", header.num_frames),
            ("duration", f"{header.duration_s:.3f} s ({header.num_samples} samples)"),
            ("channels", header.channels),
        ]
    bitrate = header.bitrate_kbps
    rows.append(("bitrate", "n/a" if bitrate is None else f"{bitrate:.3f} kbps"))
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        print(f"{label:<{width}}  {value}")
    return 0
