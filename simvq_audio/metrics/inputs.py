"""Finding the audio to score (a directory of audio files, or a Kaldi data dir / ``wav.scp``),
and pairing references with hypotheses by utterance id."""

from __future__ import annotations

from pathlib import Path

from simvq_audio.data.kaldi_dir import WAV_SCP, read_data_dir
from simvq_audio.errors import UserInputError

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".opus")


def list_audio(source: str | Path) -> dict[str, Path]:
    """Utterance id -> audio file, from one of:

    - a Kaldi data dir (a directory holding ``wav.scp``) or its ``wav.scp`` file, read and
      validated by :func:`simvq_audio.data.kaldi_dir.read_data_dir` (relative paths are taken
      from the current directory, as in Kaldi);
    - any other directory: its audio files, searched recursively; the id is the path relative to
      the directory without the extension.

    Raises :class:`UserInputError` for a missing source, an invalid data dir, two files with one
    id, or an empty set.
    """
    source = Path(source)
    if source.is_file() and source.name == WAV_SCP:
        source = source.parent
    elif source.is_file():
        raise UserInputError(f"{source}: give a directory of audio files, a Kaldi data dir, or "
                             f"its {WAV_SCP}")
    elif not source.is_dir():
        raise UserInputError(f"{source}: no such directory or {WAV_SCP} file")
    if (source / WAV_SCP).is_file():
        return {utt.utt_id: utt.path for utt in read_data_dir(source)}
    table = _list_directory(source)
    if not table:
        raise UserInputError(f"{source}: no audio files found "
                             f"(looked for {', '.join(AUDIO_SUFFIXES)} and {WAV_SCP})")
    return table


def _list_directory(folder: Path) -> dict[str, Path]:
    table: dict[str, Path] = {}
    for path in sorted(folder.rglob("*")):
        if path.suffix.lower() not in AUDIO_SUFFIXES or not path.is_file():
            continue
        utt_id = path.relative_to(folder).with_suffix("").as_posix()
        if utt_id in table:
            raise UserInputError(f"{folder}: two audio files for utterance {utt_id!r}: "
                                 f"{table[utt_id].name} and {path.name}")
        table[utt_id] = path
    return table


def pair_up(refs: dict[str, Path], hyps: dict[str, Path]) -> list[tuple[str, Path, Path]]:
    """``(utt_id, ref_path, hyp_path)`` sorted by id; both sets must hold the same ids."""
    require_same_ids(refs.keys(), hyps.keys(), "references", "hypotheses")
    return [(utt_id, refs[utt_id], hyps[utt_id]) for utt_id in sorted(refs)]


def require_same_ids(left, right, left_name: str, right_name: str) -> None:
    """Raise :class:`UserInputError` naming a few ids that are in only one of the two sets."""
    only_left, only_right = sorted(set(left) - set(right)), sorted(set(right) - set(left))
    problems = [f"{len(ids)} id(s) only in the {name}: {', '.join(ids[:5])}"
                + (", ..." if len(ids) > 5 else "")
                for ids, name in ((only_left, left_name), (only_right, right_name)) if ids]
    if problems:
        raise UserInputError("utterance ids do not match; " + "; ".join(problems))
