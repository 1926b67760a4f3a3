"""Issue 24 for ``encode`` and ``decode``: standard input and output, the files they read and
write, and what a rerun counts as done. Each docstring says what happened before the fix."""

import hashlib
import io
import os
import subprocess
import sys
import types

import numpy as np
import pytest
import soundfile
import torch

from simvq_audio import outputs
from simvq_audio.codes import read_codes
from simvq_audio.data.audio_io import AudioFile

from hostile_helpers import assert_refused, cli, error_line, run_limited, tiny_model, wav_file
from repo_paths import REPO

RATE = 24000


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return tiny_model(tmp_path_factory)





class Pieces(io.BytesIO):
    """A stream that fails a test when it is read whole instead of a bounded piece at a
    time."""

    def read(self, size=-1):
        assert 0 < size <= 1 << 20, f"read({size}): the whole stream at once"
        return super().read(size)


# -- 1. stdin is read as a stream -------------------------------------------------------------
@pytest.mark.parametrize("command, message", [("encode", "stdin: not a readable audio file"),
                                              ("decode", "stdin: not a .codes file")])
def test_endless_stdin_that_is_not_the_format_is_refused_at_once(model, tmp_path, command,
                                                                 message):
    """Before: ``encode - out.codes < /dev/zero`` read all of stdin before looking at it, until
    memory ran out (and decode likewise)."""
    _, path = model
    target = tmp_path / ("out.codes" if command == "encode" else "out.wav")
    with open("/dev/zero", "rb") as zeros:
        result = run_limited(command, "--model", path, "-", target, stdin=zeros.fileno(),
                             timeout=120)
    assert_refused(result, message)
    assert not target.exists()


def test_a_long_stdin_is_spooled_and_encoded_as_the_file_is(model, tmp_path, monkeypatch):
    """Before: stdin was read whole into memory. Now it is read a bounded piece at a time into
    a temporary file, then takes the path of a file: a stream longer than
    ``--max-batch-seconds`` is encoded block by block, with the same tokens, and its identity
    is that of every byte read."""
    codec, path = model
    wav = wav_file(tmp_path / "a.wav", seconds=1.5)
    data = wav.read_bytes()
    monkeypatch.setattr(sys, "stdin", types.SimpleNamespace(buffer=Pieces(data)))
    assert cli("encode", "--model", path, "--max-batch-seconds", "0.5", "-",
               tmp_path / "a.codes") == 0
    header, _ = read_codes(tmp_path / "a.codes")
    assert header.source == outputs.stream_id(data)
    assert torch.equal(codec.load_codes(tmp_path / "a.codes").ids,
                       codec.encode_file(wav).ids)


# -- 2. what is recorded is what was encoded --------------------------------------------------
def rewrite_after_reading(monkeypatch, path, content: bytes):
    """Make every ``AudioFile.read`` rewrite ``path`` in place (same file, as an editor or a
    copy over it does) right after its samples were decoded: deterministically what a writer
    racing the encoder does."""
    original = AudioFile.read

    def read_then_rewrite(self, *args, **kwargs):
        samples = original(self, *args, **kwargs)
        with open(path, "r+b") as handle:
            handle.write(content)
            handle.truncate()
        return samples

    monkeypatch.setattr(AudioFile, "read", read_then_rewrite)


def test_the_recorded_hash_is_that_of_the_bytes_encoded(model, tmp_path, monkeypatch, capsys):
    """Before: the hash was read again from the open file after decoding, so a file rewritten
    meanwhile gave content A's tokens under content B's sha256 (46 of 684 encodes in the
    issue), and the rerun took them as done."""
    codec, path = model
    wav = wav_file(tmp_path / "a.wav", seed=1)
    first = wav.read_bytes()
    second = wav_file(tmp_path / "b.wav", seed=2).read_bytes()  # same length, other samples
    expected = codec.encode_file(wav).ids
    rewrite_after_reading(monkeypatch, wav, second)
    assert cli("encode", "--model", path, wav, tmp_path / "a.codes") == 0
    monkeypatch.undo()
    header, _ = read_codes(tmp_path / "a.codes")
    assert header.source.sha256 == hashlib.sha256(first).hexdigest()[:32]
    assert torch.equal(codec.load_codes(tmp_path / "a.codes").ids, expected)
    capsys.readouterr()
    assert cli("encode", "--model", path, wav, tmp_path / "a.codes") == 0  # now content B
    assert "redoing 1 earlier output(s)" in capsys.readouterr().err
    assert torch.equal(codec.load_codes(tmp_path / "a.codes").ids,
                       codec.encode_file(wav).ids)


