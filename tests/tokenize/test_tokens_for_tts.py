"""Token dumps a TTS pipeline can use as they are (issue 25, section 4): the parquet rows carry the
data dir's transcript and speaker, :func:`read_tokens` gives them back and ``codec.decode`` takes
them, returning each utterance at its own length; the README's snippet runs."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pyarrow.parquet as pq
import pytest
import soundfile
import torch

from simvq_audio.codec import Tokens
from simvq_audio.errors import UserInputError
from simvq_audio.tokenize import read_tokens

from repo_paths import REPO
from tokenize_helpers import edit_parquet_shard, make_corpus, save_model, tokenize, transcribed


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Three readable utterances (16 kHz, 24 kHz, 44.1 kHz stereo) with text and utt2spk."""
    root = tmp_path_factory.mktemp("corpus")
    codec, model = save_model(root / "model")
    plain = make_corpus(root, count=3)
    return codec, model, plain, transcribed(plain, root / "transcribed")


@pytest.fixture(scope="module")
def dump(corpus, tmp_path_factory):
    _, model, _, data = corpus
    out = tmp_path_factory.mktemp("dump") / "dump"
    assert tokenize(model, data, out) == 0
    return out


def test_the_parquet_rows_and_the_index_carry_text_and_speaker(corpus, dump, tmp_path):
    """Before, the rows had no text and speaker: a TTS builder had to join them back by id."""
    _, model, plain, _ = corpus
    rows = pq.read_table(dump / "parquet").to_pylist()
    assert [(row["utt_id"], row["text"], row["speaker"]) for row in rows] == [
        (f"utt{i}", f"words of utt{i}, naïve café", f"spk{i % 2}") for i in range(3)]
    plan = json.loads((dump / "index.json").read_text())["plan"]
    assert (plan["text"], plan["speaker"]) == (True, True)
    assert tokenize(model, plain, tmp_path / "plain", "--format", "parquet") == 0
    rows = pq.read_table(tmp_path / "plain" / "parquet").to_pylist()
    assert [(row["text"], row["speaker"]) for row in rows] == [(None, None)] * 3
    plan = json.loads((tmp_path / "plain" / "index.json").read_text())["plan"]
    assert (plan["text"], plan["speaker"]) == (False, False)


def test_a_changed_transcript_is_not_mixed_with_old_shards(corpus, dump, tmp_path, capsys):
    """Before, the plan hash covered the ids only: a rerun after editing ``text`` kept the old
    shards as done."""
    _, model, _, data = corpus
    out = tmp_path / "dump"
    shutil.copytree(dump, out)
    edited = tmp_path / "edited"
    shutil.copytree(data, edited)
    text = (edited / "text").read_text().replace("words of utt1", "other words")
    (edited / "text").write_text(text)
    capsys.readouterr()
    assert tokenize(model, edited, out) == 2
    assert "other utterances (ids, text or utt2spk)" in capsys.readouterr().err
    assert tokenize(model, edited, out, "--verify") == 1
    assert "written for another plan" in capsys.readouterr().err
    assert tokenize(model, edited, out, "--overwrite") == 0
    assert [row.text for row in read_tokens(out)][1] == "other words, naïve café"
    assert tokenize(model, edited, out, "--verify") == 0


def test_verify_checks_the_text_column_against_the_data_dir(corpus, dump, tmp_path, capsys):
    """Before, --verify did not look at transcripts: a parquet row with another text passed."""
    _, model, _, data = corpus
    out = tmp_path / "dump"
    shutil.copytree(dump, out)
    edit_parquet_shard(out, "shard-00000",
                       lambda rows: rows[1].update(text="not what the data dir says"))
    capsys.readouterr()
    assert tokenize(model, data, out, "--verify") == 1
    assert "shard-00000: parquet: text differs from the data dir's in ['utt1']" in (
        capsys.readouterr().err)


