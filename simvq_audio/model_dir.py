"""The model directory: ``config.json`` + ``model.safetensors`` (+ optional ``README.md`` card).

This is what ``from_pretrained`` reads and ``save_pretrained``/export writes, for both
modalities: ``config.json`` holds ``{"modality": "audio" | "image", "model": {...}}``
(:func:`read_modality`; see :mod:`simvq_audio.pretrained_tokenizer`). Weights are read
with safetensors only, so loading a model never unpickles or executes anything; a file that is
not what its name claims is refused with one clear :class:`~simvq_audio.errors.UserInputError`.
:func:`model_hash` gives the weights' identity that ``.codes`` files record.

``model.safetensors`` carries the sha256 of its tensors (:func:`weights_sha256`, the digest that
:func:`model_hash` shortens) in its metadata under :data:`CHECKSUM_KEY`; loading recomputes it
and refuses a file whose tensors no longer match (damaged bytes behind an intact header). Files
written before the checksum existed load unchecked.

A directory is written all or nothing (:func:`save_model_dir`): built in a hidden sibling and
renamed into place, so an interrupted export or import leaves the old directory or the new one,
and rerunning it is all it takes. ``config.json`` names the sha256 of the weights written with
it (:data:`WEIGHTS_SHA256_KEY`), and :func:`load_model_dir` refuses a directory whose files do
not belong together (directories written before the key existed load unchecked).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import re
import secrets
import shutil
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

import safetensors
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from simvq_audio.atomic import failed_write, fsync_dir, missing_folders, new_file_mode, shown_path
from simvq_audio.documents import read_json_document
from simvq_audio.errors import UserInputError, cut, quote

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
CARD_NAME = "README.md"
HASH_HEX_CHARS = 32
"""Length of :func:`model_hash` (the first 16 bytes of a sha256, in hex)."""
CHECKSUM_KEY = "simvq_audio.weights_sha256"
WEIGHTS_SHA256_KEY = "weights_sha256"
"""The key of ``config.json`` naming the :func:`weights_sha256` of the weights written with it
(not part of the config dict :func:`load_model_dir` returns)."""
MODALITIES = ("audio", "image")
_PICKLE_SIGNATURES = (b"PK\x03\x04", b"\x80")
"""Leading bytes of a ``torch.save`` zip archive and of a raw pickle."""
_MAX_LISTED = 4
"""How many names :func:`check_state_dict` lists per kind of problem."""


def save_model_dir(path: str | os.PathLike, config: dict, state_dict: Mapping[str, torch.Tensor],
                   card: str | None = None) -> Path:
    """Write ``config`` (a JSON-serialisable dict) and ``state_dict`` as the model directory
    ``path`` (``card``: its ``README.md``); returns ``path``.

    All or nothing: the files are written and fsynced in a hidden sibling
    (``.<name>.partial-<pid>-<random>``) that is then renamed to ``path``. An existing directory
    is renamed aside first and removed once the new one is in place; its other entries (and its
    ``README.md`` when ``card`` is None) are carried over as hard links, and its permissions are
    kept; a read-only one is refused, and for a link the folder it names is replaced (the
    parent must be writable either way). Whatever interrupts a save (full disk, Ctrl-C,
    ``kill -9``), ``path`` is the old directory or the new one, never a mix, and the next save
    removes what an interrupted one left behind. Missing parents are created (and removed
    again on failure). ``config.json`` is standard JSON and names the weights' sha256
    (:data:`WEIGHTS_SHA256_KEY`).

    Raises:
        UserInputError: ``path`` is not a directory, holds a non-file where a model file goes,
        or cannot be written (one line naming ``path`` and the cause); or ``config`` holds a
        NaN or an infinity.
        TypeError: ``config`` holds a value JSON cannot represent (a programming error).
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UserInputError(f"cannot save a model to {shown_path(path)}: it exists and is not a "
                             f"directory")
    tensors = _standalone_tensors(state_dict)
    digest = weights_sha256(tensors)
    try:
        config_text = json.dumps({**config, WEIGHTS_SHA256_KEY: digest}, indent=2,
                                 sort_keys=True, allow_nan=False) + "\n"
    except ValueError as error:  # NaN or inf: not standard JSON
        raise UserInputError(f"cannot save a model to {shown_path(path)}: its config holds a "
                             f"number JSON cannot represent ({error})") from None
    writers = {WEIGHTS_NAME: lambda file: _save_weights(file, tensors, digest),
               CONFIG_NAME: lambda file: file.write_text(config_text, encoding="utf-8")}
    if card is not None:
        writers[CARD_NAME] = lambda file: file.write_text(card, encoding="utf-8")
    _write_directory(path, writers)
    return path


