"""The trainer's data: both data dirs checked up front, then the training loader (random crops,
DDP-safe resumable batch sampler, sharded by this module, not by accelerate) and the fixed
validation set."""

from __future__ import annotations

from pathlib import Path

import torch
from torch.utils.data import DataLoader

from simvq_audio.codec.config import Config
from simvq_audio.data.kaldi_dir import (
    Utterance,
    describe_problems,
    read_data_dir,
    validate_data_dir,
)
from simvq_audio.data.sampler import DistributedBatchSampler
from simvq_audio.data.segments import SegmentDataset, ValidationDataset, collate_segments
from simvq_audio.errors import UserInputError


def read_data_dirs(dirs: list[Path], check_audio: bool) -> list[list[Utterance]]:
    """The utterances of each data dir; one :class:`UserInputError` listing the problems of
    every dir that has any (``check_audio``: also open each audio file's header)."""
    reports = [describe_problems(path, problems) for path in dirs
               if (problems := validate_data_dir(path, check_audio=check_audio))]
    if reports:
        raise UserInputError("\n".join(reports) + "\nfix the data dir(s) before training "
                             "(simvq-audio validate-data DIR lists every problem)")
    return [read_data_dir(path, check_audio=False) for path in dirs]


def training_dataset(utterances: list[Utterance], config: Config) -> SegmentDataset:
    """The training crops of ``config`` (``segment_seconds``, seed, ``short_clips``)."""
    train = config.train
    return SegmentDataset(utterances, config.model.sample_rate, train.segment_seconds,
                          seed=train.seed, short_clips=train.short_clips)


def training_loader(utterances: list[Utterance], config: Config, num_processes: int,
                    process_index: int, pin_memory: bool
                    ) -> tuple[SegmentDataset, DistributedBatchSampler, DataLoader]:
    """This process's loader of :class:`~simvq_audio.data.segments.SegmentBatch` (``wav [B, T]``,
    ``lengths [B]``). Call ``sampler.set_epoch`` and ``dataset.set_epoch`` before each epoch.

    The loader has its own generator, so creating an iterator does not draw from the global
    torch RNG (a resumed run then draws the same dropout masks as an uninterrupted one).
    """
    train = config.train
    dataset = training_dataset(utterances, config)
    sampler = DistributedBatchSampler(len(dataset), train.batch_size, num_processes,
                                      process_index, seed=train.seed)
    loader = DataLoader(dataset, batch_sampler=sampler, collate_fn=collate_segments,
                        num_workers=train.num_workers, pin_memory=pin_memory,
                        generator=torch.Generator().manual_seed(train.seed))
    return dataset, sampler, loader


def validation_set(utterances: list[Utterance], config: Config, max_utterances: int,
                   max_seconds: float) -> ValidationDataset:
    """The first ``max_utterances`` valid utterances (id order), each cut to ``max_seconds``."""
    return ValidationDataset(utterances[:max_utterances], config.model.sample_rate, max_seconds)
