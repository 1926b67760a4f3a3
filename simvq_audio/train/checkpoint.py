"""Training checkpoints: one directory per step, written atomically, verified before loading.

Layout: ``<exp_dir>/checkpoints/step_00001234/`` holding ``<name>.safetensors`` (weights, and
the tensors of flattened state) and ``<name>.json`` files, plus a ``COMPLETE`` marker listing
every file's size and sha256. The directory is filled under a temporary name, each file is
fsynced, the marker is written last, and only then is the directory renamed to its final name.
A checkpoint whose marker is missing, damaged or does not match its files (a torn write, a
truncated or damaged file) is skipped with a message naming it, and never loaded. Nothing is
pickled; documents are read within the limits of :mod:`simvq_audio.documents`, and a document or
tensor file that cannot be used raises :class:`DamagedCheckpoint`. A failed write (a full disk)
is one :class:`~simvq_audio.errors.UserInputError` naming the folder and the reason, and leaves
the earlier checkpoints as they were.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from simvq_audio.atomic import fsync_dir
from simvq_audio.documents import read_json_document
from simvq_audio.errors import UserInputError, os_error_message, quote

CHECKPOINTS = "checkpoints"
MARKER = "COMPLETE"
_NAME = re.compile(r"^step_(\d{8,})$")
_TEMP_PREFIX = ".tmp_"
DOCUMENT_BYTES = 64 << 20
"""Largest checkpoint document read (optimizer skeletons of large models take a few MB)."""


class DamagedCheckpoint(UserInputError):
    """A checkpoint file (a document or a tensor file) that cannot be used: unreadable,
    not JSON or safetensors, or of the wrong structure. The trainer skips such a checkpoint."""


def checkpoint_dir(exp_dir: Path, step: int) -> Path:
    return Path(exp_dir) / CHECKPOINTS / f"step_{step:08d}"


def write_checkpoint(exp_dir: Path, step: int, tensors: Mapping[str, Mapping[str, torch.Tensor]],
                     documents: Mapping[str, Any]) -> Path:
    """Write ``tensors[name]`` to ``name.safetensors`` and ``documents[name]`` (JSON-safe) to
    ``name.json`` as the checkpoint of ``step``; returns its directory. Call on one process.

    Raises:
        UserInputError: the checkpoint could not be written (a full disk, no permission, a file
            where the folder should be); nothing of it is left and earlier ones are intact.
    """
    final = checkpoint_dir(exp_dir, step)
    try:
        return _write_checkpoint(final, tensors, documents)
    except (OSError, SafetensorError) as error:
        raise UserInputError(f"cannot write the checkpoint of step {step} in {final.parent}: "
                             f"{_reason(error)} (earlier checkpoints are intact; resume with "
                             "--resume once the cause is fixed)") from None


def _write_checkpoint(final: Path, tensors: Mapping[str, Mapping[str, torch.Tensor]],
                      documents: Mapping[str, Any]) -> Path:
    root = final.parent
    root.mkdir(parents=True, exist_ok=True)
    for stale in root.glob(f"{_TEMP_PREFIX}*"):  # left by a run killed while saving
        shutil.rmtree(stale, ignore_errors=True)
    temp = root / f"{_TEMP_PREFIX}{final.name}.{os.getpid()}"
    temp.mkdir()
    try:
        for name, state in tensors.items():
            save_file({k: v.detach().cpu().contiguous() for k, v in state.items()},
                      str(temp / f"{name}.safetensors"))
        for name, document in documents.items():
            (temp / f"{name}.json").write_text(json.dumps(document), encoding="utf-8")
        files = {path.name: _describe_file(path) for path in sorted(temp.iterdir())}
        for path in temp.iterdir():
            _fsync_file(path)
        marker = {"step": checkpoint_step(final), "files": files}
        (temp / MARKER).write_text(json.dumps(marker, indent=1), encoding="utf-8")
        _fsync_file(temp / MARKER)
        fsync_dir(temp)
        if final.exists():
            shutil.rmtree(final)
        os.rename(temp, final)
        fsync_dir(root)
    finally:
        shutil.rmtree(temp, ignore_errors=True)
    return final


def checkpoint_problem(path: Path) -> str | None:
    """Why the checkpoint directory ``path`` must not be loaded, or ``None`` if it is complete."""
    marker = path / MARKER
    if not marker.is_file():
        return f"no {MARKER} marker (the write was interrupted)"
    try:
        document = read_json_document(marker, what=f"{MARKER} marker")
    except UserInputError:
        document = None
    files = document.get("files") if isinstance(document, dict) else None
    if not (isinstance(files, dict) and files and all(_plain_name(name) for name in files)):
        return f"its {MARKER} marker is damaged"
    for name, expected in files.items():
        file = path / name
        if not file.is_file():
            return f"{name} is missing"
        if _describe_file(file) != expected:
            return f"{name} does not match its size/checksum in {MARKER} (truncated or damaged)"
    return None


def latest_checkpoint(exp_dir: Path, report: Callable[[str], None] = print) -> Path | None:
    """The newest complete checkpoint of ``exp_dir`` (``None`` if there is none); each newer
    directory that is skipped is reported with the reason."""
    for path in reversed(list_checkpoints(exp_dir)):
        problem = checkpoint_problem(path)
        if problem is None:
            return path
        report(f"skipping checkpoint {path}: {problem}")
    return None


def list_checkpoints(exp_dir: Path) -> list[Path]:
    """Checkpoint directories (complete or not) by increasing step."""
    root = Path(exp_dir) / CHECKPOINTS
    if not root.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in root.iterdir() if (m := _NAME.match(p.name))]
    return [path for _, path in sorted(found)]


def checkpoint_step(path: Path) -> int:
    return int(_NAME.match(path.name).group(1))


def prune_checkpoints(exp_dir: Path, keep: int) -> None:
    """Delete all but the newest ``keep`` checkpoints that have a marker (``keep <= 0``: keep
    them all), and every one without a marker."""
    paths = list_checkpoints(exp_dir)
    complete = [p for p in paths if (p / MARKER).is_file()]
    torn = [p for p in paths if not (p / MARKER).is_file()]
    for path in (complete[:-keep] if keep > 0 else []) + torn:
        shutil.rmtree(path, ignore_errors=True)


def read_tensors(path: Path, name: str, device: str | torch.device = "cpu"
                 ) -> dict[str, torch.Tensor]:
    """The tensors of ``name.safetensors`` in the checkpoint ``path``.

    Raises:
        DamagedCheckpoint: the file is missing or not a readable safetensors file.
    """
    file = path / f"{name}.safetensors"
    try:
        return load_file(str(file), device=str(device))
    except (OSError, SafetensorError) as error:
        raise DamagedCheckpoint(f"{file}: cannot be read ({_reason(error)})") from None


def read_document(path: Path, name: str) -> Any:
    """The JSON document ``name.json`` of the checkpoint ``path``, read within the limits of
    :mod:`simvq_audio.documents` (size, depth, values, integer length).

    Raises:
        DamagedCheckpoint: the file is missing, not JSON (random bytes, truncated) or beyond
            those limits (nested 100000 deep).
    """
    try:
        return read_json_document(path / f"{name}.json", DOCUMENT_BYTES, "checkpoint document")
    except UserInputError as error:
        raise DamagedCheckpoint(str(error)) from None


def _reason(error: OSError | SafetensorError) -> str:
    """Why reading or writing failed, in one short phrase: the system's reason for an
    ``OSError`` or for the ``(os error N)`` that safetensors reports, else its message cut."""
    if isinstance(error, OSError):
        return os_error_message(error)
    code = re.search(r"\(os error (\d+)\)", str(error))
    return os.strerror(int(code.group(1))) if code else quote(str(error), 120)


def _plain_name(name: str) -> bool:
    """Whether ``name`` names a file inside the checkpoint folder itself (no path, no NUL)."""
    return bool(name) and name not in (".", "..") and "\0" not in name and Path(name).name == name


def _describe_file(path: Path) -> dict[str, Any]:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return {"bytes": path.stat().st_size, "sha256": digest.hexdigest()}


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())
