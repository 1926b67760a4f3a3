"""Reading a ``.npy`` array of token ids from a stranger in bounded memory.

``np.load`` believes the header: a 128-byte file whose header claims ``2**40`` elements makes it
allocate terabytes (or fail with a ``MemoryError``). :func:`read_token_array` reads the header
first (:mod:`numpy.lib.format`, never pickle) and checks that the dtype is an integer and that the
file holds exactly the bytes the shape needs before anything is allocated.
"""

from __future__ import annotations

import math
import os
import tokenize
from pathlib import Path

import numpy as np
from numpy.lib import format as npy_format

from simvq_audio.errors import UserInputError, os_error_message, quote
from simvq_audio.input_files import open_regular


def read_token_array(path: str | os.PathLike, what: str = "token array") -> np.ndarray:
    """The integer array of the ``.npy`` file at ``path`` (any shape, its own integer dtype);
    ``what`` names the expected contents in messages.

    Raises:
        UserInputError: not a regular file (a FIFO is never waited on), not a ``.npy`` file
            (random bytes, a damaged or unsupported header), a dtype that is not an integer, or
            a size that differs from what the header's shape needs (truncated, or a header
            claiming more than is there).
    """
    path = Path(path)
    try:
        with open_regular(path, what) as handle:
            shape, fortran, dtype = _read_header(path, handle, what)
            if not np.issubdtype(dtype, np.integer):
                raise UserInputError(f"{path}: expected an integer {what}, found {dtype}")
            needed = math.prod(shape) * dtype.itemsize
            present = os.fstat(handle.fileno()).st_size - handle.tell()
            if present != needed:
                raise UserInputError(f"{path}: its header claims shape {quote(shape)} of "
                                     f"{dtype} ({quote(needed)} bytes) but the file holds "
                                     f"{present} bytes of data (damaged or truncated)")
            data = np.empty(math.prod(shape), dtype=dtype)
            if handle.readinto(memoryview(data).cast("B")) != needed:
                raise UserInputError(f"{path}: the file was cut short while it was read")
    except OSError as error:
        raise UserInputError(f"{path}: cannot read the .npy file ({os_error_message(error)})"
                             ) from None
    return data.reshape(shape, order="F" if fortran else "C")


def _read_header(path: Path, handle, what: str) -> tuple[tuple[int, ...], bool, np.dtype]:
    """``(shape, fortran_order, dtype)`` from the header of the open ``.npy`` file ``handle``."""
    try:
        version = npy_format.read_magic(handle)
        if version == (1, 0):
            header = npy_format.read_array_header_1_0(handle)
        elif version == (2, 0):
            header = npy_format.read_array_header_2_0(handle)
        else:
            raise ValueError(f"format version {version} is not supported")
    except (ValueError, SyntaxError, EOFError, TypeError, RecursionError,
            tokenize.TokenError) as error:  # numpy parses old headers with tokenize
        raise UserInputError(f"{path}: not a readable .npy {what} "
                             f"({quote(str(error), 120)})") from None
    shape, fortran, dtype = header
    if any(size < 0 for size in shape):
        raise UserInputError(f"{path}: its header claims the shape {quote(shape)}")
    if dtype.hasobject:
        raise UserInputError(f"{path}: holds Python objects, which are never unpickled")
    return shape, fortran, dtype
