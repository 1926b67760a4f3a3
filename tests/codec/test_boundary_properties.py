"""Property tests of the public boundary (issue 16): random shapes, dtypes, lengths, sample rates
and id tensors into ``encode``/``decode``/``read_codes``, random and mutated bytes into the
``.codes`` reader and the model-directory loader. Every call either returns a result that round
trips or raises :class:`UserInputError` with a message free of object reprs: never another
exception, never a hang. A few hundred examples in all, on the tiny codec."""

import io
import json
import math
import re
import struct
import zlib

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from simvq_audio.codec import SimVQCodec
from simvq_audio.codes import CodesHeader, SourceId, read_codes, write_codes
from simvq_audio.errors import UserInputError
from simvq_audio.model_dir import CONFIG_NAME, WEIGHTS_NAME, load_model_dir, weights_sha256

from repo_paths import TINY_RECIPE

HOP, RATE, K = 320, 24000, 1024
# a Python repr in a message: "<Foo object at 0x7f...>" (not serde's "parsing an object at line")
REPR = re.compile(r"0x[0-9a-fA-F]{4,}|object at 0x|<[A-Za-z_.]+ ")
SETTINGS = dict(deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])


@pytest.fixture(scope="module")
def codec():
    torch.manual_seed(0)
    return SimVQCodec.from_config(TINY_RECIPE)


@pytest.fixture(scope="module")
def model_dir(codec, tmp_path_factory):
    return codec.save_pretrained(tmp_path_factory.mktemp("m") / "model")


def refused(error: UserInputError) -> None:
    """A refusal must say something and show no object repr or address."""
    assert str(error) and not REPR.search(str(error)), str(error)


# -- encode ---------------------------------------------------------------------------------
FLOATS = [torch.float32, torch.float64, torch.float16, torch.bfloat16]
OTHER_DTYPES = [torch.int16, torch.bool, torch.complex64]
BAD_RATES = st.one_of(st.sampled_from([999, 768001, 0, -8000, 16000.5]), st.floats(),
                      st.none(), st.text(max_size=5), st.integers())


@st.composite
def waveforms(draw):
    """(wav, rate, lengths): three in four a valid call (at most 0.2 s at the model rate), the
    rest with one thing or more wrong."""
    sane = draw(st.integers(0, 3)) > 0
    rate = draw(st.integers(1000, 96000) | st.just(768000) if sane else BAD_RATES)
    longest = max(1, int(4800 * rate / RATE)) if sane else 400
    rank = draw(st.integers(1, 3) if sane else st.integers(0, 4))
    sizes = st.integers(1, 3) if sane else st.integers(0, 3)
    shape = [draw(sizes) for _ in range(max(rank - 1, 0))]
    shape = shape + [draw(st.integers(int(sane), longest))] if rank else []
    if rank >= 2 and draw(st.booleans()):  # channels last
        shape[-2], shape[-1] = shape[-1], shape[-2]
    dtype = draw(st.sampled_from(FLOATS if sane else FLOATS + OTHER_DTYPES))
    scale = draw(st.sampled_from([0.1, 1.0] if sane else [0.1, 100.0, float("inf")]))
    wav = (torch.randn(shape) * scale).to(dtype)
    if dtype != torch.bfloat16 and draw(st.booleans()):
        wav = wav.numpy()
    lengths = None
    if rank == 3 and draw(st.booleans()):
        time = max(shape[-2:]) if sane else shape[-1]
        lengths = draw(st.lists(st.integers(1, time) if sane else st.integers(-1, time + 1),
                                min_size=shape[0] if sane else 0, max_size=shape[0] if sane
                                else 4))
    return wav, rate, lengths


