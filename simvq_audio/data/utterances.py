"""The utterances a command works on: :func:`list_utterances` is what ``encode``, ``score`` and
``tokenize`` accept as input, one id and one audio file per utterance.

Input kinds:

* a directory holding ``wav.scp``: a Kaldi data dir
  (:func:`~simvq_audio.data.kaldi_dir.read_data_dir`; durations from its ``utt2dur``);
* a file whose name ends in ``.scp``: a Kaldi ``wav.scp`` read alone
  (:func:`~simvq_audio.data.kaldi_dir.read_wav_scp`);
* any other directory: every audio file under it, recursively; the id is the file's path
  relative to the directory without its extension (``spk1/a.flac`` -> ``spk1/a``);
* any other file: that file, its id its name without the extension.

What counts as audio in a directory is one rule, the file name's ending
(:data:`~simvq_audio.data.audio_io.AUDIO_SUFFIXES`: the formats soundfile reads). Listing never
opens a file: a tree of audio and transcripts lists fast, and a damaged file named ``.wav`` is
reported when it is read instead of being skipped. Ids are unique and sorted in byte order
(``LC_ALL=C sort``), as in a data dir. A command writing one file per utterance writes
``OUT/<id><suffix>`` (:func:`output_path`), so a directory's tree is kept under ``OUT``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Collection
from pathlib import Path

from simvq_audio.data.audio_io import AUDIO_SUFFIXES
from simvq_audio.data.kaldi_dir import WAV_SCP, Utterance, read_data_dir, read_wav_scp
from simvq_audio.errors import UserInputError
from simvq_audio.outputs import Input, short_list

_SHOWN_SUFFIXES = ".wav, .flac, .mp3, .ogg, .opus, .aiff, ..."


def names_many(path: str | os.PathLike) -> bool:
    """Whether ``path`` lists utterances (a directory or a ``.scp`` file) rather than being
    one file."""
    return Path(path).is_dir() or os.fspath(path).endswith(".scp")


def list_utterances(path: str | os.PathLike, check_audio: bool = False,
                    output_suffix: str = "") -> list[Utterance]:
    """The utterances of ``path`` (any kind of the module docstring), sorted by id; each
    :class:`~simvq_audio.data.kaldi_dir.Utterance` has an absolute ``path``.

    Args:
        check_audio: for a data dir or ``.scp``: open every file's header first and refuse
            the list, naming each line, if any is missing, unreadable or empty.
        output_suffix: the extension a command writes per utterance (``.codes``), named when
            two files of a directory would share an id and so an output.

    Raises:
        UserInputError: a missing path, an invalid data dir or ``.scp``, two audio files with
        one id, or no utterance at all.
    """
    path = Path(path)
    if path.is_dir() and (path / WAV_SCP).is_file():
        return read_data_dir(path, check_audio)
    if os.fspath(path).endswith(".scp"):
        return read_wav_scp(path, check_audio)
    if path.is_file():
        return [Utterance(path.stem, path.absolute())]
    if not path.is_dir():
        raise UserInputError(f"{path}: no such directory, .scp or audio file")
    found = files_under(path, AUDIO_SUFFIXES, output_suffix, "audio")
    if not found:
        raise UserInputError(f"{path}: no audio files found (looked for {_SHOWN_SUFFIXES} "
                             f"and {WAV_SCP})")
    return found


def audio_source(utt: Utterance) -> Path | Input:
    """What to read for ``utt``'s audio: its file, or the bytes of its Hugging Face dataset row
    (:meth:`~simvq_audio.data.hf_dataset.DatasetRow.open`)."""
    return utt.path if utt.row is None else utt.row.open()


def files_under(root: str | os.PathLike, suffixes: Collection[str], output_suffix: str = "",
                kind: str = "audio") -> list[Utterance]:
    """Every file under ``root`` (recursively) whose lower-cased extension is in ``suffixes``,
    as utterances with ids from their relative paths, sorted by id (possibly none).
    ``kind`` names the files in the message about two files with one id. Symbolic links to
    folders are not followed (a link loop cannot hang the listing); they, dangling links and
    non-regular files of a wanted type are named in one note on stderr."""
    root = Path(root)
    by_id: dict[str, Path] = {}
    skipped: list[str] = []
    for file in root.rglob("*"):  # symbolic links to folders are not followed (no loops)
        wanted = file.suffix.lower() in suffixes
        if not (wanted and file.is_file()):
            reason = _skip_reason(file, wanted)
            if reason:
                skipped.append(f"{file.relative_to(root)} ({reason})")
            continue
        utt_id = file.relative_to(root).with_suffix("").as_posix()
        if utt_id in by_id:
            first, second = sorted([by_id[utt_id].relative_to(root), file.relative_to(root)])
            shared = f" (both would be written to {utt_id}{output_suffix})" * bool(output_suffix)
            raise UserInputError(f"{root}: two {kind} files for utterance {utt_id!r}: {first} "
                                 f"and {second}{shared}; rename one (nothing was written)")
        by_id[utt_id] = file.absolute()
    if skipped:
        print(f"simvq-audio: {root}: skipped {len(skipped)} path(s): "
              f"{short_list(sorted(skipped))}", file=sys.stderr)
    return [Utterance(utt_id, by_id[utt_id]) for utt_id in sorted(by_id, key=str.encode)]


def _skip_reason(path: Path, wanted: bool) -> str | None:
    """Why :func:`files_under` leaves out ``path``, when the user may have meant it to be
    used: a link to a folder (not followed), a dangling link, or a file of a wanted type that
    is not a regular file; None for anything else (a folder, a file of another type)."""
    if path.is_symlink():
        if path.is_dir():
            return "a symbolic link to a folder, not followed"
        if not path.exists():
            return "a dangling symbolic link"
    if wanted and not path.is_dir():
        return "not a regular file"
    return None


def output_path(out_dir: str | os.PathLike, utt_id: str, suffix: str) -> Path:
    """``out_dir/<utt_id><suffix>``; an id that would name a file outside ``out_dir``
    (``..``, an absolute or empty path part) is refused."""
    parts = utt_id.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise UserInputError(f"utterance id {utt_id!r} cannot name a file under {out_dir}; "
                             "use ids without empty, '.' or '..' path parts")
    return Path(out_dir, *parts[:-1], parts[-1] + suffix)
