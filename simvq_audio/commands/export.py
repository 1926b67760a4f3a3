"""``simvq-audio export``: a training run -> a model directory (``--exp-dir X --out DIR``), or a
model directory -> ONNX encoder and decoder (``--model DIR --onnx OUT_DIR``).

Output policy (:mod:`simvq_audio.outputs`): ``--out`` may hold a model exported earlier from the
same run, which is replaced; other model files, and existing ONNX files, are refused unless
``--overwrite``; an input file is never written over. The model directory is written all or
nothing (:func:`simvq_audio.model_dir.save_model_dir`): an export that fails or is interrupted
(a full disk, Ctrl-C) leaves the previous directory, or none, and rerunning it is all it takes."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from simvq_audio.errors import UserInputError

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
    parser.add_argument("--overwrite", action="store_true",
                        help="replace model or ONNX files in the output directory that this "
                        "command did not export from the same run (an input is never "
                        "overwritten)")


def run(args: argparse.Namespace) -> int:
    to_model_dir = args.exp_dir and args.out and not (args.model or args.onnx)
    to_onnx = args.model and args.onnx and not (args.exp_dir or args.out or args.checkpoint)
    if not (to_model_dir or to_onnx):
        raise UserInputError("use either --exp-dir X --out DIR (training run -> model dir) or "
                             "--model DIR --onnx OUT_DIR (model -> ONNX)")
    # Imported here, not at the top: it imports torch, which `export --help` must not (1.5 s of
    # start-up, docs/benchmarks.md).
    from simvq_audio.codec import export

    if to_model_dir:
        path = export.export_model(args.exp_dir, args.out, args.checkpoint, args.overwrite)
        print(f"simvq-audio: exported {args.exp_dir} to {path}", file=sys.stderr)
        return 0
    for path, note in export.export_onnx_files(args.model, args.onnx, args.overwrite):
        print(f"simvq-audio: wrote {path} ({note})", file=sys.stderr)
    return 0
