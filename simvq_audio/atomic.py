"""Atomic file writes: write to a temporary file in the same folder, fsync, then rename.

A reader (or a restarted job) therefore sees either the old file or the complete new one, never a
half-written file, even after ``kill -9`` or a full disk. Missing parent folders are created (and
removed again when the write fails), the file gets the mode any new file gets under the umask
(``0644`` with the usual umask, whatever mode the writer gave the temporary file), and a failure
to write is one :class:`~simvq_audio.errors.UserInputError` naming the file.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from simvq_audio.errors import UserInputError


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success it is fsynced and renamed to ``path``.

    On any exception (Ctrl-C included) the temporary file and the folders made for it are
    removed and ``path`` is untouched; an ``OSError`` (full disk, no permission, a file where a
    folder should be) becomes :class:`UserInputError` ``cannot write <path>: <reason>``.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    created = [folder for folder in path.parents if not folder.exists()]
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        yield tmp
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.chmod(tmp, new_file_mode())
        os.replace(tmp, path)
        fsync_dir(path.parent)
    except BaseException as error:
        tmp.unlink(missing_ok=True)
        for folder in created:  # deepest first
            with contextlib.suppress(OSError):
                folder.rmdir()
        if isinstance(error, OSError):
            raise UserInputError(f"cannot write {path}: {error.strerror or error}") from None
        raise


def new_file_mode() -> int:
    """The permission bits a newly created file gets: ``0o666`` less the process umask."""
    umask = os.umask(0o077)
    os.umask(umask)
    return 0o666 & ~umask


def fsync_dir(folder: Path) -> None:
    """Make a rename inside ``folder`` durable (no-op where directories cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
