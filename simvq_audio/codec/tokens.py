"""The codec's token batch: ids with each item's valid frames and sample count; and one row of a
token dump (``simvq-audio tokenize``), which batches into it."""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from simvq_audio.data.padding import pad_batch
from simvq_audio.errors import UserInputError

PAD_ID = 0
"""What :class:`Tokens` hold past each item's frames. 0 is also a valid code id: only
``lengths`` tell padding from tokens."""


@dataclass
class Tokens:
    """What :meth:`SimVQCodec.encode` returns and :meth:`SimVQCodec.decode` accepts.

    ``ids [B, T']`` int64 code ids, 0 past each item's ``lengths [B]`` valid frames;
    ``num_samples [B]``: each item's sample count at ``sample_rate`` (the model rate), which
    decoding trims to. ``tokens`` is the old name of ``ids`` (deprecated).
    """

    ids: torch.Tensor
    lengths: torch.Tensor
    num_samples: torch.Tensor
    sample_rate: int

    @property
    def tokens(self) -> torch.Tensor:
        """Deprecated: the old name of :attr:`ids` (same tensor); warns."""
        _renamed("Tokens")
        return self.ids

    def __len__(self) -> int:
        return self.ids.shape[0]

    def __getitem__(self, index: int) -> Tokens:
        """Item ``index`` alone, trimmed to its own frames (``ids [1, lengths[index]]``)."""
        frames = int(self.lengths[index])
        return Tokens(self.ids[index:index + 1, :frames], self.lengths[index:index + 1],
                      self.num_samples[index:index + 1], self.sample_rate)

    def to(self, device: str | torch.device) -> Tokens:
        """The same tokens with :attr:`ids` on ``device``."""
        return dataclasses.replace(self, ids=self.ids.to(device))

    @classmethod
    def from_rows(cls, rows: Sequence[TokenRow]) -> Tokens:
        """The rows of a token dump (:func:`simvq_audio.tokenize.read_tokens`) as one batch:
        ``ids [B, max T']`` padded with :data:`PAD_ID`, ``lengths [B]`` their frame counts,
        ``num_samples [B]`` theirs, so :meth:`SimVQCodec.decode` trims each item to its
        ``num_samples``.

        Raises:
            UserInputError: no rows, or rows at different sample rates.
        """
        if not rows:
            raise UserInputError("Tokens.from_rows needs at least one row")
        rates = sorted({row.sample_rate for row in rows})
        if len(rates) > 1:
            raise UserInputError(f"these rows are at different sample rates {rates}: batch "
                                 "the rows of one model only")
        ids, lengths = pad_batch([row.ids.long() for row in rows], PAD_ID)
        num_samples = torch.tensor([row.num_samples for row in rows], dtype=torch.long)
        return cls(ids, lengths, num_samples, rates[0])


@dataclass(frozen=True)
class TokenRow:
    """One utterance of a token dump, as :func:`simvq_audio.tokenize.read_tokens` gives it.

    ``ids [T']`` int64 code ids, exactly the utterance's frames (no padding); ``num_samples``: its
    sample count at ``sample_rate`` (the model rate), ``ceil(num_samples / hop) == T'``;
    ``text`` and ``speaker``: from the data dir's ``text`` and ``utt2spk`` (None without them);
    ``model_hash``: the model that made the tokens. :meth:`SimVQCodec.decode` takes a row
    (-> ``[num_samples]``) or a list of rows (-> ``[B, max num_samples]``, each item trimmed to
    its ``num_samples``, zero after) and refuses rows of another model. ``tokens`` is the old
    name of ``ids`` (deprecated).
    """

    utt_id: str
    ids: torch.Tensor
    num_samples: int
    sample_rate: int
    text: str | None
    speaker: str | None
    model_hash: str

    @property
    def tokens(self) -> torch.Tensor:
        """Deprecated: the old name of :attr:`ids` (same tensor); warns."""
        _renamed("TokenRow")
        return self.ids


def _renamed(owner: str) -> None:
    warnings.warn(f"{owner}.tokens is deprecated: it was renamed {owner}.ids (the same tensor "
                  "of code ids); the .codes files and the dump's 'tokens' column are unchanged",
                  DeprecationWarning, stacklevel=3)
