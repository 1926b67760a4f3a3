"""The ``.codes`` file: a self-describing, checksummed container of bit-packed token ids.

Reading never executes anything (fixed binary fields, no pickle, no eval), and every kind of
damage -- truncation, flipped bits, a foreign or future file, trailing bytes -- is refused with a
:class:`~simvq_audio.errors.UserInputError` that names the file, never decoded into noise.

Byte layout, version 2 (integers little-endian; offsets in bytes, ``H`` = header body length)::

    0      8    magic            b"SVQCODES"
    8      2    version          uint16, 2 (version 1 files are still read)
    10     4    H                uint32, length of the header body that follows
    14     H    header body:
                  16   model hash        first 16 bytes of sha256 (model_dir.model_hash)
                  8    codebook size K   uint64, 2 <= K <= 2**32
                  4    sample rate       uint32, Hz (0 for images)
                  4    hop length        uint32, samples per token frame (0 for images)
                  8    sample count      uint64, original samples per channel
                  2    channels          uint16, channels of the original input
                  1    grid rank n       uint8, 1..8
                  8*n  grid shape        uint64 each: [T] for audio, [h, w] for images
                  8    payload length P  uint64, must equal ceil(prod(grid) * b / 8)
                  33   source (v2 only)  uint8 1 when recorded (else 0 and zeros), then what
                                         :class:`SourceId` records of the input: uint64 size,
                                         16 bytes of its sha256, 8 bytes of its path's sha256
    14+H   4    header CRC32     over bytes [0, 14+H)
    18+H   P    payload          tokens in C order of the grid, b = ceil(log2 K) bits each,
                                 most significant bit first, last byte padded with zero bits
    18+H+P 4    payload CRC32    over the payload; the file ends here

Version 1 is the same without the source field. The first 14 bytes keep this meaning in every
version, so a reader can always check the header checksum before it trusts the version number.
"""

from __future__ import annotations

import io
import math
import os
import struct
import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO

import numpy as np

if TYPE_CHECKING:
    import torch

from simvq_audio.atomic import write_bytes
from simvq_audio.errors import UserInputError
from simvq_audio.input_files import open_regular
from simvq_audio.plain_checks import describe, file_path

MAGIC = b"SVQCODES"
FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)
MAX_CODEBOOK_SIZE = 1 << 32
MAX_GRID_RANK = 8
_PREFIX = struct.Struct("<8sHI")  # magic, version, header body length
_FIELDS = struct.Struct("<16sQIIQHB")  # hash, K, sample rate, hop, samples, channels, rank
_DIM = struct.Struct("<Q")
_SOURCE = struct.Struct("<BQ16s8s")  # recorded, size, content sha256, location sha256
_CRC = struct.Struct("<I")
_MAX_HEADER_BYTES = _FIELDS.size + MAX_GRID_RANK * _DIM.size + _DIM.size + _SOURCE.size
UNPACK_TOKENS = 1 << 18
"""Tokens unpacked (and checked) at a time: a multiple of 8, so that each piece starts on a byte
boundary whatever the bits per token."""
_FIELD_RANGES = {"codebook_size": (2, MAX_CODEBOOK_SIZE), "sample_rate": (0, 2**32 - 1),
                 "hop_length": (0, 2**32 - 1), "num_samples": (0, 2**64 - 1),
                 "channels": (0, 2**16 - 1)}


@dataclass(frozen=True)
class SourceId:
    """The identity of the input a ``.codes`` file was made from (see
    :func:`simvq_audio.outputs.input_id`)."""

    size: int
    """Bytes of the input."""
    sha256: str
    """32 hex chars: the first 16 bytes of the sha256 of the input's bytes."""
    location: str
    """16 hex chars: the first 8 bytes of the sha256 of the input's resolved path; zeros for a
    stream (stdin)."""

    def __post_init__(self):
        if not (isinstance(self.size, (int, np.integer)) and 0 <= self.size < 2**64
                and _is_hex(self.sha256, 32) and _is_hex(self.location, 16)):
            raise UserInputError("a source identity is a size and 32 + 16 hex characters")
        object.__setattr__(self, "size", int(self.size))
        object.__setattr__(self, "sha256", self.sha256.lower())
        object.__setattr__(self, "location", self.location.lower())


