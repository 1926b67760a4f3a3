"""The image tokenizer's file API: image files -> token files, token files -> image files, and
the reconstruction scores of a folder of images.

Who owns what: :class:`~simvq_audio.image.tokenizer.SimVQImageTokenizer` turns image tensors
into token grids and back; :mod:`simvq_audio.image.image_io` reads and writes image files and
:mod:`simvq_audio.image.token_files` token files; :mod:`simvq_audio.image.metrics` computes the
scores; this module decides which file becomes which and writes the outputs. ``simvq-audio
image encode``/``decode``/``score`` (:mod:`simvq_audio.commands.image`) only parse their
arguments, load the tokenizer (:func:`load_tokenizer`) and call :func:`encode_images`,
:func:`decode_token_files` or :func:`score_folder`.

SOURCE/TARGET forms: a file and a file, or a folder and a folder (every matching file under
SOURCE, the tree kept under TARGET, each output named after its input with the output's suffix).
An existing output is replaced.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TextIO

from torch.utils.data import DataLoader

from simvq_audio.atomic import atomic_path
from simvq_audio.errors import UserInputError
from simvq_audio.image.dataset import ImageFolderDataset
from simvq_audio.image.image_io import center_square, find_images, read_image, write_image
from simvq_audio.image.metrics import format_scores, rfid_status, score_batches
from simvq_audio.image.token_files import TOKEN_SUFFIXES, load_tokens, save_tokens
from simvq_audio.image.tokenizer import SimVQImageTokenizer

DECODED_SUFFIX = ".png"
"""The format of each decoded image in folder mode."""


def load_tokenizer(model: str | os.PathLike, search_backend: str = "auto"
                   ) -> SimVQImageTokenizer:
    """The tokenizer of the model directory ``model`` (``save_pretrained``'s output), its
    nearest-code search on ``search_backend`` (one of
    :data:`~simvq_audio.quantize.search.BACKENDS`)."""
    return SimVQImageTokenizer.from_pretrained(model, search_backend=search_backend)


def encode_images(tokenizer: SimVQImageTokenizer, source: str | os.PathLike,
                  target: str | os.PathLike, token_format: str = "codes",
                  resize: bool = False) -> int:
    """Encode the image file ``source`` into the token file ``target`` (format from its suffix),
    or every image under the folder ``source`` into ``.<token_format>`` files (``codes`` or
    ``npy``) under the folder ``target``; returns the number of images encoded.

    Each image ``[3, H, W]`` must have sides that are multiples of the tokenizer's downsampling
    ``f`` unless ``resize``: then its shorter side is first resized to the model's resolution
    and the centre square cropped. Each token file holds one grid ``[H / f, W / f]``."""
    source, target = Path(source), Path(target)
    inputs = find_images(source) if source.is_dir() else []
    pairs = _pairs(source, target, inputs, f".{token_format}")
    for image_path, tokens_path in pairs:
        image = read_image(image_path)
        if resize:
            image = center_square(image, tokenizer.config.resolution)
        save_tokens(tokens_path, tokenizer.encode(image)[0], tokenizer)
    return len(pairs)


def decode_token_files(tokenizer: SimVQImageTokenizer, source: str | os.PathLike,
                       target: str | os.PathLike, force: bool = False) -> int:
    """Decode the token file ``source`` (``.codes`` or ``.npy``, a grid ``[h, w]``) into the
    image file ``target`` (format from its suffix), or every token file under the folder
    ``source`` into ``.png`` files under the folder ``target``; returns the number of files
    decoded. A ``.codes`` file made by another model is refused unless ``force``."""
    source, target = Path(source), Path(target)
    inputs = []
    if source.is_dir():
        inputs = sorted(p for p in source.rglob("*") if p.suffix.lower() in TOKEN_SUFFIXES)
        if not inputs:
            raise UserInputError(f"no {' or '.join(TOKEN_SUFFIXES)} files under {source}")
    pairs = _pairs(source, target, inputs, DECODED_SUFFIX)
    for tokens_path, image_path in pairs:
        write_image(image_path, tokenizer.decode(load_tokens(tokens_path, tokenizer, force))[0])
    return len(pairs)


def score_folder(tokenizer: SimVQImageTokenizer, images: str | os.PathLike,
                 batch_size: int = 16, inception_weights: str | os.PathLike | None = None,
                 out: str | os.PathLike | None = None, log: TextIO | None = None
                 ) -> dict[str, float | str]:
    """Reconstruction scores of the images under the folder ``images``: each is resized and
    centre-cropped to the model's resolution, encoded and decoded in batches of ``batch_size``;
    returns the image count, mean PSNR (dB, each image's capped at 100) and SSIM, codebook
    utilisation (fraction of the codes used), used codes, number of codes, perplexity, and the
    rFID status (:func:`~simvq_audio.image.metrics.rfid_status`: ``inception_weights`` are
    refused, rFID not being implemented). The scores' Markdown table is written to ``log`` (if
    given), then ``summary.json`` (the returned dict) and ``summary.md`` (the table) into the
    folder ``out`` (if given; made if missing)."""
    rfid = rfid_status(inception_weights)
    dataset = ImageFolderDataset(find_images(images), tokenizer.config.resolution, False)
    scores = score_batches(tokenizer.encode, tokenizer.decode,
                           DataLoader(dataset, batch_size=max(batch_size, 1)),
                           tokenizer.num_codes)
    summary = {**scores, "rfid": rfid}
    table = format_scores(scores, rfid)
    if log is not None:
        print(table, file=log)
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        for name, text in (("summary.json", json.dumps(summary, indent=2)),
                           ("summary.md", table)):
            with atomic_path(out / name) as tmp:
                tmp.write_text(text + "\n", encoding="utf-8")
    return summary


def _pairs(source: Path, target: Path, inputs: list[Path], suffix: str) -> list[tuple[Path, Path]]:
    """(input, output) files: one pair for a file, else each input's path under ``target``."""
    if source.is_dir():
        return [(path, (target / path.relative_to(source)).with_suffix(suffix))
                for path in inputs]
    return [(source, target)]