def test_rows_read_back_decode_to_their_own_length(corpus, dump):
    """Before, decoding the parquet's ids gave ``num_frames x hop`` samples and ``num_samples``
    had to be applied by hand; now ``codec.decode(row)`` is the utterance's own decode."""
    codec, _, plain, _ = corpus
    rows = list(read_tokens(dump))
    assert [row.utt_id for row in rows] == ["utt0", "utt1", "utt2"]
    paths = dict(line.split(" ", 1) for line in (plain / "wav.scp").read_text().splitlines())
    for row in rows:
        wav, rate = soundfile.read(paths[row.utt_id], dtype="float32", always_2d=True)
        tokens = codec.encode(wav.T, rate)
        assert row.ids.dtype == torch.int64
        assert torch.equal(row.ids, tokens.ids[0])
        assert row.num_samples == int(tokens.num_samples[0])
        expected = codec.decode(tokens)[0]
        decoded = codec.decode(row)
        assert decoded.shape == (row.num_samples,)
        torch.testing.assert_close(decoded, expected, rtol=0,
                                   atol=1e-5 * float(expected.abs().max()))
    assert rows[0].num_samples < len(rows[0].ids) * codec.hop_length  # 2400 < 8 x 320
    batch = Tokens.from_rows(rows)
    assert batch.lengths.tolist() == [len(row.ids) for row in rows]
    assert batch.num_samples.tolist() == [row.num_samples for row in rows]
    assert all(int(batch.ids[i, len(row.ids):].abs().sum()) == 0
               for i, row in enumerate(rows))  # padded with 0
    wavs = codec.decode(rows)
    assert wavs.shape == (3, max(row.num_samples for row in rows))
    for i, row in enumerate(rows):
        alone = codec.decode(row)
        torch.testing.assert_close(wavs[i, :row.num_samples], alone, rtol=0,
                                   atol=1e-5 * float(alone.abs().max()))
        assert not wavs[i, row.num_samples:].any()


def test_decode_refuses_rows_of_another_model(corpus, dump, tmp_path):
    """Rows carry the model hash: another model's decode of them would be noise."""
    other, _ = save_model(tmp_path / "other", seed=1)
    row = next(read_tokens(dump))
    with pytest.raises(UserInputError, match="made by another model"):
        other.decode(row)


def test_read_tokens_refuses_what_is_not_a_complete_parquet_dump(corpus, dump, tmp_path):
    _, model, _, data = corpus
    with pytest.raises(UserInputError, match="no such token dump"):
        read_tokens(tmp_path / "absent")
    assert tokenize(model, data, tmp_path / "ark", "--format", "ark") == 0
    with pytest.raises(UserInputError, match="holds no parquet shards"):
        read_tokens(tmp_path / "ark")
    unfinished = tmp_path / "unfinished"
    shutil.copytree(dump, unfinished)
    index = json.loads((unfinished / "index.json").read_text())
    (unfinished / "index.json").write_text(json.dumps({**index, "complete": False}))
    with pytest.raises(UserInputError, match="has not finished"):
        read_tokens(unfinished)


def test_the_readme_snippet_reads_a_dump(corpus, dump, tmp_path, monkeypatch):
    """Before, the README named pandas and datasets, which no extra installed, and showed no way
    to decode a row at its own length."""
    pytest.importorskip("pandas")
    pytest.importorskip("datasets")
    codec, _, _, _ = corpus
    section = (REPO / "docs" / "tokenize.md").read_text()  # the README links it
    example = section[section.index("```python\n") + 10:]
    example = example[:example.index("```\n")]
    codec.save_pretrained(tmp_path / "exp" / "tiny" / "model")
    shutil.copytree(dump, tmp_path / "dump" / "train")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    names: dict = {}
    exec(compile(example, "docs/tokenize.md", "exec"), names)
    rows = names["rows"]
    assert names["wav"].shape == (rows[0].num_samples,)
    assert names["wavs"].shape == (3, max(row.num_samples for row in rows))
    assert names["table"]["utt_id"].tolist() == [row.utt_id for row in rows]
    assert names["dataset"]["text"] == [row.text for row in rows]
    assert np.array_equal(names["table"]["tokens"][1], rows[1].ids.numpy())
