"""Read a ``torch.save`` checkpoint without executing anything from it.

A Lightning checkpoint is a zip archive: ``<name>/data.pkl`` (a pickle of the saved dict) and
``<name>/data/<key>`` (raw tensor bytes). ``torch.load(weights_only=True)`` refuses files whose
pickle names any class outside torch's allow-list (the SimVQ checkpoints hold omegaconf objects
in ``hyper_parameters``), and ``weights_only=False`` would run whatever the pickle asks for.

:class:`TorchCheckpoint` unpickles ``data.pkl`` itself, allowing only what tensors and plain
containers need:

* tensors (``torch._utils._rebuild_tensor_v2``, ``_rebuild_parameter``) become
  :class:`StoredTensor` records (dtype, shape, where the bytes are); their bytes are read only
  when :meth:`StoredTensor.load` is called, so optimizer states are never read;
* ``collections.OrderedDict``, ``torch.Size``, torch dtypes and storage types are the real ones;
* any other global becomes an inert :class:`Placeholder` class. Building an object of it the
  way pickle rebuilds plain objects (``__new__`` then state / items / list entries) stores the
  data and runs nothing, so an omegaconf ``DictConfig`` loads as a harmless record. *Calling*
  it (what ``os.system(...)`` in a ``__reduce__`` asks for) raises
  :class:`~simvq_audio.errors.UserInputError` naming the global.

Nothing a pickle builds can be changed after it was checked: tensors, storages and the
allow-listed objects refuse attribute setting, and ``OrderedDict`` builds a dict without an
instance ``__dict__`` (so a pickle cannot give the root object its own ``get`` or ``items``).

Memory stays bounded whatever the file claims; a crafted file is refused with one line before
anything is decompressed or allocated. Only stored and deflated zip entries are read
(``torch.save`` writes stored ones; bzip2 and lzma decompress without an output bound), never
encrypted ones. Every read is capped by what the entry may hold, not by its header
(``byteorder``: 64 bytes, ``data.pkl``: :data:`MAX_PICKLE_BYTES`). Each storage's size must be
its element count times the element size, every view must lie inside its storage, and the
storages and tensors together may claim at most :data:`MAX_INFLATION` times the file's size
(stride-0 and overlapping views included), so a 10 kB file cannot ask for 4 GB. The pickle is
read by Python's pure-Python unpickler, whose memo is a dict (the C one allocates up to the
largest memo index a pickle names).
"""

from __future__ import annotations

import _compat_pickle
import io
import math
import os
import pickle
import struct
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from simvq_audio.errors import UserInputError, cut, quote

_STORAGE_DTYPES = {
    "DoubleStorage": torch.float64, "FloatStorage": torch.float32,
    "HalfStorage": torch.float16, "BFloat16Storage": torch.bfloat16,
    "LongStorage": torch.int64, "IntStorage": torch.int32, "ShortStorage": torch.int16,
    "CharStorage": torch.int8, "ByteStorage": torch.uint8, "BoolStorage": torch.bool,
    "ComplexFloatStorage": torch.complex64, "ComplexDoubleStorage": torch.complex128,
    "UntypedStorage": torch.uint8,
}
_DTYPE_NAMES = {str(dtype).removeprefix("torch."): dtype for dtype in (
    torch.float64, torch.float32, torch.float16, torch.bfloat16, torch.int64, torch.int32,
    torch.int16, torch.int8, torch.uint8, torch.bool, torch.complex64, torch.complex128)}
