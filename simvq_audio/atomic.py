"""Atomic file writes: write to a temporary file in the same folder, fsync, then rename.

A reader (or a restarted job) therefore sees either the old file or the complete new one, never a
half-written file, even after ``kill -9`` or a full disk. Missing parent folders are created (and
removed again when the write fails), the file gets the mode any new file gets under the umask
(``0644`` with the usual umask, whatever mode the writer gave the temporary file), and a failure
to write is one :class:`~simvq_audio.errors.UserInputError` naming the file.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

from simvq_audio.errors import UserInputError

_NAME_MAX = 255
"""Longest file name (in bytes) the usual file systems allow."""
_SHOWN_PATH = 160
"""Longest path a message shows whole; longer ones keep their start and their end."""


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success it is fsynced and renamed to ``path``.

    On any exception (Ctrl-C included) the temporary file and the folders made for it are
    removed (as far as they can be) and ``path`` is untouched; an ``OSError`` (full disk, no
    permission, a file where a folder should be, a name too long) becomes
    :class:`UserInputError` ``cannot write <path>: <reason>``.
    """
    path = Path(path)
    tmp = path.with_name(_temporary_name(path.name))
    created = missing_folders(path.parent)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        yield tmp
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.chmod(tmp, new_file_mode())
        os.replace(tmp, path)
        fsync_dir(path.parent)
    except BaseException as error:
        with contextlib.suppress(OSError):  # e.g. ENOTDIR again when a parent is a file
            tmp.unlink(missing_ok=True)
        failed_write(path, created, error)
        raise


def missing_folders(folder: Path) -> list[Path]:
    """``folder`` and its parents that do not exist yet, deepest first: what a write into
    ``folder`` creates, and :func:`failed_write` removes again."""
    return [missing for missing in (folder, *folder.parents) if not os.path.lexists(missing)]


def failed_write(path: Path, created: list[Path], error: BaseException) -> None:
    """Clean up after a write of ``path`` that raised ``error``: remove the folders made for it
    (``created``, from :func:`missing_folders`, as far as they can be removed), and for an
    ``OSError`` raise :class:`UserInputError` ``cannot write <path>: <reason>``; for anything
    else return, and the caller re-raises ``error``."""
    for folder in created:
        with contextlib.suppress(OSError):
            folder.rmdir()
    if isinstance(error, OSError):
        raise UserInputError(f"cannot write {shown_path(path)}: "
                             f"{_reason(error, Path(path))}") from None


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (:func:`atomic_path`)."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def shown_path(path: str | os.PathLike) -> str:
    """``path`` for a message: whole when short, else its start and its end (the file name)."""
    text = os.fspath(path)
    if len(text) <= _SHOWN_PATH:
        return text
    return f"{text[:40]}...{text[-(_SHOWN_PATH - 43):]}"


def _temporary_name(name: str) -> str:
    """The temporary file's name: ``.<name>.tmp<pid>``, or for a name that leaves no room for
    these characters, a short name made from a hash of it."""
    tmp = f".{name}.tmp{os.getpid()}"
    if len(os.fsencode(tmp)) <= _NAME_MAX:
        return tmp
    digest = hashlib.sha256(os.fsencode(name)).hexdigest()[:16]
    return f".simvq-{digest}.tmp{os.getpid()}"


def _reason(error: OSError, path: Path) -> str:
    """Why writing ``path`` failed, naming the part of the path at fault where it is not the
    file itself."""
    reason = error.strerror or str(error)
    if error.errno == errno.ENOTDIR or (error.errno == errno.EEXIST
                                        and error.filename != os.fspath(path)):
        blocker = next((folder for folder in reversed(path.parents)
                        if os.path.lexists(folder) and not folder.is_dir()), None)
        if blocker is not None:
            return f"{shown_path(blocker)} is a file, not a folder"
    if error.errno == errno.ENAMETOOLONG:
        longest = max(len(os.fsencode(part)) for part in path.parts)
        return f"{reason} ({longest} bytes in one name; at most {_NAME_MAX} are allowed)"
    return reason


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
