"""The utterances to tokenize, from a Kaldi data dir or from a directory of audio files.

Durations come from ``utt2dur`` where the data dir has one, else from each file's header; a file
whose header cannot be read gets no duration here and is reported as a failure when it is encoded,
so one bad file never stops the job.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from simvq_audio.data.kaldi_dir import Utterance, read_data_dir
from simvq_audio.errors import UserInputError


def from_data_dir(path: str | os.PathLike) -> list[Utterance]:
    """The utterances of a Kaldi data dir, sorted by id, each with its duration (None: unknown).

    The tables are validated; the audio files are only opened for their duration when there is
    no ``utt2dur``.
    """
    return [utt if utt.duration is not None else
            dataclasses.replace(utt, duration=_duration(utt.path))
            for utt in read_data_dir(path, check_audio=False)]


def from_audio_dir(path: str | os.PathLike) -> list[Utterance]:
    """Every audio file under ``path`` (recursively); the id is the path relative to ``path``
    without its suffix (``spk1/a.wav`` -> ``spk1/a``), sorted by id in byte order."""
    from simvq_audio.data.audio_io import audio_suffixes

    root = Path(path)
    if not root.is_dir():
        raise UserInputError(f"--audio-dir {path}: not a directory")
    suffixes = audio_suffixes()
    files = [p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in suffixes]
    if not files:
        raise UserInputError(f"--audio-dir {path}: no audio files found")
    by_id: dict[str, Path] = {}
    for file in files:
        utt_id = file.relative_to(root).with_suffix("").as_posix()
        if len(utt_id.split()) != 1:
            raise UserInputError(f"{file}: file names with whitespace cannot be utterance ids; "
                                 "rename the file or use a data dir")
        if utt_id in by_id:
            raise UserInputError(f"{file} and {by_id[utt_id]} would both have the id {utt_id!r}")
        by_id[utt_id] = file
    return [Utterance(utt_id, by_id[utt_id].absolute(), _duration(by_id[utt_id]))
            for utt_id in sorted(by_id, key=lambda key: key.encode("utf-8"))]


def _duration(path: str | os.PathLike) -> float | None:
    """Seconds of audio in the file's header, or None when it cannot be read."""
    from simvq_audio.tokenize.batch_encode import audio_info

    try:
        return audio_info(path).duration
    except UserInputError:
        return None