_LEGACY_MAGIC = b"\x8a\nl\xfc\x9cF\xf9 j\xa8P\x19"
"""Pickled ``torch.serialization.MAGIC_NUMBER`` that opens a legacy (pre-1.6) torch file."""
_READ_CHUNK = 1 << 24
MAX_PICKLE_BYTES = 4 << 20
"""Largest ``data.pkl`` read. It holds names and tensor layouts only (about 150 bytes a tensor:
the SimVQ checkpoints' are under 1 MB); unpickling can take 70 bytes of memory per byte."""
MAX_INFLATION = 8
"""The storages plus the tensors viewing them may claim at most this many times the file's size
(plus 1 MiB). ``torch.save`` stores tensors uncompressed, so a real checkpoint claims about twice
its size; a re-compressed one of trained weights shrinks by about a tenth."""
_MAX_BYTEORDER_BYTES = 64
_MAX_GLOBALS = 1000
"""Distinct classes a pickle may name (each becomes a placeholder class); real ones name a few."""
_MAX_DIMS, _MAX_COUNT = 64, 1 << 62
_READABLE = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)
_METHODS = {zipfile.ZIP_BZIP2: "bzip2", zipfile.ZIP_LZMA: "lzma", 99: "AES"}
_ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, RuntimeError,
               NotImplementedError)
"""What reading a damaged zip entry raises (bad CRC or header, deflate garbage, short data)."""


class _ReadOnly:
    """Objects a pickle can reach but must not change once checked (its ``BUILD`` opcode sets
    attributes): attributes are set once, by ``__init__``."""

    __slots__ = ()

    def _set(self, **values: Any) -> None:
        for name, value in values.items():
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("read-only")


class StoredTensor(_ReadOnly):
    """A tensor of the checkpoint, not read yet: ``dtype``, ``shape`` and :meth:`load`."""

    __slots__ = ("_storage", "_offset", "shape", "_stride")

    def __init__(self, storage: _StorageRef, offset: int, shape: tuple[int, ...],
                 stride: tuple[int, ...]):
        self._set(_storage=storage, _offset=offset, shape=torch.Size(shape), _stride=stride)

    @property
    def dtype(self) -> torch.dtype:
        return self._storage.dtype

    def load(self) -> torch.Tensor:
        """Read the bytes: a new tensor on the CPU with this ``shape`` and ``dtype`` (only the
        part of the storage it spans is read)."""
        if not self.shape.numel():
            return torch.empty(self.shape, dtype=self.dtype)
        span = _span(self.shape, self._stride)
        flat = self._storage.read(self._offset, span)
        view = torch.as_strided(flat, self.shape, self._stride)
        return view if view.numel() == span and view.is_contiguous() else view.clone()

    def __repr__(self) -> str:
        return f"StoredTensor({self.dtype}, {list(self.shape)})"


class Placeholder:
    """Base of the inert stand-ins for classes outside the allow-list.

    ``args`` (given to ``__new__``), ``state`` (``__setstate__``), ``items`` (``obj[k] = v``)
    and ``values`` (``append``/``extend``) record what the pickle built; nothing else runs.
    ``global_name`` is the ``module.name`` the pickle referred to.
    """

    global_name = "?"

    def __new__(cls, *args: Any, **kwargs: Any) -> Placeholder:
        obj = object.__new__(cls)
        obj.__dict__.update(args=args, kwargs=kwargs, state=None, items={}, values=[])
        return obj

    def __setstate__(self, state: Any) -> None:
        self.__dict__["state"] = state

    def __setitem__(self, key: Any, value: Any) -> None:
        self.__dict__["items"][key] = value

    def append(self, value: Any) -> None:
        self.__dict__["values"].append(value)

    def extend(self, values: Any) -> None:
        self.__dict__["values"].extend(values)

    def __repr__(self) -> str:
        return f"<inert {self.global_name}>"


class _RefuseCall(type):
    """Metaclass of the placeholders: building through ``__new__`` works, calling refuses."""

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        raise _Refused(cls.global_name)


class _Refused(Exception):
    """Raised inside the unpickler; :class:`TorchCheckpoint` turns it into one message."""


class _SafeCall(_ReadOnly):
    """One allow-listed function, as an object whose attributes a pickle cannot replace."""

    __slots__ = ("_function",)

    def __init__(self, function: Any):
        self._set(_function=function)

    def __call__(self, *args: Any) -> Any:
        return self._function(*args)


