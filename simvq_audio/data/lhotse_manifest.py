"""Lhotse manifests as a list of utterances, for ``simvq-audio tokenize --lhotse``.

:func:`read_lhotse_manifests` reads, as written by lhotse's ``to_file`` (JSON lines, plain or
gzip-compressed, whatever the file's name):

* one CutSet manifest (``cuts.jsonl.gz``): ``MonoCut`` and ``MultiCut`` records, each holding
  its ``recording`` and its ``supervisions``; or
* one RecordingSet manifest (``recordings.jsonl.gz``), optionally with its SupervisionSet
  manifest (``supervisions.jsonl.gz``), the two in either order.

The kind of a manifest is told from its records' keys (a cut has ``type``, a recording
``sources``, a supervision ``recording_id``), as lhotse tells them apart.

Each utterance is one whole recording: tokenize encodes whole audio files. Its id is the
**recording's id** (for cuts too: ``CutSet.from_manifests`` names a cut ``<recording id>-<its
index>``, while the recording id is the one a Kaldi data dir imported by ``lhotse kaldi import``
keeps, so both inputs name their tokens alike; after ``CutSet.save_audios`` a cut's recording id
is the cut's id). Its audio is the recording's one source of type ``file``; a relative path is
resolved against the *current directory*, as lhotse does (not against the manifest's folder).
Its duration is the recording's ``duration``. Refused, each with one
:class:`~simvq_audio.errors.UserInputError` naming the manifest, the line and the id, and saying
to write each cut's audio to a file of its own first (lhotse's ``CutSet.save_audios``):

* a cut that is not all of its recording: starting later than 0 or ending before the
  recording's end (by more than :data:`SPAN_TOLERANCE_S`), or using only some of its channels;
* ``MixedCut`` and ``PaddingCut`` records (mixes, padding), cuts with features but no recording;
* recordings with several sources (one file per channel), a source other than a ``file``
  (``url``, ``command``, ``memory``, ``shar``), or ``transforms`` (speed or volume
  perturbation, reverberation: lhotse applies them when it loads the audio, the file has none).

The transcript, speaker and language come from the recording's supervisions (those inside a
cut, or those of the SupervisionSet naming the recording); their times are not used, since the
utterance is the whole file. With several supervisions the texts are joined by one space in time
order (by ``start``, then by id), so a recording cut into sentences gets its full transcript;
the speaker and the language are kept when every supervision naming one names the same, else
left unknown (``None``: a conversation has no one speaker). Without supervisions all three are
``None``.

Also refused: a line that is not a JSON object, a missing or mistyped key, ``NaN``,
``Infinity`` or an integer longer than :data:`~simvq_audio.documents.MAX_INTEGER_DIGITS`
digits, a blank line (lhotse refuses those too), a recording id that is empty or holds
whitespace (ids become Kaldi ark keys), a repeated recording or supervision id, a supervision
naming a recording the recordings manifest does not hold, an empty manifest, and any manifest
beyond the limits :data:`MAX_MANIFEST_BYTES` (file size, and text once inflated: a gzip bomb is
refused after inflating at most that much), :data:`MAX_LINE_BYTES` and :data:`MAX_LINES`.
Files are read line by line (a manifest of a million cuts is never held whole), each opened
with :func:`~simvq_audio.input_files.open_regular`.
"""

from __future__ import annotations

import gzip
import os
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from simvq_audio.data.kaldi_dir import Utterance, _c_order
from simvq_audio.documents import parse_json
from simvq_audio.errors import UserInputError, quote
from simvq_audio.input_files import open_regular

MAX_MANIFEST_BYTES = 1 << 30
"""Largest manifest, in bytes: both the file and its text once inflated (1 GiB; a LibriSpeech
cut with its supervision and an absolute path takes about 650 bytes)."""
MAX_LINE_BYTES = 1 << 20
"""Longest line (one record), in bytes: 1 MiB."""
MAX_LINES = 2_000_000
"""Most lines of one manifest (an utterance read takes about 0.7 KB of memory: 1.5 GB at most).
"""
SPAN_TOLERANCE_S = 0.001
"""How far a cut's start may lie from 0, and its end from its recording's end, in seconds."""

