"""The image tokenizer's file API: image files -> token files, token files -> image files, and
the reconstruction scores of a folder of images, under the output policy of
:mod:`simvq_audio.outputs`.

Who owns what: :class:`~simvq_audio.image.tokenizer.SimVQImageTokenizer` turns image tensors
into token grids and back; :mod:`simvq_audio.image.image_io` reads and writes image files and
:mod:`simvq_audio.image.token_files` token files; :mod:`simvq_audio.image.metrics` computes the
scores; this module decides which file becomes which, what is skipped, redone or refused, and
writes the outputs. ``simvq-audio image encode``/``decode``/``score``
(:mod:`simvq_audio.commands.image`) only parse their arguments, load the tokenizer
(:func:`load_tokenizer`) and call :func:`encode_images`, :func:`decode_token_files` or
:func:`score_folder`.

SOURCE/TARGET forms: a file and a file, or a folder and a folder (every matching file under
SOURCE, the tree kept under TARGET, each output named after its input with the output's suffix).

Every run first plans its :class:`Job`\\ s and checks them before any work: no output is an
input, no two inputs share an output, the output's format is known; then it finds what is at
every output. A ``.codes`` output records the identity of its image
(:func:`simvq_audio.outputs.input_id`): one of this model from the same image is done and
skipped, one from the same image path that has changed since is redone, anything else is
refused. A ``.npy`` token grid and a decoded image record nothing, so an existing one is
refused. Refused outputs are listed at once, unless ``overwrite`` (a directory where a file
should go is always refused). Files are written atomically.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from torch.utils.data import DataLoader

from simvq_audio import outputs
from simvq_audio.atomic import write_bytes
from simvq_audio.errors import UserInputError
from simvq_audio.image.dataset import ImageFolderDataset
from simvq_audio.image.image_io import (
    WRITE_FORMATS,
    center_square,
    decode_image,
    find_images,
    write_image,
)
from simvq_audio.image.metrics import format_scores, rfid_status, score_batches
from simvq_audio.image.token_files import TOKEN_SUFFIXES, load_tokens, save_tokens
from simvq_audio.image.tokenizer import SimVQImageTokenizer
from simvq_audio.outputs import Existing, Kind

DECODED_SUFFIX = ".png"
"""The format of each decoded image in folder mode."""
REPORT_FILES = ("summary.json", "summary.md")
"""What :func:`score_folder` writes into its ``out`` folder."""


@dataclass(frozen=True)
class Job:
    """One input file and the output file made from it."""

    source: Path
    target: Path


def load_tokenizer(model: str | os.PathLike, search_backend: str = "auto"
                   ) -> SimVQImageTokenizer:
    """The tokenizer of the model directory ``model`` (``save_pretrained``'s output), its
    nearest-code search on ``search_backend`` (one of
    :data:`~simvq_audio.quantize.search.BACKENDS`)."""
    return SimVQImageTokenizer.from_pretrained(model, search_backend=search_backend)


def encode_images(tokenizer: SimVQImageTokenizer, source: str | os.PathLike,
                  target: str | os.PathLike, token_format: str = "codes",
                  resize: bool = False, overwrite: bool = False,
                  log: TextIO | None = None) -> int:
    """Encode the image file ``source`` into the token file ``target`` (format from its suffix),
    or every image under the folder ``source`` into ``.<token_format>`` files (``codes`` or
    ``npy``) under the folder ``target``; returns the number of images encoded (outputs
    already done are skipped and not counted; ``log``, if given, is told how many and what is
    redone).

    Each image ``[3, H, W]`` must have sides that are multiples of the tokenizer's downsampling
    ``f`` unless ``resize``: then its shorter side is first resized to the model's resolution
    and the centre square cropped. Each token file holds one grid ``[H / f, W / f]``; a
    ``.codes`` file also records the identity of its image. Existing outputs follow the module's
    policy; ``overwrite`` replaces those that would be refused.

    Raises:
        UserInputError: a bad plan or an output that may not be written (nothing was written),
            or an image that cannot be read or encoded (the outputs before it are kept).
    """
    source, target = Path(source), Path(target)
    if source.is_dir():
        suffix = f".{token_format}"
        if suffix not in TOKEN_SUFFIXES:
            raise UserInputError(f"token format {token_format!r}: expected codes or npy")
        jobs = _plan_many(source, find_images(source), target, suffix)
    else:
        jobs = _plan_one(source, target, TOKEN_SUFFIXES, "token files end in")
    states = [_tokens_state(tokenizer, job) for job in jobs]
    todo = _select(jobs, states, overwrite, log)
    for job in todo:
        # one read: the identity a .codes file records is that of the bytes encoded
        with outputs.open_input(job.source, "image file") as opened:
            image = decode_image(opened.name, opened.handle)
            identity = opened.identity() if job.target.suffix.lower() == ".codes" else None
        if resize:
            image = center_square(image, tokenizer.config.resolution)
        save_tokens(job.target, tokenizer.encode(image)[0], tokenizer, identity)
    return len(todo)


def decode_token_files(tokenizer: SimVQImageTokenizer, source: str | os.PathLike,
                       target: str | os.PathLike, force: bool = False,
                       overwrite: bool = False) -> int:
    """Decode the token file ``source`` (``.codes`` or ``.npy``, a grid ``[h, w]``) into the
    image file ``target`` (format from its suffix), or every token file under the folder
    ``source`` into ``.png`` files under the folder ``target``; returns the number of files
    decoded. A ``.codes`` file made by another model is refused unless ``force``.

    An existing output image is refused unless ``overwrite``: a PNG or JPEG written here carries
    no tag naming the model and the token file it came from, so it cannot be told from a
    user's own picture and is never taken as done. An input is never an output.

    Raises:
        UserInputError: a bad plan or an output that may not be written (nothing was written),
            or a token file that cannot be read (the outputs before it are kept).
    """
    source, target = Path(source), Path(target)
    if source.is_dir():
        inputs = sorted(p for p in source.rglob("*") if p.suffix.lower() in TOKEN_SUFFIXES)
        if not inputs:
            raise UserInputError(f"no {' or '.join(TOKEN_SUFFIXES)} files under {source}")
        jobs = _plan_many(source, inputs, target, DECODED_SUFFIX)
    else:
        jobs = _plan_one(source, target, tuple(WRITE_FORMATS), "images are written as")
    states = [_image_state(job.target) for job in jobs]
    todo = _select(jobs, states, overwrite, None)
    for job in todo:
        write_image(job.target, tokenizer.decode(load_tokens(job.source, tokenizer, force))[0])
    return len(todo)


def score_folder(tokenizer: SimVQImageTokenizer, images: str | os.PathLike,
                 batch_size: int = 16, inception_weights: str | os.PathLike | None = None,
                 out: str | os.PathLike | None = None, log: TextIO | None = None,
                 overwrite: bool = False) -> dict:
    """Reconstruction scores of the images under the folder ``images``: each is resized and
    centre-cropped to the model's resolution, encoded and decoded in batches of ``batch_size``;
    returns the image count, mean PSNR (dB, each image's capped at 100) and SSIM, codebook
    utilisation (fraction of the codes used), used codes, number of codes, perplexity, the
    rFID status (:func:`~simvq_audio.image.metrics.rfid_status`: ``inception_weights`` are
    refused, rFID not being implemented) and ``inputs``: the absolute path of ``images`` and
    the model's hash. The scores' Markdown table is written to ``log`` (if given), then
    ``summary.json`` (the returned dict) and ``summary.md`` (the table) into the folder ``out``
    (if given; made if missing).

    A report already in ``out`` is replaced when its ``summary.json`` records the same
    ``inputs``; any other is refused before scoring, unless ``overwrite``."""
    rfid = rfid_status(inception_weights)
    files = find_images(images)
    inputs = {"images": str(Path(images).absolute()), "model": tokenizer.model_hash}
    if out is not None:
        out = Path(out)
        outputs.check_report_folder(out, REPORT_FILES, inputs, files, overwrite)
    dataset = ImageFolderDataset(files, tokenizer.config.resolution, False)
    scores = score_batches(tokenizer.encode, tokenizer.decode,
                           DataLoader(dataset, batch_size=max(batch_size, 1)),
                           tokenizer.num_codes)
    summary = {**scores, "rfid": rfid, "inputs": inputs}
    table = format_scores(scores, rfid)
    if log is not None:
        print(table, file=log)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        for name, text in zip(REPORT_FILES, (json.dumps(summary, indent=2), table)):
            write_bytes(out / name, (text + "\n").encode("utf-8"))
    return summary


def _plan_many(source: Path, inputs: list[Path], target: Path, suffix: str) -> list[Job]:
    """One job per input: its path under ``target`` with ``suffix``; checked."""
    if target.exists() and not target.is_dir():
        raise UserInputError(f"with a folder as input, the output must be a folder, got the "
                             f"file {target}")
    jobs = [Job(path, (target / path.relative_to(source)).with_suffix(suffix))
            for path in inputs]
    outputs.check_distinct((str(job.source), str(job.target)) for job in jobs)
    outputs.check_not_inputs([job.target for job in jobs], [job.source for job in jobs])
    return jobs


def _plan_one(source: Path, target: Path, suffixes: tuple[str, ...], formats: str) -> list[Job]:
    """The one job ``source`` -> ``target``, whose suffix must be one of ``suffixes``
    (``formats`` begins the message saying so); checked."""
    outputs.check_not_inputs([target], [source])
    if target.suffix.lower() not in suffixes:
        raise UserInputError(f"{target}: {formats} {', '.join(suffixes)}")
    return [Job(source, target)]


def _tokens_state(tokenizer: SimVQImageTokenizer, job: Job) -> Existing:
    """What is at ``job``'s token file. For a ``.codes`` file the image is hashed only when a
    file is there to compare it with."""
    early = outputs.state_unless_file(job.target)
    if early is not None:
        return early
    if job.target.suffix.lower() != ".codes":
        return Existing(Kind.FOREIGN, "a .npy file records no model or input to verify")
    return outputs.codes_state(job.target, tokenizer.model_hash, outputs.input_id(job.source))


def _image_state(path: Path) -> Existing:
    """What is at a decoded image's path: an existing file is FOREIGN (an image records no
    model or input to verify)."""
    early = outputs.state_unless_file(path)
    if early is not None:
        return early
    return Existing(Kind.FOREIGN, "an image records nothing to verify")


def _select(jobs: list[Job], states: list[Existing], overwrite: bool,
            log: TextIO | None) -> list[Job]:
    """The jobs to do (:func:`simvq_audio.outputs.outputs_to_write`); ``log`` is also told how
    many outputs are already done."""
    todo = outputs.outputs_to_write(jobs, states, overwrite, log)
    if len(todo) < len(jobs) and log is not None:
        print(f"simvq-audio: {len(jobs) - len(todo)} of {len(jobs)} output(s) already done "
              "(this model, this input): skipped", file=log)
    return todo
