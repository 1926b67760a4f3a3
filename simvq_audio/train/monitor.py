"""What a run shows while it trains: a progress bar (main process) and TensorBoard scalars.

Every ``log_every`` steps: the mean of each loss, gradient norm and the lr over the applied steps
of the interval (averaged over processes), throughput (``train/<unit>_per_second``, e.g.
``train/audio_seconds_per_second`` or ``train/images_per_second``, and ``train/steps_per_second``,
all processes together) and the count of skipped steps. Every
``usage_window`` steps: the quantizer's own numbers
(:meth:`~simvq_audio.quantize.VectorQuantizer.monitoring`) for the tokens of those steps, summed
over processes, as ``codebook/<name>``: ``utilisation``, ``perplexity``, ``dead_codes`` and, for
SimVQ, the effective rank of its linear map W (``rank_W``). All processes must call :meth:`step`.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path

import torch
from accelerate import Accelerator
from tqdm import tqdm

from simvq_audio.errors import UserInputError, os_error_message
from simvq_audio.quantize import CodeUsage, VectorQuantizer
from simvq_audio.train.step import StepResult
from simvq_audio.train.task import ThroughputUnit


class TrainingMonitor:
    def __init__(self, accelerator: Accelerator, exp_dir: Path, quantizer: VectorQuantizer,
                 unit: ThroughputUnit, log_every: int, usage_window: int, start_step: int,
                 max_steps: int):
        """``quantizer``: the one being trained (its numbers are logged); ``unit``: what
        :meth:`step` counts (the throughput scalar is ``train/<unit.name>_per_second``)."""
        self.accelerator = accelerator
        self.quantizer = quantizer
        self.throughput_tag = f"train/{unit.name}_per_second"
        self.throughput_label = f"{unit.label}/s"
        self.log_every, self.usage_window = max(log_every, 1), max(usage_window, 1)
        self.usage = CodeUsage(quantizer.num_codes, accelerator.device)
        self.writer = None
        self.bar = None
        self.log_dir = Path(exp_dir) / "tensorboard"
        if accelerator.is_main_process:
            # optional (the train extra): imported when logging
            from torch.utils.tensorboard import SummaryWriter

            with self._writing():
                self.writer = SummaryWriter(str(self.log_dir))
            self.bar = tqdm(total=max_steps, initial=start_step, desc="train", unit="step",
                            dynamic_ncols=True)
        self._sums: dict[str, torch.Tensor] = {}
        self._counts: dict[str, int] = {}
        self._applied = 0
        self._skipped = 0
        self._units = 0.0
        self._started = time.perf_counter()

    def step(self, step: int, result: StepResult, units: float) -> None:
        """Record finished step ``step`` (1-based count of steps done) with ``units`` (audio
        seconds, images) of this process's batch."""
        self._units += units
        self.usage.update(result.tokens)
        if result.skipped is None:
            self._applied += 1
            for name, value in result.scalars.items():
                value = value.detach().float().to(self.accelerator.device)
                self._sums[name] = self._sums.get(name, 0.0) + value
                self._counts[name] = self._counts.get(name, 0) + 1
        else:
            self._skipped += 1
        if self.bar is not None:
            self.bar.update(1)
        if step % self.log_every == 0:
            self._log_interval(step)
        if step % self.usage_window == 0:
            self._log_codebook(step)

    def _log_interval(self, step: int) -> None:
        elapsed = time.perf_counter() - self._started
        scalars = {}
        if self._applied:
            names = sorted(self._sums)
            means = torch.stack([self._sums[n] / self._counts[n] for n in names])
            means = self.accelerator.reduce(means, reduction="mean")
            scalars = {name: float(value) for name, value in zip(names, means.cpu())}
        processes = self.accelerator.num_processes
        scalars[self.throughput_tag] = self._units * processes / elapsed
        scalars["train/steps_per_second"] = (self._applied + self._skipped) / elapsed
        scalars["train/skipped_steps"] = float(self._skipped)
        self.write(step, scalars)
        if self.bar is not None:
            shown = {"g": "loss/generator", "d": "loss/discriminator", "mel": "loss/mel",
                     self.throughput_label: self.throughput_tag}
            self.bar.set_postfix({k: f"{scalars[v]:.3g}" for k, v in shown.items()
                                  if v in scalars}, refresh=False)
        self._sums, self._counts, self._applied, self._skipped = {}, {}, 0, 0
        self._units, self._started = 0.0, time.perf_counter()

    def _log_codebook(self, step: int) -> None:
        counts = self.usage.total_counts()  # summed over processes: every process calls this
        if self.writer is not None:
            self.write(step, {f"codebook/{name}": value
                              for name, value in self.quantizer.monitoring(counts).items()})
        self.usage.reset()

    def write(self, step: int, scalars: dict[str, float]) -> None:
        """Write ``scalars`` (name -> value) for ``step`` to TensorBoard (main process)."""
        if self.writer is not None:
            with self._writing():
                for name, value in scalars.items():
                    self.writer.add_scalar(name, value, step)

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """A failed write of the TensorBoard log (a full disk) as one UserInputError naming the
        folder and the reason."""
        try:
            yield
        except OSError as error:
            raise UserInputError(f"cannot write the TensorBoard log in {self.log_dir}: "
                                 f"{os_error_message(error)}") from None

    def message(self, text: str) -> None:
        """Print ``text`` once (main process) without breaking the progress bar."""
        if self.accelerator.is_main_process:
            tqdm.write(text)

    def close(self, failing: bool = False) -> None:
        """Flush and close the log and the bar; ``failing``: the run is ending with an error,
        which a failure to flush must not replace."""
        if self.bar is not None:
            self.bar.close()
        if self.writer is not None:
            try:
                with self._writing():
                    self.writer.close()
            except UserInputError:
                if not failing:
                    raise