CUT, RECORDING, SUPERVISION = "cut", "recording", "supervision"
WHOLE_CUT_TYPES = ("MonoCut", "MultiCut")
SAVE_HINT = ("tokenize encodes whole audio files: save each cut's audio as a file first "
             "(lhotse's CutSet.save_audios) and give that manifest")

_GZIP_MAGIC = b"\x1f\x8b"


@dataclass(frozen=True)
class _Recording:
    """What tokenize needs of one recording record: ``duration`` in seconds, ``channels`` its
    channel ids, ``path`` absolute."""

    recording_id: str
    path: Path
    duration: float
    channels: tuple[int, ...]


@dataclass(frozen=True)
class _Supervision:
    """The labels of one supervision, ``start`` in seconds; ``recording_id`` is ``None``
    inside a cut (there it may name the recording the cut was saved from, not the cut's)."""

    supervision_id: str
    recording_id: str | None
    start: float
    text: str | None
    speaker: str | None
    language: str | None


@dataclass(frozen=True)
class _Manifest:
    """One manifest read: its ``kind``, and per record ``(line, parsed record)``."""

    path: str
    kind: str
    items: list[tuple[int, Any]]


class _Bad(ValueError):
    """What is wrong with one record; the caller names the manifest, the line and the id."""


def read_lhotse_manifests(paths: Sequence[str | os.PathLike]) -> list[Utterance]:
    """The utterances of a lhotse CutSet manifest, or of a RecordingSet manifest with or
    without its SupervisionSet manifest (``paths``: one or two files, see the module
    docstring), sorted by id in byte order (``LC_ALL=C sort``), ids unique; each
    :class:`~simvq_audio.data.kaldi_dir.Utterance` has an absolute ``path`` and the
    recording's ``duration`` in seconds. Audio files are not opened.

    Raises:
        UserInputError: any manifest, record or combination the module docstring refuses.
    """
    if not 1 <= len(paths) <= 2:
        raise UserInputError(f"give one lhotse CutSet manifest, or a RecordingSet manifest and "
                             f"optionally its SupervisionSet manifest (got {len(paths)} files)")
    manifests = {}
    for path in paths:
        manifest = _read_manifest(os.fspath(path))
        if manifest.kind in manifests:
            raise UserInputError(f"{manifests[manifest.kind].path} and {manifest.path} both hold "
                                 f"{manifest.kind}s; {_USAGE}")
        manifests[manifest.kind] = manifest
    if set(manifests) == {CUT}:
        utterances = [utterance for _, utterance in manifests[CUT].items]
    elif set(manifests) in ({RECORDING}, {RECORDING, SUPERVISION}):
        utterances = _join(manifests[RECORDING], manifests.get(SUPERVISION))
    else:
        kinds = " and ".join(f"{manifest.path} holds {kind}s"
                             for kind, manifest in manifests.items())
        raise UserInputError(f"{kinds}; {_USAGE}")
    return sorted(utterances, key=lambda utterance: _c_order(utterance.utt_id))


_USAGE = ("give one CutSet manifest alone, or a RecordingSet manifest with or without its "
          "SupervisionSet manifest")


