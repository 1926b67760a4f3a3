"""Kaldi-style data directories: read, validate (every problem, with file and line), write.

A data dir holds plain-text tables, one ``utt-id value`` per line, ids unique and sorted in
``LC_ALL=C sort`` (byte) order:

* ``wav.scp`` (required): ``utt-id path``. Only plain file paths are supported, not Kaldi pipes
  (``cmd |``) or ark offsets. As in Kaldi, a relative path is resolved against the *current
  directory* (run recipes from the recipe folder), not against the data dir.
* ``utt2spk`` (optional): ``utt-id speaker-id``.
* ``text`` (optional): ``utt-id transcript`` (the transcript may be empty).
* ``utt2dur`` (optional): ``utt-id seconds``; used for length bucketing when present.
* ``utt2lang`` (optional, as in ESPnet): ``utt-id language`` (ISO 639-1, e.g. ``en``); ``score``
  runs an ASR model only on the languages it knows.

:func:`read_wav_scp` reads a ``wav.scp`` (of any name) alone, by the same rules.

A Kaldi ``segments`` file (utterances cut from longer recordings) is not supported and is reported.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from simvq_audio.atomic import atomic_path
from simvq_audio.data.audio_io import audio_info
from simvq_audio.errors import UserInputError

if TYPE_CHECKING:
    from simvq_audio.data.hf_dataset import DatasetRow

WAV_SCP = "wav.scp"
OPTIONAL_TABLES = ("utt2spk", "text", "utt2dur", "utt2lang")
ONE_WORD_TABLES = {"utt2spk": "speaker", "utt2lang": "language"}   # table -> what its value is
MAX_LISTED_PROBLEMS = 20
DURATION_TOLERANCE_S = 0.1


@dataclass(frozen=True)
class Problem:
    """One problem in a data dir: the file, its 1-based line (``None`` for the whole file), what."""

    file: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        return f"{where}: {self.message}"


@dataclass(frozen=True)
class Utterance:
    """One utterance of a data dir; ``path`` is absolute. ``row`` is set when the audio lies
    inside a Hugging Face dataset (``path`` is then the dataset's):
    :func:`simvq_audio.data.utterances.audio_source` gives what to read either way."""

    utt_id: str
    path: Path
    duration: float | None = None
    speaker: str | None = None
    text: str | None = None
    language: str | None = None
    row: DatasetRow | None = None


@dataclass(frozen=True)
class _Entry:
    value: str
    line: int


def validate_data_dir(path: str | os.PathLike, check_audio: bool = True) -> list[Problem]:
    """Every problem in the data dir at ``path`` (an empty list when it is clean).

    ``check_audio`` also opens each audio file's header: it must exist, be readable and non-empty,
    and agree with ``utt2dur`` (when present) to within 0.1 s.
    """
    return _parse(Path(path), check_audio)[1]


def read_data_dir(path: str | os.PathLike, check_audio: bool = True) -> list[Utterance]:
    """The utterances of the data dir at ``path``, sorted by id.

    Raises:
        UserInputError: listing the first problems and the count of the rest, if any.
    """
    utterances, problems = _parse(Path(path), check_audio)
    if problems:
        raise UserInputError(describe_problems(path, problems))
    return utterances


def read_wav_scp(path: str | os.PathLike, check_audio: bool = True) -> list[Utterance]:
    """The utterances of a ``wav.scp`` file read alone (no other table), sorted by id; the
    file's own problems as :func:`read_data_dir` finds them.

    Raises:
        UserInputError: listing the first problems and the count of the rest, if any.
    """
    path = Path(path)
    problems: list[Problem] = []
    if not path.is_file():
        raise UserInputError(f"{path}: no such file")
    wavs = _read_table(path, problems)
    if not wavs:
        problems.append(Problem(str(path), None, "has no entries"))
    paths = _check_wav_entries(path, wavs, {}, check_audio, problems)
    if problems:
        raise UserInputError(describe_problems(path, problems))
    return [Utterance(utt_id, paths[utt_id]) for utt_id in sorted(paths, key=_c_order)]


def describe_problems(path: str | os.PathLike, problems: list[Problem]) -> str:
    """One message listing the first :data:`MAX_LISTED_PROBLEMS` problems and counting the rest."""
    lines = [f"data dir {path} has {len(problems)} problem(s):"]
    lines += [f"  {problem}" for problem in problems[:MAX_LISTED_PROBLEMS]]
    hidden = len(problems) - MAX_LISTED_PROBLEMS
    if hidden > 0:
        lines.append(f"  ... and {hidden} more (simvq-audio validate-data {path} lists them all)")
    return "\n".join(lines)


def write_data_dir(path: str | os.PathLike, wav_scp: Mapping[str, str | os.PathLike],
                   utt2spk: Mapping[str, str] | None = None,
                   text: Mapping[str, str] | None = None,
                   utt2dur: Mapping[str, float] | None = None,
                   utt2lang: Mapping[str, str] | None = None) -> None:
    """Write a data dir: each given table sorted by id (byte order), each file atomically.

    Every table must have exactly the ids of ``wav_scp``. Paths are written as given. Nothing is
    written unless every table is valid.

    Raises:
        UserInputError: no utterances, an empty or whitespace-containing id, a pipe in wav.scp, a
            value with a line break, a speaker or language that is not one word, a non-positive
            duration, or tables whose ids differ.
    """
    if not wav_scp:
        raise UserInputError(f"{path}: wav.scp would be empty (no utterances given)")
    given = {WAV_SCP: wav_scp, "utt2spk": utt2spk, "text": text, "utt2dur": utt2dur,
             "utt2lang": utt2lang}
    tables = {name: _format_table(path, name, table, wav_scp)
              for name, table in given.items() if table is not None}
    Path(path).mkdir(parents=True, exist_ok=True)
    for name, table in tables.items():
        lines = [f"{key} {table[key]}".rstrip() + "\n" for key in sorted(table, key=_c_order)]
        with atomic_path(Path(path) / name) as tmp:
            tmp.write_text("".join(lines), encoding="utf-8")


def _format_table(path: str | os.PathLike, name: str, table: Mapping[str, object],
                  wav_scp: Mapping[str, object]) -> dict[str, str]:
    """``table`` as ``{id: value text}``, or a UserInputError naming the bad entry."""
    if set(table) != set(wav_scp):
        differing = sorted(set(wav_scp) ^ set(table))[:5]
        raise UserInputError(f"{path}: {name} and wav.scp have different ids, e.g. {differing}")
    formatted = {}
    for utt_id, value in table.items():
        where = f"{path}: {name}: {utt_id!r}"
        if not isinstance(utt_id, str) or len(utt_id.split()) != 1 or utt_id != utt_id.strip():
            raise UserInputError(f"{where}: utterance ids must be one word without whitespace")
        text = str(value)
        if "\n" in text or "\r" in text:
            raise UserInputError(f"{where}: the value contains a line break")
        if name == WAV_SCP and (_is_pipe(text) or not text.strip()):
            raise UserInputError(f"{where}: {text!r} is not a file path (pipes are not supported)")
        if name in ONE_WORD_TABLES and len(text.split()) != 1:
            raise UserInputError(f"{where}: the {ONE_WORD_TABLES[name]} must be one word, "
                                 f"got {text!r}")
        if name == "utt2dur":
            try:
                seconds = float(value)
            except (TypeError, ValueError):
                seconds = math.nan
            if not (math.isfinite(seconds) and seconds > 0):
                raise UserInputError(f"{where}: the duration must be a positive number of seconds, "
                                     f"got {value!r}")
            text = repr(seconds)
        formatted[utt_id] = text
    return formatted


def _c_order(utt_id: str) -> bytes:
    """Sort key matching ``LC_ALL=C sort``: raw UTF-8 bytes."""
    return utt_id.encode("utf-8")


def _is_pipe(value: str) -> bool:
    return value.rstrip().endswith("|")


def _parse(root: Path, check_audio: bool) -> tuple[list[Utterance], list[Problem]]:
    problems: list[Problem] = []
    if not root.is_dir():
        return [], [Problem(str(root), None, "not a directory")]
    if (root / "segments").exists():
        problems.append(Problem(str(root / "segments"), None, "segments files are not supported: "
                                "cut the recordings into one file per utterance"))
    if not (root / WAV_SCP).is_file():
        problems.append(Problem(str(root / WAV_SCP), None, "missing (it is required)"))
        return [], problems
    wavs = _read_table(root / WAV_SCP, problems)
    if not wavs:
        problems.append(Problem(str(root / WAV_SCP), None, "has no entries"))
    others = {name: _read_table(root / name, problems)
              for name in OPTIONAL_TABLES if (root / name).is_file()}
    for name, table in others.items():
        _check_same_ids(root, wavs, name, table, problems)
    durations = _parse_durations(root, others.get("utt2dur", {}), problems)
    paths = _check_wav_entries(root / WAV_SCP, wavs, durations, check_audio, problems)
    for name, what in ONE_WORD_TABLES.items():
        for utt_id, entry in others.get(name, {}).items():
            if len(entry.value.split()) != 1:
                problems.append(Problem(str(root / name), entry.line, f"{what} of {utt_id!r} "
                                        f"must be one word, got {entry.value!r}"))

    def value(name: str, utt_id: str) -> str | None:
        entry = others.get(name, {}).get(utt_id)
        return None if entry is None else entry.value

    utterances = [Utterance(utt_id, paths[utt_id], durations.get(utt_id), value("utt2spk", utt_id),
                            value("text", utt_id), value("utt2lang", utt_id))
                  for utt_id in sorted(paths, key=_c_order)]
    return utterances, problems


def _read_table(path: Path, problems: list[Problem]) -> dict[str, _Entry]:
    """Parse ``utt-id value`` lines, reporting malformed, duplicate and unsorted ids."""
    table: dict[str, _Entry] = {}
    previous: str | None = None
    raw_lines = path.read_bytes().split(b"\n")
    if raw_lines[-1] == b"":
        raw_lines.pop()
    crlf_line = next((number for number, raw in enumerate(raw_lines, 1) if raw.endswith(b"\r")),
                     None)
    if crlf_line is not None:
        problems.append(Problem(str(path), crlf_line, "Windows (CRLF) line endings; convert the "
                                "file to Unix line endings (dos2unix)"))
    for number, raw in enumerate(raw_lines, 1):
        try:
            line = raw.decode("utf-8").rstrip("\r")
        except UnicodeDecodeError:
            problems.append(Problem(str(path), number, "not valid UTF-8"))
            continue
        if not line.strip():
            problems.append(Problem(str(path), number, "empty line"))
            continue
        if line[0].isspace():
            problems.append(Problem(str(path), number, "line starts with whitespace"))
            continue
        parts = line.split(maxsplit=1)
        utt_id, value = parts[0], parts[1].strip() if len(parts) > 1 else ""
        if utt_id in table:
            problems.append(Problem(str(path), number, f"duplicate id {utt_id!r} "
                                    f"(first on line {table[utt_id].line})"))
            continue
        if previous is not None and _c_order(utt_id) < _c_order(previous):
            problems.append(Problem(str(path), number, f"ids not sorted (LC_ALL=C sort): "
                                    f"{utt_id!r} comes after {previous!r}"))
        table[utt_id] = _Entry(value, number)
        previous = utt_id
    return table


def _check_same_ids(root: Path, wavs: dict[str, _Entry], name: str, table: dict[str, _Entry],
                    problems: list[Problem]) -> None:
    for utt_id, entry in wavs.items():
        if utt_id not in table:
            problems.append(Problem(str(root / WAV_SCP), entry.line, f"id {utt_id!r} is missing "
                                    f"from {name}"))
    for utt_id, entry in table.items():
        if utt_id not in wavs:
            problems.append(Problem(str(root / name), entry.line, f"id {utt_id!r} is not in "
                                    "wav.scp"))


def _parse_durations(root: Path, table: dict[str, _Entry],
                     problems: list[Problem]) -> dict[str, float]:
    durations = {}
    for utt_id, entry in table.items():
        try:
            seconds = float(entry.value)
        except ValueError:
            seconds = math.nan
        if not (math.isfinite(seconds) and seconds > 0):
            problems.append(Problem(str(root / "utt2dur"), entry.line, f"duration of {utt_id!r} "
                                    f"must be a positive number of seconds, got {entry.value!r}"))
            continue
        durations[utt_id] = seconds
    return durations


def _check_wav_entries(scp: Path, wavs: dict[str, _Entry], durations: dict[str, float],
                       check_audio: bool, problems: list[Problem]) -> dict[str, Path]:
    """Absolute audio paths by id; reports pipes, and with ``check_audio`` unusable files."""
    paths = {}
    where = str(scp)
    for utt_id, entry in wavs.items():
        if not entry.value:
            problems.append(Problem(where, entry.line, f"no audio path for {utt_id!r}"))
            continue
        if _is_pipe(entry.value):
            problems.append(Problem(where, entry.line, f"{utt_id!r} is a Kaldi pipe "
                                    f"({entry.value!r}); only plain file paths are supported"))
            continue
        path = Path(entry.value).absolute()
        paths[utt_id] = path
        if check_audio:
            message = _audio_problem(path, durations.get(utt_id))
            if message:
                problems.append(Problem(where, entry.line, f"{utt_id!r}: {message}"))
    return paths


def _audio_problem(path: Path, duration: float | None) -> str | None:
    """Why the audio file at ``path`` cannot be used, or ``None``."""
    if not path.is_file():
        return f"audio file not found: {path} (relative paths are resolved against the current " \
               f"directory {Path.cwd()})"
    try:
        info = audio_info(path)
    except UserInputError as error:
        return str(error)
    if info.frames <= 0:
        return f"audio file is empty: {path}"
    actual = info.duration
    if duration is not None and abs(actual - duration) > DURATION_TOLERANCE_S:
        return f"utt2dur says {duration:g} s but {path} lasts {actual:.3f} s"
    return None
