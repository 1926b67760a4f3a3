"""The output policy of every command that writes files (encode, decode, export, tokenize,
score, import-reference) and of the API calls that write them.

1. An output is never one of the inputs: the same resolved path, or the same file under another
   name, is refused even with ``--overwrite`` (:func:`check_not_inputs`).
2. Distinct inputs never share an output name: a plan in which they would is refused before any
   work (:func:`check_distinct`), with names compared case-insensitively so that it holds on any
   file system.
3. An existing output is classified (:class:`Kind`) before any work. It is *done*, and skipped,
   only when it verifiably is what the command makes from this input with this model; it is
   redone (and the user told) when the command made it earlier from the same input path and
   the input has changed since, or, for decoded audio, when its samples no longer match the
   digest its tag records; any other file (another model's output, a damaged file, one made
   from another input, one simvq-audio did not write) is refused, all of them listed at once,
   unless ``--overwrite``; a directory where a file should go is always refused
   (:func:`refuse_foreign`).
4. Parent directories are created, and every file is written atomically
   (:mod:`simvq_audio.atomic`), so an error or Ctrl-C leaves no partial file.
5. The format follows the extension or is refused (:func:`simvq_audio.data.audio_io.
   output_format`; encode writes ``.codes`` only).

Inputs are identified by their size and content hash, and a hash of their resolved path
(:func:`input_id` for a file as it is now). What an output records is the identity of exactly
the bytes it was made from: a command reads each input once (:func:`open_input`, or
:func:`spool` for stdin) and hashes that read (:meth:`Input.identity`). A ``.codes`` file
records the identity of the audio it was encoded from in its header; decoded audio records the
model, the identity of its ``.codes`` file and a digest of its samples in its comment tag
(:func:`decode_tag`).
"""

from __future__ import annotations

import contextlib
import enum
import hashlib
import io
import json
import os
import re
import stat
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, TextIO, TypeVar

import torch

from simvq_audio import validate
from simvq_audio.codes import SourceId, verify_codes
from simvq_audio.data.audio_io import AudioFile, audio_bytes, open_audio
from simvq_audio.errors import UserInputError
from simvq_audio.input_files import open_regular

STDIO = "-"
STDIN_NAME = "stdin"
"""How standard input is named in messages."""
JobT = TypeVar("JobT")
_LISTED = 5
"""How many problems one message names."""
_TAG = re.compile(r"simvq-audio decode: model ([0-9a-f]{32}), input (\d+) ([0-9a-f]{32}) "
                  r"([0-9a-f]{16})(?:, samples ([0-9a-f]{32}))?")
_NO_LOCATION = "0" * 16
"""The path hash of an input read from a stream."""


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


WHOLE_READ_BYTES = 64 << 20
"""Inputs up to this size are read into memory once by :func:`open_input`, so that their
identity is the hash of exactly the bytes decoded."""
_HEAD_BYTES = 64
"""How many first bytes of a stream :func:`spool` gives its format check."""


def input_id(path: str | os.PathLike) -> SourceId:
    """The identity of an input file as it is now: its size, sha256 and the sha256 of its
    resolved path (to tell whether an existing output is up to date; what a command records
    comes from :meth:`Input.identity`)."""
    try:
        with open_regular(validate.file_path(path, "path"), "file") as source:
            size, digest = _hash(source)
    except OSError as error:
        raise UserInputError(f"cannot read {path}: {error.strerror or error}") from None
    return SourceId(size, digest, _location(path))


def stream_id(data: bytes) -> SourceId:
    """The identity of input read from a stream (stdin): no path."""
    return SourceId(len(data), hashlib.sha256(data).hexdigest()[:32], _NO_LOCATION)


