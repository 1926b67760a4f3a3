"""The image file API called from Python (:mod:`simvq_audio.image.files`): folders of images
to token files and back, and the scores of a folder, under the output policy
(:mod:`simvq_audio.outputs`); the same through the CLI: tests/image/test_image_training.py."""

import io
import json

import numpy as np
import pytest
import torch

from simvq_audio import outputs
from simvq_audio.cli import main
from simvq_audio.codes import verify_codes
from simvq_audio.errors import UserInputError
from simvq_audio.image import files
from simvq_audio.image.image_io import read_image, write_image
from simvq_audio.image.tokenizer import SimVQImageTokenizer

from hostile_helpers import assert_main_refused
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


# -- the output policy (simvq_audio.outputs) ------------------------------------------------------
@pytest.fixture(scope="module")
def model_dir(tokenizer, tmp_path_factory):
    return tokenizer.save_pretrained(tmp_path_factory.mktemp("image") / "model")


def test_decode_refuses_to_replace_original_photos_unless_overwrite(tokenizer, model_dir,
                                                                    tmp_path, capsys,
                                                                    monkeypatch):
    """Before: ``image decode tokens/ photos/`` silently replaced the photos it was made from."""
    monkeypatch.chdir(tmp_path)  # short names: the message lists them all on one line
    write_tree(tmp_path / "photos", 2)
    assert files.encode_images(tokenizer, tmp_path / "photos", tmp_path / "tokens") == 2
    originals = {path: path.read_bytes() for path in (tmp_path / "photos").rglob("*.png")}
    decode = ["image", "decode", "--model", str(model_dir), "tokens", "photos"]
    assert_main_refused(main(decode), capsys, "2 existing output(s) would be replaced",
                        "photos/class0/000.png (an image records nothing to verify)",
                        "photos/class1/001.png", "--overwrite", "nothing was written")
    assert {path: path.read_bytes() for path in originals} == originals
    assert main(decode + ["--overwrite"]) == 0
    assert all(path.read_bytes() != data for path, data in originals.items())


def test_decode_never_writes_over_its_input(tokenizer, tmp_path):
    write_tree(tmp_path / "photos", 1)
    files.encode_images(tokenizer, tmp_path / "photos", tmp_path / "tokens")
    codes = tmp_path / "tokens" / "class0" / "000.codes"
    (tmp_path / "link.png").symlink_to(codes)
    before = codes.read_bytes()
    with pytest.raises(UserInputError, match="is also an input .*even with --overwrite"):
        files.decode_token_files(tokenizer, codes, tmp_path / "link.png", overwrite=True)
    assert codes.read_bytes() == before


def test_encode_skips_done_files_redoes_changed_images_and_refuses_foreign_codes(
        tokenizer, model_dir, tmp_path, capsys):
    write_tree(tmp_path / "images", 3)
    encode = ["image", "encode", "--model", str(model_dir), str(tmp_path / "images"),
              str(tmp_path / "codes")]
    assert main(encode) == 0
    image = tmp_path / "images" / "class0" / "002.png"
    codes = tmp_path / "codes" / "class0" / "002.codes"
    assert verify_codes(codes).source == outputs.input_id(image)
    capsys.readouterr()
    assert main(encode) == 0
    out, err = capsys.readouterr()
    assert "encoded 0 image(s)" in out and "3 of 3 output(s) already done" in err

    write_image(image, torch.rand(3, 16, 20))
    log = io.StringIO()
    assert files.encode_images(tokenizer, tmp_path / "images", tmp_path / "codes", log=log) == 1
    assert "redoing 1 earlier output(s)" in log.getvalue() and "2 of 3" in log.getvalue()
    assert verify_codes(codes).source == outputs.input_id(image)

    torch.manual_seed(1)
    other = SimVQImageTokenizer.from_config(MICRO)
    files.encode_images(other, tmp_path / "images", tmp_path / "codes", overwrite=True)
    foreign = {path: path.read_bytes() for path in (tmp_path / "codes").rglob("*.codes")}
    with pytest.raises(UserInputError, match="3 existing output.*made by another model"):
        files.encode_images(tokenizer, tmp_path / "images", tmp_path / "codes")
    assert {path: path.read_bytes() for path in foreign} == foreign
    assert files.encode_images(tokenizer, tmp_path / "images", tmp_path / "codes",
                               overwrite=True) == 3
    assert verify_codes(codes).model_hash == tokenizer.model_hash


def test_encode_refuses_an_existing_npy_and_two_images_sharing_an_output(tokenizer, tmp_path):
    write_tree(tmp_path / "images", 1)
    image = tmp_path / "images" / "class0" / "000.png"
    files.encode_images(tokenizer, image, tmp_path / "x.npy")
    with pytest.raises(UserInputError, match="x.npy .a .npy file records no model or input"):
        files.encode_images(tokenizer, image, tmp_path / "x.npy")
    assert files.encode_images(tokenizer, image, tmp_path / "x.npy", overwrite=True) == 1
    write_image(tmp_path / "images" / "class0" / "000.jpg", torch.rand(3, 16, 20))
    with pytest.raises(UserInputError, match="would be written by two inputs"):
        files.encode_images(tokenizer, tmp_path / "images", tmp_path / "tokens")
    assert not (tmp_path / "tokens").exists()


def test_score_replaces_its_own_report_and_refuses_one_of_other_images(tokenizer, tmp_path):
    write_tree(tmp_path / "a", 2)
    write_tree(tmp_path / "b", 3)
    out = tmp_path / "scores"
    files.score_folder(tokenizer, tmp_path / "a", out=out)
    assert files.score_folder(tokenizer, tmp_path / "a", out=out)["images"] == 2
    before = (out / "summary.json").read_bytes()
    with pytest.raises(UserInputError, match="scores .holds summary.json, summary.md that"):
        files.score_folder(tokenizer, tmp_path / "b", out=out)
    assert (out / "summary.json").read_bytes() == before
    assert files.score_folder(tokenizer, tmp_path / "b", out=out, overwrite=True)["images"] == 3
    assert json.loads((out / "summary.json").read_text())["inputs"]["images"] == str(
        tmp_path / "b")