@dataclass(frozen=True)
class CodesHeader:
    """What a ``.codes`` file says about its tokens (the token tensor has shape ``grid``)."""

    model_hash: str
    """32 hex chars: :func:`simvq_audio.model_dir.model_hash` of the encoding model."""
    codebook_size: int
    sample_rate: int
    hop_length: int
    num_samples: int
    channels: int
    grid: tuple[int, ...]
    source: SourceId | None = None
    """The input the tokens were made from (None: not recorded, as in every version 1 file)."""
    version: int = FORMAT_VERSION
    """The file format version: what the file read had, or what will be written."""

    def __post_init__(self):
        if not _is_hex(self.model_hash, 32):
            raise UserInputError(f"model_hash must be 32 hex characters, got "
                                 f"{describe(self.model_hash)}")
        if self.version not in READABLE_VERSIONS or (self.version == 1 and self.source):
            raise UserInputError(f"version must be one of {READABLE_VERSIONS} (1: no source), "
                                 f"got {describe(self.version)}")
        if self.source is not None and not isinstance(self.source, SourceId):
            raise UserInputError(f"source must be a SourceId or None, got "
                                 f"{describe(self.source)}")
        object.__setattr__(self, "model_hash", self.model_hash.lower())
        for name, (low, high) in _FIELD_RANGES.items():
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or not low <= value <= high:
                raise UserInputError(f"{name} must be an integer in [{low}, {high}], got "
                                     f"{describe(value)}")
            object.__setattr__(self, name, int(value))
        grid = tuple(self.grid) if isinstance(self.grid, (tuple, list)) else ()
        if not 1 <= len(grid) <= MAX_GRID_RANK or not all(
                isinstance(dim, (int, np.integer)) and 0 <= dim < 2**64 for dim in grid):
            raise UserInputError(f"token grid must have 1 to {MAX_GRID_RANK} non-negative "
                                 f"integer dimensions, got {describe(self.grid)}")
        object.__setattr__(self, "grid", tuple(int(dim) for dim in grid))

    @property
    def bits_per_token(self) -> int:
        return (self.codebook_size - 1).bit_length()

    @property
    def num_tokens(self) -> int:
        return math.prod(self.grid)

    @property
    def num_frames(self) -> int:
        """Token frames along time: the last grid axis (``T`` for audio)."""
        return self.grid[-1]

    @property
    def payload_bytes(self) -> int:
        return math.ceil(self.num_tokens * self.bits_per_token / 8)

    @property
    def duration_s(self) -> float | None:
        """Length of the original audio in seconds (None without a sample rate)."""
        return self.num_samples / self.sample_rate if self.sample_rate else None

    @property
    def bitrate_kbps(self) -> float | None:
        """Nominal token bitrate ``b * sample_rate / hop / 1000`` (None for non-audio grids)."""
        if not (self.sample_rate and self.hop_length):
            return None
        return self.bits_per_token * self.sample_rate / self.hop_length / 1000


def write_codes(target: str | os.PathLike | BinaryIO, tokens, header: CodesHeader) -> None:
    """Write ``tokens`` (integer tensor or array shaped ``header.grid``, ids < K) to ``target``:
    a path (written atomically) or a binary file object. Files are written in the current
    :data:`FORMAT_VERSION`."""
    if not isinstance(header, CodesHeader) or header.version != FORMAT_VERSION:
        raise UserInputError(f"write_codes takes a CodesHeader of version {FORMAT_VERSION}, got "
                             f"{describe(header)}")
    values = _as_token_array(tokens, header)
    data = _encode(values, header)
    if hasattr(target, "write"):
        try:
            target.write(data)
        except OSError as error:  # io.UnsupportedOperation: not open for writing
            name = getattr(target, "name", None)
            shown = name if isinstance(name, str) else "the file object"
            reason = ("it is not open for writing (open it with 'wb')"
                      if isinstance(error, io.UnsupportedOperation)
                      else error.strerror or str(error))
            raise UserInputError(f"cannot write the .codes data to {shown}: {reason}") from None
        return
    write_bytes(file_path(target, "target"), data)


