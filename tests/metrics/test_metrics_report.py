"""Codebook report, token folders, summaries (mean, CI, skips), the compare table and plots."""

import json

import numpy as np
import pytest
import torch

from simvq_audio.codes import CodesHeader, write_codes
from simvq_audio.errors import UserInputError
from simvq_audio.metrics.codebook import bitrate, codebook_report, count_tokens
from simvq_audio.metrics.compare import compare_table
from simvq_audio.metrics.plots import plot_code_usage, plot_spectrograms, plot_training_curves
from simvq_audio.metrics.scorers import Column
from simvq_audio.metrics.summary import markdown_summary, mean_ci95, summarise
from simvq_audio.metrics.token_sets import read_token_dir
from simvq_audio.metrics.utterance import METRICS

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_bitrate_follows_the_paper():
    assert bitrate(75, 4096) == 900
    assert bitrate(75, 65536) == 1200
    assert bitrate(75, 262144) == 1350


def test_codebook_report_on_a_constructed_token_set():
    # codes 0..3 used equally often, 4..7 never: half the codebook, perplexity 4
    usage = count_tokens([torch.tensor([[0, 1], [2, 3]]), torch.tensor([3, 2, 1, 0])], 8)
    report = codebook_report(usage, tokens_per_second=75)
    assert report["utilisation"] == 0.5 and report["used_codes"] == 4
    assert report["num_tokens"] == 8
    assert report["perplexity"] == pytest.approx(4.0)
    assert report["entropy_bits"] == pytest.approx(2.0)
    assert report["normalised_entropy"] == pytest.approx(2 / 3)
    assert report["bitrate_bps"] == pytest.approx(225)
    skewed = codebook_report(count_tokens([torch.tensor([0] * 7 + [1])], 8), 75)
    assert 1 < skewed["perplexity"] < 2 and skewed["utilisation"] == 0.25


def test_token_ids_out_of_range_are_refused():
    with pytest.raises(UserInputError, match=r"\[0, 8\)"):
        count_tokens([torch.tensor([0, 8])], 8)


def codes_header(frames, codebook_size=16, hop_length=320):
    return CodesHeader(model_hash="ab" * 16, codebook_size=codebook_size, sample_rate=24000,
                       hop_length=hop_length, num_samples=frames * hop_length, channels=1,
                       grid=(frames,))


def test_token_folders_of_codes_and_npy_files(tmp_path):
    (tmp_path / "codes" / "spk").mkdir(parents=True)
    write_codes(tmp_path / "codes" / "spk" / "a.codes", torch.tensor([1, 2, 3]), codes_header(3))
    write_codes(tmp_path / "codes" / "b.codes", torch.tensor([4, 5]), codes_header(2))
    token_set = read_token_dir(tmp_path / "codes")
    assert sorted(token_set.tokens) == ["b", "spk/a"]
    assert token_set.num_codes == 16 and token_set.tokens_per_second == 75
    assert token_set.tokens["spk/a"].tolist() == [1, 2, 3]

    (tmp_path / "npy").mkdir()
    np.save(tmp_path / "npy" / "a.npy", np.array([[1, 2]], np.int16))
    token_set = read_token_dir(tmp_path / "npy")
    assert token_set.num_codes is None and token_set.tokens["a"].dtype == torch.int64


def test_token_folder_errors(tmp_path):
    with pytest.raises(UserInputError, match="no such directory"):
        read_token_dir(tmp_path / "missing")
    with pytest.raises(UserInputError, match="no .codes or .npy"):
        read_token_dir(tmp_path)
    np.save(tmp_path / "a.npy", np.array([0.5]))
    with pytest.raises(UserInputError, match="expected an integer token array"):
        read_token_dir(tmp_path)
    write_codes(tmp_path / "b.codes", torch.tensor([1]), codes_header(1))
    with pytest.raises(UserInputError, match="both .codes and .npy"):
        read_token_dir(tmp_path)
    (tmp_path / "a.npy").unlink()
    write_codes(tmp_path / "c.codes", torch.tensor([1]), codes_header(1, codebook_size=32))
    with pytest.raises(UserInputError, match="32 codes"):
        read_token_dir(tmp_path)


def test_mean_and_confidence_interval():
    assert mean_ci95([]) == (None, None)
    assert mean_ci95([2.0]) == (2.0, None)
    mean, half_width = mean_ci95([1.0, 2.0, 3.0])
    assert mean == 2.0
    assert half_width == pytest.approx(4.302653 * 1.0 / np.sqrt(3), rel=1e-5)  # t(0.975, 2)


