"""simvq-audio encode/decode: files, pipes, directories, wav.scp, and one-line errors for bad input
with no output left behind."""

import os
import subprocess
import sys

import numpy as np
import pytest
import soundfile
import torch

from simvq_audio.cli import main
from simvq_audio.codec import SimVQCodec

from repo_paths import TINY_RECIPE


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    torch.manual_seed(0)
    codec = SimVQCodec.from_config(TINY_RECIPE)
    return codec, codec.save_pretrained(tmp_path_factory.mktemp("m") / "model")


def write_wav(path, seconds=0.2, rate=16000, channels=1, value=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    data = np.random.default_rng(1).standard_normal((int(seconds * rate), channels)) * 0.1
    if value is not None:
        data[:] = value
    soundfile.write(path, data.astype(np.float32), rate,
                    subtype="FLOAT" if path.suffix == ".wav" else None)
    return path


def cli(*args):
    return main([str(a) for a in args])


def test_file_round_trip_matches_the_api(model, tmp_path):
    codec, path = model
    wav = write_wav(tmp_path / "a.wav", channels=2, rate=44100)
    assert cli("encode", "--model", path, wav, tmp_path / "a.codes") == 0
    loaded = codec.load_codes(tmp_path / "a.codes")
    assert torch.equal(loaded.ids, codec.encode_file(wav).ids)
    assert cli("decode", "--model", path, tmp_path / "a.codes", tmp_path / "b.wav") == 0
    info = soundfile.info(tmp_path / "b.wav")
    assert (info.samplerate, info.frames, info.channels) == (24000, 4800, 1)


def test_stdin_stdout_pipe(model, tmp_path):
    _, path = model
    wav = write_wav(tmp_path / "a.wav")
    env = {**os.environ, "SIMVQ_AUDIO_MODEL": str(path)}
    command = [sys.executable, "-m", "simvq_audio.cli"]
    codes = subprocess.run(command + ["encode", "-", "-"], input=wav.read_bytes(),
                           capture_output=True, env=env, check=True).stdout
    assert codes.startswith(b"SVQCODES")
    audio = subprocess.run(command + ["decode", "-", "-"], input=codes, capture_output=True,
                           env=env, check=True).stdout
    (tmp_path / "out.wav").write_bytes(audio)
    assert soundfile.info(tmp_path / "out.wav").frames == 4800


def test_directory_mode_keeps_tree_skips_done_and_reports_failures(model, tmp_path, capsys):
    _, path = model
    write_wav(tmp_path / "in" / "a.wav")
    write_wav(tmp_path / "in" / "sub" / "b.flac", rate=22050)
    (tmp_path / "in" / "bad.wav").write_text("not audio")
    write_wav(tmp_path / "in" / "nan.wav", value=float("nan"))
    out = tmp_path / "out"
    assert cli("encode", "--model", path, "--batch-size", 3, tmp_path / "in", out) == 1
    err = capsys.readouterr().err
    assert "2 of 4 files failed" in err and "bad.wav" in err and "NaN" in err
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()) == [
        "a.codes", os.path.join("sub", "b.codes")]
    stamp = (out / "a.codes").stat().st_mtime_ns
    (tmp_path / "in" / "bad.wav").unlink()
    (tmp_path / "in" / "nan.wav").unlink()
    assert cli("encode", "--model", path, tmp_path / "in", out) == 0
    assert "0 of 2 files (2 already done)" in capsys.readouterr().err
    assert (out / "a.codes").stat().st_mtime_ns == stamp
    assert cli("decode", "--model", path, out, tmp_path / "wav") == 0
    assert soundfile.info(tmp_path / "wav" / "sub" / "b.wav").samplerate == 24000