def load_model_dir(path: str | os.PathLike,
                   device: str | torch.device = "cpu") -> tuple[dict, dict[str, torch.Tensor]]:
    """Read ``(config dict, state_dict)`` from the model directory ``path``, tensors on ``device``.

    Raises :class:`UserInputError` for a missing directory or file, a config that is not a JSON
    object, a weights file that is not a valid safetensors file (pickles included), or weights
    that do not match their recorded checksum.
    """
    path = _model_dir(path)
    config = _read_config(path / CONFIG_NAME)
    expected = config.pop(WEIGHTS_SHA256_KEY, None)
    if expected is not None and not (isinstance(expected, str)
                                     and re.fullmatch(r"[0-9a-f]{64}", expected)):
        raise UserInputError(f"{path / CONFIG_NAME}: '{WEIGHTS_SHA256_KEY}' must be 64 hex "
                             f"digits, got {quote(expected)}")
    state = _read_weights(path / WEIGHTS_NAME, device)
    if expected is not None and weights_sha256(state) != expected:
        raise UserInputError(f"{path}: {WEIGHTS_NAME} and {CONFIG_NAME} do not belong together "
                             f"(the config names other weights: they come from different "
                             f"saves); export or import the model again")
    return config, state


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
                             f"{', '.join(map(repr, MODALITIES))}, got {quote(modality)}")
    return modality


def check_state_dict(module: nn.Module, state_dict: Mapping[str, torch.Tensor]) -> None:
    """Raise one :class:`UserInputError` listing every missing key, unexpected key and shape
    mismatch between ``state_dict`` and ``module.state_dict()``; return quietly when they fit."""
    check_shapes({name: tensor.shape for name, tensor in module.state_dict().items()},
                 state_dict, "the weights do not fit the model built from its config")


def check_shapes(expected: Mapping[str, Sequence[int]], state_dict: Mapping[str, torch.Tensor],
                 what: str) -> None:
    """Raise one :class:`UserInputError`, ``"<what>: "`` and a list of every missing key,
    unexpected key and shape mismatch between ``state_dict`` and ``expected`` (name -> shape,
    sizes of any magnitude: a config's, shown bounded); return quietly when they fit."""
    problems = []
    missing = sorted(expected.keys() - state_dict.keys())
    unexpected = sorted(state_dict.keys() - expected.keys())
    mismatched = [f"{name} (file {list(state_dict[name].shape)}, model {quote(list(shape))})"
                  for name, shape in sorted(expected.items())
                  if name in state_dict and tuple(state_dict[name].shape) != tuple(shape)]
    for label, names in (("missing", missing), ("unexpected", unexpected),
                         ("shape mismatch", mismatched)):
        if names:
            problems.append(f"{label} ({len(names)}): {_short_list(names)}")
    if problems:
        raise UserInputError(f"{what}: " + "; ".join(problems))


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


def training_record(path: str | os.PathLike) -> dict | None:
    """The ``"training"`` record of the model directory ``path`` (what produced its weights: an
    export's run and step, an import's checkpoint), or None where it has no readable one."""
    try:
        record = read_config(path).get("training")
    except UserInputError:
        return None
    return record if isinstance(record, dict) else None


def _write_directory(path: Path, writers: Mapping[str, Callable[[Path], None]]) -> None:
    """Make ``path`` (a link's target, for a link) a directory holding the files ``writers``
    write (name -> write to this path) and the other entries of the directory it replaces (see
    :func:`save_model_dir`). A working directory inside the replaced one moves to the new one."""
    target = Path(os.path.realpath(path))  # "." and links: what is renamed is the real folder
    parent = target.parent
    created = missing_folders(parent)
    tag = f"{os.getpid()}-{secrets.token_hex(4)}"
    staging, aside = (parent / f".{target.name}.{kind}-{tag}" for kind in ("partial", "old"))
    replaced = False
    try:
        if target.is_dir():
            if not os.access(target, os.W_OK):  # read-only: kept so, not replaced
                raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))
            _check_model_files(target, writers)
        parent.mkdir(parents=True, exist_ok=True)
        _remove_stale(parent, target.name)
        staging.mkdir()
        for name, write in writers.items():
            write(staging / name)
            with open(staging / name, "rb") as handle:
                os.fsync(handle.fileno())
            os.chmod(staging / name, new_file_mode())  # safetensors writes 0600
        if target.is_dir():
            _link_tree(target, staging, skip=writers)
            shutil.copymode(target, staging)
        fsync_dir(staging)
        cwd = None
        with contextlib.suppress(OSError):
            cwd = Path(os.getcwd())
        if target.is_dir():
            os.rename(target, aside)
            replaced = True
        os.rename(staging, target)
        if replaced and cwd is not None and (cwd == target or target in cwd.parents):
            with contextlib.suppress(OSError):
                os.chdir(cwd)  # the same path, now in the new directory
        fsync_dir(parent)
    except BaseException as error:
        if replaced and not os.path.lexists(target):
            with contextlib.suppress(OSError):
                os.rename(aside, target)
        shutil.rmtree(staging, ignore_errors=True)
        failed_write(path, created, error)
        raise
    shutil.rmtree(aside, ignore_errors=True)


