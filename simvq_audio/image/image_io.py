"""Reading and writing image files with PIL, and finding them in ImageFolder-style trees.

Images are float tensors ``[3, H, W]`` in [0, 1]. Greyscale, palette and alpha images are
converted to RGB (alpha dropped); anything PIL cannot decode, and any image of more than
:data:`MAX_PIXELS` (a small PNG can claim 20000 x 20000), is refused with one clear message.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from simvq_audio.atomic import atomic_path
from simvq_audio.errors import UserInputError, os_error_message, quote
from simvq_audio.input_files import open_regular

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")
WRITE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG"}
MAX_PIXELS = 89_478_485
"""Most pixels an image read may have, checked from its header before it is decoded: PIL's own
decompression-bomb threshold (``Image.MAX_IMAGE_PIXELS``, about 9459 x 9459), here an error
rather than a warning. At the limit the float copy takes about 1 GiB."""


def read_image(path: str | os.PathLike) -> torch.Tensor:
    """The RGB image at ``path`` as float32 ``[3, H, W]`` in [0, 1]; refused before decoding
    when its header claims more than :data:`MAX_PIXELS`, and when ``path`` is not a regular file
    (a FIFO is never waited on). The file is read into memory first: Pillow reads a chunk by
    the length the file declares, and a file object allocates that length before reading."""
    path = Path(path)
    with open_regular(path, "file") as handle:
        return decode_image(path, handle)


def decode_image(path: str | os.PathLike, handle: BinaryIO) -> torch.Tensor:
    """:func:`read_image` of the file ``path`` open as the binary ``handle`` (at its start),
    which is read into memory first."""
    try:
        data = handle.read()
    except OSError as error:
        raise UserInputError(f"cannot read {path}: {os_error_message(error)}") from None
    return _decode(Path(path), io.BytesIO(data))


def _decode(path: Path, handle: BinaryIO) -> torch.Tensor:
    """:func:`read_image` of the file ``path`` whose bytes the in-memory ``handle`` holds."""
    try:
        with warnings.catch_warnings():  # the limit below replaces PIL's warning
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(handle)
        with image:
            if image.width * image.height > MAX_PIXELS:
                raise UserInputError(_too_large(path, f" ({image.width}x{image.height})"))
            image.load()
            rgb = image.convert("RGB")
    except UserInputError:
        raise
    except Image.DecompressionBombError:
        raise UserInputError(_too_large(path)) from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError) as error:
        # (Pillow raises SyntaxError for some broken PNG chunks)
        raise UserInputError(f"{path}: not an image file PIL can read "
                             f"({quote(str(error), 120)})") from None
    if rgb.width == 0 or rgb.height == 0:
        raise UserInputError(f"{path}: the image is empty ({rgb.width}x{rgb.height})")
    return torch.from_numpy(np.array(rgb)).permute(2, 0, 1).float().div_(255.0)  # 1 float copy


def _too_large(path: Path, size: str = "") -> str:
    return (f"{path}: the image{size} has more than the {MAX_PIXELS} pixels allowed (a "
            "decompression bomb, or a photo to scale down first)")


def write_image(path: str | os.PathLike, image: torch.Tensor) -> None:
    """Write ``image [3, H, W]`` in [0, 1] (rounded to 8 bits) atomically as PNG or JPEG (by
    the suffix of ``path``)."""
    path = Path(path)
    kind = WRITE_FORMATS.get(path.suffix.lower())
    if kind is None:
        raise UserInputError(f"{path}: images are written as {', '.join(WRITE_FORMATS)}")
    pixels = (image.detach().float().clamp(0, 1) * 255).round().to(torch.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        Image.fromarray(pixels.permute(1, 2, 0).cpu().numpy()).save(tmp, format=kind)


def find_images(root: str | os.PathLike) -> list[Path]:
    """Image files under ``root`` (recursively, by suffix), sorted; an error if there are none."""
    root = Path(root)
    if not root.is_dir():
        raise UserInputError(f"image folder {root} does not exist or is not a directory")
    files = sorted(p for p in root.rglob("*")
                   if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise UserInputError(f"no image files ({', '.join(IMAGE_SUFFIXES)}) under {root}")
    return files


def center_square(image: torch.Tensor, size: int) -> torch.Tensor:
    """``image [3, H, W]`` -> ``[3, size, size]``: the shorter side resized to ``size``
    (antialiased bicubic), then the centre cropped."""
    return resized_crop(image, size, offset=(0.5, 0.5))


def resized_crop(image: torch.Tensor, size: int, offset: tuple[float, float]) -> torch.Tensor:
    """``image [3, H, W]`` -> ``[3, size, size]``: shorter side resized to ``size``, then the
    square at relative ``offset`` (0: top/left, 1: bottom/right) along the longer side."""
    _, height, width = image.shape
    scale = size / min(height, width)
    new_h, new_w = max(size, round(height * scale)), max(size, round(width * scale))
    if (new_h, new_w) != (height, width):
        image = torch.nn.functional.interpolate(image[None], size=(new_h, new_w), mode="bicubic",
                                                antialias=True, align_corners=False)[0]
    top, left = round((new_h - size) * offset[0]), round((new_w - size) * offset[1])
    return image[:, top:top + size, left:left + size].clamp(0, 1)
