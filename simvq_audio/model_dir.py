"""The model directory: ``config.json`` + ``model.safetensors`` (+ optional ``README.md`` card).

This is what ``from_pretrained`` reads and ``save_pretrained``/export writes, for both
modalities: ``config.json`` holds ``{"modality": "audio" | "image", "model": {...}}``
(:func:`read_modality`; see :mod:`simvq_audio.compression_model`). Weights are read
with safetensors only, so loading a model never unpickles or executes anything; a file that is
not what its name claims is refused with one clear :class:`~simvq_audio.errors.UserInputError`.
:func:`model_hash` gives the weights' identity that ``.codes`` files record.

``model.safetensors`` carries the sha256 of its tensors (:func:`weights_sha256`, the digest that
:func:`model_hash` shortens) in its metadata under :data:`CHECKSUM_KEY`; loading recomputes it
and refuses a file whose tensors no longer match (damaged bytes behind an intact header). Files
written before the checksum existed load unchecked.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path

import safetensors
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from simvq_audio.atomic import atomic_path
from simvq_audio.errors import UserInputError

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
CARD_NAME = "README.md"
HASH_HEX_CHARS = 32
"""Length of :func:`model_hash` (the first 16 bytes of a sha256, in hex)."""
CHECKSUM_KEY = "simvq_audio.weights_sha256"
MODALITIES = ("audio", "image")
_PICKLE_SIGNATURES = (b"PK\x03\x04", b"\x80")
"""Leading bytes of a ``torch.save`` zip archive and of a raw pickle."""
_MAX_LISTED = 8
"""How many names :func:`check_state_dict` lists per kind of problem."""


def save_model_dir(path: str | os.PathLike, config: dict, state_dict: Mapping[str, torch.Tensor],
                   card: str | None = None) -> Path:
    """Write ``config`` (a JSON-serialisable dict) and ``state_dict`` into the directory ``path``.

    The directory (and its parents) is created. Each file is written atomically; the weights go
    first and ``config.json`` last, so an interrupted save never leaves a complete-looking
    directory with new weights and no matching config. An existing ``README.md`` is kept when
    ``card`` is None. Returns the directory path.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UserInputError(f"cannot save a model to {path}: it exists and is not a directory")
    config_text = json.dumps(config, indent=2, sort_keys=True) + "\n"
    path.mkdir(parents=True, exist_ok=True)
    tensors = _standalone_tensors(state_dict)
    with atomic_path(path / WEIGHTS_NAME) as tmp:
        save_file(tensors, str(tmp), metadata={CHECKSUM_KEY: weights_sha256(tensors)})
    with atomic_path(path / CONFIG_NAME) as tmp:
        tmp.write_text(config_text, encoding="utf-8")
    if card is not None:
        with atomic_path(path / CARD_NAME) as tmp:
            tmp.write_text(card, encoding="utf-8")
    return path


def load_model_dir(path: str | os.PathLike,
                   device: str | torch.device = "cpu") -> tuple[dict, dict[str, torch.Tensor]]:
    """Read ``(config dict, state_dict)`` from the model directory ``path``, tensors on ``device``.

    Raises :class:`UserInputError` for a missing directory or file, a config that is not a JSON
    object, a weights file that is not a valid safetensors file (pickles included), or weights
    that do not match their recorded checksum.
    """
    path = _model_dir(path)
    return _read_config(path / CONFIG_NAME), _read_weights(path / WEIGHTS_NAME, device)


def read_config(path: str | os.PathLike) -> dict:
    """The ``config.json`` dict of the model directory ``path`` (the weights are not read)."""
    return _read_config(_model_dir(path) / CONFIG_NAME)


def read_modality(config: Mapping, where: str = CONFIG_NAME) -> str:
    """The modality of a model directory's ``config`` dict: its ``"modality"`` (one of
    :data:`MODALITIES`). A config without the key is an audio codec's: codec directories were
    written without it before both modalities shared the layout (image directories always
    carried ``"modality": "image"``)."""
    modality = config.get("modality", "audio")
    if modality not in MODALITIES:
        raise UserInputError(f"{where}: 'modality' must be one of "
                             f"{', '.join(map(repr, MODALITIES))}, got {modality!r}")
    return modality