def _read_manifest(path: str) -> _Manifest:
    """Every record of the manifest at ``path`` parsed as the kind of its first record, repeated
    recording (or supervision) ids refused."""
    kind = None
    items: list[tuple[int, Any]] = []
    first_lines: dict[str, int] = {}
    for number, record in _records(path):
        record_kind = _kind(record)
        if record_kind is None:
            raise UserInputError(f"{path}:{number}: not a lhotse cut, recording or supervision "
                                 f"(keys {quote(sorted(record))}); {_USAGE}")
        if kind is None:
            kind = record_kind
        elif record_kind != kind:
            raise UserInputError(f"{path}:{number}: a {record_kind}, but line 1 is a {kind}: a "
                                 f"manifest holds one kind of record")
        item, unique_id = _parse(path, number, kind, record)
        if unique_id in first_lines and kind == CUT:
            raise UserInputError(f"{path}:{number}: cut {quote(record['id'])} spans recording "
                                 f"{quote(unique_id)}, as the cut on line "
                                 f"{first_lines[unique_id]} does; each recording is one "
                                 "utterance, tokenized once")
        if unique_id in first_lines:
            raise UserInputError(f"{path}:{number}: {kind} {quote(unique_id)} again (first on "
                                 f"line {first_lines[unique_id]}); each may appear once")
        first_lines[unique_id] = number
        items.append((number, item))
    if kind is None:
        raise UserInputError(f"{path}: holds no records (an empty lhotse manifest)")
    return _Manifest(path, kind, items)


def _parse(path: str, number: int, kind: str, record: dict) -> tuple[Any, str]:
    """``(parsed record, its unique id)`` of the record on line ``number``, or one
    UserInputError naming the manifest, the line and the record's id."""
    record_id = record.get("id")
    named = f"{kind} {quote(record_id)}: " if isinstance(record_id, str) else f"{kind}: "
    try:
        if kind == CUT:
            utterance = _cut(record)
            return utterance, utterance.utt_id
        if kind == RECORDING:
            recording = _recording(record)
            return recording, recording.recording_id
        supervision = _supervision(record, standalone=True)
        return supervision, supervision.supervision_id
    except _Bad as error:
        raise UserInputError(f"{path}:{number}: {named}{error}") from None


def _join(recordings: _Manifest, supervisions: _Manifest | None) -> list[Utterance]:
    """One utterance per recording, labelled by the supervisions naming it."""
    by_recording: dict[str, list[_Supervision]] = {recording.recording_id: []
                                                   for _, recording in recordings.items}
    for number, supervision in supervisions.items if supervisions else []:
        if supervision.recording_id not in by_recording:
            raise UserInputError(f"{supervisions.path}:{number}: supervision "
                                 f"{quote(supervision.supervision_id)} names recording "
                                 f"{quote(supervision.recording_id)}, which {recordings.path} "
                                 "does not hold; give the supervisions of these recordings")
        by_recording[supervision.recording_id].append(supervision)
    return [_utterance(recording, by_recording[recording.recording_id])
            for _, recording in recordings.items]


def _utterance(recording: _Recording, supervisions: list[_Supervision]) -> Utterance:
    """The whole ``recording`` as an utterance, labelled as the module docstring says."""
    ordered = sorted(supervisions, key=lambda item: (item.start, _c_order(item.supervision_id)))
    texts = [item.text for item in ordered if item.text is not None]
    return Utterance(recording.recording_id, recording.path, recording.duration,
                     speaker=_common(item.speaker for item in ordered),
                     text=" ".join(texts) if texts else None,
                     language=_common(item.language for item in ordered))


def _common(values: Iterator[str | None]) -> str | None:
    """The one value that all non-``None`` ``values`` share, else ``None``."""
    named = {value for value in values if value is not None}
    return named.pop() if len(named) == 1 else None


def _kind(record: dict) -> str | None:
    if "type" in record:
        return CUT
    if "sources" in record:
        return RECORDING
    if "recording_id" in record:
        return SUPERVISION
    return None


