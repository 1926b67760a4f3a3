"""encode, score and tokenize take the same inputs (list_utterances): a directory tree of any
format soundfile reads, a wav.scp, a data dir; files that are not audio are left out by all
three alike (before, score knew 5 extensions and encode/tokenize soundfile's formats; tokenize
took no wav.scp and encode no data dir)."""

import csv

import kaldiio
import numpy as np
import pytest
import soundfile
import torch

from simvq_audio.cli import main
from simvq_audio.codec import SimVQCodec
from simvq_audio.data.kaldi_dir import write_data_dir

from repo_paths import TINY_RECIPE

FORMATS = {".wav": ("WAV", None), ".flac": ("FLAC", None), ".aiff": ("AIFF", None),
           ".au": ("AU", None), ".opus": ("OGG", "OPUS"), ".caf": ("CAF", None)}


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    torch.manual_seed(0)
    return SimVQCodec.from_config(TINY_RECIPE).save_pretrained(
        tmp_path_factory.mktemp("m") / "model")


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "in"
    for index, name in enumerate(("a.wav", "spk/b.flac", "c.aiff", "d.AU", "spk/e.opus",
                                  "f.caf")):
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        data = np.random.default_rng(index).standard_normal(12000).astype(np.float32) * 0.1
        file_format, subtype = FORMATS[path.suffix.lower()]
        soundfile.write(path, data, 48000, format=file_format, subtype=subtype)
    for name in ("notes.txt", "spk/b.lab", "feats.npy"):
        (root / name).write_text("not audio")
    return root


def listed_by_each_command(model, source, tmp_path) -> dict[str, list[str]]:
    """The utterance ids that encode, score and tokenize read from ``source``."""
    out = tmp_path / "out"
    assert main(["encode", "--model", str(model), str(source), str(out / "codes")]) == 0
    assert main(["score", "--ref", str(source), "--hyp", str(source), "--out",
                 str(out / "score"), "--num-plots", "0"]) == 0
    assert main(["tokenize", "--model", str(model), "--audio-dir", str(source), "--out",
                 str(out / "dump"), "--format", "ark"]) == 0
    with open(out / "score" / "scores.csv", encoding="utf-8") as handle:
        scored = [row["utt_id"] for row in csv.DictReader(handle)]
    return {"encode": sorted(path.relative_to(out / "codes").with_suffix("").as_posix()
                             for path in (out / "codes").rglob("*.codes")),
            "score": sorted(scored),
            "tokenize": sorted(kaldiio.load_scp(str(out / "dump" / "tokens.scp")))}


def test_a_tree_of_many_formats_is_the_same_set_for_all_three(model, tree, tmp_path):
    listed = listed_by_each_command(model, tree, tmp_path)
    assert listed == dict.fromkeys(listed, ["a", "c", "d", "f", "spk/b", "spk/e"])


def test_a_wav_scp_is_the_same_set_for_all_three(model, tree, tmp_path):
    """(A data dir is read by the same function: tests/data/test_data_utterances.py.)"""
    paths = {"u1": tree / "a.wav", "u2": tree / "spk" / "e.opus", "u3": tree / "f.caf"}
    write_data_dir(tmp_path / "data", paths)
    listed = listed_by_each_command(model, tmp_path / "data" / "wav.scp", tmp_path)
    assert listed == dict.fromkeys(listed, ["u1", "u2", "u3"])
