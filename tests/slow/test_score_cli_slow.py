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


@pytest.mark.slow
def test_two_processes_under_accelerate_launch_write_the_report_of_one(corpus):
    """``accelerate launch`` starts two ranks (RANK, WORLD_SIZE): each scores half, the last to
    finish writes the report, the same as one process's."""
    import csv
    import json
    import os
    import subprocess
    import sys

    from dist_helpers import free_port
    from repo_paths import REPO

    score = ["-m", "simvq_audio.cli", "score", "--ref", str(corpus / "ref"), "--hyp",
             str(corpus / "hyp"), "--num-plots", "0", "--model-metrics", "dnsmos",
             "--no-reference-cache"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    one = subprocess.run([sys.executable, *score, "--out", str(corpus / "one")],
                         capture_output=True, text=True, env=env, cwd=REPO, timeout=300)
    assert one.returncode == 0, one.stderr
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu",
              "--num_processes", "2", "--num_machines", "1", "--mixed_precision", "no",
              "--dynamo_backend", "no", "--main_process_port", str(free_port())]
    two = subprocess.run([*launch, *score, "--out", str(corpus / "two")], capture_output=True,
                         text=True, env=env, cwd=REPO, timeout=300)
    assert two.returncode == 0, two.stderr
    assert sorted(path.name for path in (corpus / "two" / "shards").iterdir()) == [
        "rank-00000-of-00002.json", "rank-00001-of-00002.json"]

    def read(folder):
        with open(corpus / folder / "scores.csv", newline="") as handle:
            return list(csv.DictReader(handle))

    rows_one, rows_two = read("one"), read("two")
    assert [row["utt_id"] for row in rows_two] == [row["utt_id"] for row in rows_one]
    for row_one, row_two in zip(rows_one, rows_two):
        for key, value in row_one.items():       # floats: BLAS summation order may differ
            if key in ("utt_id", "skipped") or not value:
                assert row_two[key] == value, key
            else:
                assert float(row_two[key]) == pytest.approx(float(value), rel=1e-9), key
    summary = json.loads((corpus / "two" / "summary.json").read_text())
    assert summary["num_utterances"] == 3 and "dnsmos" in summary["models"]
