"""``tokenize`` reads a Hugging Face ``datasets`` audio column (``--hf-dataset``) and lhotse
manifests (``--lhotse``) as it reads a Kaldi data dir (issue 25, section 4): the same files give
the same token rows, transcripts and speakers, whether the dataset holds the audio bytes or
paths, was saved with ``save_to_disk`` or is a folder of Parquet files as the Hub stores them."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest

from simvq_audio.cli import main

from hostile_helpers import error_line
from repo_paths import REPO
from tokenize_helpers import CORRUPT, make_corpus, save_model, tokenize, transcribed

datasets = pytest.importorskip("datasets")


def hf_tokenize(model, dataset, out, *extra) -> int:
    return main(["tokenize", "--model", str(model), "--hf-dataset", str(dataset), "--out",
                 str(out), "--shard-size", "2", *map(str, extra)])


def rows_of(out):
    """The dump's parquet rows as comparable tuples, by id."""
    return [(row["utt_id"], row["tokens"], row["num_samples"], row["text"], row["speaker"])
            for row in pq.read_table(out / "parquet").to_pylist()]


def data_dir_rows(data):
    """``{id: (path, text, speaker)}`` of a transcribed data dir."""
    def table(name):
        return dict(line.split(" ", 1) for line in (data / name).read_text().splitlines())
    paths, texts, speakers = table("wav.scp"), table("text"), table("utt2spk")
    return {utt_id: (paths[utt_id], texts[utt_id], speakers[utt_id]) for utt_id in paths}


def build_dataset(data, *, id_name="id", speaker_as_int=False):
    """A ``datasets.Dataset`` of the data dir's utterances with their audio bytes, in reverse
    order, so that the dump's id order is not the rows' order."""
    rows = []
    for utt_id, (path, text, speaker) in sorted(data_dir_rows(data).items(), reverse=True):
        audio = {"bytes": open(path, "rb").read(), "path": None}
        rows.append({id_name: utt_id, "audio": audio, "text": text,
                     "speaker_id": int(speaker[3:]) if speaker_as_int else speaker})
    return datasets.Dataset.from_list(rows).cast_column("audio", datasets.Audio(decode=False))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    _, model = save_model(root / "model")
    data = transcribed(make_corpus(root, count=5), root / "transcribed")
    out = root / "from_data_dir"
    assert tokenize(model, data, out, "--format", "parquet") == 1   # utt3 is not audio
    return model, data, rows_of(out)


def test_a_saved_dataset_gives_the_data_dirs_rows(corpus, tmp_path, capsys):
    model, data, expected = corpus
    build_dataset(data).save_to_disk(tmp_path / "saved")
    assert hf_tokenize(model, tmp_path / "saved", tmp_path / "out", "--format", "parquet") == 1
    assert rows_of(tmp_path / "out") == expected
    assert f"{CORRUPT}: {tmp_path / 'saved'}[1] ({CORRUPT}): not a readable audio file" in (
        capsys.readouterr().err)
    assert hf_tokenize(model, tmp_path / "saved", tmp_path / "out", "--verify") == 0


def test_rows_that_name_files(corpus, tmp_path, capsys):
    """Rows whose audio is a path and no bytes (as ``load_dataset`` of an ``audiofolder`` gives
    them, or a struct column never cast to ``Audio``, which ``save_to_disk`` does not embed):
    the files are read."""
    model, data, expected = corpus
    rows = [{"id": utt_id, "audio": {"bytes": None, "path": path}, "text": text,
             "speaker_id": speaker}
            for utt_id, (path, text, speaker) in data_dir_rows(data).items()]
    datasets.Dataset.from_list(rows).save_to_disk(tmp_path / "paths")
    assert hf_tokenize(model, tmp_path / "paths", tmp_path / "out") == 1
    assert rows_of(tmp_path / "out") == expected
    assert f"{CORRUPT}.wav: not a readable audio file" in capsys.readouterr().err


def test_parquet_files_as_the_hub_stores_them_and_a_split_of_a_dataset_dict(corpus, tmp_path):
    model, data, expected = corpus
    dataset = build_dataset(data)
    (tmp_path / "hub" / "data").mkdir(parents=True)
    dataset.to_parquet(tmp_path / "hub" / "data" / "train-00000-of-00001.parquet")
    assert hf_tokenize(model, tmp_path / "hub", tmp_path / "out", "--hf-split", "train") == 1
    assert rows_of(tmp_path / "out") == expected
    splits = datasets.DatasetDict({"train": dataset, "dev": dataset.select([0])})
    splits.save_to_disk(tmp_path / "dict")
    assert hf_tokenize(model, tmp_path / "dict", tmp_path / "out_dict", "--hf-split",
                       "train") == 1
    assert rows_of(tmp_path / "out_dict") == expected