def _save_weights(file: Path, tensors: dict[str, torch.Tensor], digest: str) -> None:
    """``save_file``, its I/O errors (a full disk: ``... (os error 28)``) as ``OSError``."""
    try:
        save_file(tensors, str(file), metadata={CHECKSUM_KEY: digest})
    except safetensors.SafetensorError as error:
        code = re.search(r"os error (\d+)", str(error))
        if code is None:
            raise OSError(str(error)) from None
        raise OSError(int(code[1]), os.strerror(int(code[1]))) from None


def _check_model_files(path: Path, names: Iterable[str]) -> None:
    """Refuse to replace a directory (or anything else that is not a file or a link) that sits
    where a model file goes: it is not ours to delete."""
    for name in names:
        entry = path / name
        if os.path.lexists(entry) and not (entry.is_symlink() or entry.is_file()):
            raise UserInputError(f"cannot write {shown_path(path)}: {name} in it is not a "
                                 f"regular file; remove or rename it")


def _link_tree(source: Path, target: Path, skip: Iterable[str] = ()) -> None:
    """Give the existing directory ``target`` the entries of ``source`` (except ``skip``):
    files as hard links (copies where the file system has none), links as links, folders
    recursively with their permissions."""
    with os.scandir(source) as entries:
        for entry in entries:
            if entry.name in skip:
                continue
            destination = target / entry.name
            if entry.is_symlink():
                os.symlink(os.readlink(entry.path), destination)
            elif entry.is_dir():
                destination.mkdir()
                _link_tree(Path(entry.path), destination)
                shutil.copymode(entry.path, destination)
            else:
                try:
                    os.link(entry.path, destination, follow_symlinks=False)
                except OSError:
                    shutil.copy2(entry.path, destination)


def _remove_stale(parent: Path, name: str) -> None:
    """Remove what saves of ``parent / name`` that were killed left behind: the hidden
    ``partial`` and ``old`` siblings of processes no longer running."""
    pattern = re.compile(rf"\.{re.escape(name)}\.(?:partial|old)-(\d{{1,10}})-[0-9a-f]{{8}}")
    with os.scandir(parent) as entries:
        stale = [entry.path for entry in entries
                 if (match := pattern.fullmatch(entry.name)) and not _running(int(match[1]))]
    for folder in stale:
        shutil.rmtree(folder, ignore_errors=True)


def _running(pid: int) -> bool:
    """Whether process ``pid`` exists (ours counts: another thread may be saving)."""
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):
        return False
    except OSError:  # another user's process
        return True
    return True


def _model_dir(path: str | os.PathLike) -> Path:
    path = Path(path)
    if not path.is_dir():
        what = "is not a directory" if path.exists() else "does not exist"
        raise UserInputError(f"model directory {path} {what}; a model directory holds "
                             f"{CONFIG_NAME} and {WEIGHTS_NAME}")
    return path


def _read_config(file: Path) -> dict:
    """The ``config.json`` object, read within the limits of
    :func:`~simvq_audio.documents.read_json_document` (at most its 1 MiB, no
    deep nesting, no huge integers, no ``NaN``/``Infinity``)."""
    if not file.exists():
        raise UserInputError(f"{file} is missing: the model directory needs its {CONFIG_NAME}")
    config = read_json_document(file, what=f"model directory's {CONFIG_NAME}")
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
    """The first :data:`_MAX_LISTED` of ``names`` (each cut to 100 characters: a stranger's
    file names its tensors) joined with commas, and how many more."""
    shown = ", ".join(cut(name, 100) for name in names[:_MAX_LISTED])
    hidden = len(names) - _MAX_LISTED
    return shown + (f", ... and {hidden} more" if hidden > 0 else "")
