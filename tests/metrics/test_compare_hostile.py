"""Issue 24: ``compare`` (with and without ``--html``) on summary.json files that are no summary
written by ``score``: each is refused with one line naming the file and what is wrong. Before,
wrong types gave tracebacks (or, for fields only the page reads, a table without complaint),
deep nesting a RecursionError, a 100000-digit integer a ValueError, and a FIFO blocked forever.
"""

import csv
import json
import os

import pytest

from simvq_audio.cli import main
from simvq_audio.metrics.scorers import Column
from simvq_audio.metrics.summary import summarise

from hostile_helpers import MAX_MESSAGE, assert_refused, run_limited
from score_helpers import write_score_corpus

ALPHA = Column("alpha", "Alpha", True)


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    """A scoring folder as ``score`` leaves it (summary.json, scores.csv, the inputs it
    names), with made-up values: what compare and its page read."""
    root = write_score_corpus(tmp_path_factory.mktemp("corpus"))
    rows = [{"utt_id": utt_id, "ref_seconds": 1.0, "hyp_seconds": 1.0, "alpha": value,
             "skipped": {}} for utt_id, value in (("b", 1.0), ("silent", 2.0), ("spk/a", 3.0))]
    out = root / "out"
    out.mkdir()
    summary = {"name": "good", **summarise(rows, [ALPHA]), "unavailable": {}, "codebook": None,
               "inputs": {"ref": str(root / "ref"), "hyp": str(root / "hyp")}}
    (out / "summary.json").write_text(json.dumps(summary))
    with open(out / "scores.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, ["utt_id", "ref_seconds", "hyp_seconds", "alpha",
                                         "skipped"])
        writer.writeheader()
        writer.writerows({**row, "skipped": ""} for row in rows)
    return out / "summary.json"


def _with(summary: dict, path: str, value) -> dict:
    """A deep copy of ``summary`` with the value at ``path`` (keys joined by ``/``) replaced."""
    summary = json.loads(json.dumps(summary))
    *parents, last = path.split("/")
    place = summary
    for key in parents:
        place = place[key]
    place[last] = value
    return summary


CASES = [
    (lambda s: [s], "its top level is a list, not an object"),
    (lambda s: _with(s, "metrics", [1, 2]), "'metrics' must be an object, got a list"),
    (lambda s: _with(s, "metrics/alpha", [1]), "'metrics' -> 'alpha' must be an object"),
    (lambda s: _with(s, "metrics/alpha/mean", "2.5"),
     "'metrics' -> 'alpha' -> 'mean' must be a number or null, got a string"),
    (lambda s: _with(s, "metrics/alpha/label", 7), "'label' must be a string, got a number"),
    (lambda s: _with(s, "num_utterances", "3"), "'num_utterances' must be a count"),
    (lambda s: _with(s, "codebook", {"bitrate_bps": "x", "utilisation": 1}),
     "'codebook' -> 'bitrate_bps' must be a number, got a string"),
    (lambda s: _with(s, "skip_reasons", {"alpha": ["short"]}),
     "'skip_reasons' -> 'alpha' must be an object, got a list"),
    (lambda s: _with(s, "inputs/ref", 5), "'inputs' -> 'ref' must be a string or null"),
    (lambda s: _with(s, "name", {"x": 1}), "'name' must be a string or null, got an object"),
]


@pytest.mark.parametrize("html", [False, True], ids=["table", "html"])
@pytest.mark.parametrize("doctor, fragment", CASES)
def test_summaries_of_the_wrong_types_are_one_line(good, tmp_path, capsys, html, doctor,
                                                   fragment):
    bad = tmp_path / "summary.json"
    bad.write_text(json.dumps(doctor(json.loads(good.read_text()))))
    args = ["--html", str(tmp_path / "page.html"), "--report-spectrograms", "0"] if html else []
    assert main(["compare", str(good), str(bad), *args]) == 2
    line = _error_line(capsys)
    assert f"{bad}: not a summary.json written by simvq-audio score" in line
    assert fragment in line, line


@pytest.mark.parametrize("text, fragment", [
    ("[" * 200_000 + "]" * 200_000, "nested more than 64 levels deep"),
    ('{"metrics": {}, "num_utterances": ' + "9" * 100_000 + "}", "an integer of 100000 digits"),
])
def test_deep_and_huge_json_are_one_line(good, tmp_path, capsys, text, fragment):
    bad = tmp_path / "summary.json"
    bad.write_text(text)
    assert main(["compare", str(good), str(bad)]) == 2
    assert fragment in _error_line(capsys)


def test_a_fifo_is_refused_not_waited_on(good, tmp_path):
    """Before: ``compare good.json FIFO`` blocked forever in open(); so did ``--html`` on a
    scores.csv that is a FIFO."""
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    assert_refused(run_limited("compare", good, fifo, timeout=120), "fifo.json",
                   "not a regular file")
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "summary.json").write_text(good.read_text())
    os.mkfifo(folder / "scores.csv")
    assert_refused(run_limited("compare", good, folder / "summary.json", "--html",
                               tmp_path / "page.html", timeout=120),
                   "scores.csv", "not a regular file")


def test_good_summaries_still_compare(good, tmp_path, capsys):
    page = tmp_path / "page.html"
    assert main(["compare", str(good), str(good), "--names", "a", "b", "--html", str(page),
                 "--report-spectrograms", "0"]) == 0
    assert "| a | 2.00 ± " in capsys.readouterr().out and page.is_file()


def _error_line(capsys) -> str:
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("simvq-audio: error: "), lines
    assert len(lines[0]) <= MAX_MESSAGE
    return lines[0]
