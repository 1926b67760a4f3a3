"""Issue 16, one regression test per row of its table: no silent data loss, no silently wrong
tokens, one kind of error. Each docstring says what happened before the fix; every one of these
tests failed on the code before it (checked by running this file against that commit)."""

import io
import os
import subprocess
import sys

import numpy as np
import pytest
import soundfile
import torch

from simvq_audio.codec import SimVQCodec
from simvq_audio.errors import UserInputError
from simvq_audio.model_dir import CONFIG_NAME, WEIGHTS_NAME

from hostile_helpers import cli, error_line, tiny_model, wav_file

RATE = 24000


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return tiny_model(tmp_path_factory)


@pytest.fixture(scope="module")
def other_model(tmp_path_factory):
    return tiny_model(tmp_path_factory, seed=5)[1]





def test_row_1_an_output_that_is_the_input_is_refused(model, tmp_path, capsys):
    """Before: ``encode a.wav a.wav`` and ``decode x.codes x.codes`` wrote over the input."""
    _, path = model
    wav = wav_file(tmp_path / "a.wav")
    original = wav.read_bytes()
    assert cli("encode", "--model", path, wav, wav) == 2
    assert "a.wav" in error_line(capsys) and wav.read_bytes() == original
    os.link(wav, tmp_path / "same.codes")  # the same file under another name
    assert cli("encode", "--model", path, "--overwrite", wav, tmp_path / "same.codes") == 2
    assert "also an input" in error_line(capsys) and wav.read_bytes() == original
    assert cli("encode", "--model", path, wav, tmp_path / "x.codes") == 0
    codes = (tmp_path / "x.codes").read_bytes()
    assert cli("decode", "--model", path, tmp_path / "x.codes", tmp_path / "x.codes") == 2
    error_line(capsys)
    os.link(tmp_path / "x.codes", tmp_path / "x.wav")
    assert cli("decode", "--model", path, "--overwrite", tmp_path / "x.codes",
               tmp_path / "x.wav") == 2
    assert "also an input" in error_line(capsys)
    assert (tmp_path / "x.codes").read_bytes() == codes


def test_row_2_inputs_sharing_an_output_name_are_refused_before_any_work(model, tmp_path,
                                                                          capsys):
    """Before: ``x.wav`` and ``x.flac`` both became ``out/x.codes``, one over the other."""
    _, path = model
    wav_file(tmp_path / "in" / "x.wav")
    wav_file(tmp_path / "in" / "x.flac", seed=2)
    wav_file(tmp_path / "in" / "y.wav")
    assert cli("encode", "--model", path, tmp_path / "in", tmp_path / "out") == 2
    line = error_line(capsys)
    assert "x.flac" in line and "x.wav" in line and "x.codes" in line
    assert not (tmp_path / "out").exists()


def test_row_3_channels_last_arrays_are_read_as_soundfile_returns_them(model):
    """Before: ``codec.encode(*soundfile.read(stereo))`` took 2 s of stereo as 96000 channels of
    2 samples: 1 token."""
    codec, _ = model
    stereo = np.random.default_rng(0).standard_normal((2 * RATE, 2)).astype(np.float32) * 0.1
    tokens = codec.encode(stereo, RATE)
    assert tokens.lengths.tolist() == [150]
    assert torch.equal(tokens.ids, codec.encode(stereo.T, RATE).ids)
    batch = np.stack([stereo, stereo])  # [B, T, C]
    assert torch.equal(codec.encode(batch, RATE).ids[1], tokens.ids[0])
    with pytest.raises(UserInputError, match="cannot tell channels from time"):
        codec.encode(np.zeros((4, 4), np.float32), RATE)
    with pytest.raises(UserInputError, match="cannot tell channels from time"):
        codec.encode(np.zeros((40, 2), np.float32), RATE)  # 40 channels or 40 samples?


