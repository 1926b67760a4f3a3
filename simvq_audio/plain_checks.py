"""The argument checks of :mod:`simvq_audio.validate` that need no torch, so that the ``.codes``
reader (:mod:`simvq_audio.codes`) and with it ``simvq-audio info`` start without importing
torch (over a second); :mod:`simvq_audio.validate` re-exports them."""

from __future__ import annotations

import os
import sys

import numpy as np

from simvq_audio.errors import UserInputError


def describe(value: object) -> str:
    """A short description of a user's value for an error message (no reprs, no addresses)."""
    if value is None or isinstance(value, (bool, int, float)):
        text = repr(value)
        return text if len(text) <= 40 else text[:37] + "..."
    if isinstance(value, str):
        return repr(value if len(value) <= 40 else value[:37] + "...")
    torch = sys.modules.get("torch")  # a tensor exists only once torch has been imported
    is_tensor = torch is not None and isinstance(value, torch.Tensor)
    if is_tensor or isinstance(value, np.ndarray):
        kind = "tensor" if is_tensor else "array"
        dtype = str(value.dtype).removeprefix("torch.")
        return f"a {dtype} {kind} of shape {list(value.shape)}"
    if isinstance(value, np.generic):
        return f"a numpy {value.dtype} scalar"
    if isinstance(value, (list, tuple)) and len(value) <= 8:
        return "[" + ", ".join(describe(item) for item in value) + "]"
    return f"a {type(value).__name__}"


def file_path(value: object, what: str) -> str:
    """A file name: ``str`` or ``os.PathLike`` (not a file descriptor, not bytes)."""
    if not isinstance(value, (str, os.PathLike)) or not os.fspath(value):
        raise UserInputError(f"{what} must be a file path (str or pathlib.Path), got "
                             f"{describe(value)}")
    return os.fspath(value)
