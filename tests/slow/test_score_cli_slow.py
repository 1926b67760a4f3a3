"""Scoring, slow: two processes give the scores of one. The ``score`` and ``compare`` commands:
tests/commands/test_score_cli.py."""

import pytest

from score_helpers import write_score_corpus


@pytest.fixture
def corpus(tmp_path):
    return write_score_corpus(tmp_path)


@pytest.mark.slow
def test_two_processes_score_like_one(corpus):
    from simvq_audio.data.utterances import list_utterances
    from simvq_audio.metrics.batch import score_files
    from simvq_audio.metrics.inputs import pair_up

    pairs = pair_up(list_utterances(corpus / "ref"), list_utterances(corpus / "hyp"))
    parallel = score_files(pairs, jobs=2, progress=False)
    serial = score_files(pairs, progress=False)
    assert [row["utt_id"] for row in parallel] == [row["utt_id"] for row in serial]
    for parallel_row, serial_row in zip(parallel, serial):
        assert parallel_row.keys() == serial_row.keys()
        for key, value in serial_row.items():
            if isinstance(value, float):
                assert parallel_row[key] == pytest.approx(value, rel=1e-9, abs=1e-12), key
            else:
                assert parallel_row[key] == value, key
