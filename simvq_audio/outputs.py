"""The output policy of every command that writes files (encode, decode, export, tokenize,
score, import-reference) and of the API calls that write them.

1. An output is never one of the inputs: the same resolved path, or the same file under another
   name, is refused even with ``--overwrite`` (:func:`check_not_inputs`).
2. Distinct inputs never share an output name: a plan in which they would is refused before any
   work (:func:`check_distinct`), with names compared case-insensitively so that it holds on any
   file system.
3. An existing output is classified (:class:`Kind`) before any work. It is *done*, and skipped,
   only when it verifiably is what the command makes from this input with this model; it is
   redone when the command made it earlier from the same input path and the input has changed
   since; any other file (another model's output, a damaged file, one made from another input,
   one simvq-audio did not write) is refused, all of them listed at once, unless
   ``--overwrite``; a directory where a file should go is always refused (:func:`refuse_foreign`).
4. Parent directories are created, and every file is written atomically
   (:mod:`simvq_audio.atomic`), so an error or Ctrl-C leaves no partial file.
5. The format follows the extension or is refused (:func:`simvq_audio.data.audio_io.
   output_format`; encode writes ``.codes`` only).

Inputs are identified by :func:`input_id`: their size and content hash, and a hash of their
resolved path. A ``.codes`` file records the identity of the audio it was encoded from in its
header; decoded audio records the model and the identity of its ``.codes`` file in its comment
tag (:func:`decode_tag`).
"""

from __future__ import annotations

import contextlib
import enum
import hashlib
import os
import re
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from simvq_audio.codes import SourceId, read_codes
from simvq_audio.data.audio_io import audio_info
from simvq_audio.errors import UserInputError

STDIO = "-"
_LISTED = 5
"""How many problems one message names."""
_TAG = re.compile(r"simvq-audio decode: model ([0-9a-f]{32}), input (\d+) ([0-9a-f]{32}) "
                  r"([0-9a-f]{16})")


class Kind(enum.Enum):
    """What is at an output path before a command writes it."""

    NEW = "nothing there yet"
    DONE = "already done: made from this input by this model"
    REDO = "made earlier from the same input path, which has changed since"
    FOREIGN = "not this command's output for this input and model"
    BLOCKED = "not a regular file"


@dataclass(frozen=True)
class Existing:
    """The :class:`Kind` of an output path, with the reason for FOREIGN and BLOCKED."""

    kind: Kind
    reason: str = ""


def input_id(path: str | os.PathLike, handle: BinaryIO | None = None) -> SourceId:
    """The identity of an input file: its size, sha256 and the sha256 of its resolved path.

    ``handle``: the file already open (binary, seekable), read again from its start, so that a
    command that decodes the file through it opens it only once.
    """
    digest = hashlib.sha256()
    try:
        opened = open(path, "rb") if handle is None else contextlib.nullcontext(handle)
        with opened as source:
            source.seek(0)
            for block in iter(lambda: source.read(1 << 22), b""):
                digest.update(block)
            size = source.tell()
    except FileNotFoundError:
        raise UserInputError(f"{path}: no such file") from None
    except OSError as error:
        raise UserInputError(f"cannot read {path}: {error.strerror or error}") from None
    location = hashlib.sha256(os.fsencode(os.path.realpath(path))).hexdigest()[:16]
    return SourceId(size, digest.hexdigest()[:32], location)


def stream_id(data: bytes) -> SourceId:
    """The identity of input read from a stream (stdin): no path."""
    return SourceId(len(data), hashlib.sha256(data).hexdigest()[:32], "0" * 16)


def check_not_inputs(outputs: Iterable[str | os.PathLike],
                     inputs: Iterable[str | os.PathLike]) -> None:
    """Refuse when an output is an input (``-`` for stdin included, when it is a file)."""
    by_path, by_file = {}, {}
    for item in inputs:
        name = "/dev/stdin" if os.fspath(item) == STDIO else os.fspath(item)
        by_path[os.path.realpath(name)] = item
        identity = _file_identity(name)
        if identity is not None:
            by_file[identity] = item
    for output in outputs:
        if os.fspath(output) == STDIO:
            continue
        hit = by_path.get(os.path.realpath(output))
        if hit is None:
            hit = by_file.get(_file_identity(output))
        if hit is not None:
            shown = "stdin" if os.fspath(hit) == STDIO else os.fspath(hit)
            raise UserInputError(f"{os.fspath(output)} is also an input ({shown}): refusing to "
                                 "write over an input, even with --overwrite")


def check_distinct(pairs: Iterable[tuple[str, str]]) -> None:
    """Refuse a plan in which two different inputs would write the same output; ``pairs`` are
    ``(input, output)``. Names are compared case-insensitively."""
    owner: dict[str, str] = {}
    clashes = []
    for source, target in pairs:
        key = os.path.normcase(os.path.abspath(target)).casefold()
        if owner.setdefault(key, source) != source:
            clashes.append(f"{owner[key]} and {source} -> {target}")
    if clashes:
        raise UserInputError(f"{len(clashes)} output name(s) would be written by two inputs, one "
                             f"over the other: {_short(clashes)}; rename the inputs so that "
                             "their names differ beyond the extension (nothing was written)")


