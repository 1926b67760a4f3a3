"""Stages 1-2: a tree of speaker folders (LibriTTS, the mini corpora, any other corpus) becomes
valid, sorted Kaldi data dirs; duration filter."""

from __future__ import annotations

import subprocess
import sys

import pytest

from simvq_audio.corpora.duration_filter import filter_by_duration
from simvq_audio.corpora.prepare import parse_set_spec, prepare
from simvq_audio.data.kaldi_dir import read_data_dir, validate_data_dir
from simvq_audio.errors import UserInputError

from recipe_fakes import make_subset, write_utterance

quiet = {"log": lambda message: None}


@pytest.fixture
def corpus(tmp_path):
    root = tmp_path / "LibriTTS"
    ids = make_subset(root, "train-clean-100", "19") + make_subset(root, "train-clean-360", "103")
    write_utterance(root / "train-clean-100" / "19" / "11", "19_11_000009_000000", 1.0, None)
    write_utterance(root / "train-clean-360" / "103" / "7", "103_7_000003_000000", 1.0,
                    "  Spread over\n two lines. ")
    return root, sorted(ids + ["103_7_000003_000000"])


def lines(path):
    return path.read_text().splitlines()


def test_prepare_writes_sorted_valid_data_dir(corpus, tmp_path):
    root, ids = corpus
    prepare(root, tmp_path / "data", "train", ["train-clean-100", "train-clean-360"], nj=2, **quiet)
    out = tmp_path / "data" / "train"
    assert validate_data_dir(out) == []
    for name in ("wav.scp", "utt2spk", "text", "utt2dur"):
        keys = [line.split()[0] for line in lines(out / name)]
        assert keys == ids == sorted(ids, key=str.encode), name
    assert "103_7_000003_000000 103" in lines(out / "utt2spk")
    assert "103_7_000003_000000 Spread over two lines." in lines(out / "text")
    assert "19_11_000009_000000" not in (out / "wav.scp").read_text(), "no transcript: skipped"
    durations = {utt.utt_id: utt.duration for utt in read_data_dir(out)}
    assert durations["19_7_000001_000000"] == pytest.approx(2.5)
    assert all(utt.path.is_absolute() for utt in read_data_dir(out))


def test_utterance_id_must_start_with_speaker(tmp_path):
    write_utterance(tmp_path / "dev-clean" / "84" / "1", "85_1_000001_000000", 1.0, "Hi.")
    with pytest.raises(UserInputError, match="must start with its speaker"):
        prepare(tmp_path, tmp_path / "data", "dev", ["dev-clean"], **quiet)


def test_missing_subset_and_duplicate_ids_are_clear_errors(corpus, tmp_path):
    root, _ = corpus
    with pytest.raises(UserInputError, match="no such subset folder"):
        prepare(root, tmp_path / "data", "dev", ["dev-clean"], **quiet)
    with pytest.raises(UserInputError, match="appears twice"):
        prepare(root, tmp_path / "data", "x", ["train-clean-100", "train-clean-100"], **quiet)
    assert not (tmp_path / "data" / "x").exists()


def test_any_corpus_of_speaker_folders_any_depth_and_transcript_name(tmp_path):
    write_utterance(tmp_path / "corpus" / "all" / "ann", "ann_1", 1.0, None)
    (tmp_path / "corpus" / "all" / "ann" / "ann_1.txt").write_text("Flat.\n")
    write_utterance(tmp_path / "corpus" / "all" / "bob" / "a" / "b", "bob_2", 2.0, None)
    (tmp_path / "corpus" / "all" / "bob" / "a" / "b" / "bob_2.txt").write_text("Deep.\n")
    prepare(tmp_path / "corpus", tmp_path / "data", "all", ["all"], text_suffix=".txt", **quiet)
    out = tmp_path / "data" / "all"
    assert lines(out / "utt2spk") == ["ann_1 ann", "bob_2 bob"]
    assert lines(out / "text") == ["ann_1 Flat.", "bob_2 Deep."]
    assert validate_data_dir(out) == []


def test_the_command_prepares_each_set_and_a_bad_set_is_one_line(corpus, tmp_path):
    root, ids = corpus
    command = [sys.executable, "-m", "simvq_audio.corpora.prepare", "--corpus", str(root),
               "--data-dir", str(tmp_path / "data"), "--nj", "2"]
    result = subprocess.run([*command, "a=train-clean-100", "b=train-clean-100,train-clean-360"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert len(lines(tmp_path / "data" / "a" / "wav.scp")) == 3
    assert [line.split()[0] for line in lines(tmp_path / "data" / "b" / "wav.scp")] == ids
    bad = subprocess.run([*command, "train"], capture_output=True, text=True)
    assert (bad.returncode, bad.stderr) == (
        2, "prepare: error: expected NAME=SUBSET[,SUBSET...], got 'train'\n")


def test_parse_set_spec():
    assert parse_set_spec("train=a,b") == ("train", ["a", "b"])
    with pytest.raises(UserInputError, match="NAME=SUBSET"):
        parse_set_spec("train")


def test_duration_filter_keeps_the_range_in_a_new_dir(corpus, tmp_path):
    root, _ = corpus
    prepare(root, tmp_path / "data", "train", ["train-clean-100"], **quiet)
    source, dest = tmp_path / "data" / "train", tmp_path / "data" / "train_filtered"
    filter_by_duration(source, dest, 1.0, 2.0, **quiet)
    assert [line.split()[0] for line in lines(dest / "wav.scp")] == ["19_11_000001_000001"]
    assert validate_data_dir(dest) == []
    assert len(lines(source / "wav.scp")) == 3, "the source dir is left as it was"
    with pytest.raises(UserInputError, match="no utterance lasts"):
        filter_by_duration(source, dest, 5.0, 9.0, **quiet)