def test_a_large_file_changed_while_read_is_refused(model, tmp_path, monkeypatch, capsys):
    """Files above ``WHOLE_READ_BYTES`` are hashed from the handle they were decoded from;
    a change meanwhile (here its size) is refused instead of recorded."""
    _, path = model
    wav = wav_file(tmp_path / "a.wav")
    monkeypatch.setattr(outputs, "WHOLE_READ_BYTES", 16)
    rewrite_after_reading(monkeypatch, wav, wav.read_bytes() + b"\0" * 64)
    assert cli("encode", "--model", path, wav, tmp_path / "a.codes") == 2
    assert "a.wav: the file changed while it was read" in error_line(capsys)
    assert not (tmp_path / "a.codes").exists()


# -- 4. no traceback on faults of standard output or the target's folder ----------------------
def run_cli(*args, shell_suffix: str = "", stdout=subprocess.DEVNULL):
    """``simvq-audio ARGS`` in a child (through a shell for ``shell_suffix`` redirections)."""
    command = [sys.executable, "-m", "simvq_audio.cli", *map(str, args)]
    if shell_suffix:
        command = ["bash", "-c", f'"$@" {shell_suffix}', "bash", *command]
    return subprocess.run(command, stdout=stdout, stderr=subprocess.PIPE, cwd=REPO,
                          timeout=120, env={**os.environ, "OMP_NUM_THREADS": "1"})


@pytest.fixture(scope="module")
def codes_file(model, tmp_path_factory):
    codec, _ = model
    path = tmp_path_factory.mktemp("codes") / "a.codes"
    codec.save_codes(codec.encode(torch.randn(4800) * 0.1, RATE), path)
    return path


def test_a_full_standard_output_is_one_line(model, tmp_path, codes_file):
    """Before: ``encode a.wav - > /dev/full`` and ``decode a.codes - > /dev/full`` ended in a
    traceback (later, the CLI's last-resort line that did not say which file)."""
    _, path = model
    wav = wav_file(tmp_path / "a.wav")
    with open("/dev/full", "wb") as full:
        for args in (("encode", wav), ("decode", codes_file)):
            result = run_cli(args[0], "--model", path, args[1], "-", stdout=full)
            assert_refused(result, "cannot write to standard output: No space left on device")


def test_a_closed_standard_output_is_refused_before_any_work(model, tmp_path):
    """Before: ``encode a.wav - >&-`` encoded, then failed on ``sys.stdout`` being None with a
    traceback."""
    _, path = model
    result = run_cli("encode", "--model", path, wav_file(tmp_path / "a.wav"), "-",
                     shell_suffix=">&-")
    assert_refused(result, "cannot write to standard output: it is closed")


def test_a_file_where_a_folder_should_be_is_one_line(model, tmp_path, codes_file, capsys):
    """Before: ``decode a.codes afile/x.wav``: the atomic writer's clean-up raised again
    (ENOTDIR on the temporary name), a traceback."""
    _, path = model
    (tmp_path / "afile").write_text("mine")
    assert cli("decode", "--model", path, codes_file, tmp_path / "afile" / "x.wav") == 2
    line = error_line(capsys)
    assert "cannot write" in line and "afile is a file, not a folder" in line
    assert (tmp_path / "afile").read_text() == "mine"


def test_long_file_names(model, tmp_path, codes_file, capsys):
    """Before: a 250-character name failed (the temporary name added 10 characters: ENAMETOOLONG)
    and a 300-character one ended in a traceback from the clean-up."""
    _, path = model
    assert cli("decode", "--model", path, codes_file, tmp_path / ("a" * 246 + ".wav")) == 0
    assert soundfile.info(tmp_path / ("a" * 246 + ".wav")).frames == 4800
    assert cli("decode", "--model", path, codes_file, tmp_path / ("b" * 296 + ".wav")) == 2
    line = error_line(capsys)
    assert "File name too long (300 bytes in one name" in line and len(line) < 400
    assert sorted(p.name[:2] for p in tmp_path.iterdir()) == ["aa"]


