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
import json
import os
import re
from pathlib import Path

from simvq_audio.data.utterances import list_utterances
from simvq_audio.errors import UserInputError
from simvq_audio.metrics.inputs import pair_up
from simvq_audio.metrics.utterance import ALL

SCORES_CSV = "scores.csv"
SECONDS_COLUMNS = ("ref_seconds", "hyp_seconds")


def read_summary(path: str | os.PathLike) -> dict:
    """The content of a ``summary.json`` written by ``score``.

    Raises:
        UserInputError: an unreadable file, invalid JSON, or JSON that is no such summary.
    """
    try:
        with open(path, encoding="utf-8") as handle:
            summary = json.load(handle)
    except OSError as error:
        raise UserInputError(f"{path}: cannot read ({error.strerror})") from None
    except json.JSONDecodeError as error:
        raise UserInputError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(summary, dict) or "metrics" not in summary or "num_utterances" not in summary:
        raise UserInputError(f"{path}: not a summary.json written by simvq-audio score")
    return summary


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
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            records = list(csv.DictReader(handle))
    except OSError as error:
        raise UserInputError(f"{path}: cannot read ({error.strerror})") from None
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
        raise UserInputError(f"{where}: skipped entry {text!r} names no metric of the summary")
    ends = [match.start() for match in starts[1:]] + [len(text)]
    return {match.group(1): text[match.end():end] for match, end in zip(starts, ends)}


def _number(text: str | None, where: str) -> float | None:
    """``text`` as a float; ``None`` when empty."""
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        raise UserInputError(f"{where}: {text!r} is not a number") from None
