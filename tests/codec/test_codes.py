"""The .codes container: bit-packing round trips, every kind of damage refused, the info CLI."""

import io
import struct
import zlib

import numpy as np
import pytest
import torch

from simvq_audio import cli
from simvq_audio.codes import (
    FORMAT_VERSION,
    CodesHeader,
    check_model,
    pack_tokens,
    read_codes,
    unpack_tokens,
    write_codes,
)
from simvq_audio.errors import UserInputError

SOURCE_BYTES = 33  # the version 2 source field, which ends the header body
HASH = "0123456789abcdef" * 2
OTHER_HASH = "f" * 32


def audio_header(frames: int, codebook_size: int = 4096, **changes) -> CodesHeader:
    fields = dict(model_hash=HASH, codebook_size=codebook_size, sample_rate=24000,
                  hop_length=320, num_samples=max(frames * 320 - 17, 0), channels=2, grid=(frames,))
    return CodesHeader(**{**fields, **changes})


def encoded(tokens: torch.Tensor, header: CodesHeader) -> bytes:
    buffer = io.BytesIO()
    write_codes(buffer, tokens, header)
    return buffer.getvalue()


def read_bytes(data: bytes, name: str = "damaged.codes"):
    stream = io.BytesIO(data)
    stream.name = name
    return read_codes(stream)


