"""list_utterances: every input kind, one rule for what counts as audio, ids and output names,
and the errors."""

import numpy as np
import pytest
import soundfile

from simvq_audio.data.audio_io import AUDIO_SUFFIXES
from simvq_audio.data.kaldi_dir import write_data_dir
from simvq_audio.data.utterances import files_under, list_utterances, names_many, output_path
from simvq_audio.errors import UserInputError

FORMATS = {".wav": ("WAV", None), ".flac": ("FLAC", None), ".aiff": ("AIFF", None),
           ".au": ("AU", None), ".opus": ("OGG", "OPUS"), ".mp3": ("MP3", None)}


def write(path, seconds=0.1, rate=16000):
    path.parent.mkdir(parents=True, exist_ok=True)
    data = (np.random.default_rng(0).standard_normal(round(seconds * rate)) * 0.1)
    file_format, subtype = FORMATS.get(path.suffix.lower(), ("WAV", None))
    soundfile.write(path, data.astype(np.float32), rate, subtype=subtype, format=file_format)
    return path


def ids(utterances):
    return [utt.utt_id for utt in utterances]


@pytest.fixture
def tree(tmp_path):
    """Audio in six formats (one extension upper-case, one folder name with a space) beside
    files that are not audio."""
    root = tmp_path / "in"
    for name in ("a.wav", "spk/b.flac", "spk/c.AIFF", "d.opus", "e.mp3", "sub dir/f.au"):
        write(root / name)
    for name in ("notes.txt", "spk/b.lab", "x.npy", "y.codes", "z.raw"):
        (root / name).write_text("not audio")
    return root


def test_a_directory_lists_its_audio_files_by_relative_path(tree):
    utterances = list_utterances(tree)
    assert ids(utterances) == ["a", "d", "e", "spk/b", "spk/c", "sub dir/f"]  # byte order
    assert all(utt.path.is_absolute() and utt.path.is_file() for utt in utterances)
    assert utterances[4].path == (tree / "spk" / "c.AIFF").absolute()
    assert all(utt.duration is None for utt in utterances)


def test_the_audio_rule_is_the_formats_soundfile_reads():
    readable = {f".{name.lower()}" for name in soundfile.available_formats()} - {".raw"}
    assert readable <= AUDIO_SUFFIXES
    assert {".opus", ".oga", ".aif", ".mp3"} <= AUDIO_SUFFIXES  # usual aliases
    assert not {".raw", ".txt", ".npy", ".codes", ".lab"} & AUDIO_SUFFIXES
    assert {".wav", ".flac", ".ogg", ".mp3", ".opus"} <= AUDIO_SUFFIXES  # score's old list


def test_a_scp_of_any_name_is_read_alone_with_paths_from_the_current_directory(tmp_path,
                                                                               monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "w" / "x.wav")
    write(tmp_path / "w" / "y.flac")
    (tmp_path / "list.scp").write_text("spk1/u1 w/x.wav\nu2 w/y.flac\n")
    (tmp_path / "utt2spk").write_text("unrelated table\n")  # not read: the .scp stands alone
    utterances = list_utterances("list.scp")
    assert ids(utterances) == ["spk1/u1", "u2"]
    assert [utt.path for utt in utterances] == [tmp_path / "w" / "x.wav", tmp_path / "w" / "y.flac"]
    assert names_many("list.scp") and names_many(tmp_path) and not names_many("w/x.wav")


@pytest.mark.parametrize("text, message", [
    ("b w/x.wav\na w/x.wav\n", "not sorted"),
    ("a w/x.wav\na w/x.wav\n", "duplicate id"),
    ("a sox w/x.wav - |\n", "pipe"),
    ("", "has no entries"),
])
def test_a_bad_scp_is_refused_with_file_and_line(tmp_path, monkeypatch, text, message):
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "w" / "x.wav")
    (tmp_path / "wav.scp").write_text(text)
    with pytest.raises(UserInputError, match=message):
        list_utterances(tmp_path / "wav.scp")


def test_missing_audio_in_a_scp_is_refused_only_when_checked(tmp_path):
    (tmp_path / "wav.scp").write_text(f"a {tmp_path / 'gone.wav'}\n")
    assert ids(list_utterances(tmp_path / "wav.scp")) == ["a"]
    with pytest.raises(UserInputError, match="wav.scp:1: 'a': audio file not found"):
        list_utterances(tmp_path / "wav.scp", check_audio=True)


def test_a_data_dir_gives_its_durations(tmp_path):
    a, b = write(tmp_path / "a.wav", 0.1), write(tmp_path / "b.wav", 0.2)
    write_data_dir(tmp_path / "data", {"a": a, "b": b}, utt2dur={"a": 0.1, "b": 0.2})
    utterances = list_utterances(tmp_path / "data", check_audio=True)
    assert ids(utterances) == ["a", "b"] and [u.duration for u in utterances] == [0.1, 0.2]


def test_one_file_is_one_utterance_whatever_its_name(tmp_path):
    write(tmp_path / "take.wav")
    (tmp_path / "take.wav").rename(tmp_path / "take.dat")
    (utt,) = list_utterances(tmp_path / "take.dat")
    assert (utt.utt_id, utt.path) == ("take", (tmp_path / "take.dat").absolute())


def test_errors(tmp_path, tree):
    with pytest.raises(UserInputError, match="no such directory, .scp or audio file"):
        list_utterances(tmp_path / "nowhere")
    (tmp_path / "texts").mkdir()
    (tmp_path / "texts" / "a.txt").write_text("hello")
    with pytest.raises(UserInputError, match="no audio files found"):
        list_utterances(tmp_path / "texts")
    write(tree / "a.flac")
    with pytest.raises(UserInputError, match="two audio files for utterance 'a': a.flac and "
                                             "a.wav; rename"):
        list_utterances(tree)
    with pytest.raises(UserInputError, match=r"\(both would be written to a.codes\)"):
        list_utterances(tree, output_suffix=".codes")


def test_output_names_keep_the_tree_and_stay_inside_the_folder(tmp_path):
    assert output_path(tmp_path, "spk/a", ".codes") == tmp_path / "spk" / "a.codes"
    assert output_path(tmp_path, "sub dir/f.x", ".wav") == tmp_path / "sub dir" / "f.x.wav"
    for bad in ("../a", "/etc/a", "a//b", ".", "a/./b", "a/"):
        with pytest.raises(UserInputError, match="cannot name a file under"):
            output_path(tmp_path, bad, ".codes")


def test_files_under_lists_other_kinds_by_the_same_ids(tree):
    assert ids(files_under(tree, {".codes"})) == ["y"]
    assert files_under(tree / "spk", {".codes"}) == []
