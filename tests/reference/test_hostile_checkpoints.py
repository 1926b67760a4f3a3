"""Issue 24 for the SimVQ authors' checkpoints: whatever a crafted ``.ckpt`` claims, reading it
takes bounded memory, and every fault (damaged entries, absurd hyper-parameters, objects a
pickle tampers with) is one :class:`UserInputError` line, never a traceback. Each docstring says
what happened before the fix; the memory cases run the CLI under an address-space limit."""

from __future__ import annotations

import collections
import io
import math
import pickle
import struct
import zipfile
import zlib
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from simvq_audio.cli import main
from simvq_audio.codec import SimVQCodec
from simvq_audio.errors import UserInputError
from simvq_audio.reference.convert import convert_state
from simvq_audio.reference.safe_pickle import TorchCheckpoint, load_checkpoint

from hostile_helpers import assert_refused, run_limited
from repo_paths import FIXTURES

FIXTURE = FIXTURES / "reference" / "simvq_small.ckpt"
HPARAMS = {"sample_rate": 24000, "quantconfig": {"params": {"beta": 0.25}}}
GIB = 1 << 30


# -- crafting files ------------------------------------------------------------------------------
class Storage:
    """Pickled as torch.save's persistent id of storage ``key``: ``numel`` float32 elements."""

    def __init__(self, key: str, numel: int):
        self.key, self.numel = key, numel


class Tensor:
    """Pickled as ``torch._utils._rebuild_tensor_v2`` of a :class:`Storage` (``state``: what the
    pickle's BUILD opcode then sets on the tensor)."""

    def __init__(self, storage: Storage, size, stride, offset=0, state=None):
        self.storage, self.size, self.stride, self.offset, self.state = (storage, size, stride,
                                                                         offset, state)

    def __reduce__(self):
        args = (self.storage, self.offset, self.size, self.stride, False,
                collections.OrderedDict())
        return torch._utils._rebuild_tensor_v2, args, self.state


class _Pickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, Storage):
            return "storage", torch.FloatStorage, obj.key, "cpu", obj.numel
        return None


def data_pkl(obj) -> bytes:
    buffer = io.BytesIO()
    _Pickler(buffer, protocol=2).dump(obj)
    return buffer.getvalue()


def stored(name: str, data: bytes) -> tuple:
    """A zip entry (name, payload, method, claimed size, crc, flags) holding ``data`` as is."""
    return name, data, zipfile.ZIP_STORED, len(data), zlib.crc32(data), 0


