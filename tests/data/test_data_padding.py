"""The batch padder: items of different lengths -> [B, ..., T_max] and their lengths."""

import pytest
import torch

from simvq_audio.data.padding import pad_batch


def test_items_start_their_rows_and_the_rest_is_the_pad_value():
    items = [torch.arange(1.0, 4.0), torch.arange(1.0, 2.0), torch.arange(1.0, 6.0)]
    batch, lengths = pad_batch(items)
    assert batch.shape == (3, 5) and batch.dtype == torch.float32
    assert lengths.tolist() == [3, 1, 5] and lengths.dtype == torch.long
    for row, item in zip(batch, items):
        assert torch.equal(row[:len(item)], item) and not row[len(item):].any()
    filled, _ = pad_batch(items, value=-1)
    assert filled[1, 1:].eq(-1).all()


@pytest.mark.parametrize("dtype", [torch.long, torch.int32, torch.bfloat16])
def test_dtype_and_leading_dims_are_kept(dtype):
    items = [torch.ones(2, 4, dtype=dtype), torch.full((2, 7), 3, dtype=dtype)]
    batch, lengths = pad_batch(items)
    assert batch.shape == (2, 2, 7) and batch.dtype == dtype and lengths.tolist() == [4, 7]
    assert torch.equal(batch[0, :, :4], items[0]) and not batch[0, :, 4:].any()
    assert torch.equal(batch[1], items[1])


def test_one_item_is_a_batch_of_one():
    batch, lengths = pad_batch([torch.tensor([5, 6])])
    assert batch.tolist() == [[5, 6]] and lengths.tolist() == [2]
