"""``simvq-audio image ...``: the image tokenizer from the command line.

* ``image patches --out DIR``: a tiny ImageFolder corpus cut from scikit-image's sample photos.
* ``image train --config Y --train-dir DIR --exp-dir EXP``: train (accelerate, like ``train``).
* ``image export --exp-dir EXP --out MODEL``: the EMA weights as a model directory.
* ``image encode --model MODEL IN OUT``: PNG/JPEG -> ``.codes``/``.npy`` (a file, or a folder
  of images -> a folder of token files, ``--format``).
* ``image decode --model MODEL IN OUT``: ``.codes``/``.npy`` -> PNG/JPEG (file or folder).
* ``image score --model MODEL --images DIR``: PSNR, SSIM, utilisation (rFID: not available).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from simvq_audio.atomic import atomic_path
from simvq_audio.commands import search_backend
from simvq_audio.commands.arg_types import positive_int
from simvq_audio.errors import UserInputError

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


def run(args: argparse.Namespace) -> int:
    # Each action imports its modules where it runs: they import torch, which `image ACTION
    # --help` must not (1.5 s of start-up, docs/benchmarks.md).
    return {"patches": _patches, "train": _train, "export": _export, "encode": _encode,
            "decode": _decode, "score": _score}[args.image_command](args)


def _patches(args: argparse.Namespace) -> int:
    from simvq_audio.image.sample_patches import write_sample_patches

    count = write_sample_patches(args.out, args.size, args.train_per_image, args.valid_per_image)
    print(f"wrote {count} patches of {args.size}x{args.size} under {args.out}")
    return 0


def _train(args: argparse.Namespace) -> int:
    from simvq_audio.image.config import load_config
    from simvq_audio.image.training import ImageTask
    from simvq_audio.train.trainer import GanTrainer, RunOptions

    config = load_config(args.config)
    if args.max_steps is not None:
        config.train.max_steps = args.max_steps
    options = RunOptions(args.exp_dir, args.train_dir, args.valid_dir, args.resume, args.cpu)
    return GanTrainer(ImageTask(config), options).run()


def _export(args: argparse.Namespace) -> int:
    from simvq_audio.image.export import export_checkpoint

    print(f"exported {export_checkpoint(args.exp_dir, args.out)}")
    return 0


def _pairs(source: Path, target: Path, inputs: list[Path], suffix: str) -> list[tuple[Path, Path]]:
    """(input, output) files: one pair for a file, else each input's path under ``target``."""
    if source.is_dir():
        return [(path, (target / path.relative_to(source)).with_suffix(suffix))
                for path in inputs]
    return [(source, target)]


def _encode(args: argparse.Namespace) -> int:
    from simvq_audio.image.image_io import center_square, find_images, read_image
    from simvq_audio.image.token_files import save_tokens
    from simvq_audio.image.tokenizer import SimVQImageTokenizer

    tokenizer = SimVQImageTokenizer.from_pretrained(args.model, search_backend=search_backend())
    inputs = find_images(args.input) if args.input.is_dir() else []
    for source, target in _pairs(args.input, args.output, inputs, f".{args.format}"):
        image = read_image(source)
        if args.resize:
            image = center_square(image, tokenizer.config.resolution)
        save_tokens(target, tokenizer.encode(image)[0], tokenizer)
    print(f"encoded {max(len(inputs), 1)} image(s) into {args.output}")
    return 0


def _decode(args: argparse.Namespace) -> int:
    from simvq_audio.image.image_io import write_image
    from simvq_audio.image.token_files import TOKEN_SUFFIXES, load_tokens
    from simvq_audio.image.tokenizer import SimVQImageTokenizer

    tokenizer = SimVQImageTokenizer.from_pretrained(args.model, search_backend=search_backend())
    inputs = []
    if args.input.is_dir():
        inputs = sorted(p for p in args.input.rglob("*") if p.suffix.lower() in TOKEN_SUFFIXES)
        if not inputs:
            raise UserInputError(f"no {' or '.join(TOKEN_SUFFIXES)} files under {args.input}")
    for source, target in _pairs(args.input, args.output, inputs, ".png"):
        write_image(target, tokenizer.decode(load_tokens(source, tokenizer, args.force))[0])
    print(f"decoded {max(len(inputs), 1)} token file(s) into {args.output}")
    return 0


def _score(args: argparse.Namespace) -> int:
    from torch.utils.data import DataLoader

    from simvq_audio.image.dataset import ImageFolderDataset
    from simvq_audio.image.image_io import find_images
    from simvq_audio.image.metrics import format_scores, rfid_status, score_batches
    from simvq_audio.image.tokenizer import SimVQImageTokenizer

    rfid = rfid_status(args.inception_weights)
    tokenizer = SimVQImageTokenizer.from_pretrained(args.model, search_backend=search_backend())
    dataset = ImageFolderDataset(find_images(args.images), tokenizer.config.resolution, False)
    scores = score_batches(tokenizer.encode, tokenizer.decode,
                           DataLoader(dataset, batch_size=max(args.batch_size, 1)),
                           tokenizer.num_codes)
    table = format_scores(scores, rfid)
    print(table)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        for name, text in (("summary.json", json.dumps({**scores, "rfid": rfid}, indent=2)),
                           ("summary.md", table)):
            with atomic_path(args.out / name) as tmp:
                tmp.write_text(text + "\n", encoding="utf-8")
    return 0
