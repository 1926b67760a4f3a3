"""The output policy (simvq_audio.outputs) beyond encode/decode: export and ONNX export, the API's
decode_file, version 1 .codes files, and the helpers' own rules (case-insensitive collisions,
stdin as an input, redo versus refuse)."""

import io
import json
import os

import pytest
import torch

from simvq_audio import outputs
from simvq_audio.cli import main
from simvq_audio.codec import SimVQCodec
from simvq_audio.codec.config import load_config
from simvq_audio.codes import CodesHeader, read_codes
from simvq_audio.config_loader import config_to_dict
from simvq_audio.errors import UserInputError
from simvq_audio.model_dir import CONFIG_NAME
from simvq_audio.train import checkpoint as ckpt

from repo_paths import TINY_RECIPE

RATE = 24000


@pytest.fixture(scope="module")
def codec():
    torch.manual_seed(0)
    return SimVQCodec.from_config(TINY_RECIPE)


def fake_run(codec, exp_dir, step=10):
    """A training run with one complete checkpoint holding ``codec`` as its EMA generator."""
    config = config_to_dict(load_config(TINY_RECIPE))
    state = {"step": step, "train_dir": "data/train", "valid_dir": None, "saved_at": "now"}
    ckpt.write_checkpoint(exp_dir, step, {"ema_generator": codec.model.state_dict()},
                          {"config": config, "trainer_state": state})
    return exp_dir


