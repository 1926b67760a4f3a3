"""Image tokenizer training, slow: an interrupted run resumes to the same weights. The quick
cases: tests/image/test_image_training.py."""

from pathlib import Path

import pytest
import torch

from simvq_audio.image.config import ImageTrainConfig, PatchDiscriminatorConfig

from image_helpers import MICRO, write_tree


@pytest.mark.slow
def test_an_interrupted_run_resumes_to_the_same_weights(tmp_path):
    from simvq_audio.image.config import ImageConfig
    from simvq_audio.image.training import ImageTask
    from simvq_audio.train.checkpoint import latest_checkpoint, read_tensors
    from simvq_audio.train.trainer import GanTrainer, RunOptions

    write_tree(tmp_path / "train", 6)
    config = ImageConfig(model=MICRO, discriminator=PatchDiscriminatorConfig(8, 1),
                         train=ImageTrainConfig(batch_size=4, warmup_steps=1, max_steps=4,
                                                gan_start_step=1, mixed_precision="no",
                                                checkpoint_every=2, log_every=1, num_workers=0))

    def train(exp: Path, max_steps: int, resume: bool) -> dict:
        config.train.max_steps = max_steps
        GanTrainer(ImageTask(config), RunOptions(exp, tmp_path / "train", resume=resume,
                                                 cpu=True)).run()
        return read_tensors(latest_checkpoint(exp), "generator")

    straight = train(tmp_path / "straight", 4, False)
    train(tmp_path / "split", 2, False)
    resumed = train(tmp_path / "split", 4, True)
    assert straight.keys() == resumed.keys()
    assert all(torch.equal(straight[name], resumed[name]) for name in straight)
