"""Stage 0 of egs/mini: the espeak-ng corpus is LibriTTS-shaped, 24 kHz, split by speaker."""

from __future__ import annotations

import random
import shutil

import pytest
import soundfile

from simvq_audio.corpora import espeak_corpus
from simvq_audio.corpora.espeak_corpus import SPEAKERS, generate, sentence
from simvq_audio.corpora.libritts import prepare
from simvq_audio.errors import UserInputError

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None,
                                  reason="espeak-ng is not installed (apt-get install espeak-ng)")


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