@pytest.mark.parametrize("codebook_size", [2, 3, 4096, 65536, 262144, 2**24, 2**32])
@pytest.mark.parametrize("frames", [0, 1, 7, 1001])
def test_round_trip_exact_for_every_codebook_size(tmp_path, codebook_size, frames):
    tokens = torch.randint(0, codebook_size, (frames,))
    if frames:
        tokens[0], tokens[-1] = codebook_size - 1, 0
    header = audio_header(frames, codebook_size)
    path = tmp_path / "x.codes"
    write_codes(path, tokens, header)
    read_header, read_tokens = read_codes(path)
    assert read_header == header
    assert read_tokens.dtype == torch.int64 and torch.equal(read_tokens, tokens)
    assert header.payload_bytes == -(-frames * header.bits_per_token // 8)
    assert path.stat().st_size == len(encoded(tokens, header))


def test_bits_per_token_is_ceil_log2():
    sizes = {2: 1, 3: 2, 4: 2, 5: 3, 4096: 12, 4097: 13, 65536: 16, 262144: 18, 2**24: 24}
    assert {k: audio_header(1, k).bits_per_token for k in sizes} == sizes


def test_packing_is_dense_and_msb_first():
    bits = np.array([1, 0, 1, 1, 0, 1, 0, 0, 1], np.uint64)
    assert pack_tokens(bits, 1) == bytes([0b10110100, 0b10000000])
    assert pack_tokens(np.array([0xABC, 0x123], np.uint64), 12) == bytes([0xAB, 0xC1, 0x23])
    values = np.random.default_rng(0).integers(0, 2**18, 999, dtype=np.uint64)
    assert np.array_equal(unpack_tokens(pack_tokens(values, 18), 999, 18), values)


def test_model_hash_is_normalised_to_lower_case():
    header = audio_header(1, model_hash=HASH.upper())
    assert header.model_hash == HASH
    assert read_bytes(encoded(torch.zeros(1, dtype=torch.long), header))[0] == header


def test_image_grid_round_trip():
    header = CodesHeader(HASH, 65536, 0, 0, 0, 3, (16, 16))
    tokens = torch.randint(0, 65536, (16, 16))
    read_header, read_tokens = read_bytes(encoded(tokens, header))
    assert read_header.grid == (16, 16) and torch.equal(read_tokens, tokens)
    assert read_header.bitrate_kbps is None


def test_hour_of_audio_is_fast_enough():
    frames = 75 * 3600
    tokens = torch.randint(0, 2**24, (frames,))
    header = audio_header(frames, 2**24)
    data = encoded(tokens, header)
    assert len(data) < frames * 3 + 200
    assert torch.equal(read_bytes(data)[1], tokens)


def test_writer_refuses_bad_tokens():
    with pytest.raises(UserInputError, match="out of range|must be in"):
        encoded(torch.tensor([0, 4096]), audio_header(2))
    with pytest.raises(UserInputError, match="must be in"):
        encoded(torch.tensor([-1, 3]), audio_header(2))
    with pytest.raises(UserInputError, match="shape"):
        encoded(torch.zeros(3, dtype=torch.long), audio_header(2))
    with pytest.raises(UserInputError, match="integers"):
        encoded(torch.zeros(2), audio_header(2))


@pytest.mark.parametrize("changes, message", [
    ({"model_hash": "xyz"}, "model_hash"), ({"model_hash": "ab cd" * 6 + "ab"}, "model_hash"),
    ({"model_hash": "g" * 32}, "model_hash"), ({"codebook_size": 1}, "codebook_size"),
    ({"codebook_size": 2**32 + 1}, "codebook_size"), ({"sample_rate": -1}, "sample_rate"),
    ({"channels": 2**16}, "channels"), ({"grid": ()}, "grid"), ({"grid": (2, -1)}, "grid"),
    ({"hop_length": 1.5}, "hop_length"),
])
def test_header_validation(changes, message):
    with pytest.raises(UserInputError, match=message):
        audio_header(4, **changes)


def test_write_to_path_is_atomic(tmp_path):
    path = tmp_path / "x.codes"
    with pytest.raises(UserInputError):
        write_codes(path, torch.tensor([9999]), audio_header(1))
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------- damage

GOOD_TOKENS = torch.randint(0, 4096, (37,), generator=torch.Generator().manual_seed(1))
GOOD = encoded(GOOD_TOKENS, audio_header(37))
HEADER_END = len(GOOD) - audio_header(37).payload_bytes - 4


def assert_refused(data: bytes, *fragments: str):
    with pytest.raises(UserInputError) as caught:
        read_bytes(data)
    message = str(caught.value)
    assert message.startswith("damaged.codes: ") and "\n" not in message
    assert any(fragment in message for fragment in fragments), message


@pytest.mark.parametrize("cut", range(len(GOOD)))
def test_every_truncation_is_refused(cut):
    assert_refused(GOOD[:cut], "truncated", "empty")


@pytest.mark.parametrize("bit", range(HEADER_END * 8))
def test_every_header_bit_flip_is_refused(bit):
    damaged = bytearray(GOOD)
    damaged[bit // 8] ^= 1 << (bit % 8)
    assert_refused(bytes(damaged), "magic", "checksum", "implausible", "truncated")


@pytest.mark.parametrize("bit", range(HEADER_END * 8, len(GOOD) * 8, 7))
def test_payload_bit_flips_are_refused(bit):
    damaged = bytearray(GOOD)
    damaged[bit // 8] ^= 1 << (bit % 8)
    assert_refused(bytes(damaged), "payload checksum")


def forge(header_body_edit=None, payload: bytes | None = None, version: int = FORMAT_VERSION):
    """Rebuild GOOD with valid checksums after editing its header body or payload."""
    body_size = struct.unpack_from("<I", GOOD, 10)[0]
    body = bytearray(GOOD[14:14 + body_size])
    if header_body_edit:
        header_body_edit(body)
    if payload is None:
        payload = GOOD[HEADER_END:-4]
    head = GOOD[:8] + struct.pack("<HI", version, len(body)) + bytes(body)
    return (head + struct.pack("<I", zlib.crc32(head)) + payload
            + struct.pack("<I", zlib.crc32(payload)))


def test_forge_helper_reproduces_the_writer():
    assert forge() == GOOD


def test_wrong_magic_and_non_codes_files():
    assert_refused(b"RIFF" + GOOD[4:], "magic")
    assert_refused(b"PK\x03\x04" + bytes(100), "magic")
    assert_refused(b"", "empty")


def test_future_version_is_refused():
    assert_refused(forge(version=FORMAT_VERSION + 1),
                   f"version {FORMAT_VERSION + 1} is not supported")


def test_trailing_garbage_is_refused():
    assert_refused(GOOD + b"\0", "after the end")


def test_header_payload_length_mismatch_is_refused():
    def grow_payload_length(body):
        end = len(body) - SOURCE_BYTES
        body[end - 8:end] = struct.pack("<Q", struct.unpack("<Q", body[end - 8:end])[0] + 1)
    assert_refused(forge(grow_payload_length, payload=GOOD[HEADER_END:-4] + b"\0"),
                   "length mismatch")


def test_token_beyond_codebook_is_refused():
    def shrink_codebook(body):
        body[16:24] = struct.pack("<Q", 3000)
    tokens = GOOD_TOKENS % 3000
    tokens[5] = 4000
    payload = encoded(tokens, audio_header(37))[HEADER_END:-4]
    assert_refused(forge(shrink_codebook, payload=payload), "token id 4000 at position 5")


def test_nonzero_padding_is_refused():
    payload = bytearray(GOOD[HEADER_END:-4])
    payload[-1] |= 1  # 37 * 12 bits leaves 4 padding bits
    assert_refused(forge(payload=bytes(payload)), "padding")


def test_missing_file_names_it(tmp_path):
    with pytest.raises(UserInputError, match="nope.codes"):
        read_codes(tmp_path / "nope.codes")


def test_foreign_model_is_refused_unless_forced():
    header = audio_header(3)
    assert check_model(header, HASH) is True
    with pytest.raises(UserInputError) as caught:
        check_model(header, OTHER_HASH)
    assert HASH in str(caught.value) and OTHER_HASH in str(caught.value)
    assert "force" in str(caught.value)
    assert check_model(header, OTHER_HASH, force=True) is False


# ---------------------------------------------------------------- info CLI

def test_info_prints_the_header(tmp_path, capsys):
    path = tmp_path / "speech.codes"
    path.write_bytes(encoded(torch.zeros(750, dtype=torch.long), audio_header(750, 65536)))
    assert cli.main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    for expected in (HASH, "65536 (16 bits per token)", "24000 Hz", "320 samples", "750",
                     "9.999 s (239983 samples)", "1.200 kbps", f"format version  {FORMAT_VERSION}",
                     "input           not recorded"):
        assert expected in out, expected


@pytest.mark.parametrize("content, message", [
    (GOOD[:-1], "truncated"), (b"hello world", "magic"), (GOOD + b"x", "after the end"),
    (None, "no such .codes file"),
])
def test_info_on_bad_files_is_one_line_exit_2(tmp_path, capsys, content, message):
    path = tmp_path / "bad.codes"
    if content is not None:
        path.write_bytes(content)
    assert cli.main(["info", str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("simvq-audio: error: ")
    assert str(path) in lines[0] and message in lines[0]