def test_wav_scp_gives_one_codes_per_utterance(model, tmp_path):
    _, path = model
    a, b = write_wav(tmp_path / "w" / "x.wav"), write_wav(tmp_path / "w" / "y.wav", seconds=0.1)
    scp = tmp_path / "wav.scp"
    scp.write_text(f"utt1 {a}\nutt2 {b}\n")
    assert cli("encode", "--model", path, scp, tmp_path / "codes") == 0
    assert cli("decode", "--model", path, tmp_path / "codes", tmp_path / "wav") == 0
    assert sorted(p.name for p in (tmp_path / "wav").iterdir()) == ["utt1.wav", "utt2.wav"]
    assert soundfile.info(tmp_path / "wav" / "utt2.wav").frames == 2400


def test_codes_from_another_model_need_force(model, tmp_path, capsys):
    _, path = model
    torch.manual_seed(3)
    other = SimVQCodec.from_config(TINY_RECIPE)
    other.save_codes(other.encode(torch.randn(3200) * 0.1, 24000), tmp_path / "x.codes")
    assert cli("decode", "--model", path, tmp_path / "x.codes", tmp_path / "x.wav") == 2
    assert "made by model" in capsys.readouterr().err and not (tmp_path / "x.wav").exists()
    assert cli("decode", "--model", path, "--force", tmp_path / "x.codes", tmp_path / "x.wav") == 0


def bad_inputs(tmp):
    write_wav(tmp / "good.wav")
    write_wav(tmp / "nan.wav", value=float("nan"))
    write_wav(tmp / "empty.wav", seconds=0)
    (tmp / "text.wav").write_text("hello")
    (tmp / "damaged.codes").write_bytes(b"SVQCODES" + bytes(30))
    return {
        "missing file": (["encode", tmp / "nope.wav", tmp / "o.codes"], "no such file"),
        "empty wav": (["encode", tmp / "empty.wav", tmp / "o.codes"], "empty"),
        "NaN samples": (["encode", tmp / "nan.wav", tmp / "o.codes"], "NaN"),
        "non-audio file": (["encode", tmp / "text.wav", tmp / "o.codes"], "not a readable audio"),
        "corrupted codes": (["decode", tmp / "damaged.codes", tmp / "o.wav"], "damaged"),
        "audio given to decode": (["decode", tmp / "text.wav", tmp / "o.wav"], "not a .codes"),
    }


@pytest.mark.parametrize("case", ["missing file", "empty wav", "NaN samples", "non-audio file",
                                  "corrupted codes", "audio given to decode"])
def test_bad_input_gives_one_line_and_no_output(model, tmp_path, capsys, case):
    _, path = model
    args, message = bad_inputs(tmp_path)[case]
    assert cli(args[0], "--model", path, *args[1:]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("simvq-audio: error:") and message in err
    assert not (tmp_path / "o.codes").exists() and not (tmp_path / "o.wav").exists()
    assert not [p for p in tmp_path.rglob("*") if ".tmp" in p.name]


def test_unwritable_output_directory(model, tmp_path, capsys):
    _, path = model
    wav = write_wav(tmp_path / "a.wav")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if os.access(locked, os.W_OK):
            pytest.skip("running as root: permissions are not enforced")
        assert cli("encode", "--model", path, wav, locked / "a.codes") == 2
        assert "cannot write" in capsys.readouterr().err
        assert list(locked.iterdir()) == []
    finally:
        locked.chmod(0o700)


def test_output_under_a_regular_file_is_unwritable_even_for_root(model, tmp_path, capsys):
    _, path = model
    wav = write_wav(tmp_path / "a.wav")
    blocker = tmp_path / "blocker"
    blocker.write_text("not a directory")
    assert cli("encode", "--model", path, wav, blocker / "a.codes") == 2
    error = capsys.readouterr().err
    assert "cannot write" in error and len(error.strip().splitlines()) == 1
    assert blocker.read_text() == "not a directory"


def test_missing_model(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("SIMVQ_AUDIO_MODEL", raising=False)
    wav = write_wav(tmp_path / "a.wav")
    assert cli("encode", wav, tmp_path / "a.codes") == 2
    assert "no model given" in capsys.readouterr().err
    assert cli("encode", "--model", tmp_path / "nowhere", wav, tmp_path / "a.codes") == 2
    assert "does not exist" in capsys.readouterr().err
    assert not (tmp_path / "a.codes").exists()