def test_row_4_ids_of_any_integer_dtype_are_checked_in_64_bits(model):
    """Before: uint8/int8 ids were refused as out of range (``ids >= 1024`` in uint8 wraps),
    and int16 ids with K = 65536 likewise."""
    from simvq_audio.validate import token_ids

    codec, _ = model
    expected = codec.decode(torch.tensor([5, 17]))
    for dtype in (torch.uint8, torch.int8, torch.int16, torch.uint16, torch.int32, torch.uint32,
                  torch.uint64):
        assert torch.equal(codec.decode(torch.tensor([5, 17], dtype=dtype)), expected), dtype
    assert torch.equal(codec.decode(np.array([5, 17], np.uint64)), expected)
    ids, _ = token_ids(torch.tensor([100, 32767], dtype=torch.int16), None, 65536)
    assert ids.tolist() == [[100, 32767]]
    with pytest.raises(UserInputError, match="token id 18446744073709551615"):
        codec.decode(np.array([5, 2**64 - 1], np.uint64))
    with pytest.raises(UserInputError, match="token id -1"):
        codec.decode(torch.tensor([5, -1], dtype=torch.int8))


def test_row_5_a_failed_write_is_one_line_or_one_listed_file(model, tmp_path, capsys):
    """Before: a full disk gave a soundfile traceback, and directory mode aborted. Writes are
    limited here with RLIMIT_FSIZE (EFBIG, a real failed write) in a child process."""
    codec, path = model
    (tmp_path / "codes").mkdir()
    for name, seconds in (("short", 0.1), ("long", 1.0)):
        codec.save_codes(codec.encode(torch.randn(round(seconds * RATE)) * 0.1, RATE),
                         tmp_path / "codes" / f"{name}.codes")
    limited = ("import resource, signal, sys\n"
               "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
               "resource.setrlimit(resource.RLIMIT_FSIZE, (20000, 20000))\n"
               "from simvq_audio.cli import main\n"
               "sys.exit(main(sys.argv[1:]))\n")
    run = [sys.executable, "-c", limited, "decode", "--model", str(path)]
    single = subprocess.run(run + [str(tmp_path / "codes" / "long.codes"),
                                   str(tmp_path / "one.wav")], capture_output=True, text=True)
    assert single.returncode == 2 and "Traceback" not in single.stderr
    assert "cannot write" in single.stderr and not (tmp_path / "one.wav").exists()
    many = subprocess.run(run + [str(tmp_path / "codes"), str(tmp_path / "wav")],
                          capture_output=True, text=True)
    assert many.returncode == 1 and "Traceback" not in many.stderr
    assert "1 of 2 files failed" in many.stderr and "long.wav" in many.stderr
    assert sorted(p.name for p in (tmp_path / "wav").iterdir()) == ["short.wav"]
    assert cli("decode", "--model", path, tmp_path / "codes" / "short.codes",
               tmp_path / "no" / "dir" / "x.wav") == 0


