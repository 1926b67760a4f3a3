"""``simvq-audio import-reference CKPT OUT_DIR``: the SimVQ authors' Lightning checkpoint (a
local file or ``REPO_ID:PATH[@REVISION]`` on Hugging Face) -> a model directory."""

from __future__ import annotations

import argparse
import sys

NAME = "import-reference"
HELP = "convert a SimVQ authors' checkpoint to a model dir"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", metavar="CKPT",
                        help="the .ckpt file, or REPO_ID:PATH_IN_REPO[@REVISION] on Hugging Face "
                             "(e.g. zyx123/SimVQ:vq_audio_log/simvq_65k/.../"
                             "epoch=49-step=138600.ckpt); a local path that exists wins")
    parser.add_argument("out_dir", metavar="OUT_DIR", help="model directory to write")
    parser.add_argument("--raw", action="store_true",
                        help="take the raw weights instead of their EMA copies")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace the model files of an OUT_DIR that already holds a model")


def run(args: argparse.Namespace) -> int:
    # Imported here, not at the top: it imports torch, which `import-reference --help` must not
    # (1.5 s of start-up, docs/benchmarks.md).
    from simvq_audio.reference import import_reference_checkpoint

    path = import_reference_checkpoint(args.checkpoint, args.out_dir, raw=args.raw,
                                       overwrite=args.overwrite)
    weights = "raw" if args.raw else "EMA"
    print(f"simvq-audio: imported {args.checkpoint} ({weights} weights) to {path}; the weights "
          f"are the SimVQ authors': check their licence before redistributing", file=sys.stderr)
    return 0
