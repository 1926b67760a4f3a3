"""``simvq-audio image ...``: the image tokenizer from the command line.

* ``image patches --out DIR``: a tiny ImageFolder corpus cut from scikit-image's sample photos.
* ``image train --config Y --train-dir DIR --exp-dir EXP``: train (accelerate, like ``train``).
* ``image export --exp-dir EXP --out MODEL``: the EMA weights as a model directory.
* ``image encode --model MODEL IN OUT``: PNG/JPEG -> ``.codes``/``.npy`` (a file, or a folder
  of images -> a folder of token files, ``--format``).
* ``image decode --model MODEL IN OUT``: ``.codes``/``.npy`` -> PNG/JPEG (file or folder).
* ``image score --model MODEL --images DIR``: PSNR, SSIM, utilisation (rFID: not available).

encode, decode and score follow the output policy (:mod:`simvq_audio.outputs`, applied by
:mod:`simvq_audio.image.files`): existing outputs that are not verifiably this command's result
are refused unless ``--overwrite``.

This module parses the arguments; the work is that of :mod:`simvq_audio.image.sample_patches`,
:func:`simvq_audio.image.training.train_image_tokenizer`, :mod:`simvq_audio.image.export` and
the file API :mod:`simvq_audio.image.files`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from simvq_audio.commands import search_backend
from simvq_audio.commands.arg_types import positive_int
from simvq_audio.commands.model_arguments import OVERWRITE_HELP

NAME = "image"
HELP = "image tokenizer: sample patches, train, export, encode, decode, score"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="image_command", metavar="ACTION", required=True)
    patches = sub.add_parser("patches", help="cut sample photos into an ImageFolder tree")
    patches.add_argument("--out", type=Path, required=True)
    patches.add_argument("--size", type=positive_int, default=32, help="patch side (default: 32)")
    patches.add_argument("--train-per-image", type=positive_int, default=64)
    patches.add_argument("--valid-per-image", type=positive_int, default=8)

    train = sub.add_parser("train", help="train an image tokenizer")
    train.add_argument("--config", required=True, help="e.g. recipes/image_65k.yaml")
    train.add_argument("--train-dir", type=Path, required=True, help="folder of images")
    train.add_argument("--valid-dir", type=Path, help="folder of validation images")
    train.add_argument("--exp-dir", type=Path, required=True)
    train.add_argument("--resume", action="store_true")
    train.add_argument("--max-steps", type=positive_int, help="override train.max_steps")
    train.add_argument("--cpu", action="store_true")

    export = sub.add_parser("export", help="write the newest checkpoint as a model directory")
    export.add_argument("--exp-dir", type=Path, required=True)
    export.add_argument("--out", type=Path, required=True)

    for action, what in (("encode", "images to tokens"), ("decode", "tokens to images")):
        command = sub.add_parser(action, help=what)
        command.add_argument("--model", type=Path, required=True, help="model directory")
        command.add_argument("input", type=Path, help="a file or a folder")
        command.add_argument("output", type=Path, help="a file, or a folder for a folder")
        command.add_argument("--overwrite", action="store_true", help=OVERWRITE_HELP)
    sub.choices["encode"].add_argument("--format", choices=("codes", "npy"), default="codes",
                                       help="token files written for a folder input")
    sub.choices["encode"].add_argument("--resize", action="store_true",
                                       help="centre-crop and resize to the model resolution")
    sub.choices["decode"].add_argument("--any-model", "--force", dest="force",
                                       action="store_true", help="decode .codes made by "
                                       "another model; --force is its old name")

    score = sub.add_parser("score", help="PSNR, SSIM and utilisation on a folder of images")
    score.add_argument("--model", type=Path, required=True)
    score.add_argument("--images", type=Path, required=True)
    score.add_argument("--out", type=Path, help="folder for summary.json and summary.md")
    score.add_argument("--batch-size", type=positive_int, default=16)
    score.add_argument("--inception-weights", type=Path, help="local Inception weights (rFID)")
    score.add_argument("--overwrite", action="store_true", help=OVERWRITE_HELP)


def run(args: argparse.Namespace) -> int:
    return {"patches": _patches, "train": _train, "export": _export, "encode": _encode,
            "decode": _decode, "score": _score}[args.image_command](args)


# Each action imports its module where it runs, not at the top: they import torch, which
# `image ACTION --help` must not (1.5 s of start-up, docs/benchmarks.md).


def _patches(args: argparse.Namespace) -> int:
    from simvq_audio.image.sample_patches import write_sample_patches

    count = write_sample_patches(args.out, args.size, args.train_per_image, args.valid_per_image)
    print(f"wrote {count} patches of {args.size}x{args.size} under {args.out}")
    return 0


def _train(args: argparse.Namespace) -> int:
    from simvq_audio.image.training import train_image_tokenizer

    return train_image_tokenizer(args.config, args.exp_dir, args.train_dir, args.valid_dir,
                                 args.resume, args.cpu, args.max_steps)


def _export(args: argparse.Namespace) -> int:
    from simvq_audio.image.export import export_checkpoint

    print(f"exported {export_checkpoint(args.exp_dir, args.out)}")
    return 0


def _encode(args: argparse.Namespace) -> int:
    from simvq_audio.image import files

    tokenizer = files.load_tokenizer(args.model, search_backend())
    count = files.encode_images(tokenizer, args.input, args.output, args.format, args.resize,
                                args.overwrite, log=sys.stderr)
    print(f"encoded {count} image(s) into {args.output}")
    return 0


def _decode(args: argparse.Namespace) -> int:
    from simvq_audio.image import files

    tokenizer = files.load_tokenizer(args.model, search_backend())
    count = files.decode_token_files(tokenizer, args.input, args.output, args.force,
                                     args.overwrite)
    print(f"decoded {count} token file(s) into {args.output}")
    return 0


def _score(args: argparse.Namespace) -> int:
    from simvq_audio.image import files

    files.rfid_status(args.inception_weights)  # refuses --inception-weights before the model loads
    tokenizer = files.load_tokenizer(args.model, search_backend())
    files.score_folder(tokenizer, args.images, args.batch_size, args.inception_weights, args.out,
                       log=sys.stdout, overwrite=args.overwrite)
    return 0
