"""``simvq-audio score`` and ``compare`` end to end on small generated audio: directories, Kaldi
data dirs / wav.scp, code folders, outputs, and the errors for bad input. Two processes scoring
like one (slow): tests/slow/test_score_cli_slow.py."""

import csv
import json

import numpy as np
import pytest

from simvq_audio.cli import main
from simvq_audio.data.kaldi_dir import write_data_dir

from score_helpers import write, write_score_corpus


@pytest.fixture
def corpus(tmp_path):
    return write_score_corpus(tmp_path)


def run_cli(*argv):
    return main([str(arg) for arg in argv])


def test_score_directories_with_codes(corpus, capsys):
    codes = corpus / "codes"
    (codes / "spk").mkdir(parents=True)
    np.save(codes / "spk" / "a.npy", np.arange(8))
    np.save(codes / "b.npy", np.array([0, 1, 2, 3]))
    np.save(codes / "silent.npy", np.array([0, 0]))
    out = corpus / "out"
    assert run_cli("score", "--ref", corpus / "ref", "--hyp", corpus / "hyp", "--out", out,
                   "--codes", codes, "--num-codes", 16, "--tokens-per-second", 50,
                   "--name", "noisy") == 0
    printed = capsys.readouterr().out
    assert "| PESQ-wb ↑ |" in printed
    assert "| DNSMOS OVRL ↑ |" in printed and "| DNSMOS OVRL (ref) ↑ |" in printed
    assert "Not computed:" in printed and "- utmos: " in printed     # no UTMOS weights here

    with open(out / "scores.csv", newline="") as handle:
        rows = {row["utt_id"]: row for row in csv.DictReader(handle)}
    assert sorted(rows) == ["b", "silent", "spk/a"]
    assert rows["silent"]["pesq"] == "" and "silent reference" in rows["silent"]["skipped"]
    assert -0.5 < float(rows["spk/a"]["pesq"]) < 4.7 and rows["spk/a"]["skipped"] == ""

    summary = json.loads((out / "summary.json").read_text())
    assert summary["name"] == "noisy" and summary["num_utterances"] == 3
    assert summary["metrics"]["stoi"]["count"] == 2 and summary["metrics"]["stoi"]["skipped"] == 1
    assert summary["codebook"]["utilisation"] == 0.5 and summary["codebook"]["bitrate_bps"] == 200
    assert "utmos" in summary["unavailable"] and "dnsmos" in summary["models"]
    assert summary["metrics"]["dnsmos_ovrl"]["count"] == 2
    assert 1 <= float(rows["spk/a"]["dnsmos_ovrl"]) <= 5
    for name in ("summary.md", "spectrograms.png", "code_usage.png", "report.html"):
        assert (out / name).stat().st_size > 0

    page = corpus / "pages" / "compare.html"
    assert run_cli("compare", out / "summary.json", out / "summary.json", "--names", "x", "y",
                   "--html", page) == 0
    table = capsys.readouterr().out
    text = page.read_text()     # both systems' listening page (browser test: test_report_html)
    assert "<th>x</th>" in text or ">x<" in text
    assert text.count("<audio") == 3 * 3     # 3 utterances: the reference and 2 systems each
    assert "../hyp/spk/a.flac" in text and (corpus / "pages" / "compare_files").is_dir()
    assert table.count("| 0.20 | 50.0 % | 3 |") == 2
    assert table.splitlines()[-1].startswith("| reference |")    # DNSMOS of the references


def test_score_kaldi_wav_scp(corpus, capsys, monkeypatch):
    monkeypatch.chdir(corpus)             # wav.scp paths are relative to the current directory
    write_data_dir("data/ref", {"a": "ref/spk/a.wav", "b": "ref/b.wav"})
    write_data_dir("data/hyp", {"a": "hyp/spk/a.flac", "b": "hyp/b.flac"})
    assert run_cli("score", "--ref", "data/ref/wav.scp", "--hyp", "data/hyp", "--out", "out",
                   "--num-plots", 0, "--model-metrics", "none") == 0
    summary = json.loads((corpus / "out" / "summary.json").read_text())
    assert summary["num_utterances"] == 2 and summary["metrics"]["pesq"]["count"] == 2
    assert summary["codebook"] is None
    assert not (corpus / "out" / "spectrograms.png").exists()


