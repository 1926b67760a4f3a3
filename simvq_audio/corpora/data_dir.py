"""Write and subset Kaldi data directories: ``wav.scp``, ``utt2spk``, ``text``, ``utt2dur``,
``spk2utt``, every file sorted by id in C-locale order (Python's code-point order) and unique.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from simvq_audio.atomic import atomic_path
from simvq_audio.errors import UserInputError

UTT_FILES = ("wav.scp", "utt2spk", "text", "utt2dur")


@dataclass(frozen=True)
class Utterance:
    """One line of each utterance-keyed file; ``duration`` in seconds."""

    utt_id: str
    speaker: str
    wav: str
    text: str
    duration: float


def write_data_dir(folder: Path, utterances: Iterable[Utterance]) -> None:
    """Write ``folder`` (created if needed) from ``utterances``, sorted by id.

    Raises:
        UserInputError: an id appears twice or contains whitespace, or there is nothing to write.
    """
    by_id: dict[str, Utterance] = {}
    for utt in utterances:
        if not utt.utt_id or any(c.isspace() for c in utt.utt_id + utt.speaker):
            raise UserInputError(f"{utt.wav}: ids may not be empty or contain whitespace "
                                 f"({utt.utt_id!r}, speaker {utt.speaker!r})")
        if utt.utt_id in by_id:
            raise UserInputError(f"utterance id {utt.utt_id} appears twice: "
                                 f"{by_id[utt.utt_id].wav} and {utt.wav}")
        by_id[utt.utt_id] = utt
    if not by_id:
        raise UserInputError(f"{folder}: no utterances to write")
    rows = [by_id[key] for key in sorted(by_id)]
    folder.mkdir(parents=True, exist_ok=True)
    _write_lines(folder / "wav.scp", (f"{u.utt_id} {u.wav}" for u in rows))
    _write_lines(folder / "utt2spk", (f"{u.utt_id} {u.speaker}" for u in rows))
    _write_lines(folder / "text", (f"{u.utt_id} {u.text}" for u in rows))
    _write_lines(folder / "utt2dur", (f"{u.utt_id} {u.duration:.3f}" for u in rows))
    _write_spk2utt(folder, ((u.utt_id, u.speaker) for u in rows))


def read_table(path: Path) -> dict[str, str]:
    """Read a ``key value...`` file into ``{key: value}`` (value may be empty or hold spaces)."""
    if not path.is_file():
        raise UserInputError(f"{path}: missing (is {path.parent} a data directory?)")
    table: dict[str, str] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        key, _, value = line.strip().partition(" ")
        if not key or key in table:
            raise UserInputError(f"{path}:{number}: empty or repeated id {key!r}")
        table[key] = value.strip()
    return table


def subset_data_dir(source: Path, dest: Path, keep: set[str]) -> int:
    """Copy the utterances in ``keep`` from data dir ``source`` to ``dest``; returns how many."""
    tables = {name: read_table(source / name) for name in UTT_FILES}
    kept = sorted(keep & tables["wav.scp"].keys())
    if not kept:
        raise UserInputError(f"{source}: no utterance is left after filtering")
    dest.mkdir(parents=True, exist_ok=True)
    for name, table in tables.items():
        missing = [key for key in kept if key not in table]
        if missing:
            raise UserInputError(f"{source / name}: no line for {missing[0]} "
                                 f"({len(missing)} ids missing)")
        _write_lines(dest / name, (f"{key} {table[key]}" for key in kept))
    _write_spk2utt(dest, ((key, tables["utt2spk"][key]) for key in kept))
    return len(kept)


def _write_spk2utt(folder: Path, utt_speaker: Iterable[tuple[str, str]]) -> None:
    utts_of: dict[str, list[str]] = {}
    for utt_id, speaker in utt_speaker:
        utts_of.setdefault(speaker, []).append(utt_id)
    _write_lines(folder / "spk2utt",
                 (f"{spk} {' '.join(sorted(utts_of[spk]))}" for spk in sorted(utts_of)))


def _write_lines(path: Path, lines: Iterable[str]) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8", newline="\n") as out:
            for line in lines:
                out.write(line + "\n")
