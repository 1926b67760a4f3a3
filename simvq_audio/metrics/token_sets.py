"""Reading the tokens of an evaluation set from a folder: ``.codes`` files (preferred: they carry
the codebook size and frame rate) or ``.npy`` arrays of token ids, one file per utterance (ids
are paths relative to the folder, without the extension)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from simvq_audio.codes import read_codes
from simvq_audio.errors import UserInputError
from simvq_audio.token_arrays import read_token_array


@dataclass
class TokenSet:
    """``tokens``: utterance id -> int64 tokens (any shape). ``num_codes`` and
    ``tokens_per_second`` come from the ``.codes`` headers, ``None`` for ``.npy`` files."""

    tokens: dict[str, torch.Tensor]
    num_codes: int | None = None
    tokens_per_second: float | None = None


def read_token_dir(folder: str | Path) -> TokenSet:
    """All ``.codes`` or all ``.npy`` files under ``folder`` (not a mix).

    Raises :class:`UserInputError` for a missing or empty folder, a mix of formats, a damaged
    file, ``.codes`` headers that disagree on codebook size or frame rate, or a non-integer
    ``.npy`` array (:func:`~simvq_audio.token_arrays.read_token_array`: the header is checked
    against the file's size before anything is allocated).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise UserInputError(f"{folder}: no such directory of token files")
    codes, arrays = sorted(folder.rglob("*.codes")), sorted(folder.rglob("*.npy"))
    if codes and arrays:
        raise UserInputError(f"{folder}: holds both .codes and .npy files; keep one kind")
    if not codes and not arrays:
        raise UserInputError(f"{folder}: no .codes or .npy token files found")
    if arrays:
        return TokenSet({_utt_id(folder, path): _read_npy(path) for path in arrays})
    return _read_codes_files(folder, codes)


def _utt_id(folder: Path, path: Path) -> str:
    return path.relative_to(folder).with_suffix("").as_posix()


def _read_npy(path: Path) -> torch.Tensor:
    return torch.from_numpy(read_token_array(path).astype(np.int64))


def _read_codes_files(folder: Path, paths: list[Path]) -> TokenSet:
    tokens, first = {}, None
    for path in paths:
        header, tokens[_utt_id(folder, path)] = read_codes(path)
        if not header.hop_length:
            raise UserInputError(f"{path}: not audio codes (no hop length in the header)")
        described = (header.codebook_size, header.sample_rate / header.hop_length)
        if first is None:
            first = (path, described)
        elif described != first[1]:
            raise UserInputError(f"{path}: {described[0]} codes at {described[1]:g} tokens/s, but "
                                 f"{first[0].name} has {first[1][0]} at {first[1][1]:g} tokens/s")
    return TokenSet(tokens, num_codes=first[1][0], tokens_per_second=first[1][1])
