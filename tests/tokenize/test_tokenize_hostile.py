"""Issue 24, tokenize: a wrong ``utt2dur`` cannot overfill a batch, ``--device meta`` and an
``--out`` under a regular file are one line, and tokenize's own state files damaged or of the
wrong types mean "redo this shard" (done markers) or one line naming the file (``index.json``),
never a traceback."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import soundfile

from simvq_audio.data.kaldi_dir import Utterance, write_data_dir
from simvq_audio.tokenize.plan import measure_durations, plan_batches, plan_shards

from hostile_helpers import assert_main_refused, run_limited
from tokenize_helpers import make_corpus, save_model, shard_bytes, tokenize

SHARDS = 2
DEEP = "[" * 100_000 + "]" * 100_000
"""JSON nested 100000 deep: ``json.loads`` raises RecursionError."""



@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """A model, a data dir of 4 utterances (utt3 corrupt) and its complete output, 2 shards."""
    root = tmp_path_factory.mktemp("corpus")
    _, model = save_model(root / "model")
    data = make_corpus(root, count=4)
    assert tokenize(model, data, root / "reference") == 1  # utt3 is not audio
    return model, data, root / "reference"



def tones(folder, count, seconds, rate=24000):
    """``count`` quiet noise files of ``seconds`` (16-bit wav) -> their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    noise = (np.random.default_rng(0).standard_normal(round(seconds * rate)) * 300)
    paths = [folder / f"u{i:02d}.wav" for i in range(count)]
    for path in paths:
        soundfile.write(path, noise.astype(np.int16), rate)
    return paths


def test_batches_are_planned_from_the_headers_not_from_utt2dur(tmp_path):
    """Before: batches were planned from utt2dur alone: six 1 s files listed as 0.01 s all went
    into one padded batch of 6 s against --batch-seconds 2."""
    paths = tones(tmp_path, 6, 1.0, rate=8000)
    listed = [Utterance(path.stem, path, 0.01) for path in paths]
    shard = plan_shards(listed, 10)[0]
    assert len(plan_batches(shard, 2.0, 32)) == 1  # what trusting utt2dur gives
    measured, notes = measure_durations(shard)
    batches = plan_batches(measured, 2.0, 32)
    assert [len(batch) for batch in batches] == [2, 2, 2]
    assert all(utt.duration == pytest.approx(1.0) for batch in batches for utt in batch)
    assert len(notes) == 6 and notes[0] == "u00: utt2dur says 0.01 s, the file lasts 1.000 s"


def test_long_files_listed_as_short_are_tokenized_in_bounded_memory(corpus, tmp_path):
    """Before: sixteen 8 s files listed as 0.1 s made one padded batch of 128 s, far beyond
    --batch-seconds 10: under a 1500 MiB address-space limit the encoder's allocation failed
    with a traceback (sixteen 60 s files took 7.8 GB)."""
    model, _, _ = corpus
    paths = tones(tmp_path / "wav", 16, 8.0)
    data = tmp_path / "data"
    write_data_dir(data, {path.stem: str(path) for path in paths},
                   utt2dur={path.stem: 0.1 for path in paths})
    result = run_limited("tokenize", "--model", model, "--data-dir", data, "--out",
                         tmp_path / "dump", "--format", "ark", "--batch-seconds", "10")
    err = result.stderr.decode(errors="replace")
    assert result.returncode == 0, err[-3000:]
    assert "shard-00000: utt2dur is wrong for 16 utterance(s) (e.g. u00: utt2dur says 0.1 s, " \
           "the file lasts 8.000 s); batches are planned from the files' headers" in err
    assert len((tmp_path / "dump" / "tokens.scp").read_text().splitlines()) == 16


def test_a_device_that_computes_nothing_is_one_line(corpus, tmp_path, capsys):
    """Before: ``--device meta`` was accepted and ended in a NotImplementedError traceback
    ("Cannot copy out of meta tensor")."""
    model, data, _ = corpus
    assert_main_refused(tokenize(model, data, tmp_path / "dump", "--device", "meta"), capsys,
                        "device 'meta' holds shapes only")