def _cut(record: dict) -> Utterance:
    """A MonoCut or MultiCut record spanning all of its recording as an utterance."""
    cut_type = _string(record, "type")
    if cut_type not in WHOLE_CUT_TYPES:
        made = {"MixedCut": " (a mix, or a padded cut)", "PaddingCut": " (padding)"}
        raise _Bad(f"a {quote(cut_type)}{made.get(cut_type, '')}, not a cut of one recording; "
                   f"{SAVE_HINT}")
    _string(record, "id")
    if record.get("recording") is None:
        what = "features but no recording" if record.get("features") else "no recording"
        raise _Bad(f"has {what}, and tokenize needs audio")
    embedded = _object(record, "recording")
    try:
        recording = _recording(embedded)
    except _Bad as error:
        recording_id = embedded.get("id")
        named = quote(recording_id) if isinstance(recording_id, str) else "(its recording)"
        raise _Bad(f"recording {named}: {error}") from None
    start, duration = _number(record, "start"), _number(record, "duration")
    if abs(start) > SPAN_TOLERANCE_S or abs(start + duration - recording.duration) > \
            SPAN_TOLERANCE_S:
        raise _Bad(f"spans {start:g} s to {start + duration:g} s of recording "
                   f"{quote(recording.recording_id)}, which lasts {recording.duration:g} s; "
                   f"{SAVE_HINT}")
    channel = _field(record, "channel", (int, list), "a channel number or a list of them")
    channels = _channels(channel) if isinstance(channel, list) else (channel,)
    if sorted(channels) != sorted(recording.channels):
        raise _Bad(f"uses channel(s) {list(channels)} of recording "
                   f"{quote(recording.recording_id)}, which has channels "
                   f"{list(recording.channels)}; {SAVE_HINT}")
    supervisions = record.get("supervisions", [])
    if not isinstance(supervisions, list):
        raise _Bad(f"'supervisions' must be a list, not {_json_type(supervisions)}")
    parsed = []
    for index, item in enumerate(supervisions):
        if not isinstance(item, dict):
            raise _Bad(f"supervision {index} is {_json_type(item)}, not an object")
        try:
            parsed.append(_supervision(item, standalone=False))
        except _Bad as error:
            raise _Bad(f"supervision {index}: {error}") from None
    return _utterance(recording, parsed)


def _recording(record: dict) -> _Recording:
    """A recording record read from its one file source."""
    recording_id = _string(record, "id")
    if recording_id.split() != [recording_id]:
        raise _Bad(f"the recording id {quote(recording_id)} is empty or holds whitespace; ids "
                   "become Kaldi ark keys: give the recording a one-word id")
    sources = _field(record, "sources", list, "a list")
    if len(sources) != 1:
        raise _Bad(f"has {len(sources)} audio sources (one file per channel?) where tokenize needs "
                   f"one; {SAVE_HINT}")
    source = sources[0]
    if not isinstance(source, dict):
        raise _Bad(f"its source is {_json_type(source)}, not an object")
    source_type = _string(source, "type")
    if source_type != "file":
        raise _Bad(f"is read from a {quote(source_type)} source, not a file; {SAVE_HINT}")
    location = _string(source, "source")
    if not location:
        raise _Bad("has an empty file path")
    if record.get("transforms"):
        raise _Bad(f"has transforms (speed or volume perturbation, reverberation) that its "
                   f"file does not hold; {SAVE_HINT}")
    duration = _number(record, "duration")
    if duration <= 0:
        raise _Bad(f"lasts {duration:g} s; a duration must be positive")
    channel_ids = record.get("channel_ids")
    channels = _channels(source.get("channels") if channel_ids is None else channel_ids)
    return _Recording(recording_id, Path(location).absolute(), duration, channels)


def _supervision(record: dict, standalone: bool) -> _Supervision:
    """A supervision record; ``standalone`` (of a SupervisionSet) needs its ``recording_id``."""
    labels = {key: _field(record, key, (str, type(None)), "a string or null", required=False)
              for key in ("text", "speaker", "language")}
    return _Supervision(_string(record, "id"),
                        _string(record, "recording_id") if standalone else None,
                        _number(record, "start"), **labels)


