"""Issue 24 for ``.codes`` files: ``info`` in memory bounded by the file, never blocked by a
FIFO, writers that refuse what they cannot write, and (extending the reader fuzz of
``test_boundary_properties.py`` to the command line) random bytes and truncations of a real
``.codes`` file given to ``simvq-audio info`` and ``decode``: exit 0, or exit 2 with one line.
Each docstring says what happened before the fix."""

import io
import os
import signal
import struct
import zlib

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simvq_audio.cli import main
from simvq_audio.codes import CodesHeader, read_codes, verify_codes, write_codes
from simvq_audio.errors import UserInputError

from hostile_helpers import run_limited, tiny_model

RATE = 24000


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return tiny_model(tmp_path_factory)


def one_bit_codes(tokens: int) -> bytes:
    """A valid ``.codes`` file of ``tokens`` 1-bit tokens (K = 2), built without packing a
    token array (the payload of 1-bit tokens is any bytes)."""
    payload = os.urandom(tokens // 8)
    body = (struct.pack("<16sQIIQHB", bytes(16), 2, RATE, 320, tokens * 320, 1, 1)
            + struct.pack("<QQ", tokens, len(payload)) + bytes(33))
    head = b"SVQCODES" + struct.pack("<HI", 2, len(body)) + body
    return (head + struct.pack("<I", zlib.crc32(head)) + payload
            + struct.pack("<I", zlib.crc32(payload)))


def test_info_on_a_large_one_bit_file_stays_small(tmp_path):
    """Before: ``info`` on a valid 8 MiB ``.codes`` file with K = 2 unpacked all 67 million
    tokens at once, 32 bytes each: 3.1 GB. Now checked piece by piece, not kept."""
    path = tmp_path / "big.codes"
    path.write_bytes(one_bit_codes(8 << 23))
    result = run_limited("info", path, memory_mb=1000, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert b"67108864 tokens" in result.stdout


def test_verify_codes_checks_what_read_codes_checks():
    """The bounded check refuses the same damage (here, a token out of range in the last of
    several pieces) and reads the same header."""
    header = CodesHeader("ab" * 16, 1000, RATE, 320, 320 * 300_000, 1, (300_000,))
    tokens = torch.arange(300_000) % 1000
    buffer = io.BytesIO()
    write_codes(buffer, tokens, header)
    assert verify_codes(io.BytesIO(buffer.getvalue())) == header
    assert torch.equal(read_codes(io.BytesIO(buffer.getvalue()))[1], tokens)
    bigger = CodesHeader("ab" * 16, 1024, RATE, 320, 320 * 300_000, 1, (300_000,))
    damaged = io.BytesIO()
    write_codes(damaged, torch.cat([tokens[:-1], torch.tensor([1010])]), bigger)
    data = damaged.getvalue().replace(struct.pack("<Q", 1024), struct.pack("<Q", 1000), 1)
    head_end = 14 + struct.unpack_from("<I", data, 10)[0]
    data = data[:head_end] + struct.pack("<I", zlib.crc32(data[:head_end])) + data[head_end + 4:]
    for reader in (verify_codes, read_codes):
        with pytest.raises(UserInputError, match="token id 1010 at position 299999"):
            reader(io.BytesIO(data))


def test_info_on_a_fifo_is_refused_without_opening_it(tmp_path, capsys):
    """Before: ``info FIFO`` blocked forever waiting for a writer (encode and decode refused
    FIFOs already). The alarm turns a hang into a failure."""
    fifo = tmp_path / "x.codes"
    os.mkfifo(fifo)

    def hung(*_):
        raise AssertionError("info blocked on the FIFO")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(20)
    try:
        assert main(["info", str(fifo)]) == 2
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "x.codes: not a regular file (a FIFO" in lines[0], lines


def test_writing_codes_to_a_file_opened_for_reading_is_one_error(model, tmp_path):
    """Before: ``save_codes``/``write_codes`` to a file object opened ``'rb'`` raised
    ``io.UnsupportedOperation`` with a traceback."""
    codec, _ = model
    (tmp_path / "x.codes").write_bytes(b"")
    tokens = codec.encode(torch.randn(960) * 0.1, RATE)
    with open(tmp_path / "x.codes", "rb") as handle:
        with pytest.raises(UserInputError, match="x.codes: it is not open for writing"):
            codec.save_codes(tokens, handle)
        with pytest.raises(UserInputError, match="not open for writing"):
            write_codes(handle, torch.zeros(1, dtype=torch.long),
                        CodesHeader("ab" * 16, 4, RATE, 320, 320, 1, (1,)))


# -- the command line on random and truncated .codes files --------------------------------------
SETTINGS = dict(deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])


@pytest.fixture(scope="module")
def real_codes(model) -> bytes:
    codec, _ = model
    buffer = io.BytesIO()
    codec.save_codes(codec.encode(torch.randn(RATE // 2) * 0.1, RATE), buffer)
    return buffer.getvalue()


def exit_0_or_one_line(capsys, status: int) -> None:
    err = capsys.readouterr().err
    if status == 0:
        return
    lines = err.strip().splitlines()
    assert status == 2 and len(lines) == 1, (status, err[-2000:])
    assert lines[0].startswith("simvq-audio: error: ") and len(lines[0]) <= 400, lines[0]


@settings(max_examples=25, **SETTINGS)
@given(data=st.one_of(st.binary(max_size=300), st.builds(
    lambda prefix, rest: b"SVQCODES" + prefix + rest, st.binary(min_size=6, max_size=6),
    st.binary(max_size=200))))
def test_info_and_decode_on_random_bytes(model, tmp_path_factory, capsys, data):
    _, path = model
    folder = tmp_path_factory.mktemp("random")
    (folder / "x.codes").write_bytes(data)
    exit_0_or_one_line(capsys, main(["info", str(folder / "x.codes")]))
    exit_0_or_one_line(capsys, main(["decode", "--model", str(path), str(folder / "x.codes"),
                                     str(folder / "x.wav")]))


@settings(max_examples=25, **SETTINGS)
@given(cut=st.floats(0, 1), flip=st.one_of(st.none(), st.integers(0, 10**6)))
def test_info_and_decode_on_truncated_or_flipped_real_files(model, real_codes,
                                                            tmp_path_factory, capsys, cut,
                                                            flip):
    _, path = model
    data = bytearray(real_codes[:round(cut * len(real_codes))])
    if flip is not None and data:
        data[flip % len(data)] ^= 1 << (flip % 8)
    folder = tmp_path_factory.mktemp("cut")
    (folder / "x.codes").write_bytes(bytes(data))
    exit_0_or_one_line(capsys, main(["info", str(folder / "x.codes")]))
    status = main(["decode", "--model", str(path), str(folder / "x.codes"),
                   str(folder / "x.wav")])
    exit_0_or_one_line(capsys, status)
    assert (status == 0) == (bytes(data) == real_codes)