@settings(max_examples=80, **SETTINGS)
@given(case=waveforms())
@example(case=(torch.full((16,), 0.05), 768_000, None))  # 0.5 samples at 24 kHz: rounds up
def test_encode_round_trips_or_refuses(codec, case):
    wav, rate, lengths = case
    try:
        tokens = codec.encode(wav, rate, lengths)
    except UserInputError as error:
        return refused(error)
    channels_first = np.ndim(wav) == 1 or np.shape(wav)[-2] <= np.shape(wav)[-1]
    samples = np.shape(wav)[-1] if channels_first else np.shape(wav)[-2]
    given_lengths = lengths if lengths is not None else [samples] * len(tokens)
    expected = [math.floor(n * RATE / rate + 0.5) for n in given_lengths]  # soxr: halves up
    assert tokens.num_samples.tolist() == expected
    assert tokens.lengths.tolist() == [math.ceil(n / HOP) for n in expected]
    assert tokens.ids.dtype == torch.int64 and int(tokens.ids.max()) < K
    audio = codec.decode(tokens)
    assert audio.shape == (len(tokens), max(expected)) and torch.isfinite(audio).all()


# -- decode ---------------------------------------------------------------------------------
ID_DTYPES = [np.int64, np.int32, np.int16, np.int8, np.uint8, np.uint16, np.uint32, np.uint64,
             np.float32, np.bool_]


@st.composite
def id_tensors(draw):
    """(ids, lengths): three in four valid ids of an integer dtype with valid lengths or none,
    the rest of any dtype, rank, range and lengths."""
    sane = draw(st.integers(0, 3)) > 0
    rank = draw(st.integers(1, 2) if sane else st.integers(0, 3))
    shape = [draw(st.integers(int(sane), 3)) for _ in range(rank - 1)] + (
        [draw(st.integers(int(sane), 12))] if rank else [])
    dtype = np.dtype(draw(st.sampled_from(ID_DTYPES[:8] if sane else ID_DTYPES)))
    top = np.iinfo(dtype).max if dtype.kind in "iu" else K
    high = min(K - 1, top) if sane else min(K + 2, top)
    low = 0 if sane or dtype.kind != "i" else -2
    ids = np.random.default_rng(draw(st.integers(0, 2**16))).integers(
        low, high + 1, size=shape).astype(dtype)
    lengths = None
    if rank == 2 and draw(st.booleans()):
        lengths = draw(st.lists(st.integers(1, shape[-1]) if sane else
                                st.integers(-1, shape[-1] + 1),
                                min_size=shape[0], max_size=shape[0]))
    as_tensor = draw(st.booleans())
    return (torch.from_numpy(ids) if as_tensor else ids), lengths


@settings(max_examples=80, **SETTINGS)
@given(case=id_tensors())
def test_decode_gives_hop_samples_per_frame_or_refuses(codec, case):
    ids, lengths = case
    try:
        audio = codec.decode(ids, lengths)
    except UserInputError as error:
        return refused(error)
    frames = max(lengths) if lengths is not None else np.shape(ids)[-1]
    assert audio.shape == ((frames * HOP,) if np.ndim(ids) == 1 else
                           (np.shape(ids)[0], frames * HOP))
    assert torch.isfinite(audio).all()
    if lengths is not None:
        for row, count in zip(audio, lengths):
            assert not row[count * HOP:].any()


# -- .codes reader --------------------------------------------------------------------------
def valid_codes() -> bytes:
    header = CodesHeader("ab" * 16, K, RATE, HOP, 3000, 1, (10,),
                         SourceId(1234, "cd" * 16, "ef" * 8))
    buffer = io.BytesIO()
    write_codes(buffer, torch.arange(10) * 97, header)
    return buffer.getvalue()


def read(data: bytes):
    try:
        return read_codes(io.BytesIO(data))
    except UserInputError as error:
        refused(error)
        return None


@settings(max_examples=80, **SETTINGS)
@given(data=st.binary(max_size=200))
def test_random_bytes_are_refused(data):
    assert read(data) is None


@settings(max_examples=80, **SETTINGS)
@given(edits=st.lists(st.tuples(st.integers(0, 400), st.integers(0, 255),
                                st.sampled_from(["set", "insert", "delete"])),
                      min_size=1, max_size=4),
       cut=st.integers(0, 400))
def test_mutated_codes_are_refused_or_unchanged(edits, cut):
    good = valid_codes()
    data = bytearray(good)
    for position, value, kind in edits:
        position %= len(data) + 1
        if kind == "insert":
            data.insert(position, value)
        elif position < len(data):
            if kind == "set":
                data[position] = value
            else:
                del data[position]
    data = bytes(data[:cut] if cut < len(data) else data)
    result = read(data)
    assert result is None or data == good


