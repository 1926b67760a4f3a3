"""Token grids on disk: ``.codes`` (the shared checksummed container, grid ``[h, w]``, sample
rate 0, hop 0, ``num_samples = H * W``, 3 channels) or ``.npy`` (int64 ``[h, w]``, no pickle)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from simvq_audio.atomic import atomic_path
from simvq_audio.codes import CodesHeader, SourceId, check_model, read_codes, write_codes
from simvq_audio.errors import UserInputError
from simvq_audio.image.tokenizer import SimVQImageTokenizer
from simvq_audio.token_arrays import read_token_array

TOKEN_SUFFIXES = (".codes", ".npy")


def save_tokens(path: str | os.PathLike, tokens: torch.Tensor,
                tokenizer: SimVQImageTokenizer, source: SourceId | None = None) -> None:
    """Write ``tokens [h, w]`` of ``tokenizer`` to ``path`` (format from the suffix); a
    ``.codes`` file records ``source``, the identity of the image they were encoded from
    (:func:`simvq_audio.outputs.input_id`; None: not recorded), a ``.npy`` file nothing."""
    path = Path(path)
    suffix = _suffix(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".npy":
        with atomic_path(path) as tmp, open(tmp, "wb") as handle:
            np.save(handle, tokens.cpu().numpy().astype(np.int64), allow_pickle=False)
        return
    height, width = tokens.shape
    f = tokenizer.downsampling
    header = CodesHeader(tokenizer.model_hash, tokenizer.num_codes, 0, 0,
                         height * f * width * f, tokenizer.config.in_channels, (height, width),
                         source)
    write_codes(path, tokens, header)


def load_tokens(path: str | os.PathLike, tokenizer: SimVQImageTokenizer,
                force: bool = False) -> torch.Tensor:
    """Read ``tokens [h, w]`` for ``tokenizer``: a ``.codes`` file must come from the same model
    (unless ``force``), be an image grid and fit the codebook."""
    path = Path(path)
    if _suffix(path) == ".npy":
        tokens = read_token_array(path, "token grid [h, w]")
        if tokens.ndim != 2:
            raise UserInputError(f"{path}: expected an integer token grid [h, w], got "
                                 f"{tokens.dtype} {list(tokens.shape)}")
        return torch.from_numpy(tokens.astype(np.int64))
    header, tokens = read_codes(path)
    if header.sample_rate or len(header.grid) != 2:
        raise UserInputError(f"{path}: holds audio tokens (grid {list(header.grid)}), not an "
                             f"image token grid [h, w]")
    if header.codebook_size != tokenizer.num_codes:
        raise UserInputError(f"{path}: codebook size {header.codebook_size} differs from the "
                             f"model's {tokenizer.num_codes}")
    check_model(header, tokenizer.model_hash, force)
    return tokens


def _suffix(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in TOKEN_SUFFIXES:
        raise UserInputError(f"{path}: token files end in {' or '.join(TOKEN_SUFFIXES)}")
    return suffix
