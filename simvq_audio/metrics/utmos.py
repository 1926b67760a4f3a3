"""UTMOS (neural MOS prediction) is optional: its weights cannot be downloaded on these machines.

Without a checkpoint the summary says so plainly. Scoring from a local checkpoint is not
implemented yet: the UTMOS22 strong learner runs on a fairseq wav2vec 2.0 backbone that this
toolkit does not ship, and its published checkpoint is a pickle, which we never load.
"""

from __future__ import annotations

from pathlib import Path

from simvq_audio.errors import UserInputError

NOT_AVAILABLE = "UTMOS: not available (no local checkpoint given)"


def utmos_status(checkpoint: str | Path | None) -> dict:
    """The ``utmos`` entry of a summary: ``{"available": False, "message": ...}`` when no
    checkpoint is given.

    Raises:
        UserInputError: the checkpoint path does not exist.
        NotImplementedError: a checkpoint was given (see the module docstring).
    """
    if checkpoint is None:
        return {"available": False, "message": NOT_AVAILABLE}
    if not Path(checkpoint).is_file():
        raise UserInputError(f"{checkpoint}: no such UTMOS checkpoint file")
    raise NotImplementedError(
        "UTMOS scoring from a local checkpoint is not implemented: it needs a wav2vec 2.0 "
        "backbone this toolkit does not ship; score without --utmos-checkpoint")