def test_an_out_below_a_regular_file_is_one_line(corpus, tmp_path, capsys):
    """Before: ``--out afile/tok`` got only the CLI's last-resort line for a stray
    NotADirectoryError ("Not a directory: afile/tok"), not that a folder could not be made."""
    model, data, _ = corpus
    (tmp_path / "afile").write_text("x")
    assert_main_refused(tokenize(model, data, tmp_path / "afile" / "tok"), capsys,
                        f"cannot create the folder {tmp_path / 'afile' / 'tok'}",
                        "Not a directory")


def _edit(document, **changes):
    return json.dumps({**document, **changes})


MARKER_DAMAGE = {
    "random bytes": lambda marker: bytes(range(256)) * 4,
    "truncated": lambda marker: json.dumps(marker)[:40],
    "a list": lambda marker: json.dumps([marker]),
    "count as text": lambda marker: _edit(marker, count="2"),
    "frames negative": lambda marker: _edit(marker, frames=-1),
    "seconds as a list": lambda marker: _edit(marker, seconds=[1.0]),
    "failures as a list": lambda marker: _edit(marker, failures=["utt1"]),
    "files as text": lambda marker: _edit(marker, files="ark/shard-00000.ark"),
    "another shard's": lambda marker: _edit(marker, shard="shard-00001"),
    "a missing field": lambda marker: json.dumps({k: v for k, v in marker.items()
                                                  if k != "frames"}),
    "nested 100000 deep": lambda marker: _edit(marker, failures="FAILURES").replace(
        '"FAILURES"', DEEP),
}


@pytest.mark.parametrize("damage", MARKER_DAMAGE.values(), ids=MARKER_DAMAGE.keys())
def test_a_damaged_done_marker_means_redo_the_shard(corpus, tmp_path, capsys, damage):
    """Before: a marker holding a count as text, failures as a list or a field of the wrong
    type was counted done and the summary ended in a TypeError or AttributeError traceback;
    one nested 100000 deep in a RecursionError."""
    model, data, reference = corpus
    out = tmp_path / "dump"
    shutil.copytree(reference, out)
    marker = out / "done" / "shard-00000.json"
    text = damage(json.loads(marker.read_text()))
    marker.write_bytes(text if isinstance(text, bytes) else text.encode())
    capsys.readouterr()
    assert tokenize(model, data, out, "--verify") == 1
    err = capsys.readouterr().err
    assert "shard-00000: not done (no readable done marker)" in err
    assert "Traceback" not in err
    assert tokenize(model, data, out) == 1
    err = capsys.readouterr().err
    assert f"1 of my {SHARDS} shards to do (1 already done)" in err and "Traceback" not in err
    assert shard_bytes(out) == shard_bytes(reference)
    assert tokenize(model, data, out, "--verify") == 0


INDEX_DAMAGE = {
    "random bytes": lambda index: bytes(range(256)) * 4,
    "truncated": lambda index: json.dumps(index)[:50],
    "a list": lambda index: json.dumps([index]),
    "model hash as a number": lambda index: _edit(index, model={"hash": 7}),
    "plan as text": lambda index: _edit(index, plan="PLAN"),
    "formats of lists": lambda index: _edit(index, formats=[["ark"]]),
    "nested 100000 deep": lambda index: _edit(index, totals="TOTALS").replace('"TOTALS"', DEEP),
}


@pytest.mark.parametrize("damage", INDEX_DAMAGE.values(), ids=INDEX_DAMAGE.keys())
def test_a_damaged_index_is_one_line_and_overwrite_keeps_the_done_shards(corpus, tmp_path,
                                                                         capsys, damage):
    """Before: an index nested 100000 deep ended in a RecursionError traceback, formats of
    lists in a TypeError under --verify; the refusal did not say that --overwrite keeps the
    shards."""
    model, data, reference = corpus
    out = tmp_path / "dump"
    shutil.copytree(reference, out)
    index = out / "index.json"
    text = damage(json.loads(index.read_text()))
    index.write_bytes(text if isinstance(text, bytes) else text.encode())
    capsys.readouterr()
    for extra in ((), ("--verify",)):
        assert_main_refused(tokenize(model, data, out, *extra), capsys,
                            f"{index} is damaged or not a tokenization index: pass --overwrite")
    assert tokenize(model, data, out, "--overwrite") == 1
    assert f"0 of my {SHARDS} shards to do ({SHARDS} already done)" in capsys.readouterr().err
    assert tokenize(model, data, out, "--verify") == 0
    assert shard_bytes(out) == shard_bytes(reference)