def rows_with_skips():
    return [{"utt_id": "a", "pesq": 3.0, "stoi": 0.9, "skipped": {}},
            {"utt_id": "b", "pesq": 2.0, "skipped": {"stoi": "fewer than 30 speech frames"}},
            {"utt_id": "c", "skipped": {"all": "silent reference"}}]


def test_skipped_utterances_are_counted_with_reasons_and_not_averaged():
    summary = summarise(rows_with_skips())
    assert summary["num_utterances"] == 3 and summary["num_skipped_utterances"] == 1
    assert summary["metrics"]["pesq"]["mean"] == 2.5
    assert summary["metrics"]["pesq"]["count"] == 2 and summary["metrics"]["pesq"]["skipped"] == 1
    assert summary["metrics"]["stoi"]["mean"] == 0.9 and summary["metrics"]["stoi"]["skipped"] == 2
    assert summary["skip_reasons"] == {"stoi": {"fewer than 30 speech frames": 1},
                                       "all": {"silent reference": 1}}
    assert {"utt_id": "c", "metric": "all", "reason": "silent reference"} in summary["skipped"]
    json.dumps(summary)
    markdown = markdown_summary({**summary, "models": {"dnsmos": "DNSMOS P.835"},
                                 "unavailable": {"utmos": "no checkpoint"}})
    assert "| PESQ-wb ↑ | 2.500 ± " in markdown
    assert "- all: silent reference (1)" in markdown
    assert "- dnsmos: DNSMOS P.835" in markdown and "- utmos: no checkpoint" in markdown


def test_compare_table_puts_systems_side_by_side():
    utmos = Column("utmos", "UTMOS", True)
    first = summarise(rows_with_skips())
    usage = count_tokens([torch.arange(4096)], 4096)
    rows = [{**row, "utmos": 3.5, "ref_utmos": 4.0} for row in rows_with_skips()[:2]]
    second = {**summarise(rows, [*METRICS, utmos, Column("ref_utmos", "UTMOS (ref)", True)]),
              "codebook": codebook_report(usage, 75)}
    table = compare_table([first, second], ["WavTokenizer", "SimVQ 4k"])
    lines = table.strip().splitlines()
    assert lines[0].startswith("| System | PESQ-wb ↑ | STOI ↑ | ESTOI ↑")
    assert lines[0].endswith("| UTMOS ↑ | kbps | Util. ↑ | N |")     # no ref_utmos column
    assert len(lines) == 5
    assert lines[2].startswith("| WavTokenizer | 2.50 ± ")
    assert lines[3].endswith("| 3.50 ± 0.00 | 0.90 | 100.0 % | 2 |")   # 0.9 kbps, util., count
    # no ESTOI, V/UV F1, SI-SDR, mel distance, bitrate or utilisation in the first; no UTMOS
    assert lines[2].count("n/a") == 6 and lines[2].count("—") == 1
    assert lines[4].startswith("| reference | — |")
    assert lines[4].endswith("| 4.00 ± 0.00 | — | — | 2 |")


def test_plots_are_written_as_png(tmp_path):
    rng = np.random.default_rng(0)
    wav = rng.standard_normal(8000).astype(np.float32)
    plot_spectrograms([("a", wav, wav * 0.5, 16000), ("b", wav, wav, 16000)],
                      tmp_path / "spec.png")
    counts = torch.bincount(torch.tensor([0, 0, 0, 1, 5]), minlength=16)
    plot_code_usage(counts, tmp_path / "usage.png")
    for name in ("spec.png", "usage.png"):
        assert (tmp_path / name).read_bytes().startswith(PNG_MAGIC)


def test_training_curves_from_tensorboard_event_files(tmp_path):
    from torch.utils.tensorboard import SummaryWriter

    from simvq_audio.metrics.plots import read_scalars

    for run, steps in (("run1", range(0, 30, 10)), ("run2", range(30, 50, 10))):
        writer = SummaryWriter(str(tmp_path / "logs" / run))
        for step in steps:
            writer.add_scalar("codebook/utilisation", step / 100, step)
            writer.add_scalar("codebook/perplexity", 2.0 * step, step)
        writer.close()
    steps, values = read_scalars(tmp_path / "logs", "codebook/utilisation")
    assert steps.tolist() == [0, 10, 20, 30, 40]
    assert values == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4])
    plot_training_curves(tmp_path / "logs", tmp_path / "curves.png")
    assert (tmp_path / "curves.png").read_bytes().startswith(PNG_MAGIC)
    with pytest.raises(UserInputError, match="no TensorBoard scalars"):
        plot_training_curves(tmp_path / "logs", tmp_path / "other.png", tags=("loss/total",))
