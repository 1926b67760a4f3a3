"""Users' files keep working across issue 26's refactor: a ``.codes`` file and a model directory
made by the code before it (commit af1c829, fixtures/compat/README.md) give today the same model
hash, the same header and tokens for the same input, and decode."""

from __future__ import annotations

import dataclasses
import json
import shutil

import soundfile

from simvq_audio.cli import main
from simvq_audio.codes import read_codes
from simvq_audio.reference import import_reference_checkpoint

from repo_paths import REPO

OLD_CODES = REPO / "tests" / "fixtures" / "compat" / "input_24000.codes"
REFERENCE = REPO / "tests" / "fixtures" / "reference"
MODEL_HASH = "4f1f5dd75ccc95b6c31c18852e7a6708"        # what af1c829 gave the imported model
WEIGHTS_SHA256 = "d2173a06af1333f55988ab2a1f3a77a0a48a7c2026c179594eda02686c2d83d7"


def test_an_old_codes_file_and_model_dir_match_what_the_code_makes_today(tmp_path):
    model = import_reference_checkpoint(REFERENCE / "simvq_small.ckpt", tmp_path / "model")
    assert json.loads((model / "config.json").read_text())["weights_sha256"] == WEIGHTS_SHA256
    shutil.copy(REFERENCE / "input_24000.wav", tmp_path / "input_24000.wav")
    new_codes = tmp_path / "input_24000.codes"
    assert main(["encode", str(tmp_path / "input_24000.wav"), str(new_codes),
                 "--model", str(model)]) == 0
    old_header, old_tokens = read_codes(OLD_CODES)
    new_header, new_tokens = read_codes(new_codes)
    assert old_header.model_hash == new_header.model_hash == MODEL_HASH
    # the same header except where the input lay (the path hash): same format, model, sizes
    # and the same input bytes (size and sha256)
    assert dataclasses.replace(new_header, source=dataclasses.replace(
        new_header.source, location=old_header.source.location)) == old_header
    assert new_tokens.tolist() == old_tokens.tolist()


def test_an_old_codes_file_decodes(tmp_path):
    model = import_reference_checkpoint(REFERENCE / "simvq_small.ckpt", tmp_path / "model")
    assert main(["decode", str(OLD_CODES), str(tmp_path / "out.wav"), "--model",
                 str(model)]) == 0
    audio, rate = soundfile.read(tmp_path / "out.wav")
    assert (rate, audio.shape) == (24000, (24000,))
