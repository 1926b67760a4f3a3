"""Opening a file given by a user or a stranger for reading, only if it is a regular file.

A FIFO, device, socket or directory given where a file is expected is refused before anything is
read from it: opening a FIFO for reading waits for a writer forever, and ``/dev/zero`` never
ends. Kept free of torch so that light commands (``compare``, config checks) stay light.
"""

from __future__ import annotations

import os
import stat
from typing import BinaryIO

from simvq_audio.errors import UserInputError, os_error_message


def open_regular(path: str | os.PathLike, what: str = "file") -> BinaryIO:
    """``path`` opened for binary reading, if it is a regular file (``what`` names the file
    expected, in the message). The file is opened without blocking and checked on the open
    descriptor, so the check and the reads see one file.

    Raises:
        UserInputError: ``path`` is missing (``<path>: no such <what>``), cannot be opened
            (``cannot read <path>: <reason>``) or names something other than a regular file.
    """
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise UserInputError(f"{os.fspath(path)}: no such {what}") from None
    except OSError as error:
        raise UserInputError(f"cannot read {os.fspath(path)}: {os_error_message(error)}"
                             ) from None
    mode = os.fstat(descriptor).st_mode
    if not stat.S_ISREG(mode):
        os.close(descriptor)
        kind = "a directory" if stat.S_ISDIR(mode) else "a FIFO, device or socket"
        raise UserInputError(f"{os.fspath(path)}: not a regular file ({kind}); expected a {what}")
    os.set_blocking(descriptor, True)
    return os.fdopen(descriptor, "rb")
