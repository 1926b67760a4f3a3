"""Packages from a Debian archive with python3 alone: no root, no apt lists, no apt or dpkg.

:class:`DebianArchive` reads the archive's index ``dists/<suite>/main/binary-all/Packages.xz``
for each package's ``Filename`` and ``SHA256``, downloads the ``.deb`` (resumable with HTTP
``Range`` requests and retried: :func:`simvq_audio.corpora.download.fetch`) and keeps it only if
its SHA-256 matches the index. :func:`deb_files` then reads the files a ``dpkg -x`` would unpack
(the ``data.tar.*`` member of the package's ``ar`` archive).

The cache mirrors the archive's layout (``<cache>/dists/...``, ``<cache>/pool/...``): a machine
without network can be given the same files at the same relative paths. A cached index and
verified packages are used without any network access; the index is fetched again whenever a
package must be downloaded. Integrity, not authenticity: the index's signature (``InRelease``) is
not checked, which would need gpgv and Debian's keyring.
"""

from __future__ import annotations

import io
import lzma
import tarfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from simvq_audio.corpora.download import fetch, sha256_of
from simvq_audio.errors import UserInputError

DEFAULT_MIRROR = "http://deb.debian.org/debian"
DEFAULT_SUITE = "bookworm"
AR_MAGIC = b"!<arch>\n"
AR_HEADER_BYTES = 60


@dataclass(frozen=True)
class DebPackage:
    """One package of the index: ``filename`` is its path on the mirror (``pool/...``)."""

    name: str
    version: str
    filename: str
    sha256: str
    size: int


def parse_index(text: str, source: str) -> dict[str, DebPackage]:
    """``{package name: DebPackage}`` from the text of a ``Packages`` file (``source`` names it
    in errors). A package listed twice keeps its last entry."""
    packages: dict[str, DebPackage] = {}
    for stanza in text.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in stanza.splitlines()
                      if ": " in line and not line.startswith((" ", "\t")))
        if "Package" not in fields:
            continue
        try:
            packages[fields["Package"]] = DebPackage(
                fields["Package"], fields["Version"], fields["Filename"],
                fields["SHA256"].lower(), int(fields["Size"]))
        except (KeyError, ValueError) as error:
            raise UserInputError(f"{source}: entry of {fields['Package']} lacks a valid "
                                 f"{error} field") from None
    return packages


