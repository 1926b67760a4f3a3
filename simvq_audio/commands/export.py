"""``simvq-audio export``: a training run -> a model directory (``--exp-dir X --out DIR``), or a
model directory -> ONNX encoder and decoder (``--model DIR --onnx OUT_DIR``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

NAME = "export"
HELP = "export a training run to a model dir, or a model to ONNX"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--exp-dir", type=Path, help="training run to export (its newest "
                        "complete checkpoint, EMA weights)")
    parser.add_argument("--checkpoint", type=Path, help="a specific checkpoint of --exp-dir")
    parser.add_argument("--out", type=Path, help="model directory to write (with --exp-dir)")
    parser.add_argument("--model", type=Path, help="model directory to export to ONNX")
    parser.add_argument("--onnx", type=Path, metavar="OUT_DIR",
                        help="write encoder.onnx and decoder.onnx here (with --model)")


def run(args: argparse.Namespace) -> int:
    from simvq_audio.errors import UserInputError

    if args.exp_dir and args.out and not (args.model or args.onnx):
        from simvq_audio.train.export import export_model

        path = export_model(args.exp_dir, args.out, args.checkpoint)
        print(f"simvq-audio: exported {args.exp_dir} to {path}", file=sys.stderr)
        return 0
    if args.model and args.onnx and not (args.exp_dir or args.out or args.checkpoint):
        from simvq_audio.codec import SimVQCodec
        from simvq_audio.onnx_export import export_onnx

        for path, note in export_onnx(SimVQCodec.from_pretrained(args.model), args.onnx):
            print(f"simvq-audio: wrote {path} ({note})", file=sys.stderr)
        return 0
    raise UserInputError("use either --exp-dir X --out DIR (training run -> model dir) or "
                         "--model DIR --onnx OUT_DIR (model -> ONNX)")
