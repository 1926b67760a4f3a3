"""simvq-audio tokenize: outputs that load back to codec.encode's tokens, failures reported and
skipped, resume after an interruption, --verify, foreign models refused, any number of processes
writing the same bytes (in process; the accelerate launch run is in test_tokenize_processes)."""

from __future__ import annotations

import json
import shutil

import kaldiio
import numpy as np
import pyarrow.parquet as pq
import pytest

from simvq_audio.cli import main
from simvq_audio.data.kaldi_dir import Utterance, write_data_dir
from simvq_audio.errors import UserInputError
from simvq_audio.tokenize import corpus as corpus_api
from simvq_audio.tokenize import runner
from simvq_audio.tokenize.plan import plan_batches, plan_shards, rank_shards

from tokenize_helpers import (
    CORRUPT,
    SHARD_SIZE,
    edit_parquet_shard,
    expected_tokens,
    make_corpus,
    output_files,
    save_model,
    shard_bytes,
    tokenize,
)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    codec, model = save_model(root / "model")
    return codec, model, make_corpus(root)


@pytest.fixture(scope="module")
def reference(corpus, tmp_path_factory):
    """One complete single-process run (both formats); its exit status is 1: utt3 is corrupt."""
    _, model, data = corpus
    out = tmp_path_factory.mktemp("reference") / "dump"
    assert tokenize(model, data, out) == 1
    return out