def read_codes(source: str | os.PathLike | BinaryIO,
               what: str | None = None) -> tuple[CodesHeader, torch.Tensor]:
    """Read ``(header, tokens)`` from a path or binary file object; tokens are an int64 tensor
    shaped ``header.grid``. Any damage raises :class:`UserInputError` naming the file
    (``what``, default: its path or the file object's name). Besides the tokens, memory stays
    bounded (the payload is checked and unpacked in pieces)."""
    return _read(source, what, keep=True)


def verify_codes(source: str | os.PathLike | BinaryIO, what: str | None = None) -> CodesHeader:
    """Check a ``.codes`` file as :func:`read_codes` does (checksums, padding, token range) and
    return its header, in memory bounded whatever the file's size: the tokens are unpacked
    piece by piece and not kept."""
    return _read(source, what, keep=False)[0]


def _read(source, what: str | None, keep: bool) -> tuple[CodesHeader, torch.Tensor | None]:
    if hasattr(source, "read"):
        name = what or getattr(source, "name", None)
        return _Reader(source, name if isinstance(name, str) else "<stream>").read(keep)
    path = file_path(source, "source")
    try:
        with open_regular(path, ".codes file") as handle:
            return _Reader(handle, what or path).read(keep)
    except OSError as error:
        raise UserInputError(f"cannot read {what or path}: {error.strerror or error}") from None


def check_start(head: bytes, what: str) -> None:
    """Refuse bytes that do not start as a ``.codes`` file does (an empty ``head`` passes)."""
    if head[:len(MAGIC)] != MAGIC[:len(head)]:
        raise UserInputError(f"{what}: not a .codes file (wrong magic bytes at the start)")


ANY_MODEL_OPTION = "--any-model"
"""The decode commands' option that accepts codes of another model (``force=True`` in Python)."""


def check_model(header: CodesHeader, model_hash: str, force: bool = False) -> bool:
    """Refuse codes that another model wrote. Returns whether the hashes match; with
    ``force=True`` a mismatch returns False instead of raising."""
    if header.model_hash == model_hash:
        return True
    if force:
        return False
    raise UserInputError(f"these codes were made by model {header.model_hash}, but the loaded "
                         f"model is {model_hash}; decode with the model that encoded them, or "
                         f"pass {ANY_MODEL_OPTION} (force=True in Python) to decode anyway")


def pack_tokens(values: np.ndarray, bits: int) -> bytes:
    """Pack ``values`` (uint ``[N]``, each < 2**bits, bits <= 32) into ``ceil(N * bits / 8)``
    bytes, most significant bit first."""
    as_bytes = values.astype(">u4").view(np.uint8).reshape(-1, 4)
    return np.packbits(np.unpackbits(as_bytes, axis=1)[:, 32 - bits:]).tobytes()