class _StorageType(_ReadOnly):
    """What a ``torch.<X>Storage`` global stands for: the dtype of the bytes (read-only, so a
    pickle cannot change it for later loads)."""

    __slots__ = ("name", "dtype")

    def __init__(self, name: str, dtype: torch.dtype):
        self._set(name=name, dtype=dtype)


class _StorageRef(_ReadOnly):
    """Storage ``key`` of an open archive: ``numel`` elements of ``dtype``."""

    __slots__ = ("_checkpoint", "key", "dtype", "numel")

    def __init__(self, checkpoint: TorchCheckpoint, key: str, dtype: torch.dtype, numel: int):
        self._set(_checkpoint=checkpoint, key=key, dtype=dtype, numel=numel)

    def read(self, start: int, count: int) -> torch.Tensor:
        """Elements ``start`` to ``start + count`` (checked to lie inside the storage)."""
        return self._checkpoint._read_storage(self, start, count)


class _Dict(dict):
    """What ``collections.OrderedDict`` builds: a plain (insertion-ordered) dict without an
    instance ``__dict__``; the state a pickle gives it (torch's ``_metadata``) is dropped."""

    __slots__ = ()

    def __setstate__(self, state: Any) -> None:
        pass


def _rebuild_tensor(storage: Any, offset: Any, size: Any, stride: Any, *_ignored: Any
                    ) -> StoredTensor:
    """``torch._utils._rebuild_tensor_v2``: a checked view of a storage, its bytes claimed
    against the file's budget (so a stride-0 view of one float cannot claim gigabytes)."""
    if not isinstance(storage, _StorageRef):
        raise _Malformed("a tensor refers to something that is not one of the archive's storages")
    if not (_int_tuple(size) and _int_tuple(stride) and len(size) == len(stride) <= _MAX_DIMS
            and _is_count(offset)):
        raise _Malformed(f"a tensor has an invalid layout (offset {quote(offset)}, size "
                         f"{quote(size)}, stride {quote(stride)})")
    numel = math.prod(size)
    if numel and offset + _span(size, stride) > storage.numel:
        raise _Malformed(f"a tensor of size {list(size)} reaches past the end of storage "
                         f"{storage.key} ({storage.numel} elements)")
    storage._checkpoint._claim(numel * storage.dtype.itemsize,
                               f"a tensor of size {list(size)} with strides {list(stride)}")
    return StoredTensor(storage, offset, tuple(size), tuple(stride))


def _span(size: tuple[int, ...], stride: tuple[int, ...]) -> int:
    """Storage elements from a non-empty view's first element to its last, both included."""
    return sum((n - 1) * s for n, s in zip(size, stride)) + 1


def _rebuild_parameter(data: Any, *_ignored: Any) -> StoredTensor:
    """``torch._utils._rebuild_parameter[_with_state]``: the parameter's tensor."""
    if not isinstance(data, StoredTensor):
        raise _Malformed("a parameter holds something that is not a tensor")
    return data


class _Malformed(Exception):
    """The pickle is well-formed but does not describe a valid checkpoint."""