def test_row_6_damaged_weight_bytes_are_refused(model, tmp_path):
    """Before: bytes flipped in the middle of ``model.safetensors`` (header intact) loaded
    silently, with a new model hash."""
    codec, _ = model
    path = codec.save_pretrained(tmp_path / "model")
    data = bytearray((path / WEIGHTS_NAME).read_bytes())
    data[len(data) // 2] ^= 0x10
    (path / WEIGHTS_NAME).write_bytes(bytes(data))
    with pytest.raises(UserInputError, match="damaged"):
        SimVQCodec.from_pretrained(path)


def test_row_6_directories_without_a_checksum_still_load(model, tmp_path):
    from safetensors.torch import load_file, save_file

    codec, _ = model
    path = codec.save_pretrained(tmp_path / "model")
    save_file(load_file(path / WEIGHTS_NAME), str(path / WEIGHTS_NAME))  # no metadata
    assert SimVQCodec.from_pretrained(path).model_hash == codec.model_hash


def test_row_7_done_means_verified_done(model, other_model, tmp_path, capsys):
    """Before: any existing target counted as done: another model's codes, a damaged .codes
    and codes of an input changed since were all kept."""
    codec, path = model
    wav_file(tmp_path / "in" / "a.wav")
    wav_file(tmp_path / "in" / "b.wav", seed=2)
    out = tmp_path / "out"
    assert cli("encode", "--model", path, tmp_path / "in", out) == 0
    capsys.readouterr()
    assert cli("encode", "--model", path, tmp_path / "in", out) == 0
    assert "0 of 2 files (2 already done)" in capsys.readouterr().err

    kept = (out / "a.codes").read_bytes()
    assert cli("encode", "--model", other_model, tmp_path / "in", out) == 2
    assert "made by another model" in error_line(capsys)
    assert (out / "a.codes").read_bytes() == kept

    damaged = bytearray(kept)
    damaged[-1] ^= 1
    (out / "a.codes").write_bytes(bytes(damaged))
    assert cli("encode", "--model", path, tmp_path / "in", out) == 2
    assert "a.codes (not a valid .codes file" in error_line(capsys)
    assert cli("encode", "--model", path, "--overwrite", tmp_path / "in", out) == 0
    assert (out / "a.codes").read_bytes() == kept

    wav_file(tmp_path / "in" / "b.wav", seed=3)  # the input changes: its codes are redone
    capsys.readouterr()
    assert cli("encode", "--model", path, tmp_path / "in", out) == 0
    assert "1 of 2 files (1 already done)" in capsys.readouterr().err
    assert torch.equal(codec.load_codes(out / "b.codes").ids,
                       codec.encode_file(tmp_path / "in" / "b.wav").ids)


def test_row_8_implausible_sample_rates_are_refused_at_once(model):
    """Before: ``sample_rate=1`` took 1 s of audio for 24000 s (7.4 GB and counting);
    16000.5 was accepted."""
    codec, _ = model
    wav = torch.randn(RATE) * 0.1
    for rate in (1, 999, 768001, 16000.5, float("nan"), -16000):
        with pytest.raises(UserInputError, match="sample_rate"):
            codec.encode(wav[:10], rate)  # 10 samples: the code before encodes 240000 at 1 Hz
    with pytest.raises(UserInputError, match="sample_rate"):
        codec.streaming_encoder(sample_rate=10)
    assert torch.equal(codec.encode(wav, 16000.0).ids, codec.encode(wav, 16000).ids)
    assert codec.encode(wav, np.int64(768000)).lengths.tolist() == [3]


@pytest.mark.parametrize("call", [
    lambda c: c.encode(torch.zeros(100), None),
    lambda c: c.encode(torch.zeros(100), "16000"),
    lambda c: c.encode([0.0, 0.1], 16000),
    lambda c: c.encode(torch.zeros(100), 16000, lengths="100"),
    lambda c: c.decode(5),
    lambda c: c.decode(torch.tensor(5)),
    lambda c: c.decode(None),
    lambda c: c.decode(torch.tensor([1, 2]), lengths=[1.5]),
    lambda c: c.decode_file(3, "x.wav"),
    lambda c: c.load_codes(7),
    lambda c: c.encode_file(None),
    lambda c: c.streaming_encoder(batch_size=0),
    lambda c: c.to("nonsense"),
    lambda c: c.to("cuda:4096"),
    lambda c: c.save_codes(torch.zeros(3), io.BytesIO()),
])
def test_row_9_bad_arguments_raise_user_input_error(model, call):
    """Before: raw TypeError/IndexError/RuntimeError (or, for ``load_codes(7)``, reading and
    closing file descriptor 7). The issue names ``encode(wav, None)``, ``encode(wav, "16000")``,
    ``decode(5)``, ``decode(torch.tensor(5))`` and ``decode(None)``; the rest are more of the
    same class, of which only float lengths and a tensor given to save_codes were refused
    before."""
    codec, _ = model
    with pytest.raises(UserInputError) as caught:
        call(codec)
    assert " at 0x" not in str(caught.value) and "object at" not in str(caught.value)


def test_row_10_inputs_that_require_grad_are_fine(model):
    """Before: an autograd view error."""
    codec, _ = model
    wav = (torch.randn(2, 3000) * 0.1).requires_grad_()
    assert torch.equal(codec.encode(wav, RATE).ids, codec.encode(wav.detach(), RATE).ids)


def test_row_11_model_files_are_world_readable(model, tmp_path):
    """Before: ``model.safetensors`` was written 0600 while ``config.json`` was 0644."""
    codec, _ = model
    umask = os.umask(0o022)
    try:
        path = codec.save_pretrained(tmp_path / "model")
    finally:
        os.umask(umask)
    assert (path / WEIGHTS_NAME).stat().st_mode & 0o777 == 0o644
    assert (path / CONFIG_NAME).stat().st_mode & 0o777 == 0o644


def test_row_12_an_unrelated_existing_output_is_refused_unless_overwrite(model, other_model,
                                                                         tmp_path, capsys):
    """Before: ``decode x.codes precious.wav`` replaced it without a word, and ``--force`` meant
    something else in decode than ``--overwrite`` in tokenize."""
    codec, path = model
    wav = wav_file(tmp_path / "a.wav")
    precious = wav_file(tmp_path / "precious.wav", seed=9)
    mine = precious.read_bytes()
    assert cli("encode", "--model", path, wav, tmp_path / "x.codes") == 0
    assert cli("decode", "--model", path, tmp_path / "x.codes", precious) == 2
    assert "--overwrite" in error_line(capsys) and precious.read_bytes() == mine
    assert cli("decode", "--model", path, "--overwrite", tmp_path / "x.codes", precious) == 0
    assert precious.read_bytes() != mine
    stamp = precious.stat().st_mtime_ns
    assert cli("decode", "--model", path, tmp_path / "x.codes", precious) == 0  # up to date
    assert "up to date" in capsys.readouterr().err and precious.stat().st_mtime_ns == stamp
    assert cli("encode", "--model", other_model, wav, tmp_path / "x.codes") == 2
    assert "made by another model" in error_line(capsys)
    with pytest.raises(UserInputError, match="would be replaced"):
        codec.decode_file(tmp_path / "x.codes", wav)
    assert cli("decode", "--model", other_model, "--any-model", tmp_path / "x.codes",
               tmp_path / "other.wav") == 0
    assert cli("decode", "--model", other_model, "--force", tmp_path / "x.codes",
               tmp_path / "other2.wav") == 0


@pytest.mark.parametrize("stdin, message",
                         [(b"", "stdin is empty"),
                          (b"not audio at all", "stdin: not a readable audio file")])
def test_row_13_stdin_errors_show_no_object_reprs(model, monkeypatch, capsys, stdin, message):
    """Before: ``encode - - < /dev/null`` said ``<_io.BytesIO object at 0x...>``."""
    _, path = model
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin)))
    assert cli("encode", "--model", path, "-", "-") == 2
    line = error_line(capsys)
    assert message in line and "0x" not in line and "object at" not in line


