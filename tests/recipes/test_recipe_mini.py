"""egs/mini stages 0-2: the real-speech corpus from a fake Debian mirror on 127.0.0.1 becomes data
dirs split by speaker; --corpus espeak keeps its own corpus, data dirs and experiment; the
espeak-ng corpus is LibriTTS-shaped, 24 kHz, split by speaker. Every output goes under tmp_path."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import soundfile

from simvq_audio.corpora import espeak_corpus
from simvq_audio.corpora.espeak_corpus import SPEAKERS, generate, sentence
from simvq_audio.corpora.prepare import prepare
from simvq_audio.data.kaldi_dir import read_data_dir
from simvq_audio.errors import UserInputError

from recipe_fakes import FakeServer, mini_corpus_mirror
from repo_paths import REPO

RUN_SH = REPO / "egs" / "mini" / "run.sh"
needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None,
                                  reason="espeak-ng is not installed (apt-get install espeak-ng)")


@pytest.fixture(scope="module")
def mirror():
    fake = FakeServer(mini_corpus_mirror())
    yield fake
    fake.close()


def recipe(work: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """egs/mini/run.sh with every output under ``work``."""
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    return subprocess.run(
        ["bash", str(RUN_SH), "--db", str(work / "db"), "--data_dir", str(work / "data"),
         "--exp_dir", str(work / "exp"), *args], capture_output=True, text=True, env=env,
        cwd=cwd, timeout=300)


def test_stages_0_to_2_turn_the_mirror_into_data_dirs_split_by_speaker(mirror, tmp_path):
    args = ("--debian_mirror", f"{mirror.url}/debian", "--train_minutes", "1",
            "--dev_utts_per_voice", "1", "--test_utts_per_voice", "1", "--stop_stage", "2")
    result = recipe(tmp_path, *args)
    assert result.returncode == 0, result.stdout + result.stderr
    data = tmp_path / "data"
    assert sorted(p.name for p in data.iterdir()) == [
        ".done", "dev", "dev_filtered", "test", "train", "train_filtered"]
    train = {utt.speaker for utt in read_data_dir(data / "train_filtered")}
    test = read_data_dir(data / "test")
    assert train == {"allison", "june", "carlo", "ivrvoiceru"}
    assert {utt.speaker for utt in test} == train | {"librivox", "cards"} and len(test) == 8
    train_ids = {utt.utt_id for utt in read_data_dir(data / "train")}
    assert not train_ids & {utt.utt_id for utt in test}, "held-out prompts only"
    assert {utt.speaker for utt in read_data_dir(data / "dev_filtered")} == train
    languages = {utt.language for utt in read_data_dir(data / "train_filtered")}   # utt2lang
    assert "en" in languages and languages <= {"en", "es", "fr", "it", "ru"}
    assert all(soundfile.info(str(utt.path)).samplerate == 24000 for utt in test)
    assert (tmp_path / "db" / "mini" / "README.md").is_file()
    assert (tmp_path / "db" / "debian" / "dists" / "bookworm").is_dir(), "the default cache"
    log = (tmp_path / "exp" / "tiny" / "logs" / "stage0.log").read_text()
    assert "pocketsphinx-testdata: SHA-256 verified" in log
    assert "test: decoding and writing 8 utterances at 24000 Hz" in log

    again = recipe(tmp_path, *args)
    assert again.returncode == 0
    assert "stage 0 (fetch real speech from" in again.stdout and "already done" in again.stdout


def test_an_unreachable_mirror_stops_stage_0_with_one_line(tmp_path):
    result = recipe(tmp_path, "--debian_mirror", "http://127.0.0.1:9/debian",
                    "--stop_stage", "0")
    assert result.returncode == 2
    assert "offline, copy that file to" in result.stdout
    assert "stage 0 (fetch real speech" in result.stderr and "stage0.log" in result.stderr


def test_the_espeak_corpus_has_its_own_corpus_data_and_experiment(tmp_path):
    result = recipe(tmp_path, "--corpus", "espeak", "--utts_per_speaker", "1",
                    "--stop_stage", "1")
    log = tmp_path / "exp" / "tiny_espeak" / "logs" / "stage0.log"
    if shutil.which("espeak-ng") is None:
        assert result.returncode == 2
        assert "apt-get install espeak-ng" in log.read_text()
    else:
        assert result.returncode == 0, result.stdout + result.stderr
        assert (tmp_path / "db" / "mini_espeak" / "train").is_dir()
        assert (tmp_path / "data_espeak" / "test" / "wav.scp").is_file()
    assert not (tmp_path / "data").exists() and not (tmp_path / "db" / "mini").exists()


def test_a_wrong_corpus_and_the_help(tmp_path):
    result = recipe(tmp_path, "--corpus", "librispeech")
    assert result.returncode == 2
    assert result.stderr == ("egs/mini/run.sh: error: --corpus must be debian or espeak, got "
                             "'librispeech'\n")
    help_text = recipe(tmp_path, "--help").stdout
    for option in ("corpus", "train_minutes", "dev_utts_per_voice", "test_utts_per_voice",
                   "debian_mirror",
                   "debian_suite", "debian_cache", "utts_per_speaker"):
        assert f"\n  --{option} " in help_text, option
    assert "real speech (Debian's archive); espeak: synthetic" in help_text
    assert not (tmp_path / "exp").exists(), "neither writes anything"


@needs_espeak
def test_generates_a_libritts_shaped_corpus_split_by_speaker(tmp_path):
    out = tmp_path / "mini"
    seconds = generate(out, utts_per_speaker=2, nj=2)
    wavs = sorted(out.glob("*/*/*/*.wav"))
    assert len(wavs) == 2 * len(SPEAKERS)
    assert seconds > 1.0 * len(wavs)
    speakers_of = {split: {w.parent.parent.name for w in wavs if w.parts[-4] == split}
                   for split in ("train", "dev", "test")}
    assert [len(s) for s in speakers_of.values()] == [6, 2, 2]
    assert not (speakers_of["train"] & (speakers_of["dev"] | speakers_of["test"]))
    for wav in wavs:
        speaker, chapter = wav.parent.parent.name, wav.parent.name
        assert wav.stem.startswith(f"{speaker}_{chapter}_")
        assert soundfile.info(str(wav)).samplerate == 24000
        assert wav.with_name(wav.stem + ".normalized.txt").read_text().strip().endswith(".")
    assert not (tmp_path / "mini.partial").exists()
    prepare(out, tmp_path / "data", "test", ["test"], log=lambda message: None)
    assert len((tmp_path / "data" / "test" / "wav.scp").read_text().splitlines()) == 4


def test_sentences_are_deterministic():
    first = [sentence(random.Random(f"1001-{i}")) for i in range(5)]
    assert first == [sentence(random.Random(f"1001-{i}")) for i in range(5)]
    assert len(set(first)) > 1


def test_missing_espeak_gives_the_install_command(tmp_path, monkeypatch):
    monkeypatch.setattr(espeak_corpus.shutil, "which", lambda name: None)
    with pytest.raises(UserInputError, match="apt-get install espeak-ng"):
        generate(tmp_path / "mini")
    assert not (tmp_path / "mini").exists()