def _is_count(value: Any) -> bool:
    """Whether ``value`` is a whole number in [0, 2**62] (a size, stride, offset or count)."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= _MAX_COUNT


def _int_tuple(value: Any) -> bool:
    return isinstance(value, (tuple, torch.Size)) and all(_is_count(n) for n in value)


_ALLOWED: dict[tuple[str, str], Any] = {
    ("torch._utils", "_rebuild_tensor_v2"): _SafeCall(_rebuild_tensor),
    ("torch._utils", "_rebuild_parameter"): _SafeCall(_rebuild_parameter),
    ("torch._utils", "_rebuild_parameter_with_state"): _SafeCall(_rebuild_parameter),
    ("collections", "OrderedDict"): _Dict,
    ("torch", "Size"): torch.Size,
    **{("torch", name): dtype for name, dtype in _DTYPE_NAMES.items()},
    **{("torch", name): _StorageType(name, dtype) for name, dtype in _STORAGE_DTYPES.items()},
}


class _Unpickler(pickle._Unpickler):  # the pure-Python one: its memo is a dict
    def __init__(self, file: io.BufferedIOBase, checkpoint: TorchCheckpoint):
        super().__init__(file)
        self._checkpoint = checkpoint
        self._placeholders: dict[str, type] = {}

    def find_class(self, module: str, name: str) -> Any:
        # Python 2 names (protocols 0-2 write ``__builtin__``, ``copy_reg``): the modern ones
        module, name = _compat_pickle.NAME_MAPPING.get((module, name), (module, name))
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        allowed = _ALLOWED.get((module, name))
        if allowed is not None:
            return allowed
        full = f"{module}.{name}"
        if full not in self._placeholders:
            if len(self._placeholders) >= _MAX_GLOBALS:
                raise _Malformed(f"the pickle names more than {_MAX_GLOBALS} classes")
            self._placeholders[full] = _RefuseCall(name, (Placeholder,), {
                "global_name": full, "__module__": __name__, "__qualname__": f"inert.{full}"})
        return self._placeholders[full]

    def persistent_load(self, pid: Any) -> _StorageRef:
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"
                and isinstance(pid[1], _StorageType) and isinstance(pid[2], str)
                and pid[2].isprintable() and len(pid[2]) <= 64 and _is_count(pid[4])):
            raise _Malformed(f"unsupported persistent id {quote(pid)}")
        return self._checkpoint._storage(pid[2], pid[1].dtype, pid[4])


class TorchCheckpoint:
    """An open ``torch.save`` zip archive, read without executing anything from it.

    >>> with TorchCheckpoint("epoch=49-step=138600.ckpt") as ckpt:
    ...     weights = {k: v.load() for k, v in ckpt.root["state_dict"].items()}

    ``root`` is the saved object: dicts, lists, tuples, numbers and strings as saved, tensors as
    :class:`StoredTensor`, objects of other classes as :class:`Placeholder` instances. Opening
    raises :class:`UserInputError` (one line) for a missing file, a file that is not a torch zip
    archive (a legacy pre-1.6 torch file or a raw pickle included), a damaged archive, a pickle
    that asks to call anything outside the allow-list, or sizes the file cannot hold (see the
    module docstring); reading a damaged storage raises it too.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._zip = _open_archive(self.path)
        self._names = set(self._zip.namelist())
        self._storages: dict[str, _StorageRef] = {}
        self._budget = MAX_INFLATION * self.path.stat().st_size + (1 << 20)
        try:
            self._prefix = self._find_prefix()
            self.root = self._unpickle()
        except BaseException:
            self._zip.close()
            raise

    def __enter__(self) -> TorchCheckpoint:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        self._zip.close()

    def _find_prefix(self) -> str:
        pickles = [n for n in self._names if n.endswith("/data.pkl") and n.count("/") == 1]
        if len(pickles) != 1:
            raise UserInputError(f"{self.path} is a zip file but not a torch checkpoint "
                                 f"(it has no single <name>/data.pkl)")
        prefix = pickles[0][:-len("data.pkl")]
        if prefix + "byteorder" in self._names:
            raw = self._read_entry(prefix + "byteorder", _MAX_BYTEORDER_BYTES, "its byteorder")
            order = raw.decode("ascii", "replace").strip()
            if order == "big":
                raise UserInputError(f"{self.path} was saved on a big-endian machine; only "
                                     f"little-endian checkpoints are supported")
            if order != "little":
                raise UserInputError(f"{self.path} is damaged: its byteorder entry is neither "
                                     f"'little' nor 'big'")
        return prefix

    def _unpickle(self) -> Any:
        data = self._read_entry(self._prefix + "data.pkl", MAX_PICKLE_BYTES, "its data.pkl")
        try:
            return _Unpickler(io.BytesIO(data), self).load()
        except _Refused as refused:
            name = refused.args[0]
            shown = name if name.isprintable() and len(name) <= 100 else quote(name)
            raise UserInputError(
                f"refusing to load {self.path}: it asks to call {shown} (only tensors "
                f"and plain containers are loaded from a checkpoint)") from None
        except UserInputError:
            raise
        except _Malformed as error:
            raise UserInputError(f"{self.path} is not a valid torch checkpoint: {error}") from None
        except Exception as error:  # any pickle-level damage becomes one line
            text = cut(" ".join(str(error).split()), 120)
            raise UserInputError(f"{self.path} is damaged or not a torch checkpoint: cannot "
                                 f"unpickle its data.pkl ({type(error).__name__}: {text})"
                                 ) from None

    def _entry(self, name: str, what: str) -> zipfile.ZipInfo:
        """The zip entry ``name``, refused unless it is stored or deflated and not encrypted."""
        info = self._zip.getinfo(name)
        if info.flag_bits & 0x1:
            raise UserInputError(f"{self.path}: {what} ({quote(name)}) is encrypted; torch "
                                 f"checkpoints are not")
        if info.compress_type not in _READABLE:
            method = _METHODS.get(info.compress_type, f"method {info.compress_type}")
            raise UserInputError(f"{self.path}: {what} ({quote(name)}) is compressed with "
                                 f"{method}; only stored or deflated entries are read (torch.save "
                                 f"stores them uncompressed)")
        return info

    def _read_entry(self, name: str, limit: int, what: str) -> bytes:
        """All of the small entry ``name``: at most ``limit`` bytes, whatever its header says."""
        info = self._entry(name, what)
        if info.file_size > limit:
            raise UserInputError(f"{self.path}: {what} claims {info.file_size} bytes; a torch "
                                 f"checkpoint's holds at most {limit}")
        try:
            with self._zip.open(info) as file:
                data = file.read(limit + 1)
        except _ZIP_ERRORS as error:
            raise UserInputError(f"{self.path} is damaged: cannot read {what} "
                                 f"({_zip_error(error)})") from None
        if len(data) > limit:
            raise UserInputError(f"{self.path}: {what} holds more than {limit} bytes")
        return data

    def _claim(self, nbytes: int, what: str) -> None:
        """Count ``nbytes`` more against the file's budget (:data:`MAX_INFLATION`)."""
        self._budget -= nbytes
        if self._budget < 0:
            raise _Malformed(f"{what} takes {nbytes} bytes, which with the tensors before it is "
                             f"more than {MAX_INFLATION} times the file's size "
                             f"({self.path.stat().st_size} bytes): more than the file can hold")

    def _storage(self, key: str, dtype: torch.dtype, numel: int) -> _StorageRef:
        known = self._storages.get(key)
        if known is not None:
            if known.dtype != dtype or known.numel != numel:
                raise _Malformed(f"storage {quote(key)} is used with two different types")
            return known
        name = f"{self._prefix}data/{key}"
        if name not in self._names:
            raise _Malformed(f"storage {quote(key)} is missing from the archive")
        info = self._entry(name, f"storage {quote(key)}")
        nbytes = numel * dtype.itemsize
        if info.file_size != nbytes:
            raise _Malformed(f"storage {quote(key)} holds {info.file_size} bytes, the pickle says "
                             f"{numel} x {dtype} ({nbytes} bytes)")
        if info.compress_type == zipfile.ZIP_STORED and info.compress_size != nbytes:
            raise _Malformed(f"storage {quote(key)} is stored uncompressed in "
                             f"{info.compress_size} bytes but claims {nbytes}")
        self._claim(nbytes, f"storage {quote(key)}")
        return self._storages.setdefault(key, _StorageRef(self, key, dtype, numel))

    def _read_storage(self, ref: _StorageRef, start: int, count: int) -> torch.Tensor:
        flat = torch.empty(count, dtype=ref.dtype)
        target = memoryview(flat.view(torch.uint8).numpy()) if count else memoryview(b"")
        done = 0
        try:
            with self._zip.open(f"{self._prefix}data/{ref.key}") as file:
                file.seek(start * ref.dtype.itemsize)
                while done < len(target):
                    read = file.readinto(target[done:done + _READ_CHUNK])
                    if not read:
                        break
                    done += read
        except _ZIP_ERRORS as error:
            raise UserInputError(f"{self.path} is damaged: cannot read storage {quote(ref.key)} "
                                 f"({_zip_error(error)})") from None
        if done < len(target):
            raise UserInputError(f"{self.path}: storage {quote(ref.key)} is truncated")
        return flat