def _field(record: dict, key: str, kinds: type | tuple[type, ...], expected: str,
           required: bool = True) -> Any:
    """``record[key]`` if it is of ``kinds`` (``None`` when absent and not ``required``)."""
    if key not in record:
        if required:
            raise _Bad(f"has no {quote(key)}")
        return None
    value = record[key]
    if not isinstance(value, kinds) or isinstance(value, bool):
        raise _Bad(f"{quote(key)} must be {expected}, not {_json_type(value)}")
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise _Bad(f"{quote(key)} holds an unpaired UTF-16 surrogate (a \\ud800-\\udfff "
                       "escape), which is not text") from None
    return value


def _string(record: dict, key: str) -> str:
    return _field(record, key, str, "a string")


def _object(record: dict, key: str) -> dict:
    return _field(record, key, dict, "an object")


def _number(record: dict, key: str) -> float:
    return float(_field(record, key, (int, float), "a number"))


def _channels(value: object) -> tuple[int, ...]:
    if not isinstance(value, list) or not value or not all(
            isinstance(item, int) and not isinstance(item, bool) for item in value):
        raise _Bad(f"channels must be a non-empty list of channel numbers, not "
                   f"{quote(value)}")
    return tuple(value)


def _json_type(value: object) -> str:
    names = {bool: "true or false", str: "a string", int: "a number", float: "a number",
             list: "a list", dict: "an object", type(None): "null"}
    return names[type(value)]


def _records(path: str) -> Iterator[tuple[int, dict]]:
    """``(line number, record)`` for each line of the manifest at ``path``, plain or gzip, read
    within :data:`MAX_MANIFEST_BYTES`, :data:`MAX_LINE_BYTES` and :data:`MAX_LINES`."""
    with open_regular(path, "lhotse manifest") as handle:
        size = os.fstat(handle.fileno()).st_size
        if size > MAX_MANIFEST_BYTES:
            raise UserInputError(f"{path}: {size} bytes, larger than the {MAX_MANIFEST_BYTES} a "
                                 "lhotse manifest may take; split it into several")
        compressed = handle.read(2) == _GZIP_MAGIC
        handle.seek(0)
        stream: BinaryIO = gzip.GzipFile(fileobj=handle, mode="rb") if compressed else handle
        with stream:
            total = 0
            for number in range(1, MAX_LINES + 2):
                line = _read_line(path, stream, compressed)
                if not line:
                    return
                total += len(line)
                if total > MAX_MANIFEST_BYTES:
                    held = "inflates to" if compressed else "holds"
                    raise UserInputError(f"{path}: {held} more than {MAX_MANIFEST_BYTES} bytes "
                                         "of text, more than a lhotse manifest may take; split "
                                         "it into several")
                if number > MAX_LINES:
                    raise UserInputError(f"{path}: more than {MAX_LINES} lines, more than a "
                                         "lhotse manifest may hold; split it into several")
                if len(line) > MAX_LINE_BYTES and not line.endswith(b"\n"):
                    raise UserInputError(f"{path}:{number}: a line longer than {MAX_LINE_BYTES} "
                                         "bytes, too long for one lhotse record")
                yield number, _decode(path, number, line)


def _read_line(path: str, stream: BinaryIO, compressed: bool) -> bytes:
    """The next line of ``stream`` (at most :data:`MAX_LINE_BYTES` + 1 bytes; empty at the
    end), damaged gzip data refused."""
    try:
        return stream.readline(MAX_LINE_BYTES + 1)
    except (OSError, EOFError, zlib.error) as error:
        if not compressed:
            raise UserInputError(f"cannot read {path}: {error}") from None
        raise UserInputError(f"{path}: damaged gzip data ({error or type(error).__name__})"
                             ) from None


def _decode(path: str, number: int, line: bytes) -> dict:
    """The JSON object on line ``number``, or one UserInputError saying what is wrong."""
    where = f"{path}:{number}"
    if not line.strip():
        raise UserInputError(f"{where}: a blank line; a lhotse manifest holds one JSON object "
                             "per line")
    record = parse_json(line, where)
    if not isinstance(record, dict):
        raise UserInputError(f"{where}: {_json_type(record)}, not a JSON object; a lhotse "
                             "manifest holds one object per line")
    return record


