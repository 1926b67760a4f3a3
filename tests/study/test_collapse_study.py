"""The collapse study: its measurements on constructed inputs, its windows, and a tiny study."""

import json
import math
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from torch import nn

from simvq_audio.codec.mel import MelSpectrogram, log_mel
from simvq_audio.data.audio_io import write_audio
from simvq_audio.quantize import SimVQ, VanillaVQ
from simvq_audio.study import codec_ablation, sources
from simvq_audio.study.collapse import run_study, study_specs
from simvq_audio.study.data import MIN_STD, DataOptions, bin_statistics, load_study_data
from simvq_audio.study.evaluate import code_matrix_rank, evaluate, uniform_use_bound
from simvq_audio.study.mel_windows import (
    FRAME_STEP,
    N_FFT,
    N_MELS,
    SAMPLE_RATE,
    MelWindows,
    hop_for,
    window_count,
)
from simvq_audio.study.model import FrameAutoencoder
from simvq_audio.study.runs import RunSpec, TrainConfig, build_model, train_and_evaluate

from repo_paths import TOOLS
from train_helpers import make_data_dir, write_config

TOOL = TOOLS / "collapse_study.py"


class Rows:
    """A stand-in for MelWindows: fixed vectors ``[N, D]``."""

    def __init__(self, rows: torch.Tensor):
        self.rows = rows
        self.dim = rows.shape[1]

    def __len__(self) -> int:
        return self.rows.shape[0]

    def gather(self, ids: torch.Tensor) -> torch.Tensor:
        return self.rows[ids]


def identity_model(quantizer) -> FrameAutoencoder:
    model = FrameAutoencoder(quantizer.dim, 8, quantizer)
    model.encoder, model.decoder = nn.Identity(), nn.Identity()
    return model


def test_evaluate_counts_the_known_nearest_codes():
    quantizer = VanillaVQ(16, 4)
    codes = torch.randn(16, 4) * 10  # far apart: a small perturbation keeps the nearest code
    quantizer.codebook.data.copy_(codes)
    chosen = torch.tensor([3, 3, 3, 7, 7, 11, 0])
    noise = torch.randn(len(chosen), 4) * 1e-3
    result = evaluate(identity_model(quantizer), Rows(codes[chosen] + noise), batch_size=3)
    counts = torch.tensor([3.0, 2.0, 1.0, 1.0])
    p = counts / counts.sum()
    assert result["vectors"] == 7
    assert result["used_codes"] == 4
    assert result["utilisation"] == pytest.approx(4 / 16)
    assert result["perplexity"] == pytest.approx(math.exp(-(p * p.log()).sum().item()))
    assert result["normalised_entropy"] == pytest.approx(-(p * p.log()).sum().item()
                                                          / math.log(16))
    assert result["mse"] == pytest.approx(noise.pow(2).mean().item(), rel=1e-3)
    # prefixes of 0.875, 1.75, 3.5 and 7 windows: codes {3}, {3}, {3, 7}, all four
    assert result["utilisation_growth"] == [[0.125, 1 / 16], [0.25, 1 / 16], [0.5, 2 / 16],
                                            [1.0, 4 / 16]]


def test_uniform_use_bound_matches_the_occupancy_formula():
    for vectors, codes in [(10, 4), (4 * 1024, 1024), (100, 65536)]:
        assert uniform_use_bound(vectors, codes) == pytest.approx(1 - (1 - 1 / codes) ** vectors)
    assert uniform_use_bound(0, 8) == 0


def test_code_matrix_rank_reads_simvq_w_and_the_vanilla_codebook():
    simvq = SimVQ(32, 6)
    simvq.linear.weight.data.copy_(torch.diag(torch.tensor([2.0, 2.0, 2.0, 0, 0, 0])))
    assert code_matrix_rank(simvq) == pytest.approx(3.0)
    vanilla = VanillaVQ(32, 6)
    vanilla.codebook.data.copy_(torch.randn(32, 1) * torch.randn(1, 6))  # rank one
    assert code_matrix_rank(vanilla) == pytest.approx(1.0, abs=1e-4)
    vanilla.codebook.data.copy_(torch.linalg.qr(torch.randn(32, 6))[0])  # six equal directions
    assert code_matrix_rank(vanilla) == pytest.approx(6.0)