def _zip_error(error: BaseException) -> str:
    """One short line for an error a damaged zip entry raised."""
    text = " ".join(str(error).split())[:200]
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def load_checkpoint(path: str | os.PathLike) -> Any:
    """The whole saved object of a checkpoint with every tensor read (``torch.Tensor``);
    objects of classes outside the allow-list stay :class:`Placeholder` records."""
    with TorchCheckpoint(path) as checkpoint:
        try:
            return _materialise(checkpoint.root)
        except RecursionError:  # nested deeper than Python's stack, or a cycle
            raise UserInputError(f"{path} nests its containers too deeply (or in a cycle) to "
                                 f"be read") from None


def iter_placeholders(obj: Any) -> Iterator[Placeholder]:
    """Every :class:`Placeholder` inside ``obj`` (dicts, lists, tuples and placeholders), each
    container visited once (a pickle can build cycles)."""
    stack, seen = [obj], set()
    while stack:
        item = stack.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, Placeholder):
            yield item
            stack += [item.args, item.state, item.items, item.values]
        elif isinstance(item, dict):
            stack += list(item.values())
        elif isinstance(item, (list, tuple)):
            stack += list(item)


def _materialise(obj: Any) -> Any:
    if isinstance(obj, StoredTensor):
        return obj.load()
    if isinstance(obj, dict):
        return {key: _materialise(value) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)) and type(obj) in (list, tuple):
        return type(obj)(_materialise(item) for item in obj)
    return obj