def deflated_zeros(name: str, nbytes: int) -> tuple:
    """A deflated entry of ``nbytes`` zero bytes (a multiple of 16 MiB) in about nbytes / 1000
    bytes: one full-flushed block of 16 MiB, repeated (its CRC is not computed: 0)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = compressor.compress(bytes(1 << 24)) + compressor.flush(zlib.Z_FULL_FLUSH)
    final = zlib.compressobj(9, zlib.DEFLATED, -15).flush()
    return name, block * (nbytes >> 24) + final, zipfile.ZIP_DEFLATED, nbytes, 0, 0


def write_zip(path: Path, entries: list[tuple]) -> Path:
    """A zip archive of exactly these entries, headers as given (zipfile cannot write lies)."""
    body, central = bytearray(), bytearray()
    for name, payload, method, size, crc, flags in entries:
        encoded = name.encode()
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, flags, method, 0, 0x21,
                               crc, len(payload), size, len(encoded), 0, 0, 0, 0, 0, len(body))
        central += encoded
        body += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, flags, method, 0, 0x21, crc,
                            len(payload), size, len(encoded), 0) + encoded + payload
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(entries), len(entries), len(central),
                      len(body), 0)
    path.write_bytes(bytes(body + central + end))
    return path


def craft(path: Path, root, storages: list[tuple] = (), byteorder: tuple | None = None) -> Path:
    """A torch.save-layout checkpoint of the pickle of ``root`` and the given entries."""
    entries = [stored("archive/data.pkl", data_pkl(root)),
               byteorder or stored("archive/byteorder", b"little"), *storages]
    return write_zip(path, entries)


with zipfile.ZipFile(FIXTURE) as _archive:
    FIXTURE_ENTRIES = [(info.filename, _archive.read(info)) for info in _archive.infolist()]


def fixture_entries(change=None, pickled: bytes | None = None) -> list[tuple]:
    """The fixture's entries, stored; ``change(name, data)`` may replace each storage's entry
    and ``pickled`` the content of data.pkl."""
    return [change(name, data) if change and "/data/" in name
            else stored(name, pickled) if pickled is not None and name.endswith("/data.pkl")
            else stored(name, data) for name, data in FIXTURE_ENTRIES]


@pytest.fixture(scope="module")
def reference_root() -> dict:
    root = load_checkpoint(FIXTURE)
    root["hyper_parameters"] = HPARAMS  # the inert DictConfig cannot be saved again
    return root


def saved(path: Path, root: dict, **changes) -> Path:
    torch.save({**root, **changes}, path)
    return path


def import_line(capsys, ckpt: Path, out: Path) -> str:
    """Run ``import-reference`` in process: exit 2 and exactly one line; return it."""
    code = main(["import-reference", str(ckpt), str(out)])
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("simvq-audio: error: "), lines
    assert not out.exists()
    return lines[0]


# -- 1. memory stays bounded ---------------------------------------------------------------------
def _byteorder_bomb(tmp_path: Path, root: dict) -> Path:
    return craft(tmp_path / "crafted.ckpt", {"state_dict": {}},
                 byteorder=deflated_zeros("archive/byteorder", 3 * GIB))


def _stride_0_codebook(tmp_path: Path, root: dict) -> Path:
    state = dict(root["state_dict"])
    state["quantize.embedding.weight"] = torch.zeros(1).expand(2**24, 64)
    return saved(tmp_path / "crafted.ckpt", root, state_dict=state)


def _memo_bomb(tmp_path: Path, root: dict) -> Path:
    # None, then LONG_BINPUT 2**31 - 1: the C unpickler grows its memo to 2**32 slots
    return write_zip(tmp_path / "crafted.ckpt", [stored("archive/data.pkl",
                                                        b"\x80\x02Nr\xff\xff\xff\x7f.")])


MEMORY_CASES = {
    "byteorder inflating to 3 GiB": (_byteorder_bomb, "its byteorder claims 3221225472 bytes"),
    "stride-0 codebook [2**24, 64]": (
        _stride_0_codebook, "a tensor of size [16777216, 64] with strides [0, 0] takes "
                            "4294967296 bytes"),
    "memo index 2**31": (_memo_bomb, "has no 'state_dict'"),
}


@pytest.mark.parametrize("case", list(MEMORY_CASES))
def test_a_crafted_checkpoint_is_refused_in_bounded_memory(case, reference_root, tmp_path):
    """Before: the byteorder entry was inflated whole (3 GiB), the codebook view was cloned
    (4 GiB) and the C unpickler allocated a memo of 2**32 slots (32 GiB): all three ran out
    of memory under the limit."""
    make, message = MEMORY_CASES[case]
    ckpt = make(tmp_path, reference_root)
    assert ckpt.stat().st_size < 12 << 20
    result = run_limited("import-reference", ckpt, tmp_path / "out")
    assert_refused(result, message)
    assert not (tmp_path / "out").exists()


def _storage_bomb(tmp_path: Path) -> Path:
    """One tensor over a storage of 2**28 floats (1 GiB) that deflate packs in 1 MB."""
    storage = Storage("0", 2**28)
    return craft(tmp_path / "c.ckpt", {"w": Tensor(storage, (2**28,), (1,))},
                 [deflated_zeros("archive/data/0", GIB)])


def _oversized_pickle(tmp_path: Path) -> Path:
    return write_zip(tmp_path / "c.ckpt", [deflated_zeros("archive/data.pkl", 16 << 20)])


def _stored_entry_claiming_more(tmp_path: Path) -> Path:
    name, data, method, _, crc, flags = stored("archive/data/0", bytes(16))
    storage = Storage("0", 2**20)
    return craft(tmp_path / "c.ckpt", {"w": Tensor(storage, (4,), (1,))},
                 [(name, data, method, 4 << 20, crc, flags)])


def _tensor_resized_after_its_check(tmp_path: Path) -> Path:
    storage = Storage("0", 1)
    tensor = Tensor(storage, (1,), (1,), state=(None, {"shape": torch.Size([2**24, 64]),
                                                      "_stride": (0, 0)}))
    return craft(tmp_path / "c.ckpt", {"w": tensor}, [stored("archive/data/0", bytes(4))])


def _too_many_classes(tmp_path: Path) -> Path:
    globals_ = b"".join(b"cm\nC%d\n" % i for i in range(1001))
    return write_zip(tmp_path / "c.ckpt", [stored("archive/data.pkl",
                                                  b"\x80\x02(" + globals_ + b"l.")])


SIZE_CASES = {
    "storage inflating to 1 GiB": (_storage_bomb, "storage '0' takes 1073741824 bytes, which "
                                                  "with the tensors before it is more than 8 "
                                                  "times the file's size"),
    "data.pkl of 16 MiB": (_oversized_pickle, "its data.pkl claims 16777216 bytes; a torch "
                                              "checkpoint's holds at most 4194304"),
    "stored entry claiming 4 MiB": (_stored_entry_claiming_more, "stored uncompressed in 16 "
                                                                 "bytes but claims 4194304"),
    "tensor resized by BUILD": (_tensor_resized_after_its_check, "AttributeError: read-only"),
    "1001 classes": (_too_many_classes, "names more than 1000 classes"),
}


@pytest.mark.parametrize("case", list(SIZE_CASES))
def test_sizes_are_checked_before_anything_is_read(case, tmp_path):
    """Before: all of these opened; the storage and the resized tensor were materialised in
    full on load (1 GiB; 4 GiB), the pickle was read whatever its size, and every class a
    pickle named became a new class object."""
    make, message = SIZE_CASES[case]
    with pytest.raises(UserInputError) as caught:
        TorchCheckpoint(make(tmp_path))
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_a_view_reads_only_the_part_of_its_storage_it_spans(tmp_path):
    """A small view at the end of a large storage reads its own elements, not the storage."""
    storage = Storage("0", 2**20)
    data = torch.arange(2**20, dtype=torch.float32).numpy().tobytes()
    ckpt = craft(tmp_path / "c.ckpt", {"tail": Tensor(storage, (2, 2), (1, 2), 2**20 - 4),
                                       "empty": Tensor(storage, (0, 3), (3, 1), 2**20)},
                 [stored("archive/data/0", data)])
    root = load_checkpoint(ckpt)
    base = 2**20 - 4
    assert torch.equal(root["tail"], torch.tensor([[base, base + 2], [base + 1, base + 3]]))
    assert root["empty"].shape == (0, 3)


# -- 2. no traceback on damage or absurd values --------------------------------------------------
def _garbage(method: int, flags: int = 0):
    def change(name: str, data: bytes) -> tuple:
        return name, b"\xff" * len(data), method, len(data), 0, flags
    return change


def _encrypted(name: str, data: bytes) -> tuple:
    return name, data, zipfile.ZIP_STORED, len(data), zlib.crc32(data), 0x1


DAMAGED = {
    "deflate garbage": (_garbage(zipfile.ZIP_DEFLATED), "is damaged: cannot read storage"),
    "lzma garbage": (_garbage(zipfile.ZIP_LZMA), "is compressed with lzma; only stored or "
                                                 "deflated entries are read"),
    "bzip2 garbage": (_garbage(zipfile.ZIP_BZIP2), "is compressed with bzip2"),
    "unknown method": (_garbage(77), "is compressed with method 77"),
    "encrypted": (_encrypted, "is encrypted"),
}


@pytest.mark.parametrize("case", list(DAMAGED))
def test_damaged_storage_entries_are_one_line(case, tmp_path, capsys):
    """Before: zlib.error, lzma.LZMAError, NotImplementedError and RuntimeError tracebacks (and
    bzip2 and lzma entries decompress without an output bound)."""
    change, message = DAMAGED[case]
    ckpt = write_zip(tmp_path / "damaged.ckpt", fixture_entries(change))
    assert message in import_line(capsys, ckpt, tmp_path / "out")


ABSURD = {
    "sample rate NaN": (dict(hyper_parameters={**HPARAMS, "sample_rate": math.nan}),
                        "hyper_parameters.sample_rate is nan; expected a whole number of Hz in "
                        "1000-768000"),
    "sample rate inf": (dict(hyper_parameters={**HPARAMS, "sample_rate": math.inf}),
                        "sample_rate is inf"),
    "sample rate 10**30": (dict(hyper_parameters={**HPARAMS, "sample_rate": 10**30}),
                           "sample_rate is 1000000000000000000000000000000"),
    "beta NaN": (dict(hyper_parameters={**HPARAMS, "quantconfig": {"params": {"beta": math.nan}}}),
                 "quantconfig.params.beta is nan; expected a finite number >= 0"),
    "beta -inf": (dict(hyper_parameters={"quantconfig": {"params": {"beta": -math.inf}}}),
                  "beta is -inf"),
    "epoch 2**100000": (dict(epoch=2**100000), "epoch is <an integer of about 30104 digits>"),
    "step -1": (dict(global_step=-1), "global_step is -1; expected a whole number in 0-"),
}


@pytest.mark.parametrize("case", list(ABSURD))
def test_absurd_hyper_parameters_are_one_line(case, reference_root, tmp_path, capsys):
    """Before: NaN and inf sample rates and the 100000-digit epoch raised ValueError or
    OverflowError tracebacks; beta NaN was written into config.json as non-standard ``NaN``
    and a sample rate of 10**30 was accepted."""
    changes, message = ABSURD[case]
    ckpt = saved(tmp_path / "c.ckpt", reference_root, **changes)
    assert message in import_line(capsys, ckpt, tmp_path / "out")


def test_attributes_a_pickle_gives_the_root_are_dropped(reference_root, tmp_path, capsys):
    """Before: the root OrderedDict came with its own ``get`` (here the OrderedDict class),
    which ``convert_state`` called: a ValueError traceback. Torch's state dicts carry their
    ``_metadata`` the same way, so such state is dropped and the import works."""
    root = collections.OrderedDict(reference_root)
    root.get = collections.OrderedDict
    ckpt = tmp_path / "c.ckpt"
    torch.save(root, ckpt)
    assert main(["import-reference", str(ckpt), str(tmp_path / "out")]) == 0
    assert SimVQCodec.from_pretrained(tmp_path / "out").config.quantizer.num_codes == 1024


# -- 3. random bytes, truncations and mutations of the real checkpoint ---------------------------
SETTINGS = dict(deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])
GOOD = FIXTURE.read_bytes()
_PICKLE_END, _DIRECTORY = 60_000, len(GOOD) - 40_000
"""The fixture's data.pkl lies in its first 60 kB, its central directory in its last 40 kB."""
PICKLE = dict(FIXTURE_ENTRIES)["simvq_small/data.pkl"]