def unpack_tokens(payload: bytes, count: int, bits: int) -> np.ndarray:
    """Inverse of :func:`pack_tokens`: the first ``count`` values (int64 ``[count]``), unpacked
    :data:`UNPACK_TOKENS` at a time (each piece takes about 40 bytes per token)."""
    out = np.empty(count, np.int64)
    data = np.frombuffer(payload, np.uint8)
    for start in range(0, count, UNPACK_TOKENS):
        size = min(UNPACK_TOKENS, count - start)
        piece = data[start * bits // 8:-(-(start + size) * bits // 8)]
        out[start:start + size] = _unpack_piece(piece, size, bits)
    return out


def _unpack_piece(data: np.ndarray, count: int, bits: int) -> np.ndarray:
    """``count`` values from bytes that start on a token boundary."""
    bit_stream = np.unpackbits(data, count=count * bits)
    bit_matrix = np.zeros((count, 32), np.uint8)
    bit_matrix[:, 32 - bits:] = bit_stream.reshape(count, bits)
    return np.packbits(bit_matrix, axis=1).view(">u4").reshape(count)


def _as_token_array(tokens, header: CodesHeader) -> np.ndarray:
    """Validate ``tokens`` against ``header``; return them flat as uint64 ``[N]``."""
    import torch  # here, not at the top: `simvq-audio info` must start without torch

    if isinstance(tokens, torch.Tensor):
        tokens = tokens.detach().cpu().numpy()
    values = np.asarray(tokens)
    if values.dtype == np.bool_ or not np.issubdtype(values.dtype, np.integer):
        raise UserInputError(f"tokens must be integers, got dtype {values.dtype}")
    if values.shape != header.grid:
        raise UserInputError(f"tokens have shape {list(values.shape)} but the header's grid is "
                             f"{list(header.grid)}")
    if values.size and (values.min() < 0 or values.max() >= header.codebook_size):
        raise UserInputError(f"token ids must be in [0, {header.codebook_size}), got "
                             f"[{values.min()}, {values.max()}]")
    return values.reshape(-1).astype(np.uint64)


def _encode(values: np.ndarray, header: CodesHeader) -> bytes:
    body = (_FIELDS.pack(bytes.fromhex(header.model_hash), header.codebook_size,
                         header.sample_rate, header.hop_length, header.num_samples,
                         header.channels, len(header.grid))
            + b"".join(_DIM.pack(dim) for dim in header.grid) + _DIM.pack(header.payload_bytes)
            + _pack_source(header.source))
    head = _PREFIX.pack(MAGIC, FORMAT_VERSION, len(body)) + body
    payload = pack_tokens(values, header.bits_per_token)
    return head + _CRC.pack(zlib.crc32(head)) + payload + _CRC.pack(zlib.crc32(payload))


def _pack_source(source: SourceId | None) -> bytes:
    if source is None:
        return bytes(_SOURCE.size)
    return _SOURCE.pack(1, source.size, bytes.fromhex(source.sha256),
                        bytes.fromhex(source.location))


def _unpack_source(data: bytes) -> SourceId | None:
    recorded, size, digest, location = _SOURCE.unpack(data)
    if recorded not in (0, 1) or (not recorded and any(data)):
        raise UserInputError("the source field is malformed")
    return SourceId(size, digest.hex(), location.hex()) if recorded else None


def _is_hex(value: object, length: int) -> bool:
    return (isinstance(value, str) and len(value) == length
            and all(char in "0123456789abcdefABCDEF" for char in value))


class _Reader:
    """Reads one ``.codes`` stream front to back, checking each part before trusting it."""

    def __init__(self, stream: BinaryIO, name: str):
        self.stream, self.name = stream, name

    def read(self, keep: bool) -> tuple[CodesHeader, torch.Tensor | None]:
        """The header and (``keep``) the tokens; the payload is read, checksummed, unpacked and
        range-checked :data:`UNPACK_TOKENS` tokens at a time."""
        header = self._read_header()
        count, bits = header.num_tokens, header.bits_per_token
        known = self._check_length(header.payload_bytes + _CRC.size)
        tokens = np.empty(count if keep and known else 0, np.int64)
        pieces, crc, bad = [], 0, None
        for start in range(0, count, UNPACK_TOKENS):
            size = min(UNPACK_TOKENS, count - start)
            data = self._read_exact(-(-size * bits // 8), "payload",
                                    (start * bits // 8, header.payload_bytes))
            crc = zlib.crc32(data, crc)
            piece = _unpack_piece(np.frombuffer(data, np.uint8), size, bits)
            if bad is None and size and piece.max() >= header.codebook_size:
                offset = int(np.argmax(piece >= header.codebook_size))
                bad = (start + offset, int(piece[offset]))
            if keep and known:
                tokens[start:start + size] = piece
            elif keep:
                pieces.append(piece.astype(np.int64))
        if crc != self._read_crc("payload checksum"):
            self._fail("payload checksum mismatch: the token data is damaged")
        if self.stream.read(1):
            self._fail("unexpected bytes after the end of the token data")
        padding = header.payload_bytes * 8 - count * bits
        if padding and data[-1] & ((1 << padding) - 1):
            self._fail("non-zero padding bits after the last token")
        if bad is not None:
            self._fail(f"token id {bad[1]} at position {bad[0]} is out of range for codebook "
                       f"size {header.codebook_size}")
        if not keep:
            return header, None
        if not known:
            tokens = np.concatenate(pieces) if pieces else tokens
        import torch  # here, not at the top: `simvq-audio info` must start without torch

        return header, torch.from_numpy(tokens).reshape(header.grid)

    def _check_length(self, needed: int) -> bool:
        """Refuse a seekable file too short for the ``needed`` bytes its header announces,
        before anything is allocated for them; whether the length could be checked."""
        try:
            here = self.stream.tell()
            end = self.stream.seek(0, os.SEEK_END)
            self.stream.seek(here)
        except (OSError, AttributeError, ValueError):
            return False
        if end - here < needed:
            self._fail(f"truncated: the file ends inside the payload or its checksum "
                       f"({end - here} of {needed} bytes present)")
        return True

    def _read_header(self) -> CodesHeader:
        prefix = self.stream.read(_PREFIX.size)
        if not prefix:
            self._fail("the file is empty, not a .codes file")
        check_start(prefix, self.name)
        if len(prefix) < _PREFIX.size:
            self._fail(f"truncated: the file ends inside its first {_PREFIX.size} bytes")
        _, version, body_size = _PREFIX.unpack(prefix)
        if body_size > _MAX_HEADER_BYTES:
            self._fail(f"header length {body_size} is implausible: the header is damaged")
        body = self._read_exact(body_size, "header")
        if zlib.crc32(prefix + body) != self._read_crc("header checksum"):
            self._fail("header checksum mismatch: the header is damaged")
        if version not in READABLE_VERSIONS:
            self._fail(f"format version {version} is not supported (this simvq-audio reads "
                       f"versions {', '.join(map(str, READABLE_VERSIONS))}); upgrade simvq-audio")
        return self._parse_body(body, version)

    def _parse_body(self, body: bytes, version: int) -> CodesHeader:
        if len(body) < _FIELDS.size:
            self._fail("header too short for its fields")
        digest, size, rate, hop, samples, channels, rank = _FIELDS.unpack_from(body)
        grid_end = _FIELDS.size + (rank + 1) * _DIM.size
        if len(body) != grid_end + (_SOURCE.size if version >= 2 else 0):
            self._fail(f"header length {len(body)} does not match its grid rank {rank}")
        *grid, payload_size = struct.unpack_from(f"<{rank + 1}Q", body, _FIELDS.size)
        try:
            source = _unpack_source(body[grid_end:]) if version >= 2 else None
            header = CodesHeader(digest.hex(), size, rate, hop, samples, channels, tuple(grid),
                                 source, version)
        except UserInputError as error:
            self._fail(f"invalid header: {error}")
        if payload_size != header.payload_bytes:
            self._fail(f"header/payload length mismatch: {header.num_tokens} tokens of "
                       f"{header.bits_per_token} bits need {header.payload_bytes} bytes, the "
                       f"header says {payload_size}")
        return header

    def _read_crc(self, what: str) -> int:
        return _CRC.unpack(self._read_exact(_CRC.size, what))[0]

    def _read_exact(self, size: int, what: str, progress: tuple[int, int] | None = None) -> bytes:
        """``size`` bytes; ``progress``: ``(bytes of the part read before, the part's size)``
        for the message about a file that ends early."""
        done, total = progress or (0, size)
        chunks, remaining = [], size
        while remaining:
            chunk = self.stream.read(remaining)
            if not chunk:
                self._fail(f"truncated: the file ends inside the {what} "
                           f"({done + size - remaining} of {total} bytes present)")
            chunks.append(chunk)
            remaining -= len(chunk)
        return b"".join(chunks)

    def _fail(self, problem: str):
        raise UserInputError(f"{self.name}: {problem}")
