"""DDP batch sampler: equal batches per rank, coverage, (seed, epoch) order, resume, buckets."""

from collections import Counter

import numpy as np
import pytest

from simvq_audio.data.sampler import DistributedBatchSampler
from simvq_audio.errors import UserInputError


def all_ranks(num_items, batch_size, world, **kwargs):
    return [list(DistributedBatchSampler(num_items, batch_size, world, rank, **kwargs))
            for rank in range(world)]


@pytest.mark.parametrize("world", [1, 2, 3, 4])
@pytest.mark.parametrize("num_items", [1, 7, 13, 29])
@pytest.mark.parametrize("lengths", [False, True])
def test_every_rank_gets_the_same_number_of_full_batches_and_the_union_covers_the_data(
        world, num_items, lengths):
    batch_size = 3
    durations = np.random.default_rng(num_items).uniform(1, 20, num_items) if lengths else None
    per_rank = all_ranks(num_items, batch_size, world, seed=5, lengths=durations)
    counts = {len(batches) for batches in per_rank}
    assert counts == {len(DistributedBatchSampler(num_items, batch_size, world, 0))}
    assert counts == {-(-num_items // (batch_size * world))}
    assert all(len(batch) == batch_size for batches in per_rank for batch in batches)
    seen = Counter(i for batches in per_rank for batch in batches for i in batch)
    assert set(seen) == set(range(num_items))
    padding = sum(seen.values()) - num_items
    assert 0 <= padding < batch_size * world


def test_drop_last_drops_the_incomplete_step_and_never_repeats():
    per_rank = all_ranks(29, 3, 4, drop_last=True)
    assert [len(batches) for batches in per_rank] == [2, 2, 2, 2]
    items = [i for batches in per_rank for batch in batches for i in batch]
    assert len(items) == len(set(items)) == 24


def test_order_depends_on_seed_and_epoch_only():
    def epoch_order(seed, epoch):
        sampler = DistributedBatchSampler(50, 4, 2, 1, seed=seed)
        sampler.set_epoch(epoch)
        return list(sampler)

    assert epoch_order(0, 3) == epoch_order(0, 3)
    assert epoch_order(0, 3) != epoch_order(0, 4)
    assert epoch_order(0, 3) != epoch_order(1, 3)
    unshuffled = list(DistributedBatchSampler(8, 2, 2, 0, shuffle=False))
    assert unshuffled == [[0, 1], [4, 5]]


def test_a_second_pass_without_set_epoch_repeats_the_epoch():
    sampler = DistributedBatchSampler(20, 3, 2, 0, seed=1)
    assert list(sampler) == list(sampler)


@pytest.mark.parametrize("lengths", [None, list(range(40, 0, -1))])
def test_state_dict_round_trip_mid_epoch_resumes_the_same_order(lengths):
    def sampler(rank):
        return DistributedBatchSampler(40, 2, 3, rank, seed=7, lengths=lengths, bucket_steps=2)

    for rank in range(3):
        reference = sampler(rank)
        reference.set_epoch(2)
        full_epoch = list(reference)
        reference.set_epoch(3)
        next_epoch = list(reference)

        interrupted = sampler(rank)
        interrupted.set_epoch(2)
        iterator = iter(interrupted)
        before = [next(iterator) for _ in range(4)]
        state = interrupted.state_dict()
        assert state["epoch"] == 2 and state["batches_consumed"] == 4

        resumed = sampler(rank)
        resumed.load_state_dict(state)
        resumed.set_epoch(state["epoch"])  # what a training loop does at the top of the epoch
        assert before + list(resumed) == full_epoch
        resumed.set_epoch(3)
        assert list(resumed) == next_epoch


def test_batches_consumed_can_be_given_when_the_loader_fetches_ahead():
    sampler = DistributedBatchSampler(30, 2, seed=3)
    full = list(sampler)
    iterator = iter(sampler)
    for _ in range(6):  # the loader prefetched 6, training used 4
        next(iterator)
    resumed = DistributedBatchSampler(30, 2, seed=3)
    resumed.load_state_dict(sampler.state_dict(batches_consumed=4))
    assert list(resumed) == full[4:]


def test_resume_with_another_world_size_continues_after_the_same_items():
    single = DistributedBatchSampler(48, 2, 1, 0, seed=0)
    iterator = iter(single)
    for _ in range(8):
        next(iterator)
    state = single.state_dict()
    resumed = DistributedBatchSampler(48, 2, 2, 1, seed=0)
    resumed.load_state_dict(state)
    assert len(list(resumed)) == len(resumed) - 4


def test_resume_with_a_different_dataset_is_refused():
    state = DistributedBatchSampler(10, 2).state_dict()
    with pytest.raises(UserInputError, match="same data dir"):
        DistributedBatchSampler(11, 2).load_state_dict(state)


def test_buckets_group_similar_lengths():
    rng = np.random.default_rng(0)
    lengths = rng.uniform(1, 30, 400)
    batches = list(DistributedBatchSampler(400, 8, lengths=lengths, bucket_steps=50))
    spread = np.mean([np.ptp(lengths[batch]) for batch in batches])
    random_spread = np.mean([np.ptp(lengths[batch]) for batch in
                             DistributedBatchSampler(400, 8, seed=0)])
    assert spread < random_spread / 5


@pytest.mark.parametrize("kwargs, match", [
    ({"num_items": 0, "batch_size": 2}, "empty"),
    ({"num_items": 5, "batch_size": 0}, "positive"),
    ({"num_items": 5, "batch_size": 2, "num_replicas": 2, "rank": 2}, "rank 2"),
    ({"num_items": 5, "batch_size": 2, "lengths": [1.0]}, "1 lengths for 5 items"),
    ({"num_items": 3, "batch_size": 2, "num_replicas": 2, "drop_last": True}, "one step"),
])
def test_bad_arguments_are_refused(kwargs, match):
    with pytest.raises(UserInputError, match=match):
        DistributedBatchSampler(**kwargs)
