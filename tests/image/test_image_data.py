"""Image files, ImageFolder trees, sample patches, datasets and metrics."""

import pytest
import torch
from PIL import Image

from simvq_audio.errors import UserInputError
from simvq_audio.image.dataset import ImageFolderDataset
from simvq_audio.image.image_io import center_square, find_images, read_image, write_image
from simvq_audio.image.metrics import (
    InceptionUnavailable,
    format_scores,
    psnr,
    rfid_status,
    score_batches,
    ssim,
)
from simvq_audio.image.sample_patches import (
    SAMPLE_IMAGES,
    cut_patches,
    split_patches,
    write_sample_patches,
)


def test_png_round_trip_within_8_bit_rounding(tmp_path):
    image = torch.rand(3, 5, 7)
    write_image(tmp_path / "a.png", image)
    read = read_image(tmp_path / "a.png")
    assert read.shape == (3, 5, 7) and read.dtype == torch.float32
    assert (read - image).abs().max() <= 0.5 / 255 + 1e-6


@pytest.mark.parametrize("mode", ["L", "RGBA", "P"])
def test_other_colour_modes_become_rgb(tmp_path, mode):
    Image.new(mode, (4, 3)).save(tmp_path / "x.png")
    assert read_image(tmp_path / "x.png").shape == (3, 3, 4)


def test_non_image_missing_and_folder_inputs_are_refused(tmp_path):
    (tmp_path / "notes.png").write_text("not an image")
    with pytest.raises(UserInputError, match="not an image file"):
        read_image(tmp_path / "notes.png")
    with pytest.raises(UserInputError, match="no such file"):
        read_image(tmp_path / "missing.jpg")
    with pytest.raises(UserInputError, match="not a regular file \\(a directory\\)"):
        read_image(tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserInputError, match="no image files"):
        find_images(tmp_path / "empty")
    with pytest.raises(UserInputError, match="does not exist"):
        find_images(tmp_path / "missing")
    with pytest.raises(UserInputError, match=".png, .jpg"):
        write_image(tmp_path / "x.gif", torch.zeros(3, 2, 2))


def test_center_square_resizes_the_shorter_side():
    out = center_square(torch.rand(3, 40, 60), 16)
    assert out.shape == (3, 16, 16) and 0 <= out.min() and out.max() <= 1


def test_sample_patches_come_from_the_bundled_photos(tmp_path):
    splits = split_patches(size=16, train_count=3, valid_count=2)
    assert set(splits["train"]) == set(SAMPLE_IMAGES)
    for name in SAMPLE_IMAGES:
        assert splits["train"][name].shape == (3, 3, 16, 16)
        assert splits["valid"][name].shape == (2, 3, 16, 16)
    assert torch.equal(splits["train"]["coffee"], split_patches(16, 3, 2)["train"]["coffee"])
    assert write_sample_patches(tmp_path, 8, 2, 1) == 3 * len(SAMPLE_IMAGES)
    assert len(find_images(tmp_path / "train")) == 2 * len(SAMPLE_IMAGES)
    with pytest.raises(UserInputError, match="exceeds the image"):
        cut_patches(torch.zeros(3, 8, 8), 16, 1, 0)


def test_training_crops_are_reproducible_per_epoch(tmp_path):
    write_image(tmp_path / "a.png", torch.rand(3, 24, 40))
    dataset = ImageFolderDataset(find_images(tmp_path), 16, train=True, seed=3)
    first = dataset[0]
    assert first.shape == (3, 16, 16) and torch.equal(first, dataset[0])
    dataset.set_epoch(1)
    assert not torch.equal(first, dataset[0])
    evaluation = ImageFolderDataset(find_images(tmp_path), 16, train=False)
    assert torch.equal(evaluation[0], evaluation[0])


def test_psnr_and_ssim_known_values():
    images = torch.rand(2, 3, 16, 16)
    assert torch.isinf(psnr(images, images)).all()
    assert torch.allclose(psnr(torch.zeros(1, 3, 4, 4), torch.full((1, 3, 4, 4), 0.1)),
                          torch.tensor([20.0]))
    assert torch.allclose(ssim(images, images), torch.ones(2, dtype=torch.float64))
    assert (ssim(images, torch.rand(2, 3, 16, 16)) < 0.5).all()


def test_score_counts_utilisation_over_all_batches():
    batches = [torch.rand(2, 3, 8, 8), torch.rand(1, 3, 8, 8)]
    codes = iter([torch.tensor([[0, 1]]), torch.tensor([[1, 2]])])
    scores = score_batches(lambda x: next(codes), lambda t: torch.full((t.shape[0], 3, 8, 8), .5),
                           batches, num_codes=8)
    assert scores["images"] == 3 and scores["used_codes"] == 3
    assert scores["utilisation"] == pytest.approx(3 / 8)
    assert "| rFID | n/a |" in format_scores(scores, "n/a")
    with pytest.raises(UserInputError, match="no images"):
        score_batches(lambda x: x, lambda t: t, [], 8)


def test_rfid_is_not_available_without_weights_and_refused_with_them(tmp_path):
    assert "not available" in rfid_status(None)
    with pytest.raises(InceptionUnavailable, match="not implemented"):
        rfid_status(tmp_path / "inception.safetensors")