def test_row_14_the_output_format_follows_the_extension(model, tmp_path, capsys):
    """Before: ``decode x.codes out.flac`` or ``out.mp3`` wrote a WAV under that name."""
    codec, path = model
    codec.save_codes(codec.encode(torch.randn(4800) * 0.1, RATE), tmp_path / "x.codes")
    for name, expected in (("o.flac", "FLAC"), ("o.mp3", "MP3"), ("o.ogg", "OGG"),
                           ("o.wav", "WAV")):
        assert cli("decode", "--model", path, tmp_path / "x.codes", tmp_path / name) == 0
        info = soundfile.info(tmp_path / name)
        assert (info.format, info.samplerate, info.frames) == (expected, RATE, 4800), name
    assert cli("decode", "--model", path, tmp_path / "x.codes", tmp_path / "o.xyz") == 2
    assert "cannot tell the audio format" in error_line(capsys)
    assert cli("encode", "--model", path, wav_file(tmp_path / "a.wav"), tmp_path / "a.txt") == 2
    assert "name the output *.codes" in error_line(capsys)


def test_row_15_parents_are_made_alike_and_many_inputs_need_a_directory(model, tmp_path,
                                                                        capsys):
    """Before: single-file decode into a missing folder crashed while encode refused, and
    ``encode list.scp out/x.codes`` silently made a directory ``x.codes/``."""
    codec, path = model
    wav = wav_file(tmp_path / "a.wav")
    assert cli("encode", "--model", path, wav, tmp_path / "new" / "sub" / "a.codes") == 0
    assert cli("decode", "--model", path, tmp_path / "new" / "sub" / "a.codes",
               tmp_path / "new2" / "sub" / "a.wav") == 0
    assert soundfile.info(tmp_path / "new2" / "sub" / "a.wav").frames == 2400
    scp = tmp_path / "wav.scp"
    scp.write_text(f"utt1 {wav}\n")
    assert cli("encode", "--model", path, scp, tmp_path / "out" / "x.codes") == 2
    assert "must be a directory" in error_line(capsys)
    assert not (tmp_path / "out").exists()
