"""Issue 24, images: a small PNG claiming huge dimensions is refused from its header, before
anything is decoded, with one line, on every path that reads images (encode with and without
``--resize``, score, training data); ``.npy`` token grids whose header claims more than the
file holds are one line too."""

from __future__ import annotations

import io
import json
import os
import struct
import zlib

import numpy as np
import pytest
import torch

from simvq_audio.cli import main
from simvq_audio.errors import UserInputError
from simvq_audio.image.image_io import MAX_PIXELS, read_image
from simvq_audio.image.tokenizer import SimVQImageTokenizer

from hostile_helpers import assert_main_refused, assert_refused, run_limited
from image_helpers import MICRO, write_tree

TOO_MANY = f"has more than the {MAX_PIXELS} pixels allowed"


def one_colour_png(path, width: int, height: int):
    """A valid black PNG of ``width x height`` at one bit per pixel: a few kilobytes, however
    large (13000 x 13000 takes 21 KB)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(
            ">I", zlib.crc32(kind + data))
    compressor, row = zlib.compressobj(9), bytes(1 + (width + 7) // 8)  # filter 0, zeros
    pixels = b"".join(compressor.compress(row * 1000) for _ in range(height // 1000))
    pixels += compressor.compress(row * (height % 1000)) + compressor.flush()
    path.write_bytes(b"\x89PNG\r\n\x1a\n"
                     + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0))
                     + chunk(b"IDAT", pixels) + chunk(b"IEND", b""))
    return path


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    torch.manual_seed(0)
    return SimVQImageTokenizer.from_config(MICRO).save_pretrained(
        tmp_path_factory.mktemp("image") / "model")


def test_a_small_png_of_huge_dimensions_is_refused_in_bounded_memory(model, tmp_path):
    """Before: ``image encode --resize`` on a 21 KB PNG of 13000 x 13000 decoded it (5 GB);
    under a 1500 MiB address-space limit it failed for lack of memory, after PIL's
    DecompressionBombWarning on stderr."""
    png = one_colour_png(tmp_path / "big.png", 13000, 13000)
    assert png.stat().st_size < 100_000
    result = run_limited("image", "encode", "--model", model, png, tmp_path / "big.codes",
                         "--resize")
    assert_refused(result, f"{png}: the image (13000x13000) {TOO_MANY}")
    assert not (tmp_path / "big.codes").exists()


def test_a_decompression_bomb_is_one_line(model, tmp_path, capsys):
    """Before: a PNG of 20000 x 20000 ended in PIL's DecompressionBombError traceback."""
    png = one_colour_png(tmp_path / "bomb.png", 20000, 20000)
    assert_main_refused(main(["image", "encode", "--model", str(model), str(png),
                              str(tmp_path / "bomb.codes")]), capsys,
                        f"{png}: the image {TOO_MANY}")


@pytest.fixture
def tree_with_a_bomb(tmp_path):
    write_tree(tmp_path / "images", 8)
    return one_colour_png(tmp_path / "images" / "class0" / "zz.png", 20000, 20000)


def test_scoring_a_folder_with_a_bomb_is_one_line(model, tree_with_a_bomb, capsys):
    """Before: ``image score`` over a folder holding the 20000 x 20000 PNG: the same
    DecompressionBombError traceback."""
    assert_main_refused(main(["image", "score", "--model", str(model), "--images",
                              str(tree_with_a_bomb.parents[1])]), capsys, TOO_MANY)


def test_training_on_a_folder_with_a_bomb_is_one_line(tree_with_a_bomb, tmp_path, capsys):
    """Before: the training data loader met the 20000 x 20000 PNG with the same traceback."""
    config = tmp_path / "micro.yaml"
    config.write_text(json.dumps({
        "model": {"resolution": 16, "channels": 8, "channel_mult": [1, 2], "res_blocks": 1,
                  "attention": False, "quantizer": {"num_codes": 64, "dim": 8}},
        "discriminator": {"channels": 8, "layers": 1},
        "train": {"batch_size": 9, "max_steps": 1, "mixed_precision": "no",
                  "num_workers": 0}}))
    assert_main_refused(main(["image", "train", "--config", str(config), "--train-dir",
                              str(tree_with_a_bomb.parents[1]), "--exp-dir",
                              str(tmp_path / "exp"), "--cpu"]), capsys,
                        f"{tree_with_a_bomb}: the image {TOO_MANY}", progress=True)


def npy_header(shape, descr="<i8") -> bytes:
    """The header of a .npy file of ``shape``, without its data."""
    out = io.BytesIO()
    np.lib.format.write_array_header_1_0(out, {"descr": descr, "fortran_order": False,
                                               "shape": shape})
    return out.getvalue()


@pytest.mark.parametrize("content, message", [
    (npy_header((2**40,)), "(8796093022208 bytes) but the file holds 0 bytes"),
    (bytes(range(256)), "not a readable .npy token grid"),
])
def test_a_npy_grid_claiming_more_than_it_holds_is_one_line(model, tmp_path, capsys, content,
                                                            message):
    """Before: ``image decode`` of a .npy whose header claims 2**40 elements ended in a
    MemoryError (or allocated the terabytes)."""
    grid = tmp_path / "grid.npy"
    grid.write_bytes(content)
    assert_main_refused(main(["image", "decode", "--model", str(model), str(grid),
                              str(tmp_path / "out.png")]), capsys, f"{grid}: ", message)


def test_a_png_with_a_broken_chunk_and_a_fifo_are_one_line(tmp_path):
    """Found by tools/fuzz_readers.py: bytes inserted into a PNG's pixel data shift the next
    chunk, whose type is then not a name, and Pillow raised ``SyntaxError: broken PNG file``
    (a traceback before). Made here by splitting the pixel data into two chunks and giving the
    second a type that is no name. A FIFO given as an image made Pillow wait forever."""
    png = one_colour_png(tmp_path / "a.png", 64, 64).read_bytes()
    start, end = png.index(b"IDAT") - 4, png.index(b"IEND") - 4
    pixels = png[start + 8:end - 4]
    half = len(pixels) // 2

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data)))

    broken = tmp_path / "broken.png"
    broken.write_bytes(png[:start] + chunk(b"IDAT", pixels[:half])
                       + chunk(b"\x00\x00\x00I", pixels[half:]) + png[end:])
    with pytest.raises(UserInputError, match="broken.png: not an image file PIL can read"):
        read_image(broken)
    os.mkfifo(tmp_path / "fifo.png")
    with pytest.raises(UserInputError, match="fifo.png: not a regular file"):
        read_image(tmp_path / "fifo.png")