def test_output_policy(corpus, capsys, monkeypatch):
    """A report of the same inputs is replaced; one of other inputs, or files score did not
    write, are refused unless --overwrite."""
    monkeypatch.chdir(corpus)
    write_data_dir("data/ref", {"a": "ref/spk/a.wav", "b": "ref/b.wav"})
    write_data_dir("data/hyp", {"a": "hyp/spk/a.flac", "b": "hyp/b.flac"})
    write_data_dir("data/ref2", {"a": "ref/spk/a.wav", "b": "ref/b.wav"})
    args = ["score", "--hyp", "data/hyp", "--out", "out", "--num-plots", 0, "--model-metrics",
            "none"]
    assert run_cli(*args, "--ref", "data/ref") == 0
    assert run_cli(*args, "--ref", "data/ref") == 0
    capsys.readouterr()
    assert run_cli(*args, "--ref", "data/ref2") == 2
    assert "summary.json" in capsys.readouterr().err
    assert run_cli(*args, "--ref", "data/ref2", "--overwrite") == 0
    inputs = json.loads((corpus / "out" / "summary.json").read_text())["inputs"]
    assert inputs["ref"] == str(corpus / "data" / "ref2") and inputs["codes"] is None
    (corpus / "mine").mkdir()
    (corpus / "mine" / "summary.md").write_text("my notes")
    assert run_cli("score", "--ref", "data/ref", "--hyp", "data/hyp", "--out", "mine",
                   "--model-metrics", "none") == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (corpus / "mine" / "summary.md").read_text() == "my notes"


@pytest.mark.parametrize("change, message", [
    (lambda root: (root / "hyp" / "b.flac").unlink(), "only in the references: b"),
    (lambda root: write(root / "hyp" / "extra.wav", np.zeros(100)),
     "only in the hypotheses: extra"),
    (lambda root: write(root / "hyp" / "b.wav", np.zeros(100)),
     "two audio files for utterance 'b'"),
], ids=["missing-hyp", "extra-hyp", "duplicate-id"])
def test_mismatched_sets_are_refused(corpus, capsys, change, message):
    change(corpus)
    assert run_cli("score", "--ref", corpus / "ref", "--hyp", corpus / "hyp",
                   "--out", corpus / "out") == 2
    assert message in capsys.readouterr().err
    assert not (corpus / "out").exists()


def test_input_errors(corpus, capsys, monkeypatch):
    monkeypatch.chdir(corpus)
    write_data_dir("data/ref", {"a": "ref/spk/a.wav", "b": "ref/gone.wav"})
    (corpus / "empty").mkdir()
    (corpus / "codes").mkdir()
    np.save(corpus / "codes" / "a.npy", np.arange(3))
    np.save(corpus / "codes" / "b.npy", np.arange(3))
    ref, hyp, out = corpus / "ref", corpus / "hyp", corpus / "out"
    cases = [
        (("--ref", "data/ref", "--hyp", hyp), "data/ref/wav.scp:2"),
        (("--ref", corpus / "nowhere", "--hyp", hyp), "no such directory"),
        (("--ref", corpus / "empty", "--hyp", hyp), "no audio files found"),
        (("--ref", ref, "--hyp", hyp, "--codes", corpus / "codes"), "only in the audio"),
        (("--ref", ref, "--hyp", hyp, "--model-metrics", "utmos", "--utmos-checkpoint",
          corpus / "none.pt"), "none.pt"),
        (("--ref", ref, "--hyp", hyp, "--model-metrics", "utmos", "--utmos-checkpoint",
          ref / "b.wav"), "utmos cannot run"),
        (("--ref", ref, "--hyp", hyp, "--model-metrics", "dnsmos,pesq"), "unknown pesq"),
        (("--ref", ref, "--hyp", hyp, "--model-metrics", ","), "unknown empty list"),
    ]
    for arguments, message in cases:
        assert run_cli("score", *arguments, "--out", out) == 2, message
        assert message in capsys.readouterr().err