def read_and_convert(path: Path) -> None:
    """What ``import-reference`` does with a checkpoint before writing anything."""
    with TorchCheckpoint(path) as checkpoint:
        convert_state(checkpoint.root)


def allows_only_refusals(path: Path) -> None:
    try:
        read_and_convert(path)
    except UserInputError as error:
        assert str(error) and "\n" not in str(error) and len(str(error)) < 600, str(error)


@settings(max_examples=25, **SETTINGS)
@given(data=st.binary(max_size=400), zipped=st.booleans())
def test_random_bytes_are_refused(tmp_path_factory, data, zipped):
    path = tmp_path_factory.mktemp("random") / "c.ckpt"
    if zipped:  # random bytes as data.pkl of a valid archive: the unpickler's turn
        write_zip(path, [stored("archive/data.pkl", data)])
    else:
        path.write_bytes(data)
    with pytest.raises(UserInputError):
        read_and_convert(path)


@settings(max_examples=20, **SETTINGS)
@given(keep=st.integers(0, len(GOOD) - 1))
def test_truncated_checkpoints_are_refused(tmp_path_factory, keep):
    path = tmp_path_factory.mktemp("cut") / "c.ckpt"
    path.write_bytes(GOOD[:keep])
    with pytest.raises(UserInputError):
        read_and_convert(path)