def test_export_replaces_its_own_output_and_refuses_others(codec, tmp_path, capsys):
    run = fake_run(codec, tmp_path / "exp")
    out = tmp_path / "model"
    assert main(["export", "--exp-dir", str(run), "--out", str(out)]) == 0
    fake_run(codec, run, step=20)
    assert main(["export", "--exp-dir", str(run), "--out", str(out)]) == 0  # same run: replaced
    recorded = json.loads((out / CONFIG_NAME).read_text())
    assert recorded["modality"] == "audio" and recorded["training"]["step"] == 20
    other = fake_run(codec, tmp_path / "other")
    capsys.readouterr()
    assert main(["export", "--exp-dir", str(other), "--out", str(out)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert main(["export", "--exp-dir", str(other), "--out", str(out), "--overwrite"]) == 0
    checkpoint = ckpt.latest_checkpoint(run)
    assert main(["export", "--exp-dir", str(run), "--out", str(checkpoint), "--overwrite"]) == 2
    assert "also an input" in capsys.readouterr().err
    assert ckpt.checkpoint_problem(checkpoint) is None
    assert SimVQCodec.from_pretrained(out).model_hash == codec.model_hash


def test_export_needs_one_of_the_two_forms(capsys):
    assert main(["export", "--model", "x"]) == 2
    assert "--model DIR --onnx OUT_DIR" in capsys.readouterr().err


def test_onnx_files_are_not_replaced_without_overwrite(codec, tmp_path, capsys):
    model = codec.save_pretrained(tmp_path / "model")
    (tmp_path / "onnx").mkdir()
    (tmp_path / "onnx" / "encoder.onnx").write_text("mine")
    assert main(["export", "--model", str(model), "--onnx", str(tmp_path / "onnx")]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (tmp_path / "onnx" / "encoder.onnx").read_text() == "mine"


def test_decode_file_follows_the_policy(codec, tmp_path):
    codec.save_codes(codec.encode(torch.randn(3000) * 0.1, RATE), tmp_path / "x.codes",
                     source=outputs.stream_id(b"x"))
    codec.decode_file(tmp_path / "x.codes", tmp_path / "x.flac")
    stamp = (tmp_path / "x.flac").stat().st_mtime_ns
    codec.decode_file(tmp_path / "x.codes", tmp_path / "x.flac")  # done: kept as it is
    assert (tmp_path / "x.flac").stat().st_mtime_ns == stamp
    (tmp_path / "mine.wav").write_bytes(b"RIFF")
    with pytest.raises(UserInputError, match="would be replaced"):
        codec.decode_file(tmp_path / "x.codes", tmp_path / "mine.wav")
    codec.decode_file(tmp_path / "x.codes", tmp_path / "mine.wav", overwrite=True)
    with pytest.raises(UserInputError, match="cannot tell the audio format"):
        codec.decode_file(tmp_path / "x.codes", tmp_path / "x.raw")
    os.link(tmp_path / "x.codes", tmp_path / "link.wav")
    with pytest.raises(UserInputError, match="also an input"):
        codec.decode_file(tmp_path / "x.codes", tmp_path / "link.wav", overwrite=True)


def test_version_1_codes_are_read_and_count_as_not_verified(codec, tmp_path):
    """A file of the format before the source field: decoded as before, never taken as done."""
    tokens = codec.encode(torch.randn(3000) * 0.1, RATE)
    buffer = io.BytesIO()
    codec.save_codes(tokens, buffer)
    data = _as_version_1(buffer.getvalue())
    (tmp_path / "old.codes").write_bytes(data)
    header, _ = read_codes(tmp_path / "old.codes")
    assert (header.version, header.source) == (1, None)
    assert torch.equal(codec.load_codes(tmp_path / "old.codes").ids, tokens.ids)
    state = outputs.codes_state(tmp_path / "old.codes", codec.model_hash,
                                outputs.stream_id(b"x"))
    assert state.kind is outputs.Kind.FOREIGN and "records no input" in state.reason


def _as_version_1(data: bytes) -> bytes:
    """A version 2 file without its source field, as version 1 wrote it."""
    import struct
    import zlib

    body_size = struct.unpack_from("<I", data, 10)[0]
    body = data[14:14 + body_size - 33]
    head = data[:8] + struct.pack("<HI", 1, len(body)) + body
    return head + struct.pack("<I", zlib.crc32(head)) + data[14 + body_size + 4:]


def test_names_that_differ_only_in_case_collide():
    with pytest.raises(UserInputError, match="a/X.wav and a/x.WAV"):
        outputs.check_distinct([("a/X.wav", "o/X.codes"), ("a/x.WAV", "o/x.codes")])
    outputs.check_distinct([("a/x.wav", "o/x.codes"), ("a/y.wav", "o/y.codes")])


def test_stdin_redirected_from_the_output_is_an_input(tmp_path):
    """``encode - x.codes < x.codes``: the output is the file stdin reads."""
    target = tmp_path / "x.codes"
    target.write_bytes(b"SVQCODES")
    with open(target, "rb") as handle:
        fd = os.dup(0)
        os.dup2(handle.fileno(), 0)
        try:
            with pytest.raises(UserInputError, match="stdin"):
                outputs.check_not_inputs([target], ["-"])
        finally:
            os.dup2(fd, 0)
            os.close(fd)


def test_redo_only_for_the_same_input_path(tmp_path):
    model = "ab" * 16
    first = tmp_path / "a.wav"
    first.write_bytes(b"one")
    header = CodesHeader(model, 4, RATE, 320, 320, 1, (1,), outputs.input_id(first))
    from simvq_audio.codes import write_codes

    write_codes(tmp_path / "a.codes", torch.tensor([1]), header)
    assert outputs.codes_state(tmp_path / "a.codes", model,
                               outputs.input_id(first)).kind is outputs.Kind.DONE
    first.write_bytes(b"two")
    assert outputs.codes_state(tmp_path / "a.codes", model,
                               outputs.input_id(first)).kind is outputs.Kind.REDO
    second = tmp_path / "b.wav"
    second.write_bytes(b"three")
    state = outputs.codes_state(tmp_path / "a.codes", model, outputs.input_id(second))
    assert state.kind is outputs.Kind.FOREIGN and "another input" in state.reason
    assert outputs.codes_state(tmp_path / "a.codes", "cd" * 16, outputs.input_id(first)
                               ).kind is outputs.Kind.FOREIGN
    assert outputs.codes_state(tmp_path, model, outputs.input_id(first)
                               ).kind is outputs.Kind.BLOCKED