class Input:
    """An input opened once for a command (:func:`open_input`, :func:`spool`): ``handle``
    (binary, seekable) is what the command decodes, ``name`` names it in messages, and
    :meth:`identity` is the identity of the same bytes."""

    def __init__(self, handle: BinaryIO, name: str, identity: SourceId | None = None,
                 location: str = "", stamp: tuple[int, int, int] | None = None):
        self.handle, self.name = handle, name
        self._identity, self._location, self._stamp = identity, location, stamp

    def identity(self) -> SourceId:
        """The input's :class:`SourceId`. An input kept in memory or spooled is hashed from
        the bytes it holds; a larger file is hashed from its open handle after it was decoded,
        and refused when its size or times changed since it was opened (another process wrote
        to it meanwhile)."""
        if self._identity is None:
            self.handle.seek(0)
            try:
                size, digest = _hash(self.handle)
                stamp = _stamp(self.handle)
            except OSError as error:
                raise UserInputError(f"cannot read {self.name}: "
                                     f"{error.strerror or error}") from None
            if (size, *stamp[1:]) != self._stamp:
                raise UserInputError(f"{self.name}: the file changed while it was read (another "
                                     "program writes to it); run again when it is complete")
            self._identity = SourceId(size, digest, self._location)
        return self._identity


@contextlib.contextmanager
def open_input(path: str | os.PathLike, kind: str = "file") -> Iterator[Input]:
    """Open the input file ``path`` for one read that gives both its content and its identity
    (``kind`` names it in the message about a missing file). A file of at most
    :data:`WHOLE_READ_BYTES` is read into memory once and hashed from those bytes; a larger one
    is decoded from the open file and hashed from the same handle (:meth:`Input.identity`)."""
    name = os.fspath(path)
    with open_regular(validate.file_path(path, "path"), kind) as handle:
        try:
            stamp = _stamp(handle)
            small = stamp[0] <= WHOLE_READ_BYTES
            data = handle.read(stamp[0] + 1) if small else b""
        except OSError as error:
            raise UserInputError(f"cannot read {name}: {error.strerror or error}") from None
        if small and len(data) <= stamp[0]:  # (longer: it grows as it is read)
            identity = SourceId(len(data), hashlib.sha256(data).hexdigest()[:32],
                                _location(name))
            yield Input(io.BytesIO(data), name, identity)
            return
        handle.seek(0)
        yield Input(handle, name, location=_location(name), stamp=stamp)


def open_source(source: str | os.PathLike | bytes | Input, kind: str = "file"):
    """``source`` as an :class:`Input` at its start, for one read, in a ``with``: a path
    (:func:`open_input`; ``kind`` as there), the bytes a stream held (named ``stdin``), or an
    input already open (rewound, as :func:`spool` gives stdin)."""
    if isinstance(source, Input):
        source.handle.seek(0)
        return contextlib.nullcontext(source)
    if isinstance(source, bytes):
        return contextlib.nullcontext(Input(io.BytesIO(source), STDIN_NAME, stream_id(source)))
    return open_input(source, kind)


def spool(stream: BinaryIO | None, name: str, check_start: Callable[[bytes], None]) -> Input:
    """Read a stream (stdin) into an unnamed temporary file, hashing it on the way, in bounded
    memory whatever its length (the disk holds it). ``check_start`` sees the first bytes
    first and refuses what does not start as the expected format, so that endless non-data
    (``/dev/zero``) is refused at once. ``name`` names the stream in messages."""
    if stream is None:
        raise UserInputError(f"{name} is closed: pipe a file into it, e.g. '< in.wav'")
    try:
        head = stream.read(_HEAD_BYTES)
        while head and len(head) < _HEAD_BYTES:  # a pipe may give its first bytes in pieces
            more = stream.read(_HEAD_BYTES - len(head))
            if not more:
                break
            head += more
    except OSError as error:
        raise UserInputError(f"cannot read {name}: {error.strerror or error}") from None
    if not head:
        raise UserInputError(f"{name} is empty: pipe a file into it, e.g. '< in.wav'")
    check_start(head)
    digest, size = hashlib.sha256(), 0
    spooled = tempfile.TemporaryFile()
    block = head
    while block:
        digest.update(block)
        size += len(block)
        try:
            spooled.write(block)
        except OSError as error:
            spooled.close()
            raise UserInputError(f"cannot keep {name} in a temporary file in "
                                 f"{tempfile.gettempdir()}: {error.strerror or error}; set "
                                 "TMPDIR to a folder with room, or pass a file") from None
        try:
            block = stream.read(1 << 20)
        except OSError as error:
            spooled.close()
            raise UserInputError(f"cannot read {name}: {error.strerror or error}") from None
    spooled.seek(0)
    return Input(spooled, name, SourceId(size, digest.hexdigest()[:32], _NO_LOCATION))


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
            shown = STDIN_NAME if os.fspath(hit) == STDIO else os.fspath(hit)
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
                             f"over the other: {short_list(clashes)}; rename the inputs so that "
                             "their names differ beyond the extension (nothing was written)")