def _open_archive(path: Path) -> zipfile.ZipFile:
    if not path.exists():
        raise UserInputError(f"checkpoint {path} does not exist")
    if not path.is_file():
        raise UserInputError(f"checkpoint {path} is not a file")
    try:
        with open(path, "rb") as handle:
            head = handle.read(64)
    except OSError as error:
        raise UserInputError(f"cannot read checkpoint {path}: {error.strerror}") from None
    try:
        is_zip = zipfile.is_zipfile(path)
    except _ZIP_ERRORS + (struct.error,):
        is_zip = False
    if not is_zip:
        if head.startswith(b"\x80") and _LEGACY_MAGIC in head:
            raise UserInputError(f"{path} is a legacy (pre-1.6, non-zip) torch file; only zip "
                                 f"checkpoints (torch.save since torch 1.6) are read")
        if head.startswith(b"\x80"):
            raise UserInputError(f"{path} is a raw pickle, not a torch checkpoint (zip "
                                 f"archive); it is not loaded, since unpickling can run code")
        what = ("is empty" if not head else "is a damaged or truncated zip archive"
                if head.startswith(b"PK") else "is not a torch checkpoint (not a zip archive)")
        raise UserInputError(f"{path} {what}")
    try:
        return zipfile.ZipFile(path)
    except _ZIP_ERRORS + (struct.error,) as error:
        raise UserInputError(f"{path} is a damaged zip archive ({_zip_error(error)})") from None
