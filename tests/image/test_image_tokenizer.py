"""Image tokenizer API: encode/decode shapes and range, model directories, token files."""

import json

import numpy as np
import pytest
import torch

from simvq_audio.errors import UserInputError
from simvq_audio.image.config import ImageModelConfig
from simvq_audio.image.token_files import load_tokens, save_tokens
from simvq_audio.image.tokenizer import SimVQImageTokenizer
from simvq_audio.model_dir import save_model_dir
from simvq_audio.quantize.factory import QuantizerConfig

MICRO = ImageModelConfig(resolution=16, channels=8, channel_mult=[1, 2], res_blocks=1,
                         attention=False, quantizer=QuantizerConfig(num_codes=64, dim=8))


@pytest.fixture(scope="module")
def tokenizer():
    torch.manual_seed(0)
    return SimVQImageTokenizer.from_config(MICRO)


def test_encode_decode_shapes_range_and_determinism(tokenizer):
    images = torch.rand(3, 3, 16, 16)
    tokens = tokenizer.encode(images)
    assert tokens.shape == (3, 8, 8) and tokens.dtype == torch.int64
    assert torch.equal(tokens, tokenizer.encode(images))
    assert torch.equal(tokens[1:2], tokenizer.encode(images[1]))  # one [3, H, W] image
    decoded = tokenizer.decode(tokens)
    assert decoded.shape == images.shape
    assert decoded.min() >= 0 and decoded.max() <= 1
    assert torch.allclose(tokenizer.decode(tokens[0]), decoded[:1], atol=1e-5)  # one [h, w]


def test_values_outside_the_unit_range_are_refused(tokenizer):
    for bad in (torch.full((1, 3, 16, 16), 1.5), torch.full((1, 3, 16, 16), float("nan"))):
        with pytest.raises(UserInputError, match=r"in \[0, 1\]"):
            tokenizer.encode(bad)


def test_save_and_load_pretrained_give_the_same_tokens(tokenizer, tmp_path):
    tokenizer.save_pretrained(tmp_path / "model")
    config = json.loads((tmp_path / "model" / "config.json").read_text())
    assert config["modality"] == "image" and config["model"]["resolution"] == 16
    loaded = SimVQImageTokenizer.from_pretrained(tmp_path / "model")
    images = torch.rand(2, 3, 16, 16)
    assert torch.equal(loaded.encode(images), tokenizer.encode(images))
    assert loaded.model_hash == tokenizer.model_hash


def test_audio_and_damaged_model_dirs_are_refused(tokenizer, tmp_path):
    save_model_dir(tmp_path / "audio", {"model": {"sample_rate": 24000}}, {})
    with pytest.raises(UserInputError, match="not an image tokenizer"):
        SimVQImageTokenizer.from_pretrained(tmp_path / "audio")
    tokenizer.save_pretrained(tmp_path / "model")
    config = json.loads((tmp_path / "model" / "config.json").read_text())
    config["model"]["channels"] = 16
    (tmp_path / "model" / "config.json").write_text(json.dumps(config))
    with pytest.raises(UserInputError, match="shape mismatch"):
        SimVQImageTokenizer.from_pretrained(tmp_path / "model")


@pytest.mark.parametrize("suffix", [".codes", ".npy"])
def test_token_file_round_trip_decodes_identically(tokenizer, tmp_path, suffix):
    tokens = tokenizer.encode(torch.rand(1, 3, 16, 16))[0]
    path = tmp_path / f"image{suffix}"
    save_tokens(path, tokens, tokenizer)
    read = load_tokens(path, tokenizer)
    assert torch.equal(read, tokens)
    assert torch.equal(tokenizer.decode(read), tokenizer.decode(tokens))


def test_codes_header_describes_the_image_grid(tokenizer, tmp_path):
    from simvq_audio.codes import read_codes

    save_tokens(tmp_path / "x.codes", torch.zeros(8, 6, dtype=torch.long), tokenizer)
    header, _ = read_codes(tmp_path / "x.codes")
    assert (header.grid, header.sample_rate, header.hop_length) == ((8, 6), 0, 0)
    assert (header.num_samples, header.channels, header.codebook_size) == (16 * 12, 3, 64)
    assert header.model_hash == tokenizer.model_hash


def test_codes_from_another_model_or_bad_token_files_are_refused(tokenizer, tmp_path):
    torch.manual_seed(1)
    other = SimVQImageTokenizer.from_config(MICRO)
    assert other.model_hash != tokenizer.model_hash
    save_tokens(tmp_path / "x.codes", torch.zeros(8, 8, dtype=torch.long), other)
    with pytest.raises(UserInputError, match="made by model"):
        load_tokens(tmp_path / "x.codes", tokenizer)
    assert load_tokens(tmp_path / "x.codes", tokenizer, force=True).shape == (8, 8)
    np.save(tmp_path / "float.npy", np.zeros((8, 8)))
    with pytest.raises(UserInputError, match="integer token grid"):
        load_tokens(tmp_path / "float.npy", tokenizer)
    (tmp_path / "junk.npy").write_text("hello")
    with pytest.raises(UserInputError, match="not a readable .npy"):
        load_tokens(tmp_path / "junk.npy", tokenizer)
    with pytest.raises(UserInputError, match=".codes or .npy"):
        save_tokens(tmp_path / "x.txt", torch.zeros(8, 8, dtype=torch.long), tokenizer)
