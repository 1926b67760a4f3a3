"""data/audio_io: the one module that opens, reads, writes and resamples audio; one wording for
every file it cannot read."""

import io
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

import simvq_audio
from simvq_audio.data.audio_io import (
    StreamResampler,
    audio_bytes,
    audio_info,
    open_audio,
    read_audio,
    resample,
    write_audio,
)
from simvq_audio.errors import UserInputError

RATE = 16000


@pytest.fixture
def stereo(tmp_path):
    data = np.random.default_rng(0).standard_normal((RATE, 2)).astype(np.float32) * 0.1
    soundfile.write(tmp_path / "s.flac", data, RATE)
    return tmp_path / "s.flac"


def test_no_other_module_calls_soundfile_or_soxr():
    package = Path(simvq_audio.__file__).parent
    users = sorted(str(path.relative_to(package)) for path in package.rglob("*.py")
                   if re.search(r"^\s*(import|from) (soundfile|soxr)\b", path.read_text(),
                                re.MULTILINE))
    assert users == ["data/audio_io.py"]


def test_a_path_bytes_and_a_file_object_read_alike(stereo):
    expected, rate = read_audio(stereo, mono=False)
    assert expected.shape == (2, RATE) and rate == RATE
    with open(stereo, "rb") as handle:
        sources = [stereo, str(stereo), stereo.read_bytes(), handle]
        for source in sources:
            with open_audio(source) as audio:
                assert (audio.sample_rate, audio.info.frames, audio.info.channels) == (
                    RATE, RATE, 2)
                assert torch.equal(audio.read(), expected)


def test_ranges_and_mono_blocks_are_parts_of_the_whole(stereo):
    whole, _ = read_audio(stereo, mono=False)
    with open_audio(stereo) as audio:
        assert torch.equal(audio.read(1000, 500), whole[:, 1000:1500])
        blocks = list(audio.mono_blocks(0.1))
        assert torch.equal(audio.read(5, 10), whole[:, 5:15])  # after the blocks, still seekable
    assert [len(block) for block in blocks] == [1600] * 10
    assert torch.equal(torch.cat(blocks), whole.mean(dim=0))
    assert torch.equal(read_audio(stereo)[0][0], whole.mean(dim=0))


def test_one_wording_for_what_cannot_be_read(tmp_path):
    (tmp_path / "text.wav").write_text("not audio")
    cases = [(tmp_path / "gone.wav", None, f"{tmp_path / 'gone.wav'}: no such audio file"),
             (tmp_path, None, f"{tmp_path}: no such audio file"),
             (tmp_path / "text.wav", None, f"{tmp_path / 'text.wav'}: not a readable audio "
                                          "file (Format not recognised.)"),
             (b"not audio", "stdin", "stdin: not a readable audio file (Format not "
                                     "recognised.)"),
             (io.BytesIO(b""), None, "audio: not a readable audio file (")]
    for source, what, message in cases:
        with pytest.raises(UserInputError) as caught:
            read_audio(source, what=what)
        assert str(caught.value).startswith(message) and "0x" not in str(caught.value)


@pytest.mark.parametrize("value, message", [(float("nan"), "NaN"), (100.0, "divide by 32768")])
def test_bad_samples_are_refused_naming_the_file(tmp_path, value, message):
    data = np.zeros(RATE, dtype=np.float32)
    data[RATE // 2] = value
    soundfile.write(tmp_path / "bad.wav", data, RATE, subtype="FLOAT")
    with pytest.raises(UserInputError, match=f"bad.wav: the audio .*{message}"):
        read_audio(tmp_path / "bad.wav")
    with open_audio(tmp_path / "bad.wav") as audio, pytest.raises(UserInputError, match=message):
        list(audio.mono_blocks(0.1))
    soundfile.write(tmp_path / "empty.wav", data[:0], RATE)
    with open_audio(tmp_path / "empty.wav") as audio, pytest.raises(UserInputError,
                                                                   match="empty"):
        list(audio.mono_blocks(0.1))


def test_the_stream_resampler_joins_to_the_whole_resampling():
    wav = torch.randn(2, 44100) * 0.1
    stream = StreamResampler(44100, 24000, 2)
    pieces = [stream(wav[:, start:start + 7000], last=False) for start in range(0, 44100, 7000)]
    pieces.append(stream(torch.zeros(2, 0), last=True))
    joined = torch.cat(pieces, dim=-1)
    assert joined.shape == (2, 24000)
    torch.testing.assert_close(joined, resample(wav, 44100, 24000), atol=1e-6, rtol=0)


def test_the_writer_and_the_header_reader(tmp_path):
    wav = torch.linspace(-1, 1, 800)
    write_audio(tmp_path / "o.flac", wav, 8000, comment="hello")
    info = audio_info(tmp_path / "o.flac")
    assert (info.sample_rate, info.frames, info.channels, info.comment) == (8000, 800, 1, "hello")
    assert info.duration == 0.1
    assert audio_info(audio_bytes(wav, 8000)).frames == 800
    with pytest.raises(UserInputError, match="cannot tell the audio format"):
        write_audio(tmp_path / "o.xyz", wav, 8000)
