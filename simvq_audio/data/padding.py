"""The batch padder: items of different lengths -> one padded batch and their lengths."""

from __future__ import annotations

from collections.abc import Sequence

import torch


def pad_batch(items: Sequence[torch.Tensor], value: float = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack ``items [..., T_i]`` (one leading shape, dtype and device; at least one item) into
    ``(batch [B, ..., max T_i], lengths [B])``: item ``i`` fills the start of row ``i`` and
    ``value`` the rest; ``lengths`` (int64, CPU) are the ``T_i``."""
    lengths = torch.tensor([item.shape[-1] for item in items], dtype=torch.long)
    first = items[0]
    batch = first.new_full((len(items), *first.shape[:-1], int(lengths.max())), value)
    for row, item in zip(batch, items):
        row[..., :item.shape[-1]] = item
    return batch, lengths
