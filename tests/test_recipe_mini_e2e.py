"""egs/mini/run.sh end to end, stages 0-8, on a smaller corpus and a 4-step training budget:
a model directory, .codes files, decoded wavs, a score table and the packed model. Every output
goes under tmp_path."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

RUN_SH = Path(__file__).resolve().parents[1] / "egs" / "mini" / "run.sh"
BIN = Path(sys.executable).parent

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("espeak-ng") is None,
                       reason="espeak-ng is not installed (apt-get install espeak-ng)"),
]


def recipe(work: Path, *args: str) -> str:
    """Run egs/mini/run.sh with every output under ``work``; its stdout."""
    env = dict(os.environ, PATH=f"{BIN}:{os.environ['PATH']}")
    result = subprocess.run(
        ["bash", str(RUN_SH), "--db", str(work / "db"), "--data_dir", str(work / "data"),
         "--exp_dir", str(work / "exp"), "--utts_per_speaker", "2", "--nj", "1",
         "--train_args", "--max-steps 4", *args],
        capture_output=True, text=True, env=env, timeout=900)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_mini_recipe_trains_exports_decodes_scores_and_packs(tmp_path):
    out = recipe(tmp_path)
    exp = tmp_path / "exp" / "tiny"
    model = exp / "model"
    assert (model / "config.json").is_file() and (model / "model.safetensors").is_file()

    test_ids = [line.split()[0] for line in
                (tmp_path / "data" / "test" / "wav.scp").read_text().splitlines()]
    assert len(test_ids) == 4, "2 test speakers x 2 utterances"
    codes = sorted(p.stem for p in (exp / "decode" / "test" / "codes").glob("*.codes"))
    wavs = sorted(p.stem for p in (exp / "decode" / "test" / "wav").glob("*.wav"))
    assert codes == wavs == test_ids
    info = subprocess.run([str(BIN / "simvq-audio"), "info",
                           str(exp / "decode" / "test" / "codes" / f"{test_ids[0]}.codes")],
                          capture_output=True, text=True)
    assert info.returncode == 0, info.stderr
    assert "codebook size   1024 (10 bits per token)" in info.stdout

    scores = exp / "scores" / "test"
    summary = json.loads((scores / "summary.json").read_text())
    assert summary["num_utterances"] == 4 and summary["metrics"]["pesq"]["count"] == 4
    assert "| PESQ-wb ↑ |" in (scores / "summary.md").read_text()
    assert (scores / "spectrograms.png").is_file() and (scores / "code_usage.png").is_file()
    assert out.rindex("| PESQ-wb ↑ |") > out.index("stage 8 done"), "the run ends with the table"
    assert out.rstrip().endswith(f"plots: {scores}/code_usage.png {scores}/spectrograms.png")

    with tarfile.open(exp / "tiny.tar.gz") as archive:
        assert {"model/config.json", "model/model.safetensors"} <= set(archive.getnames())
    assert (exp / "tokens" / "test" / "tokens.scp").is_file()

    scored = (scores / "summary.json").stat().st_mtime_ns
    again = recipe(tmp_path, "--stage", "6", "--stop_stage", "6")
    assert "stage 6 (score test): already done" in again
    assert "scoring" not in again
    assert (scores / "summary.json").stat().st_mtime_ns == scored
