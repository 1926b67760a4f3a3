"""encode_files, the one path from many audio files to tokens (CLI encode and tokenize): each file
opened once, tokens equal to encoding it alone, per-file errors."""


import numpy as np
import pytest
import soundfile
import torch

from simvq_audio import outputs
from simvq_audio.codec import SimVQCodec
from simvq_audio.codec.encode_files import encode_files

from repo_paths import TINY_RECIPE


@pytest.fixture(scope="module")
def codec():
    torch.manual_seed(0)
    return SimVQCodec.from_config(TINY_RECIPE)


def write(path, seconds, rate=16000, channels=1, value=None):
    data = np.random.default_rng(len(path.name)).standard_normal((round(seconds * rate),
                                                                  channels)) * 0.1
    if value is not None:
        data[:] = value
    soundfile.write(path, data.astype(np.float32), rate, subtype="FLOAT")
    return path


def test_each_file_is_opened_once_and_gives_the_tokens_of_encoding_it_alone(codec, tmp_path,
                                                                             monkeypatch, request):
    paths = [write(tmp_path / "short.wav", 0.3, channels=2), write(tmp_path / "tiny.wav", 0.05),
             write(tmp_path / "long.wav", 1.2, rate=22050)]
    opened = request.getfixturevalue("opened_files")  # counted from here on
    results = encode_files(codec, paths, stream_seconds=1.0)  # long.wav is streamed
    monkeypatch.undo()
    names = {str(path) for path in paths}
    assert sorted(name for name in opened if name in names) == sorted(names)
    for path, result in zip(paths, results):
        alone = codec.encode_file(path)
        assert torch.equal(result.tokens.ids, alone.ids)
        assert torch.equal(result.tokens.num_samples, alone.num_samples)
        assert result.source == outputs.input_id(path)
    assert [result.channels for result in results] == [2, 1, 1]


def test_a_bad_file_is_its_message_and_the_others_go_on(codec, tmp_path):
    good = write(tmp_path / "good.wav", 0.2)
    (tmp_path / "text.wav").write_text("not audio")
    nan = write(tmp_path / "nan.wav", 0.2, value=float("nan"))
    long_nan = write(tmp_path / "long_nan.wav", 0.5, value=float("nan"))
    results = encode_files(codec, [tmp_path / "text.wav", good, nan, tmp_path / "gone.wav",
                                   long_nan], stream_seconds=0.4)
    assert results[0] == f"{tmp_path / 'text.wav'}: not a readable audio file (Format not " \
                         "recognised.)"
    assert torch.equal(results[1].tokens.ids, codec.encode_file(good).ids)
    assert results[2].startswith(f"{nan}: the audio contains NaN")
    assert results[3] == f"{tmp_path / 'gone.wav'}: no such audio file"
    assert "NaN" in results[4]


def test_bytes_from_stdin_are_one_more_source(codec, tmp_path):
    path = write(tmp_path / "a.wav", 0.2)
    (from_file,), (from_bytes,) = (encode_files(codec, [source], 60.0)
                                   for source in (path, path.read_bytes()))
    assert torch.equal(from_file.tokens.ids, from_bytes.tokens.ids)
    assert from_bytes.source == outputs.stream_id(path.read_bytes())
    assert encode_files(codec, [b"junk"], 60.0) == ["stdin: not a readable audio file (Format "
                                                    "not recognised.)"]
