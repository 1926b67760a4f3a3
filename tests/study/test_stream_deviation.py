"""simvq_audio.study.stream_deviation, tools/stream_deviation.py and tools/bench_streaming.py:
streamed against one-pass decoding, and the streaming benchmark's smoke run."""

import json
import math
import subprocess
import sys

import numpy as np
import pytest
import torch

from simvq_audio.codec import SimVQCodec
from simvq_audio.metrics.synthetic import speech_like
from simvq_audio.study.stream_deviation import (
    StreamSetting,
    backbone_frames_per_frame,
    measure,
    snr_db,
    stream,
)

from repo_paths import TINY_CAUSAL_RECIPE, TINY_RECIPE, TOOLS
from train_helpers import make_data_dir


def waveforms(count: int = 2) -> list[torch.Tensor]:
    rng = np.random.default_rng(0)
    return [torch.from_numpy(speech_like(0.5 + 0.2 * i, 24000, rng)) for i in range(count)]


def test_snr_of_known_errors():
    reference = np.ones(100)
    assert snr_db(reference, reference) == math.inf
    assert snr_db(reference, reference * 1.1) == pytest.approx(20.0)  # error power 1/100


def test_a_causal_codec_streams_one_pass_and_a_paper_one_deviates_less_with_lookahead():
    causal, paper = SimVQCodec.from_config(TINY_CAUSAL_RECIPE), SimVQCodec.from_config(TINY_RECIPE)
    wavs = waveforms()
    exact = next(measure(causal, wavs, [StreamSetting(0, 0)]))
    assert exact["snr_db"] > 100 and exact["latency_ms"] == pytest.approx(80 / 3)
    assert exact["backbone_frames_per_frame"] == 1
    rows = list(measure(paper, wavs, [StreamSetting(0, 4, 2), StreamSetting(60, 60, 2)]))
    assert [row["latency_ms"] for row in rows] == pytest.approx([80 / 3, 62 * 40 / 3])
    # a 60-frame lookahead holds every frame of these 38- and 53-frame utterances to the end
    assert rows[1]["snr_db_min"] > 100 and rows[0]["snr_db"] < 60 < rows[1]["snr_db"]
    assert rows[0]["backbone_frames_per_frame"] == 3
    for row in rows:
        assert row["utterances"] == 2 and row["stream_rtf"] > 0 and row["jump_ratio"] > 0


def test_the_streamed_audio_has_the_one_pass_length_and_by_hand_pieces_are_cut_out():
    codec = SimVQCodec.from_config(TINY_RECIPE)
    ids = torch.randint(0, 1024, (9,))
    assert stream(codec, ids, StreamSetting(2, 3, 4)).shape == (9 * 320,)
    whole = codec.decode(ids)
    assert torch.equal(stream(codec, ids, StreamSetting(0, 0, 9, by_hand=True)), whole)
    pieces = stream(codec, ids, StreamSetting(1, 2, 4, by_hand=True))
    assert torch.equal(pieces[4 * 320:8 * 320], codec.decode(ids[2:9])[2 * 320:6 * 320])
    assert backbone_frames_per_frame(StreamSetting(10, 75, 5), causal=False) == 18


def test_deviation_tool_prints_a_row_per_setting(tmp_path):
    data = make_data_dir(tmp_path / "audio", count=2)
    paper = SimVQCodec.from_config(TINY_RECIPE).save_pretrained(tmp_path / "paper")
    causal = SimVQCodec.from_config(TINY_CAUSAL_RECIPE).save_pretrained(tmp_path / "causal")
    result = subprocess.run(
        [sys.executable, str(TOOLS / "stream_deviation.py"), "--data-dir", str(data),
         "--lookaheads", "0", "3", "--feed", "2", "--by-hand", "--json",
         str(tmp_path / "rows.json"), str(paper), str(causal)],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    rows = [line for line in result.stdout.splitlines() if line.startswith("| /")]
    assert len(rows) == 5  # the paper decoder: 2 lookaheads, streamed and by hand; causal: 1
    written = json.loads((tmp_path / "rows.json").read_text())
    assert [(row["lookahead"], row["by_hand"]) for row in written[str(paper)]] == [
        (0, False), (3, False), (0, True), (3, True)]
    missing = subprocess.run([sys.executable, str(TOOLS / "stream_deviation.py"), "--data-dir",
                              str(data), str(tmp_path / "nothing")],
                             capture_output=True, text=True, timeout=300)
    assert missing.returncode == 2 and "Traceback" not in missing.stderr


def test_streaming_benchmark_smoke_run():
    result = subprocess.run(
        [sys.executable, str(TOOLS / "bench_streaming.py"), "--configs", str(TINY_RECIPE),
         str(TINY_CAUSAL_RECIPE), "--batches", "2", "--feeds", "3", "--seconds", "0.1",
         "--min-feeds", "2", "--one-pass-seconds", "0.5"],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    rows = [line.split("|") for line in result.stdout.splitlines()
            if line.startswith("| tiny")]
    assert [(cells[2].strip(), cells[5].strip()) for cells in rows] == [
        ("paper", "160.0"), ("causal", "26.7")]