@settings(max_examples=40, **SETTINGS)
@given(edits=st.lists(st.tuples(st.one_of(st.integers(0, _PICKLE_END),
                                          st.integers(_DIRECTORY, len(GOOD) - 1),
                                          st.integers(0, len(GOOD) - 1)),
                                st.integers(0, 255)), min_size=1, max_size=4))
def test_mutated_checkpoints_are_refused_or_read(tmp_path_factory, edits):
    """Bytes changed in the pickle, the central directory or anywhere (a changed entry fails
    its CRC): a refusal or a model."""
    data = bytearray(GOOD)
    for position, value in edits:
        data[position] = value
    path = tmp_path_factory.mktemp("mutated") / "c.ckpt"
    path.write_bytes(bytes(data))
    allows_only_refusals(path)


@settings(max_examples=40, **SETTINGS)
@given(edits=st.lists(st.tuples(st.integers(0, len(PICKLE) - 1), st.binary(max_size=4),
                                st.integers(0, 4)), min_size=1, max_size=3))
@example(edits=[(PICKLE.index(b"conv.conv.bias") + 10, b"\n", 1)])
def test_mutated_pickles_are_refused_or_read(tmp_path_factory, edits):
    """data.pkl's bytes replaced, inserted or removed, in an archive whose CRCs are right: what
    the unpickler and the converter make of a damaged or crafted pickle. Before (the example):
    a tensor name with a newline made a two-line message."""
    data = bytearray(PICKLE)
    for position, new, removed in edits:
        data[position:position + removed] = new
    path = tmp_path_factory.mktemp("pickle") / "c.ckpt"
    allows_only_refusals(write_zip(path, fixture_entries(pickled=bytes(data))))