def check_state_dict(module: nn.Module, state_dict: Mapping[str, torch.Tensor]) -> None:
    """Raise one :class:`UserInputError` listing every missing key, unexpected key and shape
    mismatch between ``state_dict`` and ``module.state_dict()``; return quietly when they fit."""
    expected = module.state_dict()
    problems = []
    missing = sorted(expected.keys() - state_dict.keys())
    unexpected = sorted(state_dict.keys() - expected.keys())
    mismatched = [f"{name} (file {list(state_dict[name].shape)}, model {list(tensor.shape)})"
                  for name, tensor in sorted(expected.items())
                  if name in state_dict and state_dict[name].shape != tensor.shape]
    for label, names in (("missing", missing), ("unexpected", unexpected),
                         ("shape mismatch", mismatched)):
        if names:
            problems.append(f"{label} ({len(names)}): {_short_list(names)}")
    if problems:
        raise UserInputError("the weights do not fit the model built from its config: "
                             + "; ".join(problems))


def model_hash(state_dict: Mapping[str, torch.Tensor], behaviour: str | None = None) -> str:
    """A 32-hex-char identity of the weights: the start of :func:`weights_sha256`.

    ``behaviour`` names settings that change the tokens without changing a weight (e.g.
    ``"encoder.padding=reflect"``); when given, it is hashed together with the weights, so the
    same weights used differently get another identity. ``None`` is the weights alone (every
    model directory written before such settings existed keeps its identity)."""
    weights = weights_sha256(state_dict)
    if behaviour is None:
        return weights[:HASH_HEX_CHARS]
    return hashlib.sha256(f"{weights}\n{behaviour}".encode()).hexdigest()[:HASH_HEX_CHARS]


def weights_sha256(state_dict: Mapping[str, torch.Tensor]) -> str:
    """sha256 (64 hex chars) over the sorted tensor names, dtypes, shapes and raw bytes.
    Independent of insertion order and device; any changed weight changes it."""
    digest = hashlib.sha256()
    for name in sorted(state_dict):
        tensor = state_dict[name].detach().cpu().contiguous()
        raw = tensor.reshape(-1).view(torch.uint8).numpy()
        described = [name, str(tensor.dtype), list(tensor.shape), raw.nbytes]
        digest.update(json.dumps(described).encode())
        digest.update(raw)
    return digest.hexdigest()


def _standalone_tensors(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """CPU, contiguous copies that share no storage (safetensors refuses shared/tied tensors)."""
    result, storages = {}, set()
    for name, tensor in state_dict.items():
        tensor = tensor.detach().cpu().contiguous()
        if tensor.numel() and tensor.untyped_storage().data_ptr() in storages:
            tensor = tensor.clone()
        storages.add(tensor.untyped_storage().data_ptr())
        result[name] = tensor
    return result


def _model_dir(path: str | os.PathLike) -> Path:
    path = Path(path)
    if not path.is_dir():
        what = "is not a directory" if path.exists() else "does not exist"
        raise UserInputError(f"model directory {path} {what}; a model directory holds "
                             f"{CONFIG_NAME} and {WEIGHTS_NAME}")
    return path


def _read_config(file: Path) -> dict:
    if not file.is_file():
        raise UserInputError(f"{file} is missing: the model directory needs its {CONFIG_NAME}")
    try:
        config = json.loads(file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise UserInputError(f"{file} is not valid JSON: {error}") from None
    if not isinstance(config, dict):
        raise UserInputError(f"{file} must hold a JSON object, found {type(config).__name__}")
    return config


def _read_weights(file: Path, device: str | torch.device) -> dict[str, torch.Tensor]:
    if not file.is_file():
        raise UserInputError(f"{file} is missing: the model directory needs its {WEIGHTS_NAME}")
    try:
        with safetensors.safe_open(str(file), "pt") as handle:
            recorded = (handle.metadata() or {}).get(CHECKSUM_KEY)
        state = load_file(str(file), device=str(device))
    except safetensors.SafetensorError as error:
        with open(file, "rb") as handle:
            head = handle.read(9)
        # a safetensors header (u64 length, then "{") may also start with byte 0x80
        pickled = head.startswith(_PICKLE_SIGNATURES) and head[8:9] != b"{"
        hint = ("it looks like a pickled torch checkpoint, which is never loaded: export the "
                "weights with save_pretrained" if pickled else "the file is damaged or truncated")
        raise UserInputError(f"{file} is not a valid safetensors file ({error}); {hint}") from None
    if recorded is not None and recorded != weights_sha256(state):
        raise UserInputError(f"{file} is damaged: its tensors do not match the checksum recorded "
                             "when it was written; restore the file or export the model again")
    return state


def _short_list(names: list[str]) -> str:
    shown = ", ".join(names[:_MAX_LISTED])
    hidden = len(names) - _MAX_LISTED
    return shown + (f", ... and {hidden} more" if hidden > 0 else "")