def test_ark_and_parquet_load_back_to_the_tokens_of_codec_encode(corpus, reference):
    codec, _, data = corpus
    expected = expected_tokens(codec, data)
    scp = kaldiio.load_scp(str(reference / "tokens.scp"))
    assert sorted(scp) == sorted(expected)
    for utt_id, tokens in expected.items():
        assert scp[utt_id].dtype == np.int32 and np.array_equal(scp[utt_id], tokens), utt_id
    rows = pq.read_table(reference / "parquet").to_pylist()
    assert [row["utt_id"] for row in rows] == sorted(expected)
    for row in rows:
        assert np.array_equal(row["tokens"], expected[row["utt_id"]]), row["utt_id"]
        assert row["num_frames"] == len(row["tokens"]) == -(-row["num_samples"] // 320)
        assert (row["sample_rate"], row["model_hash"]) == (24000, codec.model_hash)


def test_a_corrupt_file_is_skipped_and_listed_and_a_rerun_does_nothing(corpus, reference,
                                                                       capsys):
    _, model, data = corpus
    index = json.loads((reference / "index.json").read_text())
    assert index["complete"] and list(index["failures"]) == [CORRUPT]
    assert index["totals"]["tokenized"] == 6 and index["plan"]["num_shards"] == 4
    before = {path: path.stat().st_mtime_ns for path in output_files(reference)}
    assert tokenize(model, data, reference) == 1
    err = capsys.readouterr().err
    assert "0 of my 4 shards to do (4 already done)" in err
    assert "tokenized 6 of 7 utterances" in err and f"{CORRUPT}: " in err
    assert "not a readable audio file" in err
    assert {path: path.stat().st_mtime_ns for path in output_files(reference)} == before


def test_an_interrupted_run_resumes_without_redoing_finished_shards(corpus, reference, tmp_path,
                                                                    monkeypatch):
    _, model, data = corpus
    out = tmp_path / "dump"
    real_write, written = runner.write_shard, []

    def write_then_stop(folder, name, *args):
        if len(written) == 2:
            raise KeyboardInterrupt  # Ctrl-C while the third shard is being written
        written.append(name)
        real_write(folder, name, *args)

    monkeypatch.setattr(runner, "write_shard", write_then_stop)
    assert tokenize(model, data, out) == 130
    assert not json.loads((out / "index.json").read_text())["complete"]
    assert sorted(p.name for p in (out / "done").iterdir()) == [
        "shard-00000.json", "shard-00001.json"]
    assert not [p for p in output_files(out) if p.name.startswith(".")]  # no temporary files
    finished = {path: path.stat().st_mtime_ns for path in output_files(out)}

    written.clear()
    monkeypatch.setattr(runner, "write_shard", lambda folder, name, *args: (
        written.append(name), real_write(folder, name, *args)))
    assert tokenize(model, data, out) == 1
    assert written == ["shard-00002", "shard-00003"]
    assert all(path.stat().st_mtime_ns == mtime for path, mtime in finished.items())
    assert shard_bytes(out) == shard_bytes(reference)
    assert json.loads((out / "index.json").read_text())["complete"]


def test_verify_reports_a_damaged_shard_and_a_rerun_repairs_it(corpus, reference, tmp_path,
                                                               capsys):
    _, model, data = corpus
    out = tmp_path / "dump"
    shutil.copytree(reference, out)
    assert tokenize(model, data, out, "--verify") == 0
    ark = out / "ark" / "shard-00001.ark"
    damaged = bytearray(ark.read_bytes())
    damaged[-3] ^= 0xFF
    ark.write_bytes(bytes(damaged))
    capsys.readouterr()
    assert tokenize(model, data, out, "--verify") == 1
    err = capsys.readouterr().err
    assert "shard-00001: ark/shard-00001.ark is damaged" in err and "1 damaged (shard-00001" in err
    assert tokenize(model, data, out) == 1  # redoes shard-00001 only
    assert "1 of my 4 shards to do" in capsys.readouterr().err
    assert tokenize(model, data, out, "--verify") == 0
    assert shard_bytes(out) == shard_bytes(reference)


def test_verify_checks_the_contents_against_the_data_dir(corpus, reference, tmp_path, capsys):
    codec, model, data = corpus
    out = tmp_path / "dump"
    shutil.copytree(reference, out)
    marker_path = out / "done" / "shard-00000.json"
    marker = json.loads(marker_path.read_text())
    marker["count"] += 1
    marker_path.write_text(json.dumps(marker))
    def one_past_the_last_code(rows):
        rows[0]["tokens"][0] = codec.codebook_size

    edit_parquet_shard(out, "shard-00001", one_past_the_last_code)
    assert tokenize(model, data, out, "--verify") == 1
    err = capsys.readouterr().err
    assert "shard-00000: the done marker does not match the data dir's ids" in err
    assert "shard-00001: parquet: tokens outside [0, 1024)" in err
    assert "shard-00001: the ark and parquet files hold different tokens" in err


def test_another_models_output_is_refused_unless_overwrite(corpus, tmp_path, capsys):
    codec, model, data = corpus
    small = tmp_path / "small"
    write_data_dir(small, {"utt0": (data / "wav.scp").read_text().split()[1]})
    other_codec, other = save_model(tmp_path / "other", seed=1)
    out = tmp_path / "dump"
    assert tokenize(model, small, out) == 0
    capsys.readouterr()
    assert tokenize(other, small, out) == 2
    assert "holds tokens of another model" in capsys.readouterr().err
    assert tokenize(model, data, out) == 2  # same model, other utterances
    assert "other utterances" in capsys.readouterr().err
    assert tokenize(other, small, out, "--overwrite", "--format", "parquet") == 0
    index = json.loads((out / "index.json").read_text())
    assert index["model"]["hash"] == other_codec.model_hash != codec.model_hash
    assert [p.relative_to(out).as_posix() for p in output_files(out)] == [
        "done/shard-00000.json", "parquet/shard-00000.parquet"]
    assert not (out / "tokens.scp").exists()


def test_two_ranks_write_the_same_bytes_as_one(corpus, reference, tmp_path, monkeypatch, capsys):
    _, model, data = corpus
    out = tmp_path / "dump"
    for rank in (0, 1):
        monkeypatch.setattr(corpus_api, "join_processes", lambda device, r=rank: (r, 2, device))
        assert tokenize(model, data, out) == (0 if rank == 0 else 1)
    err = capsys.readouterr().err
    assert "[rank 0/2]: 2 of my 2 shards" in err and "other processes are still writing" in err
    assert shard_bytes(out) == shard_bytes(reference)
    assert (out / "tokens.scp").read_text() == (reference / "tokens.scp").read_text().replace(
        str(reference), str(out))


def test_an_audio_dir_gives_ids_from_relative_paths(corpus, tmp_path):
    _, model, data = corpus
    source = tmp_path / "audio" / "spk1"
    source.mkdir(parents=True)
    shutil.copy((data / "wav.scp").read_text().split()[1], source / "a.wav")
    out = tmp_path / "dump"
    assert main(["tokenize", "--model", str(model), "--audio-dir", str(tmp_path / "audio"),
                 "--out", str(out), "--format", "ark"]) == 0
    assert list(kaldiio.load_scp(str(out / "tokens.scp"))) == ["spk1/a"]


@pytest.mark.parametrize("args, message", [
    (["--data-dir", "missing"], "not a directory"),
    (["--audio-dir", "."], "no audio files"),
    (["--data-dir", "DATA", "--out", "FILE"], "exists and is not a directory"),
    (["--data-dir", "DATA", "--out", "mine"], "not a tokenize output; pass --overwrite"),
    (["--audio-dir", "dump/ark", "--out", "dump"], "where tokenize writes and removes files"),
])
def test_bad_input_is_one_line_exit_2(corpus, tmp_path, monkeypatch, capsys, args, message):
    """The output policy included: a directory holding tokenize's names that tokenize did not
    write is refused, and so is an --out whose shard folders hold the inputs."""
    _, model, data = corpus
    monkeypatch.chdir(tmp_path)
    (tmp_path / "FILE").write_text("x")
    if "mine" in args:
        (tmp_path / "mine").mkdir()
        (tmp_path / "mine" / "tokens.scp").write_text("my own table\n")
    if "dump/ark" in args:
        (tmp_path / "dump" / "ark").mkdir(parents=True)
        shutil.copy((data / "wav.scp").read_text().split()[1], tmp_path / "dump" / "ark" / "a.wav")
    args = [str(data) if arg == "DATA" else arg for arg in args]
    out = [] if "--out" in args else ["--out", "dump"]
    assert main(["tokenize", "--model", str(model), *args, *out]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def _utterances(durations):
    return [Utterance(f"u{i:02d}", f"/a/{i}.wav", d) for i, d in enumerate(durations)]


def test_the_plan_does_not_depend_on_the_number_of_processes():
    utterances = _utterances([1.0] * 11)
    shards = plan_shards(list(reversed(utterances)), 3)
    assert [len(shard.utterances) for shard in shards] == [3, 3, 3, 2]
    assert [utt.utt_id for shard in shards for utt in shard.utterances] == [
        utt.utt_id for utt in utterances]
    for world in (1, 2, 3, 5):
        taken = [shard for rank in range(world) for shard in rank_shards(shards, rank, world)]
        assert sorted(shard.index for shard in taken) == list(range(4))
    with pytest.raises(UserInputError, match="no utterances"):
        plan_shards([], 3)


def test_batches_are_length_sorted_and_bounded():
    shard = plan_shards(_utterances([5.0, 1.0, None, 2.0, 30.0, 1.5, 2.5]), 10)[0]
    batches = [[utt.utt_id for utt in batch] for batch in plan_batches(shard, 10.0, 3)]
    assert batches == [["u01", "u05", "u03"], ["u06", "u00"], ["u04"], ["u02"]]
    for batch in plan_batches(shard, 10.0, 3):
        known = [utt.duration for utt in batch if utt.duration is not None]
        assert len(batch) == 1 or len(batch) * max(known) <= 10.0


def test_the_corpus_api_from_python_writes_the_files_of_the_command(corpus, tmp_path, capsys):
    codec, model, data = corpus
    plan = corpus_api.plan_corpus(corpus_api.read_utterances(data_dir=data), SHARD_SIZE)
    assert [len(shard.utterances) for shard in plan.shards] == [2, 2, 2, 1]
    api_out, cli_out = tmp_path / "api", tmp_path / "cli"
    assert corpus_api.tokenize_corpus(codec, plan, api_out) == 1  # CORRUPT is not audio
    err = capsys.readouterr().err
    assert "tokenized 6 of 7 utterances" in err and f"  {CORRUPT}: " in err
    assert tokenize(model, data, cli_out) == 1
    assert shard_bytes(api_out) == shard_bytes(cli_out)
    assert corpus_api.verify_corpus(codec, plan, api_out) == 0
    assert "4 shard(s), 0 damaged, 0 problem(s)" in capsys.readouterr().err


@pytest.mark.parametrize("sources, count", [({}, 0), ({"audio_dir": "a", "lhotse": ["b"]}, 2)])
def test_read_utterances_takes_exactly_one_source(sources, count):
    with pytest.raises(UserInputError, match=f"exactly one of data_dir, .*; got {count}$"):
        corpus_api.read_utterances(**sources)


def test_an_unknown_token_format_is_refused(corpus, tmp_path):
    codec, _, data = corpus
    plan = corpus_api.plan_corpus(corpus_api.read_utterances(data_dir=data), SHARD_SIZE)
    with pytest.raises(UserInputError, match="token format 'npy' is none of ark, parquet, both"):
        corpus_api.tokenize_corpus(codec, plan, tmp_path / "out", token_format="npy")
    assert not (tmp_path / "out").exists()
