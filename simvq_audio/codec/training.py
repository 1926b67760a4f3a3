"""The speech codec as a :class:`~simvq_audio.train.task.TrainingTask`: Kaldi data dirs in,
random crops of audio out (:mod:`simvq_audio.codec.train_data`), the codec and its discriminators
trained by :class:`~simvq_audio.codec.train_step.CodecGanStep`, the EMA codec validated on the
valid dir (:mod:`simvq_audio.codec.validation`). Throughput counts seconds of audio
(``train/audio_seconds_per_second``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import torch
from accelerate import Accelerator
from torch import nn

from simvq_audio.codec.config import Config, load_config
from simvq_audio.codec.discriminators import MultiDiscriminator
from simvq_audio.codec.losses import GeneratorLoss
from simvq_audio.codec.model import CodecModel
from simvq_audio.codec.train_data import (
    read_data_dirs,
    training_dataset,
    training_loader,
    validation_set,
)
from simvq_audio.codec.train_step import CodecGanStep
from simvq_audio.codec.validation import validate, write_examples
from simvq_audio.data.kaldi_dir import Utterance
from simvq_audio.data.segments import SegmentBatch, ValidationDataset, collate_segments
from simvq_audio.train.step import GanUpdates, StepResult
from simvq_audio.train.task import ThroughputUnit, TrainingData, TrainStep
from simvq_audio.train.trainer import GanTrainer, RunOptions

if TYPE_CHECKING:
    from torch.utils.tensorboard import SummaryWriter


class CodecTask:
    """Training of the codec of ``config``.

    Args:
        config: the whole codec config (model, discriminators, loss, train).
        valid_utterances: validate on the first N utterances of the valid dir (id order),
        valid_seconds: each cut to this many seconds;
        valid_clips: the first N of them also go to TensorBoard as audio and mel images.
    """

    throughput_unit = ThroughputUnit("audio_seconds", "audio_s")

    def __init__(self, config: Config, valid_utterances: int = 100, valid_seconds: float = 10.0,
                 valid_clips: int = 3):
        self.config = config
        self.valid_utterances, self.valid_seconds = valid_utterances, valid_seconds
        self.valid_clips = valid_clips
        self.utterances: list[Utterance] = []
        self.valid_set: ValidationDataset | None = None
        self.loss: GeneratorLoss | None = None

    def read_data(self, train_dir: Path, valid_dir: Path | None, check_files: bool) -> None:
        """Both data dirs checked together (one error listing every problem)."""
        dirs = [train_dir] + ([valid_dir] if valid_dir else [])
        utterances = read_data_dirs(dirs, check_audio=check_files)
        self.utterances = utterances[0]
        if valid_dir:
            self.valid_set = validation_set(utterances[1], self.config, self.valid_utterances,
                                            self.valid_seconds)

    def build_models(self) -> tuple[nn.Module, nn.Module]:
        config = self.config
        generator = CodecModel.from_hparams(config.model)
        if config.train.encoder_init == "data":
            generator.encoder.init_from_data(self.init_batch())
        discriminator = MultiDiscriminator.from_hparams(config.discriminators)
        self.loss = GeneratorLoss.from_hparams(config.loss, config.discriminators,
                                             config.model.sample_rate)
        return generator, discriminator

    def init_batch(self, size: int = 16) -> torch.Tensor:
        """``wav [size, T]``: epoch-0 training crops of ``size`` utterances spread evenly over
        the training set; the same on every process (for ``train.encoder_init: data``)."""
        dataset = training_dataset(self.utterances, self.config)
        picks = torch.linspace(0, len(dataset) - 1, min(size, len(dataset))).round().long()
        return collate_segments([dataset[int(i)] for i in picks]).wav

    def make_step(self, gan: GanUpdates) -> TrainStep:
        loss = self.loss.to(gan.accelerator.device)
        codec_step = CodecGanStep(gan, loss, self.config.train.update_order)
        device = gan.accelerator.device

        def step(batch: SegmentBatch, number: int) -> StepResult:
            return codec_step(batch.wav.to(device, non_blocking=True),
                              batch.lengths.to(device, non_blocking=True), number)
        return step

    def training_data(self, num_processes: int, process_index: int,
                      pin_memory: bool) -> TrainingData:
        return TrainingData(*training_loader(self.utterances, self.config, num_processes,
                                             process_index, pin_memory=pin_memory))

    def batch_units(self, batch: SegmentBatch) -> float:
        """Seconds of audio in ``batch`` (the crops' valid samples)."""
        return float(batch.lengths.sum()) / self.config.model.sample_rate

    def validate(self, model: nn.Module, accelerator: Accelerator,
                 writer: SummaryWriter | None, step: int) -> dict[str, float]:
        """``valid/mel_loss`` and ``valid/codebook_utilisation`` over the valid set (shared out
        over processes); the first ``valid_clips`` utterances to ``writer``."""
        scalars = validate(model, self.valid_set, self.loss.mel, accelerator,
                           model.quantizer.num_codes)
        if writer is not None:
            write_examples(writer, model, self.valid_set, self.valid_clips, step,
                           accelerator.device)
        return scalars


def train_codec(config_path: str | Path, exp_dir: Path, train_dir: Path,
                valid_dir: Path | None = None, *, resume: bool = False, cpu: bool = False,
                max_steps: int | None = None, batch_size: int | None = None,
                max_bad_steps: int = 10, usage_window: int = 1000,
                valid_utterances: int = 100) -> int:
    """Train the codec of the YAML config ``config_path`` on the Kaldi data dir ``train_dir``
    (validated on the first ``valid_utterances`` of ``valid_dir``, if given), with checkpoints
    and logs under ``exp_dir``; ``max_steps`` and ``batch_size`` (per process), if given,
    replace the config's. The other arguments are :class:`~simvq_audio.train.trainer.
    RunOptions`'. Returns the exit status: 0 when done, 128 + the signal number when stopped
    by a signal (after a checkpoint)."""
    config = load_config(config_path)
    if max_steps is not None:
        config.train.max_steps = max_steps
    if batch_size is not None:
        config.train.batch_size = batch_size
    options = RunOptions(exp_dir, train_dir, valid_dir, resume, cpu, max_bad_steps, usage_window)
    return GanTrainer(CodecTask(config, valid_utterances=valid_utterances), options).run()