def test_windows_cut_at_a_fine_hop_are_windows_of_the_frame_step_spectrogram():
    wav = torch.randn(SAMPLE_RATE // 2)
    windows = MelWindows([wav, wav[:3000]], context=3, hop=64)
    assert len(windows) == window_count([wav.numel(), 3000], 3, 64)
    assert windows.dim == 3 * N_MELS
    coarse = log_mel(MelSpectrogram(SAMPLE_RATE, N_FFT, FRAME_STEP, N_MELS)(wav[None]))[0].t()
    for j in (0, 5, 20):  # the window starting at sample 256 j = fine frame 4 j
        expected = coarse[j:j + 3].reshape(-1)
        assert torch.allclose(windows.gather(torch.tensor([4 * j]))[0], expected, atol=1e-3)
    windows.keep(10)
    assert len(windows) == 10 and windows.starts[0] == 0


def test_hop_for_takes_the_coarsest_hop_that_gives_enough_windows():
    lengths = [SAMPLE_RATE] * 10  # 10 s of audio
    assert hop_for(lengths, window_count(lengths, 4, 256), 4) == 256
    assert hop_for(lengths, window_count(lengths, 4, 256) + 1, 4) == 128
    assert hop_for(lengths, window_count(lengths, 4, 32), 4) == 32
    assert hop_for(lengths, 10 ** 9, 4) == 8


def test_training_samples_the_rank_and_keeps_encoder_init_across_quantizers():
    rows = Rows(torch.randn(64, 12))
    config = TrainConfig(dim=4, hidden=8, steps=5, batch_size=8, rank_every=2)
    result = train_and_evaluate(RunSpec("simvq", 16, "normal"), config, rows, rows, log=print)
    assert [step for step, _ in result["rank_history"]] == [0, 2, 4, 5]
    assert all(0 < rank <= 4 for _, rank in result["rank_history"])
    vanilla = build_model(RunSpec("vanilla", 16, "uniform"), config, 12)
    simvq = build_model(RunSpec("simvq", 16, "normal"), config, 12)
    assert torch.equal(vanilla.encoder[0].weight, simvq.encoder[0].weight)
    assert torch.equal(vanilla.decoder[-1].weight, simvq.decoder[-1].weight)


def test_study_specs_cover_the_sweep_and_the_ablations():
    names = [(s.name, s.num_codes, s.group) for s in study_specs([64, 128], 128)]
    assert names == [("vanilla-uniform", 64, "sweep"), ("simvq-normal-C-frozen", 64, "sweep"),
                     ("vanilla-uniform", 128, "sweep"), ("simvq-normal-C-frozen", 128, "sweep"),
                     ("simvq-normal-C-trained", 128, "ablation"),
                     ("simvq-uniform-C-frozen", 128, "ablation"),
                     ("simvq-normal-C-frozen-W-moments-beta0", 128, "ablation")]
    extra = study_specs([64], 32)
    assert ("simvq-normal-C-frozen", 32, "ablation") in [(s.name, s.num_codes, s.group)
                                                         for s in extra]


def test_tiny_study_writes_table_json_and_plots(tmp_path):
    options = DataOptions(corpus="synthetic", heldout_vectors=200, train_seconds=8.0)
    config = TrainConfig(dim=8, hidden=16, steps=6, batch_size=32, rank_every=3)
    study = run_study(tmp_path, options, config, ks=[16, 64], ablation_k=64, log=print)
    assert len(study["runs"]) == 7
    assert study["data"]["heldout_vectors"] == 200
    saved = json.loads((tmp_path / "results.json").read_text())
    assert [run["name"] for run in saved["runs"]] == [run["name"] for run in study["runs"]]
    for run in saved["runs"]:
        assert 0 < run["utilisation"] <= 1 and run["used_codes"] >= 1
        assert [step for step, _ in run["rank_history"]] == [0, 3, 6]
    table = (tmp_path / "results.md").read_text()
    for run in saved["runs"]:
        assert f"{100 * run['utilisation']:.1f} %" in table
    assert "| 16 | vanilla-uniform |" in table and "| 64 | simvq-normal-C-frozen |" in table
    frames = saved["data"]["heldout_frames_at_frame_step"]
    row = next(line for line in table.splitlines() if line.startswith("| 64 | simvq"))
    cells = [cell.strip() for cell in row.split("|")[1:-1]]
    assert cells[4] == f"{100 * uniform_use_bound(200, 64):.1f} %"
    assert cells[5] == f"{100 * uniform_use_bound(frames, 64):.1f} %"
    assert all(run["utilisation_growth"][-1][1] == run["utilisation"] for run in saved["runs"])
    assert "| uniform | frozen | gradient | study's |" in table
    assert "| normal | trained with W | gradient | study's |" in table
    assert "| normal | frozen | moments | 0 |" in table
    for png in ("utilisation_vs_k.png", "rank_vs_step.png"):
        assert (tmp_path / png).read_bytes()[:4] == b"\x89PNG"


def test_a_bin_without_signal_is_not_blown_up_by_standardisation():
    frames = torch.randn(100, 3)
    frames[:, 2] = -11.5 + 1e-4 * torch.randn(100)  # an empty band at the log floor
    mean, std = bin_statistics(frames)
    assert torch.allclose(std[:2], frames[:, :2].std(0)) and std[2] == MIN_STD
    other_floor = (torch.tensor(-11.45) - mean[2]) / std[2]  # another recording's floor
    assert abs(other_floor) < 1


def fake_debian_build(calls: list):
    """A stand-in for debian_speech.build: writes a tiny corpus (train, dev, test subsets) and
    records what it was asked for."""

    def build(out: Path, archive, train_minutes, dev_utts_per_voice, test_utts_per_voice, log):
        calls.append((out, archive.cache, train_minutes, dev_utts_per_voice,
                      test_utts_per_voice))
        generator = torch.Generator().manual_seed(len(calls))
        for subset, speakers, seconds in [("train", ["anna", "bob"], 1.0),
                                          ("dev", ["anna", "bob"], 0.5),
                                          ("test", ["carl"], 0.5)]:
            for speaker in speakers:
                folder = out / subset / speaker / "en"
                folder.mkdir(parents=True)
                utt = f"{speaker}_en_{subset}"
                wav = 0.1 * torch.randn(int(seconds * SAMPLE_RATE), generator=generator)
                write_audio(folder / f"{utt}.wav", wav, SAMPLE_RATE)
                (folder / f"{utt}.normalized.txt").write_text("words\n")
        return {}

    return build


def test_default_data_is_the_debian_corpus_with_dev_and_test_held_out(tmp_path, monkeypatch):
    calls: list = []
    monkeypatch.setattr(sources.debian_speech, "build", fake_debian_build(calls))
    options = DataOptions(corpus_cache=tmp_path / "cache", heldout_vectors=300,
                          train_minutes=3.0, dev_utts_per_voice=7)
    data = load_study_data(options, log=print)
    assert calls == [(tmp_path / "cache" / "debian_3min_dev7", tmp_path / "cache" / "debian",
                      3.0, 7, 0)]
    description = data.description
    assert description["source"].startswith("real speech, Debian archive mini corpus")
    assert "held-out = dev (7 other prompts" in description["source"]
    assert description["train_utterances"] == 2 and description["heldout_utterances"] == 3
    assert description["train_seconds"] == pytest.approx(2.0)
    assert description["heldout_seconds"] == pytest.approx(1.5)  # dev + the unseen speaker
    assert description["heldout_vectors"] == len(data.heldout) == 300
    again = load_study_data(replace(options, archive_dir=tmp_path / "elsewhere"), log=print)
    assert len(calls) == 1  # the prepared data dirs are reused: nothing is built again
    assert torch.equal(again.heldout.gather(torch.arange(300)),
                       data.heldout.gather(torch.arange(300)))


def test_archive_dir_option_reaches_the_builder(tmp_path, monkeypatch):
    calls: list = []
    monkeypatch.setattr(sources.debian_speech, "build", fake_debian_build(calls))
    load_study_data(DataOptions(corpus_cache=tmp_path / "cache", archive_dir=tmp_path / "db",
                                heldout_vectors=50), log=print)
    assert calls[0][1] == tmp_path / "db"


@pytest.mark.parametrize("args, message", [
    (["--data-dir", "somewhere"], "give both --data-dir and --heldout-dir"),
    (["--steps", "0"], "--steps must be a positive integer"),
    (["--dev-utts-per-voice", "0"], "--dev-utts-per-voice must be a positive integer"),
    (["--codec-ablation", "--heldout-dir", "x"], "give both --data-dir and --heldout-dir"),
])
def test_cli_reports_bad_options_in_one_line(tmp_path, args, message):
    result = subprocess.run([sys.executable, str(TOOL), "--out", str(tmp_path), *args],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr


def test_codec_ablation_trains_variants_and_tabulates_their_heldout_use(tmp_path):
    train, heldout = make_data_dir(tmp_path / "train"), make_data_dir(tmp_path / "held", 3)
    config = write_config(tmp_path / "micro.yaml")  # a micro codec on recipes/tiny.yaml
    variants = codec_ablation.select_variants(["i", "g"])
    out = tmp_path / "out"
    result = codec_ablation.run_codec_ablation(out, config, train, heldout, steps=2,
                                               variants=variants, command="test")
    assert [run["variant"] for run in result["runs"]] == ["i", "g"]
    assert json.loads((out / "codec_ablation.json").read_text()) == result
    for run, variant in zip(result["runs"], variants):
        assert (run["quantizer"], run["dim"], run["encoder_init"], run["code_fit"], run["beta"],
                run["quantizer_lr_scale"]) == (
            variant.quantizer, variant.dim, variant.encoder_init, variant.code_fit, variant.beta,
            variant.quantizer_lr_scale)
        assert run["num_codes"] == 1024 and run["frames"] > 0
        assert 1 <= run["used_codes"] <= min(run["frames"], 1024)
        assert run["utilisation"] == run["used_codes"] / 1024
        assert 1 <= run["perplexity"] <= run["used_codes"] + 1e-6
        assert 0 < run["mel_distance"] < 20 and run["train_seconds"] > 0
    saved = codec_ablation.load_config(out / "g" / "config.yaml")
    assert (saved.model.quantizer.dim, saved.model.quantizer.code_fit, saved.model.quantizer.beta,
            saved.train.encoder_init, saved.train.max_steps) == (8, "moments", 0.0, "data", 2)
    table = (out / "codec_ablation.md").read_text()
    rows = [line for line in table.splitlines() if line.startswith("| (")]
    assert [row.split(")")[0] for row in rows] == ["| (i", "| (g"]
    assert "| vanilla | 8 | data | gradient | 0.25 | 1 |" in rows[0]
    assert "| simvq | 8 | data | moments | 0 | 1 |" in rows[1]
    (out / "g" / "run.json").unlink()  # as if stopped after training (g)
    again = codec_ablation.run_codec_ablation(out, config, train, heldout, steps=2,
                                              variants=variants[::-1])
    assert [run["variant"] for run in again["runs"]] == ["g", "i"]
    assert again["runs"][1] == result["runs"][0]  # (i): its row, reused
    assert again["runs"][0]["train_seconds"] is None  # (g): measured again, not retrained
    assert again["runs"][0]["used_codes"] == result["runs"][1]["used_codes"]
    reused = codec_ablation.run_codec_ablation(out, config, train, heldout, steps=2,
                                               variants=variants)
    assert reused["runs"] == again["runs"][::-1]  # every row measured before
    with pytest.raises(codec_ablation.UserInputError, match="another config"):
        codec_ablation.run_codec_ablation(out, config, train, heldout, steps=3,
                                          variants=variants[1:])


def test_codec_ablation_default_data_is_the_mini_recipes_train_and_test(tmp_path, monkeypatch):
    calls: list = []
    monkeypatch.setattr(sources.debian_speech, "build", fake_debian_build(calls))
    dirs = codec_ablation.mini_corpus_dirs(tmp_path / "cache", None, log=print)
    assert calls == [(tmp_path / "cache" / "debian_20min_dev4_test12",
                      tmp_path / "cache" / "debian", 20.0, 4, 12)]
    ids = {split: [line.split()[0] for line in (path / "wav.scp").read_text().splitlines()]
           for split, path in dirs.items()}
    assert ids == {"train": ["anna_en_train", "bob_en_train"], "heldout": ["carl_en_test"]}


def test_codec_ablation_variants_keep_the_order_asked_for():
    assert [v.name for v in codec_ablation.select_variants(None)] == list("abcdefghi")
    assert [v.name for v in codec_ablation.select_variants(["d", "a", "d"])] == ["d", "a"]
    with pytest.raises(codec_ablation.UserInputError, match="unknown .* variant"):
        codec_ablation.select_variants(["z"])
