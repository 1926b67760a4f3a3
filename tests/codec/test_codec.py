"""SimVQCodec: layouts and rates, batches equal to items, exact lookup decoding, files, errors."""

import io
import json
import math
import pickle
import subprocess
import sys

import numpy as np
import pytest
import soundfile
import torch

from simvq_audio.codec import SimVQCodec, TokenRow, Tokens
from simvq_audio.data.audio_io import read_audio
from simvq_audio.errors import UserInputError
from simvq_audio.model_dir import CONFIG_NAME, WEIGHTS_NAME, model_hash

from repo_paths import TINY_RECIPE

HOP = 320


@pytest.fixture(scope="module")
def codec():
    torch.manual_seed(0)
    return SimVQCodec.from_config(TINY_RECIPE)


@pytest.mark.parametrize("rate", [8000, 16000, 22050, 44100, 48000])
@pytest.mark.parametrize("channels", [1, 2])
def test_round_trip_every_rate_and_channel_count(codec, rate, channels):
    wav = np.random.default_rng(rate).standard_normal((channels, rate // 5)) * 0.1
    tokens = codec.encode(wav, rate)
    samples = round(rate // 5 * 24000 / rate)
    assert tokens.num_samples.tolist() == [samples]
    assert tokens.lengths.tolist() == [math.ceil(samples / HOP)] == [tokens.ids.shape[-1]]
    assert tokens.ids.dtype == torch.int64 and int(tokens.ids.max()) < 1024
    audio = codec.decode(tokens)
    assert audio.shape == (1, samples) and torch.isfinite(audio).all()


def test_layouts_give_the_same_tokens(codec):
    mono = torch.randn(4000) * 0.1
    reference = codec.encode(mono, 24000).ids
    assert torch.equal(codec.encode(mono[None], 24000).ids, reference)
    assert torch.equal(codec.encode(mono[None, None].numpy(), 24000).ids, reference)
    stereo = torch.stack([mono, mono])
    assert torch.equal(codec.encode(stereo, 24000).ids, reference)
    assert codec.decode(reference[0]).shape == (4000 // HOP * HOP + HOP,)
    assert codec.decode(reference).shape == (1, reference.shape[-1] * HOP)


def test_padded_batch_equals_items(codec):
    sizes = [8000, 3333, 1]
    batch = torch.randn(3, 2, 8000) * 0.1
    batch[1, :, 3333:] = 5.0  # garbage in the padding must not matter
    tokens = codec.encode(batch, 16000, lengths=sizes)
    audio = codec.decode(tokens)
    assert audio.shape == (3, int(tokens.num_samples.max()))
    for i, size in enumerate(sizes):
        alone = codec.encode(batch[i:i + 1], 16000, lengths=[size])
        assert torch.equal(tokens[i].ids, alone.ids)
        assert torch.equal(tokens.ids[i, tokens.lengths[i]:], torch.zeros_like(
            tokens.ids[i, tokens.lengths[i]:]))
        count = int(alone.num_samples[0])
        assert int(tokens.num_samples[i]) == count
        torch.testing.assert_close(audio[i, :count], codec.decode(alone)[0])
        assert not audio[i, count:].any()


def test_encoding_takes_the_quantizers_ids_only_path(codec, monkeypatch):
    """No loss and no statistics are computed to encode (the quantizer's forward is never run),
    and encode_signals of checked signals is encode's batch step."""
    from simvq_audio.quantize.base import VectorQuantizer

    signals = [torch.randn(5000) * 0.1, torch.randn(1200) * 0.1]
    expected = codec.encode(torch.stack([signals[0], torch.nn.functional.pad(
        signals[1], (0, 3800))])[:, None], 24000, lengths=[5000, 1200])

    def forbidden(*args, **kwargs):
        raise AssertionError("the training forward ran")

    monkeypatch.setattr(VectorQuantizer, "forward", forbidden)
    tokens = codec.encode_signals(signals)
    assert torch.equal(tokens.ids, expected.ids)
    assert tokens.lengths.tolist() == [16, 4] and tokens.num_samples.tolist() == [5000, 1200]
    with pytest.raises(UserInputError, match="list of float tensors"):
        codec.encode_signals(torch.zeros(2, 100))


def test_plain_ids_with_lengths_decode_each_item_alone(codec):
    ids = torch.randint(0, 1024, (2, 12))
    audio = codec.decode(ids, lengths=[12, 5])
    assert audio.shape == (2, 12 * HOP)
    torch.testing.assert_close(audio[1, :5 * HOP], codec.decode(ids[1, :5]))
    assert not audio[1, 5 * HOP:].any()


def test_decode_is_the_lookup_of_the_effective_codes(codec):
    ids = torch.randint(0, 1024, (2, 9))
    with torch.inference_mode():
        quantizer = codec.model.quantizer
        codes = quantizer.codebook @ quantizer.linear.weight.T + quantizer.linear.bias
        expected = codec.model.decoder(codes[ids].transpose(1, 2))
    assert torch.equal(codec.decode(ids), expected)


def test_encoding_is_deterministic_and_silence_is_fine(codec):
    silence = torch.zeros(2, 4800)
    first, second = codec.encode(silence, 24000), codec.encode(silence, 24000)
    assert torch.equal(first.ids, second.ids)
    assert torch.isfinite(codec.decode(first)).all()


def test_pretrained_round_trip(codec, tmp_path):
    path = codec.save_pretrained(tmp_path / "model")
    loaded = SimVQCodec.from_pretrained(path, device="cpu")
    assert loaded.model_hash == codec.model_hash
    wav = torch.randn(3000) * 0.1
    assert torch.equal(loaded.encode(wav, 24000).ids, codec.encode(wav, 24000).ids)
    assert json.loads((path / CONFIG_NAME).read_text())["model"]["quantizer"]["num_codes"] == 1024


@pytest.mark.parametrize("padding", ["zeros", "reflect"])
def test_padding_is_saved_and_a_config_without_it_means_zeros(codec, tmp_path, padding):
    config = json.loads((codec.save_pretrained(tmp_path / "model") / CONFIG_NAME).read_text())
    config["model"]["encoder"]["padding"] = padding
    (tmp_path / "model" / CONFIG_NAME).write_text(json.dumps(config))
    saved = SimVQCodec.from_pretrained(tmp_path / "model")
    assert saved.config.encoder.padding == padding
    resaved = json.loads((saved.save_pretrained(tmp_path / "again") / CONFIG_NAME).read_text())
    assert resaved["model"]["encoder"]["padding"] == padding
    del config["model"]["encoder"]["padding"]  # a model directory written before the option
    (tmp_path / "model" / CONFIG_NAME).write_text(json.dumps(config))
    old = SimVQCodec.from_pretrained(tmp_path / "model")
    assert old.config.encoder.padding == "zeros"
    wav = torch.randn(1000) * 0.1  # zeros: the input is zero-padded once to whole frames
    padded = torch.nn.functional.pad(wav, (0, 4 * HOP - 1000))
    assert torch.equal(old.encode(wav, 24000).ids, old.encode(padded, 24000).ids)


def test_model_identity_covers_the_padding(codec, tmp_path):
    """The same weights with the other padding give other tokens, so another identity; a
    zeros model keeps the identity of its weights alone (directories written before)."""
    path = codec.save_pretrained(tmp_path / "model")
    identities = {}
    for padding in ("zeros", "reflect"):
        config = json.loads((path / CONFIG_NAME).read_text())
        config["model"]["encoder"]["padding"] = padding
        (path / CONFIG_NAME).write_text(json.dumps(config))
        identities[padding] = SimVQCodec.from_pretrained(path).model_hash
    assert identities["zeros"] != identities["reflect"]
    assert identities["zeros"] == model_hash(codec.model.state_dict())


def test_from_pretrained_refuses_bad_directories(codec, tmp_path):
    path = codec.save_pretrained(tmp_path / "model")
    with pytest.raises(UserInputError, match="does not exist"):
        SimVQCodec.from_pretrained(tmp_path / "nowhere")
    config = json.loads((path / CONFIG_NAME).read_text())
    (path / CONFIG_NAME).write_text(json.dumps({**config, "train": {}}))
    with pytest.raises(UserInputError, match="not a codec model config"):
        SimVQCodec.from_pretrained(path)
    (path / CONFIG_NAME).write_text(json.dumps(config["model"]))
    with pytest.raises(UserInputError, match="not a codec model config"):
        SimVQCodec.from_pretrained(path)
    config["model"]["decoder"]["typo"] = 1
    (path / CONFIG_NAME).write_text(json.dumps(config))
    with pytest.raises(UserInputError, match="unknown key 'model.decoder.typo'"):
        SimVQCodec.from_pretrained(path)
    del config["model"]["decoder"]["typo"]
    config["model"]["quantizer"]["num_codes"] = 4096
    (path / CONFIG_NAME).write_text(json.dumps(config))
    with pytest.raises(UserInputError, match="do not fit its config.json"):
        SimVQCodec.from_pretrained(path)
    (path / WEIGHTS_NAME).write_bytes(pickle.dumps({"weights": 1}))
    with pytest.raises(UserInputError, match="pickle"):
        SimVQCodec.from_pretrained(path)


def test_file_helpers_and_codes(codec, tmp_path):
    wav = np.random.default_rng(0).standard_normal((44100, 2)).astype(np.float32) * 0.1
    soundfile.write(tmp_path / "in.flac", wav, 44100)
    tokens = codec.encode_file(tmp_path / "in.flac", block_seconds=0.1)
    audio, rate = read_audio(tmp_path / "in.flac")
    expected = codec.encode(audio, rate)
    assert torch.equal(tokens.ids, expected.ids)
    assert torch.equal(tokens.num_samples, expected.num_samples)
    codec.save_codes(tokens, tmp_path / "x.codes")
    loaded = codec.load_codes(tmp_path / "x.codes")
    assert torch.equal(loaded.ids, tokens.ids) and loaded.num_samples.tolist() == [24000]
    codec.decode_file(tmp_path / "x.codes", tmp_path / "out.wav")
    info = soundfile.info(tmp_path / "out.wav")
    assert (info.samplerate, info.frames, info.subtype) == (24000, 24000, "PCM_16")
    stream = io.BytesIO()
    codec.save_codes(tokens, stream)
    stream.seek(0)
    assert torch.equal(codec.load_codes(stream).ids, tokens.ids)


def test_codes_from_another_model_are_refused_unless_forced(codec, tmp_path):
    torch.manual_seed(1)
    other = SimVQCodec.from_config(TINY_RECIPE)
    other.save_codes(other.encode(torch.randn(2000) * 0.1, 24000), tmp_path / "x.codes")
    with pytest.raises(UserInputError, match="made by model"):
        codec.load_codes(tmp_path / "x.codes")
    assert codec.load_codes(tmp_path / "x.codes", force=True).lengths.tolist() == [7]


@pytest.mark.parametrize("wav, message", [
    (torch.zeros(0), "empty"),
    (torch.zeros(2, 0), "empty"),
    (torch.tensor([0.0, float("nan")]), "NaN"),
    (torch.tensor([0.0, float("inf")]), "NaN"),
    (torch.zeros(100, dtype=torch.int16), "float"),
    (torch.zeros(1, 1, 1, 100), r"\[B, C, T\]"),
])
def test_encode_refuses_bad_audio(codec, wav, message):
    with pytest.raises(UserInputError, match=message):
        codec.encode(wav, 24000)


def test_encode_refuses_bad_lengths_and_rates(codec):
    with pytest.raises(UserInputError, match="lengths"):
        codec.encode(torch.zeros(2, 1, 100), 24000, lengths=[100, 101])
    with pytest.raises(UserInputError, match="lengths"):
        codec.encode(torch.zeros(2, 1, 100), 24000, lengths=[100])
    with pytest.raises(UserInputError, match="sample_rate 0 Hz is outside"):
        codec.encode(torch.zeros(100), 0)


@pytest.mark.parametrize("ids, message", [
    (torch.tensor([1, 1024]), "out of range"),
    (torch.tensor([-1, 3]), "out of range"),
    (torch.zeros(1, 0, dtype=torch.long), "no tokens"),
    (torch.zeros(3), "integer ids"),
    (torch.zeros(1, 1, 3, dtype=torch.long), "integer ids"),
])
def test_decode_refuses_bad_ids(codec, ids, message):
    with pytest.raises(UserInputError, match=message):
        codec.decode(ids)


def test_decode_refuses_inconsistent_tokens(codec):
    tokens = Tokens(torch.zeros(1, 4, dtype=torch.long), torch.tensor([4]),
                    torch.tensor([5 * HOP]), 24000)
    with pytest.raises(UserInputError, match="num_samples"):
        codec.decode(tokens)
    with pytest.raises(UserInputError, match="lengths"):
        codec.decode(torch.zeros(2, 4, dtype=torch.long), lengths=[4, 5])


def test_tokens_is_the_deprecated_name_of_ids(codec):
    """``Tokens.tokens`` and ``TokenRow.tokens`` were renamed ``ids``: the old name still gives
    the same tensor, with a DeprecationWarning, so users' code keeps working."""
    tokens = codec.encode(torch.linspace(-0.5, 0.5, 2000), 24000)
    row = TokenRow("a", tokens.ids[0], 2000, 24000, None, None, codec.model_hash)
    for owner, value in (("Tokens", tokens), ("TokenRow", row)):
        with pytest.warns(DeprecationWarning, match=rf"{owner}\.tokens .* renamed {owner}\.ids"):
            old = value.tokens
        assert old is value.ids
    assert torch.equal(codec.decode(row), codec.decode(tokens)[0])


def test_loading_a_model_directory_imports_no_compiler(tmp_path):
    """from_pretrained checks the directory against shapes computed from its config and builds
    the model once, on its device. The shapes-only meta-device skeleton it built before
    imported sympy (``randn`` on meta) and, with torch's own weight norm and hann_window,
    torch._dynamo: most of a second of every CLI start."""
    script = ("import sys, torch; from simvq_audio.codec import SimVQCodec; "
              f"SimVQCodec.from_config({str(TINY_RECIPE)!r}).save_pretrained(sys.argv[1]); "
              "SimVQCodec.from_pretrained(sys.argv[1]); "
              "print([name for name in ('torch._dynamo', 'sympy') if name in sys.modules])")
    result = subprocess.run([sys.executable, "-c", script, str(tmp_path / "model")],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_compression_model_is_the_deprecated_name_of_pretrained_tokenizer():
    """The module and class renamed in issue 26 still import, with a DeprecationWarning, and
    are the new objects (in a fresh interpreter: a module warns once, when first imported)."""
    script = ("import warnings; warnings.simplefilter('error', DeprecationWarning)\n"
              "try:\n    import simvq_audio.compression_model\n"
              "except DeprecationWarning as warning:\n    print(warning)\n"
              "warnings.simplefilter('ignore', DeprecationWarning)\n"
              "from simvq_audio.compression_model import CompressionModel, load_pretrained\n"
              "from simvq_audio import pretrained_tokenizer as new\n"
              "print(CompressionModel is new.PretrainedTokenizer, "
              "load_pretrained is new.load_pretrained)")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            check=True)
    warning, same = result.stdout.splitlines()
    assert "renamed simvq_audio.pretrained_tokenizer" in warning
    assert same == "True True"