def test_other_column_names_and_no_id_column(corpus, tmp_path):
    model, data, expected = corpus
    renamed = build_dataset(data, id_name="key", speaker_as_int=True).rename_columns(
        {"audio": "wav", "text": "sentence", "speaker_id": "spk"})
    renamed.save_to_disk(tmp_path / "renamed")
    assert hf_tokenize(model, tmp_path / "renamed", tmp_path / "out", "--audio-column", "wav",
                       "--id-column", "key", "--text-column", "sentence",
                       "--speaker-column", "spk") == 1
    assert rows_of(tmp_path / "out") == [
        (utt_id, tokens, samples, text, speaker[3:])
        for utt_id, tokens, samples, text, speaker in expected]
    build_dataset(data).remove_columns(["id"]).save_to_disk(tmp_path / "no_ids")
    assert hf_tokenize(model, tmp_path / "no_ids", tmp_path / "out_rows") == 1
    by_text = {row[3]: row for row in expected}
    got = rows_of(tmp_path / "out_rows")
    assert [row[0] for row in got] == [f"row-{i:08d}" for i in (0, 2, 3, 4)]   # 1 is utt3
    assert [row[1:] for row in got] == [by_text[row[3]][1:] for row in got]


def refused(capsys, *argv) -> str:
    """The one error line of ``simvq-audio ARGV``, which must exit 2."""
    capsys.readouterr()
    assert main([str(arg) for arg in argv]) == 2
    return error_line(capsys)


def test_bad_datasets_and_options_are_refused_with_one_line(corpus, tmp_path, capsys):
    model, data, _ = corpus
    dataset = build_dataset(data)
    dataset.save_to_disk(tmp_path / "good")
    base = ["tokenize", "--model", model, "--out", tmp_path / "out", "--hf-dataset"]
    cases = {
        "no such dataset folder": [tmp_path / "missing"],
        "no column 'sound'": [tmp_path / "good", "--audio-column", "sound"],
        "--text-column 'words': no such column": [tmp_path / "good", "--text-column", "words"],
        "holds Value('string'), not audio": [tmp_path / "good", "--audio-column", "text"],
        "is one split (without a name), not 'dev'": [tmp_path / "good", "--hf-split", "dev"],
    }
    dataset.add_column("dup", ["same"] * len(dataset)).save_to_disk(tmp_path / "dup")
    cases["have the same id 'same'"] = [tmp_path / "dup", "--id-column", "dup"]
    dataset.add_column("spaced", [f"a {i}" for i in range(len(dataset))]).save_to_disk(
        tmp_path / "spaced")
    cases["the id 'a 0' is not one word"] = [tmp_path / "spaced", "--id-column", "spaced"]
    datasets.DatasetDict({"a": dataset, "b": dataset}).save_to_disk(tmp_path / "two")
    cases["has the splits a, b; choose one with --hf-split"] = [tmp_path / "two"]
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "notes.txt").write_text("a text dataset")
    cases["no column 'audio' (columns: text)"] = [tmp_path / "notes"]
    (tmp_path / "empty").mkdir()
    cases["cannot read it as a Hugging Face dataset"] = [tmp_path / "empty"]
    for expected, argv in cases.items():
        assert expected in refused(capsys, *base, *argv), argv
    line = refused(capsys, "tokenize", "--model", model, "--out", tmp_path / "out",
                   "--data-dir", data, "--hf-split", "train", "--id-column", "id")
    assert "--hf-split, --id-column only apply to --hf-dataset" in line


LHOTSE = REPO / "tests" / "data" / "lhotse_fixtures"   # manifests the real lhotse wrote


def test_lhotse_cuts_and_recordings_with_supervisions_give_the_same_rows(corpus, tmp_path,
                                                                         monkeypatch):
    """``--lhotse`` takes a CutSet, or a RecordingSet and its SupervisionSet (paths in them
    are relative to the current directory, as in lhotse): the same tokens as the audio files
    given directly, with the supervisions' text and speaker."""
    model, _, _ = corpus
    monkeypatch.chdir(LHOTSE)

    def lhotse_tokenize(out, *manifests):
        return main(["tokenize", "--model", str(model), "--lhotse", *manifests, "--out",
                     str(tmp_path / out)])

    assert lhotse_tokenize("cuts", "cuts.jsonl.gz") == 0
    assert lhotse_tokenize("recs", "supervisions.jsonl.gz", "recordings.jsonl.gz") == 0
    assert main(["tokenize", "--model", str(model), "--audio-dir", str(LHOTSE), "--out",
                 str(tmp_path / "files")]) == 0
    cuts = rows_of(tmp_path / "cuts")
    assert cuts == rows_of(tmp_path / "recs")
    assert [row[:3] for row in cuts] == [row[:3] for row in rows_of(tmp_path / "files")]
    assert [(row[0], row[3], row[4]) for row in cuts] == [
        ("rec-B", "good morning", "spk1"), ("rec-a", "hello world", "spk1"),
        ("rec-c", "left right", None), ("rec-d", None, None)]


def test_a_lhotse_segment_and_three_manifests_are_refused(corpus, tmp_path, monkeypatch,
                                                          capsys):
    model, _, _ = corpus
    monkeypatch.chdir(LHOTSE)
    base = ["tokenize", "--model", model, "--out", tmp_path / "out", "--lhotse"]
    line = refused(capsys, *base, "segment.jsonl.gz")
    assert "segment.jsonl.gz" in line and "rec-a-first-50ms" in line
    assert "got 3 files" in refused(capsys, *base, "cuts.jsonl.gz", "recordings.jsonl.gz",
                                    "supervisions.jsonl.gz")
    assert not (tmp_path / "out").exists()
