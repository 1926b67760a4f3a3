"""Training checkpoints: one directory per step, written atomically, verified before loading.

Layout: ``<exp_dir>/checkpoints/step_00001234/`` holding ``<name>.safetensors`` (weights, and
the tensors of flattened state) and ``<name>.json`` files, plus a ``COMPLETE`` marker listing
every file's size and sha256. The directory is filled under a temporary name, each file is
fsynced, the marker is written last, and only then is the directory renamed to its final name.
A checkpoint whose marker is missing or does not match its files (a torn write, a truncated or
damaged file) is skipped with a message naming it, and never loaded. Nothing is pickled.
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
from safetensors.torch import load_file, save_file

from simvq_audio.atomic import fsync_dir

CHECKPOINTS = "checkpoints"
MARKER = "COMPLETE"
_NAME = re.compile(r"^step_(\d{8,})$")
_TEMP_PREFIX = ".tmp_"


def checkpoint_dir(exp_dir: Path, step: int) -> Path:
    return Path(exp_dir) / CHECKPOINTS / f"step_{step:08d}"


def write_checkpoint(exp_dir: Path, step: int, tensors: Mapping[str, Mapping[str, torch.Tensor]],
                     documents: Mapping[str, Any]) -> Path:
    """Write ``tensors[name]`` to ``name.safetensors`` and ``documents[name]`` (JSON-safe) to
    ``name.json`` as the checkpoint of ``step``; returns its directory. Call on one process."""
    final = checkpoint_dir(exp_dir, step)
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
        marker = {"step": step, "files": files}
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
        files = json.loads(marker.read_text(encoding="utf-8"))["files"]
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
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
    return load_file(str(path / f"{name}.safetensors"), device=str(device))


def read_document(path: Path, name: str) -> Any:
    return json.loads((path / f"{name}.json").read_text(encoding="utf-8"))


def _describe_file(path: Path) -> dict[str, Any]:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return {"bytes": path.stat().st_size, "sha256": digest.hexdigest()}


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())
