"""The codec's token batch: ids with each item's valid frames and sample count."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch


@dataclass
class Tokens:
    """What :meth:`SimVQCodec.encode` returns and :meth:`SimVQCodec.decode` accepts.

    ``tokens [B, T']`` int64, 0 past each item's ``lengths [B]`` valid frames;
    ``num_samples [B]``: each item's sample count at ``sample_rate`` (the model rate), which
    decoding trims to.
    """

    tokens: torch.Tensor
    lengths: torch.Tensor
    num_samples: torch.Tensor
    sample_rate: int

    def __len__(self) -> int:
        return self.tokens.shape[0]

    def __getitem__(self, index: int) -> Tokens:
        """Item ``index`` alone, trimmed to its own frames (``tokens [1, lengths[index]]``)."""
        frames = int(self.lengths[index])
        return Tokens(self.tokens[index:index + 1, :frames], self.lengths[index:index + 1],
                      self.num_samples[index:index + 1], self.sample_rate)

    def to(self, device: str | torch.device) -> Tokens:
        return dataclasses.replace(self, tokens=self.tokens.to(device))
