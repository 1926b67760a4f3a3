"""A Hugging Face ``datasets`` audio column as a list of utterances, for ``simvq-audio tokenize
--hf-dataset``.

The dataset is read from this machine, never downloaded:

* a folder written by ``Dataset.save_to_disk`` or ``DatasetDict.save_to_disk`` (it holds
  ``state.json`` or ``dataset_dict.json``): opened with ``datasets.load_from_disk``, memory-mapped;
* any other folder or file ``datasets.load_dataset`` reads, such as a dataset repository cloned
  from the Hub (``data/train-00000-of-00004.parquet``, ...): opened with
  ``datasets.load_dataset(path, split=split)``, which first converts it to Arrow files in the
  ``datasets`` cache (``HF_DATASETS_CACHE``, by default ``~/.cache/huggingface/datasets``).

Each row is one utterance. Its audio comes from the audio column (an ``Audio`` feature, or a
struct of ``bytes`` and ``path`` as ``Audio`` stores it): the encoded file's ``bytes`` when the
row holds them, else the file at ``path``. The audio is never decoded by ``datasets``
(``Audio(decode=False)``): tokenize reads the bytes with soundfile like any other input, so no
``torchcodec`` is needed. The id, transcript and speaker come from columns (by default ``id``,
``text``, and ``speaker_id`` or ``speaker``, each when present); without an id column a row's id
is ``row-`` and its row number (``row-00000042``).

An utterance's audio is read only when it is encoded (:meth:`DatasetRow.open`), so a corpus of
any size is listed in the memory of its ids and transcripts.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path

from simvq_audio.data.kaldi_dir import Utterance
from simvq_audio.errors import UserInputError, cut, quote
from simvq_audio.outputs import Input, stream_id

DEFAULT_AUDIO_COLUMN = "audio"
DEFAULT_ID_COLUMN = "id"
DEFAULT_TEXT_COLUMN = "text"
DEFAULT_SPEAKER_COLUMNS = ("speaker_id", "speaker")
"""Columns read when present and not named by an option (the first present speaker column)."""
SAVED_MARKERS = ("state.json", "dataset_dict.json")
"""Files ``save_to_disk`` writes: a folder holding one is opened with ``load_from_disk``."""


@dataclass(frozen=True, eq=False)
class DatasetRow:
    """Where an utterance's audio lies: row ``index`` of ``dataset`` (a ``datasets.Dataset`` whose
    ``column`` is an ``Audio(decode=False)`` column), named ``name`` in messages."""

    dataset: object
    index: int
    column: str
    name: str

    def open(self) -> Input | Path:
        """The row's audio: its bytes as an :class:`~simvq_audio.outputs.Input` named after the
        row, or the path of the file the row names when it holds no bytes."""
        cell = self.dataset[self.index][self.column]
        if cell.get("bytes") is not None:
            data = bytes(cell["bytes"])
            return Input(io.BytesIO(data), self.name, stream_id(data))
        if cell.get("path"):
            return Path(cell["path"])
        raise UserInputError(f"{self.name}: the row holds neither audio bytes nor a path")


def read_hf_dataset(path: str | os.PathLike, split: str | None = None,
                    audio_column: str = DEFAULT_AUDIO_COLUMN, id_column: str | None = None,
                    text_column: str | None = None,
                    speaker_column: str | None = None) -> list[Utterance]:
    """The rows of the dataset at ``path`` as utterances sorted by id (byte order), each with its
    audio in :attr:`~simvq_audio.data.kaldi_dir.Utterance.row` and ``path`` the dataset's
    absolute path.

    Args:
        split: the split of a dataset with several (``train``, ...); optional when it has one.
        audio_column: the column holding the audio.
        id_column, text_column, speaker_column: columns holding each row's id, transcript and
            speaker; ``None`` takes the default columns (module docstring) when present.

    Raises:
        UserInputError: ``datasets`` is not installed, the dataset cannot be read, a named column
            is missing, the audio column holds no audio, an id is empty, has whitespace or is
            repeated, or a transcript is not a string.
    """
    dataset = _load(Path(path), split)
    columns = list(dataset.column_names)
    if audio_column not in columns:
        raise UserInputError(f"{path}: no column {quote(audio_column)} (columns: "
                             f"{cut(', '.join(columns), 200)}); name the audio with --audio-column")
    dataset = _undecoded(dataset, audio_column, path)
    ids = _column(dataset, path, id_column, (DEFAULT_ID_COLUMN,), "--id-column")
    texts = _column(dataset, path, text_column, (DEFAULT_TEXT_COLUMN,), "--text-column")
    speakers = _column(dataset, path, speaker_column, DEFAULT_SPEAKER_COLUMNS, "--speaker-column")
    location = Path(path).absolute()
    utterances, seen = [], {}
    for index in range(len(dataset)):
        utt_id = f"row-{index:08d}" if ids is None else _one_word(ids[index], path, index, "id")
        if utt_id in seen:
            raise UserInputError(f"{path}: rows {seen[utt_id]} and {index} have the same id "
                                 f"{quote(utt_id)}; ids must be unique (name another column "
                                 "with --id-column)")
        seen[utt_id] = index
        text = None if texts is None else texts[index]
        if text is not None and not isinstance(text, str):
            raise UserInputError(f"{path}: row {index}: the transcript is a "
                                 f"{type(text).__name__}, not a string")
        speaker = None if speakers is None or speakers[index] is None else _one_word(
            speakers[index], path, index, "speaker")
        row = DatasetRow(dataset, index, audio_column, f"{path}[{index}] ({utt_id})")
        utterances.append(Utterance(utt_id, location, speaker=speaker, text=text, row=row))
    if not utterances:
        raise UserInputError(f"{path}: the dataset has no rows")
    return sorted(utterances, key=lambda utt: utt.utt_id.encode("utf-8"))


def _load(path: Path, split: str | None):
    """The ``datasets.Dataset`` of ``path`` (one split of it)."""
    try:
        # optional (the tts extra): imported when a dataset is read
        import datasets
    except ImportError:
        raise UserInputError("--hf-dataset needs the datasets package: pip install "
                             "'simvq-audio[tts]'") from None
    if not path.exists():
        raise UserInputError(f"{path}: no such dataset folder or file")
    saved = path.is_dir() and any((path / marker).is_file() for marker in SAVED_MARKERS)
    datasets.disable_progress_bars()   # tokenize shows its own progress
    try:
        loaded = (datasets.load_from_disk(str(path)) if saved
                  else datasets.load_dataset(str(path), split=split))
    except (datasets.exceptions.DatasetGenerationError, ImportError, FileNotFoundError,
            ValueError, KeyError, TypeError, OSError) as error:
        raise UserInputError(f"{path}: cannot read it as a Hugging Face dataset: "
                             f"{cut(str(error), 200)}") from None
    if isinstance(loaded, datasets.DatasetDict):
        splits = list(loaded)
        if split is None and len(splits) != 1:
            raise UserInputError(f"{path}: the dataset has the splits {', '.join(splits)}; "
                                 "choose one with --hf-split")
        if split is not None and split not in loaded:
            raise UserInputError(f"{path}: no split {quote(split)} (splits: "
                                 f"{', '.join(splits)})")
        return loaded[split or splits[0]]
    if saved and split is not None and split != str(loaded.split):
        raise UserInputError(f"{path}: this saved dataset is one split "
                             f"({loaded.split or 'without a name'}), not {quote(split)}; leave "
                             "out --hf-split")
    return loaded


def _undecoded(dataset, column: str, path: str | os.PathLike):
    """``dataset`` with its audio ``column`` cast to ``Audio(decode=False)`` (rows give
    ``{"bytes", "path"}``), or a UserInputError when the column holds no audio."""
    # optional (the tts extra): imported when a dataset is read
    import datasets

    feature = dataset.features[column]
    is_audio = isinstance(feature, datasets.Audio) or (
        isinstance(feature, dict) and set(feature) <= {"bytes", "path"} and "bytes" in feature)
    if not is_audio:
        raise UserInputError(f"{path}: the column {quote(column)} holds {cut(str(feature), 80)}, "
                             "not audio; name the audio column with --audio-column")
    return dataset.cast_column(column, datasets.Audio(decode=False))


def _column(dataset, path: str | os.PathLike, named: str | None, defaults: tuple[str, ...],
            option: str) -> list | None:
    """The values of the column ``named`` (refused when missing), or of the first of ``defaults``
    the dataset has, or ``None``; as a list (indexing a ``datasets`` column row by row is
    several times slower)."""
    if named is not None:
        if named not in dataset.column_names:
            raise UserInputError(f"{path}: {option} {quote(named)}: no such column (columns: "
                                 f"{cut(', '.join(dataset.column_names), 200)})")
        return list(dataset[named])
    present = [name for name in defaults if name in dataset.column_names]
    return list(dataset[present[0]]) if present else None


def _one_word(value: object, path: str | os.PathLike, index: int, what: str) -> str:
    """``value`` as one word (an id or a speaker: Kaldi keys), or a UserInputError."""
    text = str(value) if isinstance(value, (str, int)) and not isinstance(value, bool) else None
    if text is None or len(text.split()) != 1 or text != text.strip():
        raise UserInputError(f"{path}: row {index}: the {what} {cut(repr(value), 80)} is not one "
                             "word (ids and speakers become Kaldi keys)")
    return text