def codes_state(path: str | os.PathLike, model_hash: str, source: SourceId) -> Existing:
    """What is at ``path``, for a ``.codes`` file that ``model_hash`` would make from ``source``.

    Done: a valid ``.codes`` file (checksums pass) of this model recording this input's size and
    content. Redo: one of this model recording the same input path with other content.
    """
    early = present(path)
    if early is not None:
        return early
    try:
        header, _ = read_codes(path)
    except UserInputError as error:
        return Existing(Kind.FOREIGN, f"not a valid .codes file: {error}")
    if header.model_hash != model_hash:
        return Existing(Kind.FOREIGN, f"made by another model ({header.model_hash})")
    return _compare_source(header.source, source, "records no input (written by an older "
                           "simvq-audio or without a source)")


def audio_state(path: str | os.PathLike, model_hash: str, source: SourceId, num_samples: int,
                sample_rate: int) -> Existing:
    """What is at ``path``, for audio that ``model_hash`` would decode from the ``.codes`` file
    ``source``: done when its tag (:func:`decode_tag`) names this model and this input, and it
    holds ``num_samples`` samples at ``sample_rate``."""
    early = present(path)
    if early is not None:
        return early
    try:
        info = audio_info(path)
    except UserInputError:
        return Existing(Kind.FOREIGN, "not an audio file that simvq-audio decode wrote")
    match = _TAG.fullmatch(info.comment)
    if match is None:
        return Existing(Kind.FOREIGN, "audio that simvq-audio decode did not write")
    if match[1] != model_hash:
        return Existing(Kind.FOREIGN, f"decoded by another model ({match[1]})")
    recorded = SourceId(int(match[2]), match[3], match[4])
    state = _compare_source(recorded, source, "")
    if state.kind is Kind.DONE and (info.frames, info.sample_rate) != (num_samples, sample_rate):
        return Existing(Kind.REDO)  # ours, but damaged (truncated) since
    return state


def decode_tag(model_hash: str, source: SourceId) -> str:
    """The comment decoded audio carries: the model and the identity of its ``.codes`` file."""
    return (f"simvq-audio decode: model {model_hash}, input {source.size} {source.sha256} "
            f"{source.location}")


def files_state(paths: Iterable[Path], ours: bool) -> Existing:
    """What is at a set of output ``paths`` a command writes together (a model directory, a
    score report): REDO when any exists and ``ours`` (the caller checked that this command made
    them from this input), else FOREIGN."""
    present = [path for path in paths if os.path.lexists(path)]
    if not present:
        return Existing(Kind.NEW)
    blocked = [path for path in present if not path.is_file()]
    if blocked:
        return Existing(Kind.BLOCKED, f"{blocked[0]} is not a regular file")
    if ours:
        return Existing(Kind.REDO)
    return Existing(Kind.FOREIGN, "holds " + ", ".join(path.name for path in present)
                    + " that this command did not write from this input")


def refuse_foreign(states: Iterable[tuple[str | os.PathLike, Existing]],
                   overwrite: bool) -> None:
    """Refuse, naming them all, outputs that are BLOCKED, or FOREIGN without ``overwrite``."""
    states = list(states)
    blocked = [f"{os.fspath(path)} ({state.reason})" for path, state in states
               if state.kind is Kind.BLOCKED]
    if blocked:
        raise UserInputError(f"cannot write {_short(blocked)}: remove or rename it (nothing was "
                             "written)")
    foreign = [f"{os.fspath(path)} ({state.reason})" for path, state in states
               if state.kind is Kind.FOREIGN]
    if foreign and not overwrite:
        raise UserInputError(f"{len(foreign)} existing output(s) would be replaced: "
                             f"{_short(foreign)}; pass --overwrite (overwrite=True) to replace "
                             "them (nothing was written)")


def _compare_source(recorded: SourceId | None, source: SourceId, unrecorded: str) -> Existing:
    if recorded is None:
        return Existing(Kind.FOREIGN, unrecorded)
    if (recorded.size, recorded.sha256) == (source.size, source.sha256):
        return Existing(Kind.DONE)
    if recorded.location == source.location and int(source.location, 16):
        return Existing(Kind.REDO)
    return Existing(Kind.FOREIGN, "made from another input")


def present(path: str | os.PathLike) -> Existing | None:
    """NEW or BLOCKED when ``path`` holds no regular file; None when it does (then the
    ``*_state`` functions say what it is)."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return None if os.path.lexists(path) else Existing(Kind.NEW)
    except OSError as error:
        return Existing(Kind.BLOCKED, error.strerror or str(error))
    if not stat.S_ISREG(mode):
        return Existing(Kind.BLOCKED, "a directory" if stat.S_ISDIR(mode) else
                        "not a regular file")
    return None


def _file_identity(path: str | os.PathLike) -> tuple[int, int] | None:
    try:
        info = os.stat(path)
    except (OSError, ValueError):
        return None
    return (info.st_dev, info.st_ino) if stat.S_ISREG(info.st_mode) else None


def _short(items: list[str]) -> str:
    hidden = len(items) - _LISTED
    return "; ".join(items[:_LISTED]) + (f"; ... and {hidden} more" if hidden > 0 else "")
