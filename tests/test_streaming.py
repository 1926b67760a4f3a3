"""Streaming and chunked encoding give exactly the tokens of one pass over the whole signal."""

import math

import pytest
import torch

from simvq_audio.codec import SimVQCodec
from simvq_audio.errors import UserInputError
from simvq_audio.streaming import StreamingEncoder


@pytest.fixture(scope="module")
def codec():
    torch.manual_seed(0)
    return SimVQCodec.from_config("recipes/tiny.yaml")


def one_pass(codec, wav):
    with torch.inference_mode():
        return codec.generator.encode(wav)


def test_feed_pieces_of_any_size_equals_one_pass(codec):
    wav = torch.randn(2, 12000) * 0.1
    stream = StreamingEncoder(codec.generator, batch_size=2, chunk_seconds=0.2)
    sizes = torch.randint(1, 3000, (8,), generator=torch.Generator().manual_seed(1)).tolist()
    pieces, start = [], 0
    for size in sizes:
        if start >= wav.shape[-1]:
            break
        pieces.append(stream.feed(wav[:, start:start + size]))
        start += size
    pieces.append(stream.feed(wav[:, start:]))
    pieces.append(stream.flush())
    tokens = torch.cat(pieces, dim=-1)
    assert torch.equal(tokens, one_pass(codec, wav))
    assert stream.num_samples == wav.shape[-1]


def test_small_chunks_equal_one_pass_and_leave_plain_calls_alone(codec):
    wav = torch.randn(1, 24000 + 77) * 0.1
    before = one_pass(codec, wav)
    stream = StreamingEncoder(codec.generator, chunk_seconds=0.1)  # 8 frames per piece
    tokens = torch.cat([stream.feed(wav[0]), stream.flush()], dim=-1)
    assert tokens.shape[-1] == math.ceil(wav.shape[-1] / 320)
    assert torch.equal(tokens, before)
    assert torch.equal(one_pass(codec, wav), before)  # hooks are inactive outside a stream


def test_streaming_resampler_equals_encode_at_that_rate(codec):
    wav = torch.randn(16000 + 5) * 0.1
    stream = codec.streaming_encoder(sample_rate=16000)
    tokens = torch.cat([stream.feed(wav[i:i + 4001]) for i in range(0, wav.shape[-1], 4001)]
                       + [stream.flush()], dim=-1)
    expected = codec.encode(wav, 16000)
    assert torch.equal(tokens[0], expected.tokens[0])
    assert stream.num_samples == int(expected.num_samples[0])


def test_two_interleaved_streams_do_not_mix(codec):
    a, b = torch.randn(2, 9600) * 0.1
    first, second = StreamingEncoder(codec.generator), StreamingEncoder(codec.generator)
    pieces_a, pieces_b = [], []
    for start in range(0, 9600, 1600):
        pieces_a.append(first.feed(a[start:start + 1600]))
        pieces_b.append(second.feed(b[start:start + 1600]))
    assert torch.equal(torch.cat(pieces_a + [first.flush()], -1), one_pass(codec, a[None]))
    assert torch.equal(torch.cat(pieces_b + [second.flush()], -1), one_pass(codec, b[None]))


def test_stream_input_errors(codec):
    stream = StreamingEncoder(codec.generator, batch_size=2)
    assert stream.feed(torch.zeros(2, 100)).shape == (2, 0)
    with pytest.raises(UserInputError, match="NaN"):
        stream.feed(torch.full((2, 10), float("nan")))
    with pytest.raises(UserInputError, match=r"\[2, T\]"):
        stream.feed(torch.zeros(3, 10))
    stream.flush()
    with pytest.raises(UserInputError, match="flushed"):
        stream.feed(torch.zeros(2, 10))
