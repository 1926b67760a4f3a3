"""Resumable HTTP download, archive verification and safe extraction (standard library only).

A download goes to ``<file>.part`` and continues from its size with an HTTP ``Range`` request,
both after a dropped connection (retried here) and after the whole job was killed (the next run
resumes). The final name appears only once every byte has arrived.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import tarfile
import time
import urllib.error
import urllib.request
import zlib
from collections.abc import Callable
from pathlib import Path

from simvq_audio.errors import UserInputError

CHUNK_BYTES = 1 << 20
REPORT_EVERY_S = 30.0
TRANSIENT_ERRORS = (urllib.error.URLError, http.client.HTTPException, ConnectionError,
                    TimeoutError)


class IncompleteTransfer(ConnectionError):
    """The server closed the connection before sending every byte it announced."""


def fetch(url: str, dest: Path, attempts: int = 5, timeout_s: float = 60.0,
          log: Callable[[str], None] = print) -> None:
    """Download ``url`` to ``dest``, resuming ``dest.part`` if an earlier transfer stopped.

    Raises:
        UserInputError: the server refuses the file (404, ...) or every attempt was cut off.
    """
    part = dest.with_name(dest.name + ".part")
    for attempt in range(1, attempts + 1):
        try:
            _transfer(url, part, timeout_s, log)
            break
        except urllib.error.HTTPError as error:
            raise UserInputError(f"{url}: the server answered HTTP {error.code} {error.reason}"
                                 ) from None
        except TRANSIENT_ERRORS as error:
            if attempt == attempts:
                resume = f" to resume from {part}" if part.is_file() and part.stat().st_size else ""
                raise UserInputError(f"{url}: download failed {attempts} times (last: {error}); "
                                     f"run the stage again{resume}") from None
            log(f"{dest.name}: transfer interrupted ({error}); resuming "
                f"(attempt {attempt + 1} of {attempts})")
            time.sleep(min(attempt - 1, 30))
    os.replace(part, dest)


def _transfer(url: str, part: Path, timeout_s: float, log: Callable[[str], None]) -> None:
    """One HTTP request: append to ``part`` from its current size until the file is complete."""
    offset = part.stat().st_size if part.exists() else 0
    headers = {"Range": f"bytes={offset}-"} if offset else {}
    try:
        response = urllib.request.urlopen(urllib.request.Request(url, headers=headers),
                                          timeout=timeout_s)
    except urllib.error.HTTPError as error:
        if error.code == 416 and offset:  # nothing left after `offset`: the part is complete
            return
        raise
    with response:
        if offset and response.status != 206:  # the server ignored the range: start over
            log(f"{part.name}: the server cannot resume; downloading from the start")
            offset = 0
        elif offset:
            log(f"{part.name}: resuming at byte {offset}")
        length = response.headers.get("Content-Length")
        total = offset + int(length) if length is not None else None
        _copy(response, part, offset, total, log)
    size = part.stat().st_size
    if total is not None and size != total:
        raise IncompleteTransfer(f"got {size} of {total} bytes")


def _copy(response, part: Path, offset: int, total: int | None,
          log: Callable[[str], None]) -> None:
    """Append the response body to ``part`` (or overwrite it when ``offset`` is 0)."""
    done, last_report = offset, time.monotonic()
    with open(part, "ab" if offset else "wb") as out:
        while chunk := response.read(CHUNK_BYTES):
            out.write(chunk)
            done += len(chunk)
            if time.monotonic() - last_report > REPORT_EVERY_S:
                last_report = time.monotonic()
                share = f" ({100 * done / total:.1f} %)" if total else ""
                log(f"{part.name}: {done / 1e9:.2f} GB{share}")


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file, read in chunks (bounded memory)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def verify_archive(path: Path, sha256: str | None) -> None:
    """Check a downloaded tar archive before anything is extracted from it.

    With a published ``sha256`` the file must match it; without one the archive is read to the
    end (every member, so gzip's CRC and length checks run) to prove it is complete.

    Raises:
        UserInputError: checksum mismatch, truncated or damaged archive.
    """
    remedy = f"delete it (rm {path}) and run the download stage again"
    if sha256 is not None:
        actual = sha256_of(path)
        if actual != sha256.lower():
            raise UserInputError(f"{path}: SHA-256 is {actual}, expected {sha256}; the archive "
                                 f"is damaged or incomplete: {remedy}")
        return
    try:
        with tarfile.open(path, "r:*") as tar:
            for member in tar:
                if member.isfile():
                    with tar.extractfile(member) as data:
                        while data.read(CHUNK_BYTES):
                            pass
    except (tarfile.TarError, EOFError, zlib.error, OSError) as error:
        raise UserInputError(f"{path}: not a complete tar archive ({error}): {remedy}") from None


def extract_archive(path: Path, dest: Path) -> None:
    """Extract a verified tar archive into ``dest`` (member paths may not leave ``dest``)."""
    safety = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
    try:
        with tarfile.open(path, "r:*") as tar:
            tar.extractall(dest, **safety)
    except (tarfile.TarError, EOFError, zlib.error, OSError) as error:
        raise UserInputError(f"{path}: extraction failed ({error})") from None
