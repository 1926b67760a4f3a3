"""The file API (simvq_audio.codec.files) that ``encode``, ``decode`` and ``decode_file`` share:
what it writes is what the codec's own calls make, each ``.codes`` file is read once, and a
Python call prints nothing."""

import io

import pytest
import torch

from simvq_audio import outputs
from simvq_audio.codec import files

from hostile_helpers import cli, tiny_model, wav_file


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return tiny_model(tmp_path_factory)


def test_encoded_files_are_the_bytes_of_save_codes(model, tmp_path):
    """Each ``.codes`` file the command writes (batched or streamed) is ``save_codes`` of
    ``encode_file`` with the input's channels and identity."""
    codec, path = model
    wavs = [wav_file(tmp_path / "in" / "a.wav", seconds=0.3, channels=2),
            wav_file(tmp_path / "in" / "b.wav", seconds=1.2, seed=2)]
    assert cli("encode", "--model", path, "--max-batch-seconds", "1.0", tmp_path / "in",
               tmp_path / "out") == 0
    for wav, channels in zip(wavs, (2, 1)):
        expected = io.BytesIO()
        codec.save_codes(codec.encode_file(wav), expected, channels, outputs.input_id(wav))
        assert (tmp_path / "out" / f"{wav.stem}.codes").read_bytes() == expected.getvalue()


def test_decoded_files_are_the_tagged_audio_of_each_decode_alone(model, tmp_path):
    """A batch of ``.codes`` files of different lengths decodes to the bytes of decoding each
    alone, tagged with the model and the identity of its ``.codes`` file."""
    codec, path = model
    for name, samples in (("a", 4800), ("b", 2000)):
        codec.save_codes(codec.encode(torch.randn(samples) * 0.1, codec.sample_rate),
                         tmp_path / "codes" / f"{name}.codes")
    assert cli("decode", "--model", path, tmp_path / "codes", tmp_path / "wav") == 0
    for name in ("a", "b"):
        codes = tmp_path / "codes" / f"{name}.codes"
        expected = outputs.decoded_audio(codec.decode(codec.load_codes(codes))[0],
                                         codec.sample_rate, ".wav", codec.model_hash,
                                         outputs.input_id(codes))
        assert (tmp_path / "wav" / f"{name}.wav").read_bytes() == expected


def test_decode_reads_each_codes_file_once(model, tmp_path, request):
    """Before: a rerun opened each ``.codes`` file twice to classify its output (once to hash
    it, once to check its header), and a third time to decode it when it was not done."""
    codec, path = model
    for name in ("a", "b"):
        codec.save_codes(codec.encode(torch.randn(3000) * 0.1, codec.sample_rate),
                         tmp_path / "codes" / f"{name}.codes")
    opened = request.getfixturevalue("opened_files")  # counted from here on
    for run in ("first", "rerun: all done"):
        opened.clear()
        assert cli("decode", "--model", path, tmp_path / "codes", tmp_path / "wav") == 0, run
        assert sorted(name for name in opened if name.endswith(".codes")) == [
            str(tmp_path / "codes" / "a.codes"), str(tmp_path / "codes" / "b.codes")], run


def test_python_calls_print_nothing(model, tmp_path, capsys):
    """``decode_file`` (new, done, then redone after its input changed) and a plan run with no
    log say nothing on stdout or stderr; the command line's notes are its own."""
    codec, _ = model
    codes = tmp_path / "x.codes"
    tokens = codec.encode(torch.randn(3000) * 0.1, codec.sample_rate)
    codec.save_codes(tokens, codes, source=outputs.stream_id(b"first"))
    codec.decode_file(codes, tmp_path / "x.wav")
    codec.decode_file(codes, tmp_path / "x.wav")
    codec.save_codes(tokens, codes, source=outputs.stream_id(b"second"))
    codec.decode_file(codes, tmp_path / "x.wav")
    wav_file(tmp_path / "in" / "a.wav")
    plan = files.plan_encode(str(tmp_path / "in"), str(tmp_path / "out"))
    assert files.encode(codec, plan) == 0
    assert files.encode(codec, plan) == 0
    assert capsys.readouterr() == ("", "")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.codes"]
