"""Streaming decode: a causal decoder's stream equals one pass for every chunking and for items
that end at different times; samples come out when the ISTFT arithmetic says; the paper
decoder's windows meet without clicks; long decodes go through the same stream; the README's
example runs as written.

Streamed and one-pass audio are compared to 1e-5 of the one-pass peak: both run the same float32
operations on different slices (about 20 layers, each adding a few units of float32 rounding,
2**-24 ~ 6e-8, relative to its values), which measured 4e-7 to 7e-7 of the peak here.
"""

import copy
import dataclasses

import numpy as np
import pytest
import soundfile
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simvq_audio.codec import SimVQCodec, Tokens
from simvq_audio.codec.config import load_config
from simvq_audio.codec.decoder import attention_mask
from simvq_audio.errors import UserInputError

from repo_paths import REPO, TINY_CAUSAL_RECIPE, TINY_RECIPE

HOP, PAD, K = 320, 480, 1024  # PAD: the ISTFT's "same" padding, (n_fft 1280 - hop) / 2
PROPERTY = settings(max_examples=25, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


def codec_of(recipe, **decoder) -> SimVQCodec:
    model = load_config(recipe).model
    model = dataclasses.replace(model, decoder=dataclasses.replace(model.decoder, **decoder))
    torch.manual_seed(0)
    return SimVQCodec.from_config(model)


CAUSAL = codec_of(TINY_CAUSAL_RECIPE, attention_window=6)  # short: the key cache is exercised
PAPER = codec_of(TINY_RECIPE)


def random_ids(batch, frames, seed=0):
    return torch.randint(0, K, (batch, frames), generator=torch.Generator().manual_seed(seed))


def feed_in_pieces(stream, ids, sizes):
    pieces, start = [], 0
    for size in sizes:
        pieces.append(stream.feed(ids[:, start:start + size]))
        start += size
    pieces.append(stream.feed(ids[:, start:]))
    pieces.append(stream.flush())
    return torch.cat(pieces, dim=-1)


def assert_equal_to_rounding(streamed, whole):
    assert streamed.shape == whole.shape
    error = float((streamed - whole).abs().max())
    assert error <= 1e-5 * float(whole.abs().max()), error


# -- causal decoders: exact ---------------------------------------------------------------------
@PROPERTY
@given(frames=st.integers(1, 40), sizes=st.lists(st.integers(0, 12), max_size=8),
       batch=st.integers(1, 3))
def test_a_causal_stream_of_any_chunking_equals_one_pass(frames, sizes, batch):
    ids = random_ids(batch, frames, seed=frames)
    streamed = feed_in_pieces(CAUSAL.streaming_decoder(batch_size=batch), ids, sizes)
    assert_equal_to_rounding(streamed, CAUSAL.decode(ids))


@PROPERTY
@given(lengths=st.lists(st.integers(1, 30), min_size=2, max_size=4), step=st.integers(1, 7))
def test_items_that_end_at_different_times_equal_each_item_decoded_alone(lengths, step):
    ids = random_ids(len(lengths), max(lengths), seed=sum(lengths))
    stream = CAUSAL.streaming_decoder(batch_size=len(lengths))
    active, position = list(range(len(lengths))), 0
    audio = {item: [] for item in active}
    while active:
        size = min(step, min(lengths[item] for item in active) - position)
        wav = stream.feed(ids[active, position:position + size])
        position += size
        for row, item in enumerate(active):
            audio[item].append(wav[row])
        ending = [row for row, item in enumerate(active) if lengths[item] == position]
        if ending:  # a server ends these items and goes on with the others
            for row, wav in zip(ending, stream.select(ending).flush()):
                audio[active[row]].append(wav)
            rest = [row for row in range(len(active)) if row not in ending]
            stream = stream.select(rest) if rest else None
            active = [active[row] for row in rest]
    for item, length in enumerate(lengths):
        assert_equal_to_rounding(torch.cat(audio[item]), CAUSAL.decode(ids[item, :length]))


def test_a_causal_decoder_s_audio_does_not_depend_on_later_tokens():
    ids = random_ids(1, 30)
    changed = ids.clone()
    changed[0, 20] = (changed[0, 20] + 1) % K
    first = 20 * HOP - PAD  # the first sample frame 20's ISTFT window reaches
    for codec, causal in ((CAUSAL, True), (PAPER, False)):
        wav, other = codec.decode(ids), codec.decode(changed)
        peak = float(wav.abs().max())
        before = float((wav[0, :first] - other[0, :first]).abs().max())
        after = float((wav[0, first:] - other[0, first:]).abs().max())
        assert after > 1e-3 * peak
        assert (before <= 1e-6 * peak) is causal, (codec, before)


def test_causal_attention_sees_its_window_of_past_frames_only():
    mask = attention_mask(queries=3, keys=5, window=2, device=torch.device("cpu"))
    assert mask.tolist() == [[False, True, True, False, False],  # query 2 sees keys 1, 2
                             [False, False, True, True, False],
                             [False, False, False, True, True]]


def test_feed_takes_ids_of_any_integer_dtype_tokens_and_empty_pieces():
    wav = torch.randn(2, 1, 3200) * 0.1
    tokens = CAUSAL.encode(wav, 24000)
    stream = CAUSAL.streaming_decoder(batch_size=2)
    pieces = [stream.feed(tokens), stream.feed(torch.zeros(2, 0, dtype=torch.int16)),
              stream.feed(tokens.ids.numpy().astype("uint16")), stream.flush()]
    streamed = torch.cat(pieces, dim=-1)
    assert_equal_to_rounding(streamed, CAUSAL.decode(tokens.ids.repeat(1, 2)))


# -- latency ------------------------------------------------------------------------------------
@pytest.mark.parametrize("codec, lookahead", [(CAUSAL, None), (PAPER, 0), (PAPER, 3)])
def test_samples_come_out_when_the_istft_arithmetic_says(codec, lookahead):
    stream = codec.streaming_decoder(lookahead_frames=lookahead)
    ahead = lookahead or 0
    # token t's last sample is output sample (t + 1) * hop - 1, padded (t + 1) * hop + PAD - 1:
    # under frames up to t + floor((hop - 1 + PAD) / hop) = t + 2, each decoded `ahead` later
    assert stream.latency_frames == ahead + 2
    assert stream.latency_ms == pytest.approx((ahead + 2) * 1000 * HOP / 24000)
    total = 0
    for count in range(1, 15):
        total += stream.feed(torch.tensor([count % K])).shape[-1]
        assert total == max(0, (count - ahead) * HOP - PAD)  # samples no later frame reaches
        done = count - 1 - stream.latency_frames  # the last token whose samples are all out
        assert total >= (done + 1) * HOP
        assert total < (done + 2) * HOP or done < -1  # and the next one's are not
    assert total + stream.flush().shape[-1] == 14 * HOP


def test_the_first_audio_of_a_causal_stream_comes_one_token_after_the_first():
    stream = CAUSAL.streaming_decoder()
    assert stream.feed(torch.tensor([1])).shape == (1, 0)
    assert stream.feed(torch.tensor([2])).shape == (1, 2 * HOP - PAD)  # 13.3 ms after token 0


# -- the paper decoder: windows with lookahead --------------------------------------------------
def smooth_paper_codec() -> SimVQCodec:
    """The tiny paper codec whose ISTFT head outputs one 56 Hz partial (bin 3) of fixed
    magnitude and a phase that follows the backbone's features, so each window's frames carry
    their own phase: a smooth signal, where a cut between windows would jump."""
    codec = copy.deepcopy(PAPER)
    out = codec.model.decoder.head.out
    bins = out.out_features // 2
    with torch.no_grad():
        out.weight.zero_()
        out.bias.fill_(-30.0)
        out.bias[3] = 4.6  # magnitude ~100 (the clip)
        out.bias[bins + 3] = 0.0
        out.weight[bins + 3] = torch.randn(out.in_features, generator=torch.Generator()
                                           .manual_seed(1))
    return codec


def largest_jump(wav):
    return float(wav.diff(dim=-1).abs().max())


def test_paper_windows_meet_without_a_click_where_cut_windows_jump():
    codec = smooth_paper_codec()
    ids = random_ids(1, 60)
    whole = codec.decode(ids)
    stream = codec.streaming_decoder(lookahead_frames=2, context_frames=4)
    streamed = feed_in_pieces(stream, ids, [5] * 12)
    cut = torch.cat([codec.decode(ids[:, start:start + 5]) for start in range(0, 60, 5)], dim=-1)
    assert streamed.shape == cut.shape == whole.shape
    assert float((streamed - whole).abs().max()) > 1e-3 * float(whole.abs().max())  # not exact
    assert largest_jump(streamed) <= largest_jump(whole)  # no jump beyond the signal's own
    assert largest_jump(cut) > 5 * largest_jump(whole)  # what cutting would have done


def test_a_paper_window_that_sees_every_frame_is_one_pass():
    ids = random_ids(2, 12)
    stream = PAPER.streaming_decoder(batch_size=2, lookahead_frames=12, context_frames=12)
    assert_equal_to_rounding(feed_in_pieces(stream, ids, [3, 1, 4]), PAPER.decode(ids))
    short = feed_in_pieces(PAPER.streaming_decoder(batch_size=2, lookahead_frames=1,
                                                   context_frames=1), ids, [3, 1, 4])
    assert short.shape == (2, 12 * HOP) and not torch.allclose(short, PAPER.decode(ids))


# -- long decodes go through the stream ---------------------------------------------------------
@pytest.mark.parametrize("codec", [CAUSAL, PAPER], ids=["causal", "paper"])
def test_decode_streams_sequences_longer_than_its_window(codec):
    ids = random_ids(2, 23)
    windowed = SimVQCodec(codec.model, codec.config, decode_window_s=4 / 75,
                          decode_context_s=30 / 75)
    assert windowed.decode_window_frames == 4 and windowed.decode_context_frames == 30
    # causal: exact; paper: the 30-frame context and lookahead cover all 23 frames
    assert_equal_to_rounding(windowed.decode(ids), codec.decode(ids))
    if not codec.model.decoder.causal:
        narrow = SimVQCodec(codec.model, codec.config, decode_window_s=4 / 75,
                            decode_context_s=2 / 75)
        assert not torch.allclose(narrow.decode(ids), codec.decode(ids))


# -- bad input ----------------------------------------------------------------------------------
@pytest.mark.parametrize("tokens, message", [
    (torch.tensor([0.5, 1.0]), "integer ids"),
    (torch.tensor([3, K]), "out of range"),
    (torch.tensor([-1]), "out of range"),
    (torch.zeros(2, 3, dtype=torch.long), "decodes 1 item"),
    (torch.zeros(1, 2, 3, dtype=torch.long), "integer ids"),
    ("tokens", "tokens"),
])
def test_bad_tokens_are_one_message(tokens, message):
    with pytest.raises(UserInputError, match=message):
        CAUSAL.streaming_decoder().feed(tokens)


def test_bad_settings_and_use_after_flush_are_one_message():
    with pytest.raises(UserInputError, match="streams exactly"):
        CAUSAL.streaming_decoder(lookahead_frames=2)
    with pytest.raises(UserInputError, match="lookahead_frames"):
        PAPER.streaming_decoder(lookahead_frames=-1)
    with pytest.raises(UserInputError, match="batch_size"):
        PAPER.streaming_decoder(batch_size=0)
    stream = CAUSAL.streaming_decoder(batch_size=2)
    with pytest.raises(UserInputError, match="item indices"):
        stream.select([2])
    with pytest.raises(UserInputError, match="equal length"):
        stream.feed(Tokens(torch.zeros(2, 3, dtype=torch.long), torch.tensor([3, 2]),
                           torch.tensor([960, 640]), 24000))
    stream.flush()
    for use in (lambda: stream.feed(torch.tensor([1, 2])), stream.flush,
                lambda: stream.select([0])):
        with pytest.raises(UserInputError, match="flushed"):
            use()


# -- the README's example -----------------------------------------------------------------------
def test_the_readme_generation_loop_writes_what_one_pass_decoding_gives(tmp_path, monkeypatch):
    section = (REPO / "docs" / "streaming.md").read_text()  # the README links it
    example = section[section.index("```python\n") + 10:section.index("```\n")]
    assert len(example.strip().splitlines()) <= 11  # the issue asks for about 10 lines
    model = CAUSAL.save_pretrained(tmp_path / "model")
    example = example.replace('"egs/mini/exp/tiny_causal/model"', repr(str(model)))
    ids = random_ids(1, 17)[0]
    monkeypatch.chdir(tmp_path)
    exec(compile(example, "docs/streaming.md", "exec"),
         {"generate_tokens": lambda: iter(ids.tolist())})
    written, rate = soundfile.read(tmp_path / "tts.wav", dtype="float32")
    expected = CAUSAL.decode(ids).numpy()
    assert rate == 24000 and written.shape == expected.shape
    # the file holds 16-bit samples: one quantisation step of error at most
    assert np.abs(written - expected).max() <= 1 / 2**15 + 1e-5 * np.abs(expected).max()