@settings(max_examples=40, **SETTINGS)
@given(fields=st.tuples(st.integers(0, 2**64 - 1), st.integers(0, 2**32 - 1),
                        st.integers(0, 2**32 - 1), st.integers(0, 2**64 - 1),
                        st.integers(0, 2**16 - 1), st.integers(0, 9)),
       grid=st.lists(st.integers(0, 2**64 - 1), max_size=9), payload=st.binary(max_size=40),
       version=st.integers(0, 3))
def test_checksummed_but_absurd_headers_are_refused(fields, grid, payload, version):
    """Headers with valid checksums and random fields (what a careless writer could make)."""
    size, rate, hop, samples, channels, rank = fields
    body = (struct.pack("<16sQIIQHB", bytes(16), size, rate, hop, samples, channels, rank)
            + b"".join(struct.pack("<Q", dim) for dim in grid[:rank])
            + struct.pack("<Q", len(payload)) + bytes(33 if version >= 2 else 0))
    head = b"SVQCODES" + struct.pack("<HI", version, len(body)) + body
    data = (head + struct.pack("<I", zlib.crc32(head)) + payload
            + struct.pack("<I", zlib.crc32(payload)))
    result = read(data)
    if result is not None:
        header, tokens = result
        assert tuple(tokens.shape) == header.grid
        assert tokens.numel() == 0 or int(tokens.max()) < header.codebook_size


# -- model directory ------------------------------------------------------------------------
@settings(max_examples=30, **SETTINGS)
@given(weights=st.binary(max_size=300), config=st.binary(max_size=100))
def test_random_model_files_are_refused(tmp_path_factory, weights, config):
    path = tmp_path_factory.mktemp("random")
    (path / WEIGHTS_NAME).write_bytes(weights)
    (path / CONFIG_NAME).write_bytes(config)
    with pytest.raises(UserInputError) as caught:
        SimVQCodec.from_pretrained(path)
    refused(caught.value)


@settings(max_examples=30, **SETTINGS)
@given(position=st.integers(0, 2**31), value=st.integers(0, 255), cut=st.booleans())
def test_mutated_weights_are_refused_or_unchanged(model_dir, tmp_path_factory, position, value,
                                                  cut):
    good = (model_dir / WEIGHTS_NAME).read_bytes()
    data = bytearray(good)
    data[position % len(data)] = value
    path = tmp_path_factory.mktemp("mutated")
    (path / CONFIG_NAME).write_bytes((model_dir / CONFIG_NAME).read_bytes())
    (path / WEIGHTS_NAME).write_bytes(bytes(data[:position % len(data)] if cut else data))
    try:
        _, state = load_model_dir(path)
    except UserInputError as error:
        return refused(error)
    assert weights_sha256(state) == weights_sha256(load_model_dir(model_dir)[1])


@settings(max_examples=30, **SETTINGS)
@given(leaf=st.integers(0, 10**6), value=st.one_of(
    st.integers(-2, 2**40), st.floats(), st.text(max_size=4), st.none(), st.booleans(),
    st.lists(st.integers(-1, 9), max_size=3)))
def test_mutated_configs_are_refused_or_load(codec, model_dir, tmp_path_factory, leaf, value):
    """One value of ``config.json`` replaced: a model that fits its weights, or a refusal (and
    never an allocation the config alone asks for: shapes are checked before anything is
    built)."""
    config = json.loads((model_dir / CONFIG_NAME).read_text())
    leaves = list(_leaves(config))
    container, key = leaves[leaf % len(leaves)]
    assume(container[key] != value)
    container[key] = value
    path = tmp_path_factory.mktemp("config")
    (path / CONFIG_NAME).write_text(json.dumps(config))
    (path / WEIGHTS_NAME).write_bytes((model_dir / WEIGHTS_NAME).read_bytes())
    try:
        loaded = SimVQCodec.from_pretrained(path)
    except UserInputError as error:
        return refused(error)
    assert loaded.model_hash == codec.model_hash


def _leaves(node):
    """``(container, key)`` of every scalar or list in a JSON document."""
    items = node.items() if isinstance(node, dict) else enumerate(node)
    for key, child in items:
        if isinstance(child, dict):
            yield from _leaves(child)
        else:
            yield node, key
