"""The image file API called from Python (:mod:`simvq_audio.image.files`): folders of images
to token files and back, and the scores of a folder; the same through the CLI:
tests/image/test_image_training.py."""

import io
import json

import numpy as np
import pytest
import torch

from simvq_audio.errors import UserInputError
from simvq_audio.image import files
from simvq_audio.image.image_io import read_image
from simvq_audio.image.tokenizer import SimVQImageTokenizer

from image_helpers import MICRO, write_tree


@pytest.fixture(scope="module")
def tokenizer():
    torch.manual_seed(0)
    return SimVQImageTokenizer.from_config(MICRO)


def test_a_folder_is_encoded_and_decoded_file_by_file_keeping_the_tree(tokenizer, tmp_path):
    write_tree(tmp_path / "images", 3)
    assert files.encode_images(tokenizer, tmp_path / "images", tmp_path / "tokens", "npy") == 3
    names = sorted(p.relative_to(tmp_path / "tokens").as_posix()
                   for p in (tmp_path / "tokens").rglob("*.npy"))
    assert names == ["class0/000.npy", "class0/002.npy", "class1/001.npy"]
    image = read_image(tmp_path / "images" / "class1" / "001.png")  # [3, 16, 20]
    grid = np.load(tmp_path / "tokens" / "class1" / "001.npy")
    assert np.array_equal(grid, tokenizer.encode(image)[0].numpy())  # [8, 10]

    assert files.decode_token_files(tokenizer, tmp_path / "tokens", tmp_path / "decoded") == 3
    decoded = read_image(tmp_path / "decoded" / "class1" / "001.png")
    expected = tokenizer.decode(torch.from_numpy(grid))[0]
    assert decoded.shape == (3, 16, 20)
    assert (decoded - expected).abs().max() <= 0.5 / 255 + 1e-6  # 8-bit rounding only


def test_a_folder_without_token_files_is_refused(tokenizer, tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserInputError, match="no .codes or .npy files under"):
        files.decode_token_files(tokenizer, tmp_path / "empty", tmp_path / "decoded")


def test_scoring_returns_what_summary_json_holds_and_logs_the_table(tokenizer, tmp_path):
    write_tree(tmp_path / "images", 2)
    log = io.StringIO()
    summary = files.score_folder(tokenizer, tmp_path / "images", batch_size=1,
                                 out=tmp_path / "scores", log=log)
    assert summary["images"] == 2 and 0 < summary["utilisation"] <= 1
    assert json.loads((tmp_path / "scores" / "summary.json").read_text()) == summary
    assert log.getvalue() == (tmp_path / "scores" / "summary.md").read_text()
    assert log.getvalue().startswith("| metric | value |")
    with pytest.raises(UserInputError, match="not implemented"):
        files.score_folder(tokenizer, tmp_path / "images",
                           inception_weights=tmp_path / "inception.safetensors")