def test_npy_codes_need_their_codebook_size(corpus, capsys):
    codes = corpus / "codes"
    for utt_id in ("spk/a", "b", "silent"):
        (codes / utt_id).parent.mkdir(parents=True, exist_ok=True)
        np.save(codes / f"{utt_id}.npy", np.arange(3))
    assert run_cli("score", "--ref", corpus / "ref", "--hyp", corpus / "hyp", "--out",
                   corpus / "out", "--codes", codes) == 2
    assert "give --num-codes and --tokens-per-second" in capsys.readouterr().err


def test_compare_errors(tmp_path, capsys):
    (tmp_path / "bad.json").write_text("{}")
    assert run_cli("compare", tmp_path / "bad.json") == 2
    assert "not a summary.json" in capsys.readouterr().err
    assert run_cli("compare", tmp_path / "gone.json") == 2
    assert "gone.json: no such summary.json" in capsys.readouterr().err
    assert run_cli("compare", tmp_path / "bad.json", "--names", "a", "b") == 2
    assert "--names has 2 name(s) for 1 summaries" in capsys.readouterr().err


def test_ranks_of_accelerate_launch_score_like_one_process(corpus, capsys, monkeypatch):
    """Under a launcher (RANK, WORLD_SIZE) each process scores its share; the last to finish
    writes the report, equal to one process's."""
    args = ["score", "--ref", corpus / "ref", "--hyp", corpus / "hyp", "--num-plots", 0,
            "--model-metrics", "dnsmos"]
    assert run_cli(*args, "--out", corpus / "one") == 0
    monkeypatch.setenv("WORLD_SIZE", "2")
    for rank in (1, 0):
        monkeypatch.setenv("RANK", str(rank))
        assert run_cli(*args, "--out", corpus / "two") == 0
        assert (corpus / "two" / "summary.json").exists() == (rank == 0)
    assert "the last process to finish writes the report" in capsys.readouterr().out

    def read(folder):
        with open(corpus / folder / "scores.csv", newline="") as handle:
            return list(csv.DictReader(handle))

    one, two = read("one"), read("two")
    assert [row["utt_id"] for row in two] == ["b", "silent", "spk/a"]
    for row_one, row_two in zip(one, two):
        assert row_one.keys() == row_two.keys()
        for key, value in row_one.items():      # floats: summation order may differ in BLAS
            if key in ("utt_id", "skipped") or not value:
                assert row_two[key] == value, key
            else:
                assert float(row_two[key]) == pytest.approx(float(value), rel=1e-9), key
    summaries = [json.loads((corpus / folder / "summary.json").read_text())
                 for folder in ("one", "two")]
    for name, entry in summaries[0]["metrics"].items():
        assert summaries[1]["metrics"][name]["count"] == entry["count"], name
        assert summaries[1]["metrics"][name]["mean"] == pytest.approx(entry["mean"], rel=1e-9)


def test_the_reference_cache_gives_the_same_report(corpus, capsys):
    """A second system scored on the same references reads their model-metric values from the
    cache: the same numbers, and the cache holds one file per (reference, model, quantity)."""
    args = ["score", "--ref", corpus / "ref", "--hyp", corpus / "hyp", "--num-plots", 0,
            "--model-metrics", "dnsmos,sphinx_asr", "--reference-cache", corpus / "cache"]
    assert run_cli(*args, "--out", corpus / "first") == 0
    files = sorted((corpus / "cache").glob("*.json"))
    assert len(files) == 2 * 2            # 2 scorable utterances x (DNSMOS, transcript)
    assert run_cli(*args, "--out", corpus / "second") == 0
    assert sorted((corpus / "cache").glob("*.json")) == files
    assert run_cli(*args[:-2], "--no-reference-cache", "--out", corpus / "third") == 0
    capsys.readouterr()
    first, second, third = (json.loads((corpus / name / "summary.json").read_text())["metrics"]
                            for name in ("first", "second", "third"))
    for other in (second, third):       # equal, but for BLAS summation order (pystoi's ESTOI)
        assert other.keys() == first.keys()
        for name, entry in first.items():
            assert other[name]["count"] == entry["count"], name
            expected = None if entry["mean"] is None else pytest.approx(entry["mean"], rel=1e-12)
            assert other[name]["mean"] == expected, name
    assert [second[f"ref_dnsmos_{q}"]["mean"] for q in ("sig", "ovrl")] == \
        [first[f"ref_dnsmos_{q}"]["mean"] for q in ("sig", "ovrl")]     # cached: the same bits
