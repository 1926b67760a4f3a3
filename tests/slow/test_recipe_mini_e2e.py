"""egs/mini/run.sh end to end, stages 0-8, as the README's quickstart runs it: the real-speech
corpus fetched from Debian's archive (1 minute of training speech), a 4-step training budget, a
model directory, .codes files, decoded wavs, a score table on the test set (held-out prompts and
unseen speakers) and the packed model. Every output goes under tmp_path; the downloaded packages
are kept in pytest's cache (.pytest_cache/d/debian-archive), so only the first run needs the
network. In CI (CI=true) an unreachable archive fails the test; elsewhere it skips it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import urllib.request
from pathlib import Path

import pytest

from simvq_audio.corpora.debian_archive import DEFAULT_MIRROR, DEFAULT_SUITE

from repo_paths import REPO

RUN_SH = REPO / "egs" / "mini" / "run.sh"
BIN = Path(sys.executable).parent

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def debian_cache(request) -> Path:
    cache = request.config.cache.mkdir("debian-archive")
    if not (cache / "dists").is_dir() and not os.environ.get("CI"):
        try:
            urllib.request.urlopen(f"{DEFAULT_MIRROR}/dists/{DEFAULT_SUITE}/Release", timeout=20)
        except OSError as error:
            pytest.skip(f"{DEFAULT_MIRROR} is unreachable ({error}) and nothing is cached")
    return cache


def recipe(work: Path, cache: Path, *args: str) -> str:
    """Run egs/mini/run.sh with every output under ``work``; its stdout."""
    env = dict(os.environ, PATH=f"{BIN}:{os.environ['PATH']}")
    result = subprocess.run(
        ["bash", str(RUN_SH), "--db", str(work / "db"), "--data_dir", str(work / "data"),
         "--exp_dir", str(work / "exp"), "--debian_cache", str(cache), "--train_minutes", "1",
         "--dev_utts_per_voice", "1", "--test_utts_per_voice", "1", "--nj", "1",
         "--train_args", "--max-steps 4", *args],
        capture_output=True, text=True, env=env, timeout=900)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def speakers(data_dir: Path) -> set[str]:
    return {line.split()[1] for line in (data_dir / "utt2spk").read_text().splitlines()}


def test_mini_recipe_trains_exports_decodes_scores_and_packs(tmp_path, debian_cache):
    out = recipe(tmp_path, debian_cache)
    exp = tmp_path / "exp" / "tiny"
    model = exp / "model"
    assert (model / "config.json").is_file() and (model / "model.safetensors").is_file()

    data = tmp_path / "data"
    voices = {"allison", "june", "carlo", "ivrvoiceru"}
    assert speakers(data / "train_filtered") == voices
    assert speakers(data / "test") == voices | {"librivox", "cards"}, "+ pocketsphinx-testdata"
    test_ids = [line.split()[0] for line in (data / "test" / "wav.scp").read_text().splitlines()]
    assert len(test_ids) == 14, "a held-out prompt per voice + 5 LibriVox + 5 CMU sentences"
    assert "CC-BY-SA-3.0" in (tmp_path / "db" / "mini" / "README.md").read_text()
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
    assert summary["num_utterances"] == 14 and summary["metrics"]["pesq"]["count"] == 14
    assert "| PESQ-wb ↑ |" in (scores / "summary.md").read_text()
    assert (scores / "spectrograms.png").is_file() and (scores / "code_usage.png").is_file()
    assert out.rindex("| PESQ-wb ↑ |") > out.index("stage 8 done"), "the run ends with the table"
    assert out.rstrip().endswith(f"plots: {scores}/code_usage.png {scores}/spectrograms.png")

    with tarfile.open(exp / "tiny.tar.gz") as archive:
        assert {"model/config.json", "model/model.safetensors"} <= set(archive.getnames())
    assert (exp / "tokens" / "test" / "tokens.scp").is_file()

    scored = (scores / "summary.json").stat().st_mtime_ns
    again = recipe(tmp_path, debian_cache, "--stage", "6", "--stop_stage", "6")
    assert "stage 6 (score test): already done" in again
    assert "scoring" not in again
    assert (scores / "summary.json").stat().st_mtime_ns == scored
