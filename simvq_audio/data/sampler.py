"""A batch sampler for one process or many (DDP), resumable from the middle of an epoch.

Each epoch the item order is shuffled from ``(seed, epoch)``, padded by repeating items from its
start (as ``torch.utils.data.DistributedSampler`` does) to a whole number of *steps* of
``batch_size x num_replicas`` items, and each step is split into one batch per rank. Every rank
therefore gets exactly the same number of full batches (no hang at the end of an epoch), and the
ranks together cover every item. With ``drop_last`` the incomplete last step is dropped instead.

When ``lengths`` are given, items of similar length are grouped: the shuffled order is cut into
pools of ``bucket_steps`` steps, each pool is sorted by length and cut into steps, and the order of
all steps is shuffled. The ranks of one step then get batches of similar length, too.

The sampler does not need ``torch.distributed``: pass ``num_replicas`` and ``rank`` (with
accelerate: ``accelerator.num_processes`` and ``accelerator.process_index``) and do not let
accelerate shard the loader a second time.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import numpy as np
from torch.utils.data import Sampler

from simvq_audio.errors import UserInputError


class DistributedBatchSampler(Sampler[list[int]]):
    """Yields this rank's batches (lists of ``batch_size`` item indices) for the current epoch.

    Args:
        num_items: size of the dataset.
        batch_size: items per batch on each rank.
        num_replicas, rank: the number of processes and this one's index.
        shuffle: shuffle each epoch (``False``: dataset order, still padded and sharded).
        seed: with the epoch, fixes the order.
        drop_last: drop the incomplete last step instead of padding it with repeated items.
        lengths: per-item lengths (e.g. seconds from ``utt2dur``) to group similar lengths.
        bucket_steps: steps per sorting pool when ``lengths`` are given.
    """

    def __init__(self, num_items: int, batch_size: int, num_replicas: int = 1, rank: int = 0,
                 shuffle: bool = True, seed: int = 0, drop_last: bool = False,
                 lengths: Sequence[float] | None = None, bucket_steps: int = 50):
        if num_items <= 0:
            raise UserInputError("cannot sample batches from an empty dataset")
        if batch_size <= 0 or bucket_steps <= 0:
            raise UserInputError(f"batch_size and bucket_steps must be positive, got "
                                 f"{batch_size} and {bucket_steps}")
        if not 0 <= rank < num_replicas:
            raise UserInputError(f"rank {rank} is not in [0, num_replicas={num_replicas})")
        if lengths is not None and len(lengths) != num_items:
            raise UserInputError(f"got {len(lengths)} lengths for {num_items} items")
        if drop_last and num_items < batch_size * num_replicas:
            raise UserInputError(f"drop_last: {num_items} items do not fill one step of "
                                 f"{batch_size} x {num_replicas} processes")
        self.num_items, self.batch_size = num_items, batch_size
        self.num_replicas, self.rank = num_replicas, rank
        self.shuffle, self.seed, self.drop_last = shuffle, seed, drop_last
        self.lengths = None if lengths is None else np.asarray(lengths, dtype=np.float64)
        self.bucket_steps = bucket_steps
        self.epoch = 0
        self._resume_at = 0  # first batch of the next pass (set by load_state_dict)
        self._handed_out = 0  # batches of this epoch handed out so far

    def __len__(self) -> int:
        """Batches per rank in a whole epoch."""
        step = self.batch_size * self.num_replicas
        return self.num_items // step if self.drop_last else math.ceil(self.num_items / step)

    def set_epoch(self, epoch: int) -> None:
        """Move to ``epoch`` from its start; the current epoch (e.g. after a resume) is kept."""
        if epoch != self.epoch:
            self.epoch, self._resume_at, self._handed_out = epoch, 0, 0

    def __iter__(self) -> Iterator[list[int]]:
        """This rank's batches of the epoch; after :meth:`load_state_dict`, from where it stopped.

        A later pass without :meth:`set_epoch` repeats the whole epoch.
        """
        batches = self.epoch_steps()[:, self.rank]
        start, self._resume_at = self._resume_at, 0
        for number in range(start, len(batches)):
            self._handed_out = number + 1
            yield batches[number].tolist()

    def epoch_steps(self) -> np.ndarray:
        """All ranks' batches of the current epoch: ``[len(self), num_replicas, batch_size]``."""
        rng = np.random.default_rng((self.seed, self.epoch))
        order = rng.permutation(self.num_items) if self.shuffle else np.arange(self.num_items)
        step = self.batch_size * self.num_replicas
        order = np.resize(order, len(self) * step)  # repeats from the start, or truncates
        if self.lengths is not None:
            pool = step * self.bucket_steps
            order = np.concatenate([
                chunk[np.argsort(-self.lengths[chunk], kind="stable")]
                for chunk in np.split(order, range(pool, len(order), pool))])
            steps = order.reshape(len(self), step)
            order = (steps[rng.permutation(len(self))] if self.shuffle else steps).reshape(-1)
        return order.reshape(len(self), self.num_replicas, self.batch_size)

    def state_dict(self, batches_consumed: int | None = None) -> dict[str, int]:
        """Where the epoch stands, for a checkpoint.

        ``batches_consumed`` is the number of this epoch's batches the training loop has used. It
        defaults to the number this sampler has handed out, which is more than that when the
        ``DataLoader`` fetches ahead (workers, or accelerate's one-batch look-ahead): pass it then.
        """
        return {"epoch": self.epoch, "seed": self.seed, "num_items": self.num_items,
                "batch_size": self.batch_size, "num_replicas": self.num_replicas,
                "batches_consumed": self._handed_out if batches_consumed is None
                else batches_consumed}

    def load_state_dict(self, state: dict[str, int]) -> None:
        """Continue from ``state``: the next iteration resumes the saved epoch where it stopped.

        The order is identical when ``batch_size`` and ``num_replicas`` are unchanged; otherwise
        the epoch continues after the same number of items.

        Raises:
            UserInputError: the dataset size differs from the saved one.
        """
        if state["num_items"] != self.num_items:
            raise UserInputError(f"the data has {self.num_items} items but the checkpoint's "
                                 f"sampler had {state['num_items']}: resume with the same data dir")
        self.seed, self.epoch = state["seed"], state["epoch"]
        items_done = state["batches_consumed"] * state["batch_size"] * state["num_replicas"]
        self._resume_at = min(items_done // (self.batch_size * self.num_replicas), len(self))
        self._handed_out = self._resume_at
