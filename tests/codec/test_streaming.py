"""Streaming, chunked and batched encoding give exactly the tokens of one pass over each whole
signal, with both encoder paddings (zeros, and the SEANet reference's reflection)."""

import dataclasses
import math

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simvq_audio.codec import SimVQCodec
from simvq_audio.codec.config import load_config
from simvq_audio.codec.streaming_encoder import StreamingEncoder, encode_batch
from simvq_audio.errors import UserInputError

from repo_paths import TINY_RECIPE

HOP = 320
PROPERTY = settings(max_examples=25, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


def tiny_codec(padding: str) -> SimVQCodec:
    model = load_config(TINY_RECIPE).model
    model = dataclasses.replace(model, encoder=dataclasses.replace(model.encoder,
                                                                   padding=padding))
    torch.manual_seed(0)
    return SimVQCodec.from_config(model)


CODECS = {padding: tiny_codec(padding) for padding in ("zeros", "reflect")}


@pytest.fixture(params=["zeros", "reflect"])
def codec(request):
    return CODECS[request.param]


def one_pass(codec, wav):
    with torch.inference_mode():
        return codec.model.encode(wav)


def stream_in_pieces(codec, wav, sizes, chunk_seconds=30.0):
    stream = StreamingEncoder(codec.model, batch_size=wav.shape[0],
                              chunk_seconds=chunk_seconds)
    pieces, start = [], 0
    for size in sizes:
        pieces.append(stream.feed(wav[:, start:start + size]))
        start += size
    pieces.append(stream.feed(wav[:, start:]))
    pieces.append(stream.flush())
    assert stream.num_samples == wav.shape[-1]
    return torch.cat(pieces, dim=-1)


def test_reflect_start_needs_seven_frames_of_the_paper_model():
    assert CODECS["reflect"].model.encoder.start_samples == 7 * HOP
    assert CODECS["zeros"].model.encoder.start_samples == HOP


@PROPERTY
@given(length=st.integers(1, 6000), cuts=st.lists(st.integers(1, 3000), max_size=6),
       padding=st.sampled_from(["zeros", "reflect"]))
def test_feed_pieces_of_any_size_equals_one_pass(length, cuts, padding):
    codec = CODECS[padding]
    wav = torch.randn(2, length, generator=torch.Generator().manual_seed(length)) * 0.1
    tokens = stream_in_pieces(codec, wav, cuts, chunk_seconds=0.1)
    assert tokens.shape[-1] == math.ceil(length / HOP)
    assert torch.equal(tokens, one_pass(codec, wav))


def test_small_chunks_equal_one_pass(codec):
    wav = torch.randn(1, 24000 + 77) * 0.1
    for chunk_seconds in (0.01, 0.1, 0.45):  # 0.01 s is less than a reflect stream's start
        stream = StreamingEncoder(codec.model, chunk_seconds=chunk_seconds)
        tokens = torch.cat([stream.feed(wav[0]), stream.flush()], dim=-1)
        assert torch.equal(tokens, one_pass(codec, wav))


def test_reflect_stream_holds_its_first_tokens_back():
    codec = CODECS["reflect"]
    stream = StreamingEncoder(codec.model)
    wav = torch.randn(1, 10 * HOP) * 0.1
    assert stream.feed(wav[:, :6 * HOP]).shape == (1, 0)  # less than 7 frames: nothing yet
    assert stream.feed(wav[:, 6 * HOP:7 * HOP]).shape == (1, 7)
    assert stream.feed(wav[:, 7 * HOP:]).shape == (1, 3)
    assert stream.flush().shape == (1, 0)


def test_reflect_first_frame_sees_its_reflection_and_zeros_does_not():
    wav = torch.randn(1, 10 * HOP) * 0.1
    later = wav.clone()
    later[:, HOP + 10] += 1.0  # after frame 0's window, inside its mirror image at some layer
    for padding, changes in (("zeros", False), ("reflect", True)):
        tokens = one_pass(CODECS[padding], wav)
        z, z_later = (CODECS[padding].model.encoder(x) for x in (wav, later))
        assert torch.equal(z[..., 0], z_later[..., 0]) is not changes, padding
        assert tokens.shape == (1, 10)


@PROPERTY
@given(lengths=st.lists(st.integers(1, 5000), min_size=1, max_size=5),
       padding=st.sampled_from(["zeros", "reflect"]))
def test_batch_of_any_lengths_equals_each_item_alone(lengths, padding):
    codec = CODECS[padding]
    wav = torch.randn(len(lengths), max(lengths),
                      generator=torch.Generator().manual_seed(sum(lengths))) * 0.1
    for row, length in enumerate(lengths):
        wav[row, length:] = 7.0  # garbage in the padding must not matter
    with torch.inference_mode():
        tokens = encode_batch(codec.model, wav, lengths, chunk=8 * HOP)
    for row, length in enumerate(lengths):
        assert torch.equal(tokens[row], one_pass(codec, wav[row:row + 1, :length])[0])


def test_codec_encode_batch_equals_items_with_reflect_padding():
    codec = CODECS["reflect"]
    sizes = [24123, 2239, 2240, 700, 24000]
    wav = torch.randn(len(sizes), 1, max(sizes)) * 0.1
    tokens = codec.encode(wav, 24000, lengths=sizes)
    for row, size in enumerate(sizes):
        alone = codec.encode(wav[row, :, :size], 24000)
        assert torch.equal(tokens[row].ids, alone.ids)
        assert torch.equal(alone.ids, one_pass(codec, wav[row, :, :size]))


def test_streaming_resampler_equals_encode_at_that_rate(codec):
    wav = torch.randn(16000 + 5) * 0.1
    stream = codec.streaming_encoder(sample_rate=16000)
    tokens = torch.cat([stream.feed(wav[i:i + 4001]) for i in range(0, wav.shape[-1], 4001)]
                       + [stream.flush()], dim=-1)
    expected = codec.encode(wav, 16000)
    assert torch.equal(tokens[0], expected.ids[0])
    assert stream.num_samples == int(expected.num_samples[0])


def test_two_interleaved_streams_do_not_mix(codec):
    a, b = torch.randn(2, 9600) * 0.1
    first, second = StreamingEncoder(codec.model), StreamingEncoder(codec.model)
    pieces_a, pieces_b = [], []
    for start in range(0, 9600, 1600):
        pieces_a.append(first.feed(a[start:start + 1600]))
        pieces_b.append(second.feed(b[start:start + 1600]))
    assert torch.equal(torch.cat(pieces_a + [first.flush()], -1), one_pass(codec, a[None]))
    assert torch.equal(torch.cat(pieces_b + [second.flush()], -1), one_pass(codec, b[None]))


def test_a_stream_leaves_the_model_untouched(codec):
    wav = torch.randn(1, 5000) * 0.1
    before = one_pass(codec, wav)
    stream = StreamingEncoder(codec.model)
    stream.feed(wav[:, :3000])
    assert torch.equal(one_pass(codec, wav), before)  # no state lives in the model
    assert not codec.model.encoder._forward_pre_hooks


def test_stream_input_errors(codec):
    stream = StreamingEncoder(codec.model, batch_size=2)
    assert stream.feed(torch.zeros(2, 100)).shape == (2, 0)
    with pytest.raises(UserInputError, match="NaN"):
        stream.feed(torch.full((2, 10), float("nan")))
    with pytest.raises(UserInputError, match=r"\[2, T\]"):
        stream.feed(torch.zeros(3, 10))
    with pytest.raises(UserInputError, match="divide by 32768"):
        stream.feed(torch.full((2, 10), 1000.0))  # integer PCM stored as float
    for bad in ([0.1, 0.2], "samples", None):
        with pytest.raises(UserInputError, match="torch.Tensor or numpy array"):
            stream.feed(bad)
    with pytest.raises(UserInputError, match="float samples"):
        stream.feed(torch.zeros(2, 10, dtype=torch.int16))
    stream.flush()
    with pytest.raises(UserInputError, match="flushed"):
        stream.feed(torch.zeros(2, 10))


def test_an_empty_stream_gives_no_tokens(codec):
    assert StreamingEncoder(codec.model).flush().shape == (1, 0)
