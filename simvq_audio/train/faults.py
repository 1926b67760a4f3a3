"""Faults a long run meets: non-finite losses and stop signals.

* :class:`BadStepCounter` counts steps skipped for a NaN/inf loss (or gradient norm); too many in
  a row raise :class:`TrainingDiverged` (a :class:`UserInputError`, so the CLI prints one line
  and exits non-zero; the last checkpoint written is intact, as bad steps are never saved).
* :class:`StopSignals` turns SIGTERM/SIGINT into a flag the loop checks after each step, so it
  can write a checkpoint and exit cleanly.
"""

from __future__ import annotations

import signal
from types import FrameType

from simvq_audio.errors import UserInputError


class TrainingDiverged(UserInputError):
    """Too many consecutive steps had a non-finite loss."""


class BadStepCounter:
    """Counts skipped steps: ``total`` overall, ``in_a_row`` since the last good step."""

    def __init__(self, max_in_a_row: int):
        if max_in_a_row < 1:
            raise UserInputError(f"the limit of bad steps in a row must be >= 1, "
                                 f"got {max_in_a_row}")
        self.max_in_a_row = max_in_a_row
        self.total = 0
        self.in_a_row = 0

    def good(self) -> None:
        self.in_a_row = 0

    def bad(self, step: int, reason: str, checkpoint: str | None) -> None:
        """Count a skipped step; raise :class:`TrainingDiverged` at the limit."""
        self.total += 1
        self.in_a_row += 1
        if self.in_a_row >= self.max_in_a_row:
            kept = (f"the last good checkpoint is {checkpoint}" if checkpoint
                    else "no checkpoint was written yet")
            raise TrainingDiverged(
                f"training stopped at step {step}: {self.in_a_row} steps in a row had a "
                f"non-finite value ({reason}); {kept}. Lower the learning rate, raise the "
                f"warm-up, or check the data, then resume with --resume")


class StopSignals:
    """Context manager: while active, SIGTERM and SIGINT set :attr:`received` (the signal
    number) instead of killing the process; the previous handlers come back on exit."""

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self) -> None:
        self.received: int | None = None
        self._previous: dict[int, object] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.received = signum

    def __enter__(self) -> "StopSignals":
        for signum in self.SIGNALS:
            self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc_info: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
