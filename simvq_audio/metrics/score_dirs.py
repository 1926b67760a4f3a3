"""Reading back a folder written by ``simvq-audio score``: its ``summary.json``, the rows of its
``scores.csv`` and the audio pairs it scored, so that pages comparing several runs
(:func:`simvq_audio.metrics.report_html.write_comparison`) can be made from the folders alone.

The rows come back as ``score`` made them: ``utt_id``, ``ref_seconds`` and ``hyp_seconds``
(floats, ``None`` when empty), each metric of the summary as a float (absent when empty), other
columns (scorers' details such as transcripts) as strings (absent when empty), and ``skipped``
(metric -> reason) parsed from the CSV's ``metric: reason; metric: reason`` column.
"""

from __future__ import annotations

import csv
import io
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from simvq_audio.data.utterances import list_utterances
from simvq_audio.documents import read_bytes, read_json_document
from simvq_audio.errors import UserInputError, quote
from simvq_audio.metrics.inputs import pair_up
from simvq_audio.metrics.utterance import ALL

SCORES_CSV = "scores.csv"
MAX_SUMMARY_BYTES = 64 << 20
"""Largest ``summary.json`` read: it lists every skipped metric of every utterance (about
100 bytes each), so a large corpus's summary takes megabytes."""
MAX_SCORES_BYTES = 256 << 20
"""Largest ``scores.csv`` read (one row of a few hundred bytes per utterance)."""
SECONDS_COLUMNS = ("ref_seconds", "hyp_seconds")


def read_summary(path: str | os.PathLike) -> dict:
    """The content of a ``summary.json`` written by ``score``, checked to have the fields and
    types that ``compare`` and the comparison page read (see :func:`_summary_problem`).

    Raises:
        UserInputError: a missing or unreadable file, one that is not a regular file (a FIFO is
        refused before it is opened for reading), one over :data:`MAX_SUMMARY_BYTES`, invalid
        or too deeply nested JSON, or JSON that is no such summary.
    """
    summary = read_json_document(path, MAX_SUMMARY_BYTES, what="summary.json",
                                 allow_non_finite=True)  # an infinite mean is written as Infinity
    problem = _summary_problem(summary)
    if problem is not None:
        raise UserInputError(f"{path}: not a summary.json written by simvq-audio score "
                             f"({problem})")
    return summary


def _summary_problem(summary: Any) -> str | None:
    """What keeps ``summary`` from being a summary that ``compare`` can read (``None``: none):
    an object with ``metrics`` (name -> ``label``, ``higher_is_better``, ``mean``, ``ci95``,
    ``count``, ``skipped``) and ``num_utterances``; the optional fields, where present, of the
    types ``score`` writes."""
    if not isinstance(summary, dict):
        return f"its top level is {_json_kind(summary)}, not an object"
    for key in ("metrics", "num_utterances"):
        if key not in summary:
            return f"it has no {key!r}"
    for key, check in _SUMMARY_FIELDS.items():
        if key in summary:
            problem = check(summary[key])
            if problem is not None:
                return f"{key!r} {problem}"
    return None


