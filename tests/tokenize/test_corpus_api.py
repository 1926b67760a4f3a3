"""The corpus API behind ``simvq-audio tokenize`` (simvq_audio.tokenize.corpus), called from
Python: the same output files as the command, and a clear refusal of what argparse refuses for
the command (no source or several, an unknown token format)."""

from __future__ import annotations

import pytest

from simvq_audio.errors import UserInputError
from simvq_audio.tokenize.corpus import (
    plan_corpus,
    read_utterances,
    tokenize_corpus,
    verify_corpus,
)

from tokenize_helpers import CORRUPT, SHARD_SIZE, make_corpus, save_model, shard_bytes, tokenize


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    codec, model = save_model(root / "model")
    return codec, model, make_corpus(root, count=5)


def test_python_calls_write_the_files_of_the_command(corpus, tmp_path, capsys):
    codec, model, data = corpus
    plan = plan_corpus(read_utterances(data_dir=data), SHARD_SIZE)
    assert [len(shard.utterances) for shard in plan.shards] == [2, 2, 1]
    api_out, cli_out = tmp_path / "api", tmp_path / "cli"
    assert tokenize_corpus(codec, plan, api_out) == 1  # CORRUPT is not audio
    err = capsys.readouterr().err
    assert "tokenized 4 of 5 utterances" in err and f"  {CORRUPT}: " in err
    assert tokenize(model, data, cli_out) == 1
    assert shard_bytes(api_out) == shard_bytes(cli_out)
    assert verify_corpus(codec, plan, api_out) == 0
    assert "3 shard(s), 0 damaged, 0 problem(s)" in capsys.readouterr().err


@pytest.mark.parametrize("sources, count", [({}, 0), ({"audio_dir": "a", "lhotse": ["b"]}, 2)])
def test_read_utterances_takes_exactly_one_source(sources, count):
    with pytest.raises(UserInputError, match=f"exactly one of data_dir, .*; got {count}$"):
        read_utterances(**sources)


def test_an_unknown_token_format_is_refused(corpus, tmp_path):
    codec, _, data = corpus
    plan = plan_corpus(read_utterances(data_dir=data), SHARD_SIZE)
    with pytest.raises(UserInputError, match="token format 'npy' is none of ark, parquet, both"):
        tokenize_corpus(codec, plan, tmp_path / "out", token_format="npy")
    assert not (tmp_path / "out").exists()