class DebianArchive:
    """Fetch verified ``.deb`` files from ``mirror`` (suite ``suite``) into ``cache``."""

    def __init__(self, cache: Path, mirror: str = DEFAULT_MIRROR, suite: str = DEFAULT_SUITE,
                 log: Callable[[str], None] = print, attempts: int = 5):
        self.cache, self.mirror, self.suite = cache, mirror.rstrip("/"), suite
        self.log, self.attempts = log, attempts
        self.index_path = f"dists/{suite}/main/binary-all/Packages.xz"

    def fetch(self, names: list[str]) -> dict[str, Path]:
        """``{name: path of its verified .deb}``, downloading what the cache lacks."""
        cached_index = self.cache / self.index_path
        if cached_index.is_file():
            try:
                index = self._read_index()
            except UserInputError as error:
                self.log(f"cached index unusable ({error}); fetching it again")
            else:
                if all(self._is_cached(index, name) for name in names):
                    self.log(f"all {len(names)} packages are cached and verified in {self.cache}")
                    return {name: self.cache / index[name].filename for name in names}
        self.log(f"fetching the index {self.mirror}/{self.index_path}")
        cached_index.with_name(cached_index.name + ".part").unlink(missing_ok=True)
        self._download(self.index_path)
        index = self._read_index()
        self.log(f"index: {len(index)} packages in {self.suite}")
        return {name: self._package(index, name) for name in names}

    def _read_index(self) -> dict[str, DebPackage]:
        path = self.cache / self.index_path
        try:
            text = lzma.decompress(path.read_bytes()).decode("utf-8")
        except (lzma.LZMAError, UnicodeDecodeError) as error:
            raise UserInputError(f"{path}: not an xz-compressed Packages index ({error})"
                                 ) from None
        return parse_index(text, str(path))

    def _entry(self, index: dict[str, DebPackage], name: str) -> DebPackage:
        if name not in index:
            raise UserInputError(f"package {name} is not in {self.mirror}/{self.index_path}; "
                                 f"choose a Debian suite that has it")
        return index[name]

    def _is_cached(self, index: dict[str, DebPackage], name: str) -> bool:
        package = index.get(name)
        if package is None:
            return False
        path = self.cache / package.filename
        return (path.is_file() and path.stat().st_size == package.size
                and sha256_of(path) == package.sha256)

    def _package(self, index: dict[str, DebPackage], name: str) -> Path:
        """The verified ``.deb`` of ``name``: from the cache, else downloaded and checked."""
        package = self._entry(index, name)
        path = self.cache / package.filename
        if self._is_cached(index, name):
            self.log(f"{name} {package.version}: cached, SHA-256 verified")
            return path
        if path.is_file():
            self.log(f"{name}: cached {path.name} does not match the index; downloading it again")
            path.unlink()
        self.log(f"{name} {package.version}: downloading {package.filename} "
                 f"({package.size / 1e3:,.0f} kB)")
        self._download(package.filename)
        actual = sha256_of(path)
        if actual != package.sha256:
            path.unlink()
            raise UserInputError(f"{self.mirror}/{package.filename}: SHA-256 is {actual}, the "
                                 f"index says {package.sha256}; deleted it: run again, or use "
                                 f"another --mirror")
        self.log(f"{name}: SHA-256 verified")
        return path

    def _download(self, relative: str) -> None:
        """Fetch ``<mirror>/<relative>`` to ``<cache>/<relative>`` (one-line error if it fails)."""
        dest = self.cache / relative
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            fetch(f"{self.mirror}/{relative}", dest, attempts=self.attempts, log=self.log)
        except UserInputError as error:
            raise UserInputError(f"{error} (this needs network access to {self.mirror} once, "
                                 f"or another mirror; offline, copy that file to {dest})"
                                 ) from None


def deb_files(deb: Path, wanted: Callable[[str, int], bool] = lambda path, size: True
              ) -> Iterator[tuple[str, bytes]]:
    """Yield ``(path, bytes)`` for each regular file of the package that ``wanted(path, size)``
    accepts: what ``dpkg -x`` would write, ``path`` relative (``usr/share/...``).

    The ``data.tar.*`` member (xz, gzip or bzip2) is read into memory: a few MB for the packages
    used here.

    Raises:
        UserInputError: not an ``ar`` archive, no ``data.tar`` member, or a damaged one.
    """
    try:
        payload = _data_member(deb)
        with tarfile.open(fileobj=io.BytesIO(payload), mode="r:*") as tar:
            for member in tar:
                path = member.name.removeprefix("./")
                if member.isfile() and wanted(path, member.size):
                    yield path, tar.extractfile(member).read()
    except (tarfile.TarError, lzma.LZMAError, zlib.error, EOFError, OSError) as error:
        raise UserInputError(f"{deb}: damaged package ({error}); delete it and run again"
                             ) from None


def _data_member(deb: Path) -> bytes:
    """The bytes of the ``data.tar.*`` member of the ``ar`` archive ``deb``."""
    with open(deb, "rb") as handle:
        if handle.read(len(AR_MAGIC)) != AR_MAGIC:
            raise UserInputError(f"{deb}: not a Debian package (no ar archive header)")
        while len(header := handle.read(AR_HEADER_BYTES)) == AR_HEADER_BYTES:
            name = header[:16].decode("ascii", "replace").strip().rstrip("/")
            try:
                size = int(header[48:58])
            except ValueError:
                raise UserInputError(f"{deb}: damaged ar archive header; delete it and run "
                                     f"again") from None
            if name.startswith("data.tar"):
                payload = handle.read(size)
                if len(payload) != size:
                    raise UserInputError(f"{deb}: truncated package; delete it and run again")
                return payload
            handle.seek(size + size % 2, io.SEEK_CUR)
    raise UserInputError(f"{deb}: has no data.tar member; is it a Debian package?")