def _json_kind(value: Any) -> str:
    """``value``'s JSON type in words (``"a list"``, ``"a string"``, ``"null"``)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    return {dict: "an object", list: "a list", str: "a string"}.get(type(value), "unknown")


def _of(kind: str, accept: Callable[[Any], bool]) -> Callable[[Any], str | None]:
    """A check: ``None`` for a value ``accept`` takes, else ``"must be <kind>, got ..."``."""
    return lambda value: None if accept(value) else f"must be {kind}, got {_json_kind(value)}"


def _mapping_of(check: Callable[[Any], str | None]) -> Callable[[Any], str | None]:
    """A check of an object whose every value passes ``check``."""
    def checked(value: Any) -> str | None:
        if not isinstance(value, dict):
            return f"must be an object, got {_json_kind(value)}"
        for key, item in value.items():
            problem = check(item)
            if problem is not None:
                return f"-> {quote(key)} {problem}"
        return None
    return checked


def _fields(checks: dict[str, Callable[[Any], str | None]], optional: bool = False
            ) -> Callable[[Any], str | None]:
    """A check of an object holding ``checks``' keys (``optional``: where present) of their
    types; other keys are left alone."""
    def checked(value: Any) -> str | None:
        if optional and not value:
            return None
        if not isinstance(value, dict):
            return f"must be an object, got {_json_kind(value)}"
        for key, check in checks.items():
            if key not in value:
                return f"has no {key!r}"
            problem = check(value[key])
            if problem is not None:
                return f"-> {key!r} {problem}"
        return None
    return checked


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


_COUNT = _of("a count (a whole number >= 0)", _is_count)
_OPTIONAL_NUMBER = _of("a number or null", lambda value: value is None or _is_number(value))
_TEXT = _of("a string", lambda value: isinstance(value, str))
_SUMMARY_FIELDS: dict[str, Callable[[Any], str | None]] = {
    "metrics": _mapping_of(_fields({
        "label": _TEXT, "higher_is_better": _of("true or false", lambda v: isinstance(v, bool)),
        "mean": _OPTIONAL_NUMBER, "ci95": _OPTIONAL_NUMBER, "count": _COUNT,
        "skipped": _COUNT})),
    "num_utterances": _COUNT,
    "num_skipped_utterances": _COUNT,
    "name": _of("a string or null", lambda value: value is None or isinstance(value, str)),
    "codebook": _fields({"bitrate_bps": _of("a number", _is_number),
                         "utilisation": _of("a number", _is_number)}, optional=True),
    "skip_reasons": _mapping_of(_mapping_of(_COUNT)),
    "unavailable": _mapping_of(_TEXT),
    "inputs": _mapping_of(_of("a string or null",
                              lambda value: value is None or isinstance(value, str))),
}
"""The fields of a summary that ``compare`` and the comparison page read, and their checks."""


def read_score_dir(summary_path: str | os.PathLike
                   ) -> tuple[str, dict, list[dict], list[tuple[str, Path, Path]]]:
    """``(name, summary, rows, pairs)`` of the scoring run whose ``summary.json`` is
    ``summary_path``: what :func:`~simvq_audio.metrics.report_html.write_comparison` takes per
    system. ``name`` is the summary's, else the folder's name; ``rows`` come from the
    ``scores.csv`` beside it; ``pairs`` are the ``(utt_id, ref_path, hyp_path)`` of the ``ref``
    and ``hyp`` inputs recorded in the summary, listed again.

    Raises:
        UserInputError: an unreadable summary or CSV, a summary without its inputs, or inputs
        that cannot be listed or paired any more.
    """
    summary_path = Path(summary_path)
    summary = read_summary(summary_path)
    rows = read_scores_csv(summary_path.with_name(SCORES_CSV), summary)
    inputs = summary.get("inputs") or {}
    if not inputs.get("ref") or not inputs.get("hyp"):
        raise UserInputError(f"{summary_path}: records no ref and hyp inputs")
    pairs = pair_up(list_utterances(inputs["ref"]), list_utterances(inputs["hyp"]))
    name = summary.get("name") or summary_path.absolute().parent.name
    return name, summary, rows, pairs


def read_scores_csv(path: str | os.PathLike, summary: dict) -> list[dict]:
    """The rows of ``scores.csv`` at ``path``; ``summary`` (its ``summary.json``) says which
    columns are metrics and which names the ``skipped`` column may hold.

    Raises:
        UserInputError: an unreadable file, no ``utt_id`` column, a metric value that is no
        number, or a ``skipped`` entry naming no metric the summary knows.
    """
    metrics = set(summary["metrics"])
    skip_names = metrics | set(summary.get("skip_reasons") or {}) | {ALL}
    text = read_bytes(path, MAX_SCORES_BYTES, what=SCORES_CSV).decode("utf-8", "replace")
    try:
        records = list(csv.DictReader(io.StringIO(text, newline="")))
    except csv.Error as error:
        raise UserInputError(f"{path}: not a valid CSV file ({error})") from None
    if records and "utt_id" not in records[0]:
        raise UserInputError(f"{path}: no utt_id column; not a scores.csv written by score")
    rows = []
    for line, record in enumerate(records, start=2):
        row: dict = {"skipped": parse_skipped(record.pop("skipped", None) or "", skip_names,
                                              f"{path}:{line}")}
        for key, text in record.items():
            if key is None:
                raise UserInputError(f"{path}:{line}: more fields than the header names")
            if key in SECONDS_COLUMNS or key in metrics:
                value = _number(text, f"{path}:{line}: {key}")
                if value is not None or key in SECONDS_COLUMNS:
                    row[key] = value
            elif text:
                row[key] = text
        rows.append(row)
    return rows


def parse_skipped(text: str, names: set[str], where: str = "skipped") -> dict[str, str]:
    """``"pesq: too short; all: unreadable"`` -> ``{"pesq": "too short", "all": "unreadable"}``.

    An entry starts at the text's start or after ``"; "`` with one of ``names`` and ``": "``, so a
    reason may itself hold ``": "`` or ``"; "`` (unless followed by a name and ``": "``).

    Raises:
        UserInputError: text that does not start with one of ``names`` (``where`` says where).
    """
    if not text:
        return {}
    alternatives = "|".join(re.escape(name) for name in sorted(names, key=len, reverse=True))
    starts = list(re.finditer(f"(?:^|; )({alternatives}): ", text))
    if not starts or starts[0].start() != 0:
        raise UserInputError(f"{where}: skipped entry {quote(text)} names no metric of the "
                             "summary")
    ends = [match.start() for match in starts[1:]] + [len(text)]
    return {match.group(1): text[match.end():end] for match, end in zip(starts, ends)}


def _number(text: str | None, where: str) -> float | None:
    """``text`` as a float; ``None`` when empty."""
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        raise UserInputError(f"{where}: {quote(text)} is not a number") from None
