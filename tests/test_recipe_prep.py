"""Stages 1-2: a LibriTTS-shaped tree becomes valid, sorted Kaldi data dirs; duration filter."""

from __future__ import annotations

import pytest
from recipe_fakes import make_subset, write_utterance

from simvq_audio.corpora.duration_filter import filter_by_duration
from simvq_audio.corpora.libritts import parse_set_spec, prepare
from simvq_audio.data.kaldi_dir import read_data_dir, validate_data_dir
from simvq_audio.errors import UserInputError

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
