"""Scoring, slow: two processes (each loading the model metrics itself) give the scores of one.
The ``score`` and ``compare`` commands: tests/commands/test_score_cli.py."""

import pytest

from score_helpers import write_score_corpus


@pytest.fixture
def corpus(tmp_path):
    return write_score_corpus(tmp_path)


@pytest.mark.slow
def test_two_processes_score_like_one(corpus):
    from simvq_audio.data.utterances import list_utterances
    from simvq_audio.metrics.batch import ScoreJob, score_files
    from simvq_audio.metrics.inputs import pair_up
    from simvq_audio.metrics.scorers import ScorerOptions, load_scorers

    jobs = [ScoreJob(*pair, text="a test") for pair in
            pair_up(list_utterances(corpus / "ref"), list_utterances(corpus / "hyp"))]
    scorers = load_scorers(["dnsmos", "speaker_similarity", "sphinx_asr"], ScorerOptions())
    assert not scorers.unavailable
    parallel = score_files(jobs, processes=2, scorers=scorers, progress=False)
    serial = score_files(jobs, scorers=scorers, progress=False)
    assert [row["utt_id"] for row in parallel] == [row["utt_id"] for row in serial]
    for parallel_row, serial_row in zip(parallel, serial):
        assert parallel_row.keys() == serial_row.keys()
        for key, value in serial_row.items():
            if isinstance(value, float):      # BLAS summation order may differ
                assert parallel_row[key] == pytest.approx(value, rel=1e-9, abs=1e-12), key
            else:
                assert parallel_row[key] == value, key
