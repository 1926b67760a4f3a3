"""Image tokenizer training: a few CPU steps on sample patches lower the reconstruction loss;
the PatchGAN step; the trainer end to end through the CLI (train, resume, export, encode,
decode, score) and its input errors. An interrupted run resuming to the same weights (slow):
tests/slow/test_image_training_slow.py."""

import json

import torch
from accelerate import Accelerator

from simvq_audio.cli import main
from simvq_audio.image.config import (
    ImageLossConfig,
    ImageTrainConfig,
)
from simvq_audio.image.discriminator import PatchDiscriminator
from simvq_audio.image.image_io import read_image, write_image
from simvq_audio.image.losses import ImageGeneratorLoss
from simvq_audio.image.model import ImageAutoencoder
from simvq_audio.image.sample_patches import split_patches
from simvq_audio.image.train_step import ImageGanStep
from simvq_audio.train.optim import build_optimizer
from simvq_audio.train.step import GanUpdates

from image_helpers import MICRO, write_tree
from train_helpers import nan_generator_loss


def make_step(gan_start_step: int) -> tuple[ImageGanStep, ImageAutoencoder]:
    train = ImageTrainConfig(lr=3e-3, warmup_steps=1, scheduler="constant",
                             gan_start_step=gan_start_step)
    model = ImageAutoencoder.from_hparams(MICRO)
    discriminator = PatchDiscriminator(channels=8, layers=1)
    gan = GanUpdates(Accelerator(cpu=True), model, discriminator,
                     build_optimizer(model.parameters(), train),
                     build_optimizer(discriminator.parameters(), train), train)
    return ImageGanStep(gan, ImageGeneratorLoss.from_hparams(ImageLossConfig())), model


def test_a_few_cpu_steps_lower_the_reconstruction_loss_on_sample_patches():
    patches = split_patches(size=16, train_count=4, valid_count=1)["train"]
    images = torch.cat(list(patches.values())) * 2 - 1  # [20, 3, 16, 16] in [-1, 1]
    step, model = make_step(gan_start_step=1000)

    def l1() -> float:
        with torch.no_grad():
            return float((model(images)[0] - images).abs().mean())

    before = l1()
    for index in range(20):
        result = step(images, index)
        assert result.skipped is None and result.tokens.shape == (20, 8, 8)
    assert l1() < 0.8 * before
    assert "loss/discriminator" not in result.scalars


def test_gan_step_updates_the_patch_discriminator_and_skips_nan():
    step, _ = make_step(gan_start_step=0)
    images = torch.rand(4, 3, 16, 16) * 2 - 1
    weights = [p.clone() for p in step.gan.discriminator.parameters()]
    result = step(images, 0)
    assert {"loss/discriminator", "loss/adversarial", "loss/l1"} <= set(result.scalars)
    assert any(not torch.equal(a, b)
               for a, b in zip(weights, step.gan.discriminator.parameters()))
    with nan_generator_loss(step.loss):
        assert step(images, 1).skipped.startswith("generator loss is nan")


def test_train_resume_export_encode_decode_score_through_the_cli(tmp_path, capsys):
    config = tmp_path / "micro.yaml"
    config.write_text(json.dumps({
        "model": {"resolution": 16, "channels": 8, "channel_mult": [1, 2], "res_blocks": 1,
                  "attention": False, "quantizer": {"num_codes": 64, "dim": 8}},
        "discriminator": {"channels": 8, "layers": 1},
        "train": {"batch_size": 4, "warmup_steps": 1, "max_steps": 3, "gan_start_step": 2,
                  "mixed_precision": "no", "checkpoint_every": 2, "log_every": 1,
                  "valid_every": 2, "num_workers": 0}}))
    write_tree(tmp_path / "train", 8)
    write_tree(tmp_path / "valid", 2)
    exp = tmp_path / "exp"
    common = ["image", "train", "--config", str(config), "--train-dir", str(tmp_path / "train"),
              "--valid-dir", str(tmp_path / "valid"), "--exp-dir", str(exp), "--cpu"]
    assert main(common) == 0
    assert main(common) == 2  # checkpoints exist: needs --resume
    assert main(common + ["--resume", "--max-steps", "5"]) == 0
    assert "resumed from" in capsys.readouterr().out
    assert sorted(p.name for p in (exp / "checkpoints").iterdir())[-1] == "step_00000005"

    model = tmp_path / "model"
    assert main(["image", "export", "--exp-dir", str(exp), "--out", str(model)]) == 0
    assert main(["image", "encode", "--model", str(model), str(tmp_path / "valid"),
                 str(tmp_path / "codes")]) == 0
    assert sorted(p.name for p in (tmp_path / "codes").rglob("*.codes")) == ["000.codes",
                                                                             "001.codes"]
    assert main(["image", "decode", "--model", str(model), str(tmp_path / "codes"),
                 str(tmp_path / "decoded")]) == 0
    assert read_image(tmp_path / "decoded" / "class1" / "001.png").shape == (3, 16, 20)
    capsys.readouterr()
    write_image(tmp_path / "odd.png", torch.rand(3, 15, 16))
    assert main(["image", "encode", "--model", str(model), str(tmp_path / "odd.png"),
                 str(tmp_path / "odd.codes")]) == 2
    assert "multiples of 2" in capsys.readouterr().err
    assert not (tmp_path / "odd.codes").exists()
    assert main(["image", "encode", "--model", str(model), "--resize", str(tmp_path / "odd.png"),
                 str(tmp_path / "odd.codes")]) == 0
    assert main(["image", "decode", "--model", str(model), str(tmp_path / "odd.codes"),
                 str(tmp_path / "odd_decoded.png")]) == 0
    assert read_image(tmp_path / "odd_decoded.png").shape == (3, 16, 16)

    assert main(["image", "score", "--model", str(model), "--images", str(tmp_path / "valid"),
                 "--out", str(tmp_path / "scores")]) == 0
    summary = json.loads((tmp_path / "scores" / "summary.json").read_text())
    assert summary["images"] == 2 and 0 < summary["utilisation"] <= 1
    assert summary["rfid"].startswith("not available")


def test_cli_refuses_non_image_files(tmp_path, capsys):
    from simvq_audio.image.tokenizer import SimVQImageTokenizer

    SimVQImageTokenizer.from_config(MICRO).save_pretrained(tmp_path / "model")
    (tmp_path / "text.jpg").write_text("hello")
    assert main(["image", "encode", "--model", str(tmp_path / "model"), str(tmp_path / "text.jpg"),
                 str(tmp_path / "out.codes")]) == 2
    assert "not an image file" in capsys.readouterr().err
    assert not (tmp_path / "out.codes").exists()
