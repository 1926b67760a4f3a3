"""What a modality gives the GAN trainer: the :class:`TrainingTask` protocol.

:class:`~simvq_audio.train.trainer.GanTrainer` owns everything about running (accelerate, the
optimisers, EMA, checkpoints, resume, NaN steps, signals, monitoring); a task owns everything about
its data and models: it reads and checks its data, builds a generator (whose ``quantizer`` is a
:class:`~simvq_audio.quantize.VectorQuantizer`) and a discriminator, makes the step that trains
them on one batch, and validates the EMA generator. The speech codec
(:class:`~simvq_audio.codec.training.CodecTask`) and the image tokenizer
(:class:`~simvq_audio.image.training.ImageTask`) are the two tasks, side by side.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from accelerate import Accelerator
from torch import nn
from torch.utils.data import DataLoader

from simvq_audio.data.sampler import DistributedBatchSampler
from simvq_audio.train.step import GanUpdates, StepResult

if TYPE_CHECKING:
    from torch.utils.tensorboard import SummaryWriter

TrainStep = Callable[[Any, int], StepResult]
"""``(batch from the training loader, step number from 0) -> StepResult``: one GAN step."""


class ThroughputUnit(NamedTuple):
    """What :meth:`TrainingTask.batch_units` counts: ``name`` in the TensorBoard tag
    ``train/<name>_per_second``, ``label`` on the progress bar (``<label>/s``)."""

    name: str
    label: str


class TrainingData(NamedTuple):
    """This process's training data: ``dataset.set_epoch(epoch)`` picks the epoch's random
    crops, ``sampler`` (resumable) shards and orders the batches, ``loader`` yields them."""

    dataset: Any
    sampler: DistributedBatchSampler
    loader: DataLoader


class TrainingTask(Protocol):
    """One modality's side of a GAN run. The trainer calls, in order: :meth:`read_data`,
    :meth:`build_models` (after seeding the RNG alike on every process), :meth:`make_step`
    (with the prepared models), :meth:`training_data`; then per batch the step and
    :meth:`batch_units`, and :meth:`validate` every ``train.valid_every`` steps (and at the end)
    when there is a :attr:`valid_set`."""

    #: the whole config (a dataclass, written to ``config.yaml``/``config.json`` and into every
    #: checkpoint) with a ``train`` section: a :class:`~simvq_audio.train.run_config.RunConfig`
    #: (optimiser schedule, batch size, cadences, EMA, precision, seed)
    config: Any
    #: what :meth:`batch_units` counts
    throughput_unit: ThroughputUnit
    #: the validation data :meth:`read_data` found (``None``: none, nothing is validated)
    valid_set: Any

    def read_data(self, train_dir: Path, valid_dir: Path | None, check_files: bool) -> None:
        """Read and check the training (and validation) data, before any model is built;
        ``check_files``: also open every file (the main process does). Raises
        :class:`~simvq_audio.errors.UserInputError` for bad data."""

    def build_models(self) -> tuple[nn.Module, nn.Module]:
        """Freshly initialised ``(generator, discriminator)`` on the CPU; the generator has a
        ``quantizer`` and returns its tokens."""

    def make_step(self, gan: GanUpdates) -> TrainStep:
        """The step that trains ``gan``'s prepared models on one batch."""

    def training_data(self, num_processes: int, process_index: int,
                      pin_memory: bool) -> TrainingData:
        """This process's share of the training data."""

    def batch_units(self, batch: Any) -> float:
        """The size of ``batch`` in :attr:`throughput_unit` (seconds of audio, images)."""

    def validate(self, model: nn.Module, accelerator: Accelerator,
                 writer: SummaryWriter | None, step: int) -> dict[str, float]:
        """Scores of the EMA generator ``model`` on the validation data (``valid/...``), called
        on every process; ``writer`` (TensorBoard, main process only, else ``None``) may also
        receive examples for ``step``."""