# -- 5. a decoded output is done only when its samples are intact -----------------------------
def comment(path) -> str:
    with soundfile.SoundFile(path) as handle:
        return handle.comment


def test_damaged_samples_are_seen_and_the_output_redone(model, tmp_path, codes_file, capsys):
    """Before: the tag and the length alone made an output "up to date": zeroing 76 % of its
    samples went unnoticed."""
    _, path = model
    out = tmp_path / "x.wav"
    assert cli("decode", "--model", path, codes_file, out) == 0
    good, tag = out.read_bytes(), comment(out)
    samples, rate = soundfile.read(out, dtype="int16")
    samples[round(len(samples) * 0.24):] = 0
    with soundfile.SoundFile(out, "w", rate, 1, "PCM_16") as handle:  # same header and tag
        handle.comment = tag
        handle.write(samples)
    assert comment(out) == tag and soundfile.info(out).frames == 4800
    capsys.readouterr()
    assert cli("decode", "--model", path, codes_file, out) == 0
    err = capsys.readouterr().err
    assert "redoing 1 earlier output(s)" in err and "its samples have changed" in err
    assert out.read_bytes() == good
    assert cli("decode", "--model", path, codes_file, out) == 0
    assert "up to date" in capsys.readouterr().err


def test_outputs_of_the_previous_version_are_redone_once(model, tmp_path, codes_file, capsys):
    """Audio tagged before the digest existed cannot be verified: it is recognised as decode's
    (not refused as foreign) and redone, once."""
    codec, path = model
    out = tmp_path / "x.wav"
    source = outputs.input_id(codes_file)
    old_tag = (f"simvq-audio decode: model {codec.model_hash}, input {source.size} "
               f"{source.sha256} {source.location}")
    soundfile.write(out, np.zeros(4800, np.int16), RATE, subtype="PCM_16")
    with soundfile.SoundFile(out, "r+") as handle:
        handle.comment = old_tag
    assert cli("decode", "--model", path, codes_file, out) == 0
    assert "recorded no digest of its samples" in capsys.readouterr().err
    assert cli("decode", "--model", path, codes_file, out) == 0
    assert "up to date" in capsys.readouterr().err


@pytest.mark.parametrize("suffix", [".flac", ".ogg", ".opus", ".mp3"])
def test_every_output_format_is_verified_and_kept(model, tmp_path, codes_file, capsys,
                                                  suffix):
    """The digest is of the samples as they read back, so lossy files verify too."""
    codec, _ = model
    out = tmp_path / f"x{suffix}"
    codec.decode_file(codes_file, out)
    stamp = out.stat().st_mtime_ns
    codec.decode_file(codes_file, out)
    assert out.stat().st_mtime_ns == stamp


# -- 6. directory mode names what it leaves out -----------------------------------------------
def test_links_left_out_of_a_directory_are_named(model, tmp_path, capsys):
    """Before: symbolic links to folders and dangling links were skipped without a word."""
    _, path = model
    root = tmp_path / "in"
    root.mkdir()
    wav_file(root / "a.wav")
    (tmp_path / "elsewhere").mkdir()
    wav_file(tmp_path / "elsewhere" / "b.wav")
    (root / "linked").symlink_to(tmp_path / "elsewhere")
    (root / "loop").symlink_to(root)
    (root / "gone.wav").symlink_to(tmp_path / "missing.wav")
    (root / "notes.txt").write_text("not audio, not named")
    assert cli("encode", "--model", path, root, tmp_path / "out") == 0
    err = capsys.readouterr().err
    assert (f"{root}: skipped 3 path(s): gone.wav (a dangling symbolic link); linked (a "
            "symbolic link to a folder, not followed); loop (a symbolic link to a folder, not "
            "followed)") in err
    assert [p.name for p in (tmp_path / "out").rglob("*")] == ["a.codes"]