def codes_state(path: str | os.PathLike, model_hash: str, source: SourceId) -> Existing:
    """What is at ``path``, for a ``.codes`` file that ``model_hash`` would make from ``source``.

    Done: a valid ``.codes`` file (checksums pass) of this model recording this input's size and
    content. Redo: one of this model recording the same input path with other content.
    """
    early = state_unless_file(path)
    if early is not None:
        return early
    try:
        header = verify_codes(path)
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
    holds ``num_samples`` samples at ``sample_rate`` whose digest is the one the tag records
    (so that damage to the samples is seen). Audio tagged by an earlier version, without that
    digest, cannot be verified: it is redone."""
    early = state_unless_file(path)
    if early is not None:
        return early
    try:
        with open_audio(os.fspath(path)) as audio:
            return _decoded_state(audio, model_hash, source, num_samples, sample_rate)
    except UserInputError:
        return Existing(Kind.FOREIGN, "not an audio file that simvq-audio decode wrote")


def _decoded_state(audio: AudioFile, model_hash: str, source: SourceId, num_samples: int,
                   sample_rate: int) -> Existing:
    match = _TAG.fullmatch(audio.info.comment)
    if match is None:
        return Existing(Kind.FOREIGN, "audio that simvq-audio decode did not write")
    if match[1] != model_hash:
        return Existing(Kind.FOREIGN, f"decoded by another model ({match[1]})")
    state = _compare_source(SourceId(int(match[2]), match[3], match[4]), source, "")
    if state.kind is not Kind.DONE:
        return state
    if (audio.info.frames, audio.info.sample_rate) != (num_samples, sample_rate):
        return Existing(Kind.REDO, "its length has changed since decode wrote it")
    if match[5] is None:
        return Existing(Kind.REDO, "written by an older simvq-audio that recorded no digest of "
                        "its samples")
    if audio.digest() != match[5]:
        return Existing(Kind.REDO, "its samples have changed since decode wrote it")
    return state


def decode_tag(model_hash: str, source: SourceId, samples: str) -> str:
    """The comment decoded audio carries: the model, the identity of its ``.codes`` file and
    ``samples``, the :meth:`~simvq_audio.data.audio_io.AudioFile.digest` of its samples."""
    return (f"simvq-audio decode: model {model_hash}, input {source.size} {source.sha256} "
            f"{source.location}, samples {samples}")


def decoded_audio(wav: torch.Tensor, sample_rate: int, suffix: str, model_hash: str,
                  source: SourceId) -> bytes:
    """The bytes of the audio file ``decode`` writes: ``wav [T]`` in the format ``suffix``
    names, tagged (:func:`decode_tag`) with the digest of its samples as they read back."""
    plain = audio_bytes(wav, sample_rate, suffix)
    with open_audio(plain, "decoded audio") as audio:
        samples = audio.digest()
    return audio_bytes(wav, sample_rate, suffix, decode_tag(model_hash, source, samples))


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


def check_report_folder(out: Path, names: Iterable[str], inputs: dict,
                        input_files: Iterable[str | os.PathLike], overwrite: bool) -> None:
    """The policy of a report folder ``out`` (``--out``) holding the files ``names``, whose
    ``summary.json`` records the ``inputs`` the report was made from: a report of the same
    ``inputs`` is replaced, any other refused unless ``overwrite``, and so is a report file
    that is one of ``input_files``.

    Raises:
        UserInputError: ``out`` is a file, a report file is an input, or ``out`` holds another
            report (without ``overwrite``).
    """
    if out.exists() and not out.is_dir():
        raise UserInputError(f"--out {out} exists and is not a directory")
    files = [out / name for name in names]
    check_not_inputs(files, input_files)
    try:
        ours = json.loads((out / "summary.json").read_text(encoding="utf-8"))["inputs"] == inputs
    except (OSError, ValueError, TypeError, KeyError):
        ours = False
    refuse_foreign([(out, files_state(files, ours))], overwrite)


def outputs_to_write(jobs: Sequence[JobT], states: Sequence[Existing], overwrite: bool,
                     log: TextIO | None = None) -> list[JobT]:
    """The ``jobs`` (anything with a ``target`` path) whose output is not done, given each one's
    state: the run is refused first when an output may not be written (:func:`refuse_foreign`),
    and ``log`` (if given) is told which earlier outputs are redone, and why.

    Raises:
        UserInputError: an output is BLOCKED, or FOREIGN without ``overwrite``.
    """
    refuse_foreign([(job.target, state) for job, state in zip(jobs, states)], overwrite)
    redone = [f"{job.target} ({state.reason})" for job, state in zip(jobs, states)
              if state.kind is Kind.REDO and state.reason]
    if redone and log is not None:
        print(f"simvq-audio: redoing {len(redone)} earlier output(s): {short_list(redone)}",
              file=log)
    return [job for job, state in zip(jobs, states) if state.kind is not Kind.DONE]


def refuse_foreign(states: Iterable[tuple[str | os.PathLike, Existing]],
                   overwrite: bool) -> None:
    """Refuse, naming them all, outputs that are BLOCKED, or FOREIGN without ``overwrite``."""
    states = list(states)
    blocked = [f"{os.fspath(path)} ({state.reason})" for path, state in states
               if state.kind is Kind.BLOCKED]
    if blocked:
        raise UserInputError(f"cannot write {short_list(blocked)}: remove or rename it "
                             "(nothing was written)")
    foreign = [f"{os.fspath(path)} ({state.reason})" for path, state in states
               if state.kind is Kind.FOREIGN]
    if foreign and not overwrite:
        raise UserInputError(f"{len(foreign)} existing output(s) would be replaced: "
                             f"{short_list(foreign)}; pass --overwrite (overwrite=True) to replace "
                             "them (nothing was written)")


def _compare_source(recorded: SourceId | None, source: SourceId, unrecorded: str) -> Existing:
    if recorded is None:
        return Existing(Kind.FOREIGN, unrecorded)
    if (recorded.size, recorded.sha256) == (source.size, source.sha256):
        return Existing(Kind.DONE)
    if recorded.location == source.location and int(source.location, 16):
        return Existing(Kind.REDO, "its input has changed since")
    return Existing(Kind.FOREIGN, "made from another input")


def state_unless_file(path: str | os.PathLike) -> Existing | None:
    """The state of ``path`` when it holds no regular file: NEW when nothing is there, BLOCKED
    when something else is (a directory, a device, an unreadable path). None when a regular
    file or a dangling link is there: only the ``*_state`` functions can say what that is."""
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


def short_list(items: list[str]) -> str:
    """The first :data:`_LISTED` of ``items`` joined with ``; ``, and how many more."""
    hidden = len(items) - _LISTED
    return "; ".join(items[:_LISTED]) + (f"; ... and {hidden} more" if hidden > 0 else "")


def _hash(handle: BinaryIO) -> tuple[int, str]:
    """Size and sha256 (32 hex chars) of what ``handle`` holds from where it is."""
    digest, size = hashlib.sha256(), 0
    for block in iter(lambda: handle.read(1 << 22), b""):
        digest.update(block)
        size += len(block)
    return size, digest.hexdigest()[:32]


def _stamp(handle: BinaryIO) -> tuple[int, int, int]:
    """Size, modification and change time (ns) of an open file."""
    info = os.fstat(handle.fileno())
    return info.st_size, info.st_mtime_ns, info.st_ctime_ns


def _location(path: str | os.PathLike) -> str:
    return hashlib.sha256(os.fsencode(os.path.realpath(path))).hexdigest()[:16]
