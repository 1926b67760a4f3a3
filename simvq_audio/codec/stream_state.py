"""The state a stream carries between pieces, and keeping some of its batch items.

A streaming layer's state is a tensor, a tuple or list of states, or ``None`` (nothing yet);
every tensor in it has the batch on dim 0. :class:`~simvq_audio.codec.encoder.EncoderState` and
:class:`~simvq_audio.codec.decoder.DecoderState` hold one per layer.
"""

from __future__ import annotations

import torch

LayerState = torch.Tensor | tuple["LayerState", ...] | list["LayerState"] | None
"""One streaming layer's carried state; every tensor in it has the batch on dim 0."""


def select_rows(state: LayerState, rows: list[int] | torch.Tensor) -> LayerState:
    """``state`` of batch items ``rows`` only, with the same structure."""
    if state is None:
        return None
    if isinstance(state, torch.Tensor):
        return state[rows]
    return type(state)(select_rows(item, rows) for item in state)
