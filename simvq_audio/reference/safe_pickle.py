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
"""

from __future__ import annotations

import _compat_pickle
import collections
import io
import math
import os
import pickle
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from simvq_audio.errors import UserInputError

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


class StoredTensor:
    """A tensor of the checkpoint, not read yet: ``dtype``, ``shape`` and :meth:`load`."""

    __slots__ = ("_storage", "_offset", "shape", "_stride")

    def __init__(self, storage: _StorageRef, offset: int, shape: tuple[int, ...],
                 stride: tuple[int, ...]):
        self._storage = storage
        self._offset = offset
        self.shape = torch.Size(shape)
        self._stride = stride

    @property
    def dtype(self) -> torch.dtype:
        return self._storage.dtype

    def load(self) -> torch.Tensor:
        """Read the bytes: a new tensor on the CPU with this ``shape`` and ``dtype``."""
        flat = self._storage.read()
        view = torch.as_strided(flat, self.shape, self._stride, self._offset)
        return view if view.numel() == flat.numel() and view.is_contiguous() else view.clone()

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


class _SafeCall:
    """One allow-listed function, as an object whose attributes a pickle cannot replace."""

    __slots__ = ("_function",)

    def __init__(self, function: Any):
        object.__setattr__(self, "_function", function)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("read-only")

    def __call__(self, *args: Any) -> Any:
        return self._function(*args)


class _StorageType:
    """What a ``torch.<X>Storage`` global stands for: the dtype of the bytes (read-only, so a
    pickle cannot change it for later loads)."""

    __slots__ = ("name", "dtype")

    def __init__(self, name: str, dtype: torch.dtype):
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "dtype", dtype)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("read-only")


class _StorageRef:
    """Storage ``key`` of an open archive: ``numel`` elements of ``dtype``."""

    __slots__ = ("_checkpoint", "key", "dtype", "numel")

    def __init__(self, checkpoint: TorchCheckpoint, key: str, dtype: torch.dtype, numel: int):
        self._checkpoint = checkpoint
        self.key = key
        self.dtype = dtype
        self.numel = numel

    def read(self) -> torch.Tensor:
        return self._checkpoint._read_storage(self)


def _rebuild_tensor(storage: Any, offset: Any, size: Any, stride: Any, *_ignored: Any
                    ) -> StoredTensor:
    """``torch._utils._rebuild_tensor_v2``: a checked view of a storage."""
    if not isinstance(storage, _StorageRef):
        raise _Malformed("a tensor refers to something that is not one of the archive's storages")
    if not (_int_tuple(size) and _int_tuple(stride) and len(size) == len(stride)
            and isinstance(offset, int) and offset >= 0):
        raise _Malformed(f"a tensor has an invalid layout (offset {offset!r}, size {size!r}, "
                         f"stride {stride!r})")
    if math.prod(size) and offset + sum((n - 1) * s for n, s in zip(size, stride)) >= storage.numel:
        raise _Malformed(f"a tensor of size {list(size)} reaches past the end of storage "
                         f"{storage.key} ({storage.numel} elements)")
    return StoredTensor(storage, offset, tuple(size), tuple(stride))


def _rebuild_parameter(data: Any, *_ignored: Any) -> StoredTensor:
    """``torch._utils._rebuild_parameter[_with_state]``: the parameter's tensor."""
    if not isinstance(data, StoredTensor):
        raise _Malformed("a parameter holds something that is not a tensor")
    return data


class _Malformed(Exception):
    """The pickle is well-formed but does not describe a valid checkpoint."""


def _int_tuple(value: Any) -> bool:
    return isinstance(value, (tuple, torch.Size)) and all(
        isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in value)


_ALLOWED: dict[tuple[str, str], Any] = {
    ("torch._utils", "_rebuild_tensor_v2"): _SafeCall(_rebuild_tensor),
    ("torch._utils", "_rebuild_parameter"): _SafeCall(_rebuild_parameter),
    ("torch._utils", "_rebuild_parameter_with_state"): _SafeCall(_rebuild_parameter),
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch", "Size"): torch.Size,
    **{("torch", name): dtype for name, dtype in _DTYPE_NAMES.items()},
    **{("torch", name): _StorageType(name, dtype) for name, dtype in _STORAGE_DTYPES.items()},
}


class _Unpickler(pickle.Unpickler):
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
            self._placeholders[full] = _RefuseCall(name, (Placeholder,), {
                "global_name": full, "__module__": __name__, "__qualname__": f"inert.{full}"})
        return self._placeholders[full]

    def persistent_load(self, pid: Any) -> _StorageRef:
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"
                and isinstance(pid[1], _StorageType) and isinstance(pid[2], str)
                and isinstance(pid[4], int) and pid[4] >= 0):
            raise _Malformed(f"unsupported persistent id {pid!r:.200}")
        return self._checkpoint._storage(pid[2], pid[1].dtype, pid[4])


class TorchCheckpoint:
    """An open ``torch.save`` zip archive, read without executing anything from it.

    >>> with TorchCheckpoint("epoch=49-step=138600.ckpt") as ckpt:
    ...     weights = {k: v.load() for k, v in ckpt.root["state_dict"].items()}

    ``root`` is the saved object: dicts, lists, tuples, numbers and strings as saved, tensors as
    :class:`StoredTensor`, objects of other classes as :class:`Placeholder` instances. Opening
    raises :class:`UserInputError` (one line) for a missing file, a file that is not a torch zip
    archive (a legacy pre-1.6 torch file or a raw pickle included), a damaged archive, or a
    pickle that asks to call anything outside the allow-list.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._zip = _open_archive(self.path)
        self._storages: dict[str, _StorageRef] = {}
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
        pickles = [n for n in self._zip.namelist() if n.endswith("/data.pkl") and n.count("/") == 1]
        if len(pickles) != 1:
            raise UserInputError(f"{self.path} is a zip file but not a torch checkpoint "
                                 f"(it has no single <name>/data.pkl)")
        prefix = pickles[0][:-len("data.pkl")]
        names = set(self._zip.namelist())
        if prefix + "byteorder" in names:
            order = self._zip.read(prefix + "byteorder").decode("ascii", "replace").strip()
            if order != "little":
                raise UserInputError(f"{self.path} was saved on a {order}-endian machine; only "
                                     f"little-endian checkpoints are supported")
        return prefix

    def _unpickle(self) -> Any:
        try:
            with self._zip.open(self._prefix + "data.pkl") as file:
                return _Unpickler(file, self).load()
        except _Refused as refused:
            raise UserInputError(
                f"refusing to load {self.path}: it asks to call {refused.args[0]} (only tensors "
                f"and plain containers are loaded from a checkpoint)") from None
        except UserInputError:
            raise
        except _Malformed as error:
            raise UserInputError(f"{self.path} is not a valid torch checkpoint: {error}") from None
        except Exception as error:  # any pickle-level damage becomes one line
            text = " ".join(str(error).split())[:300]
            raise UserInputError(f"{self.path} is damaged or not a torch checkpoint: cannot "
                                 f"unpickle its data.pkl ({type(error).__name__}: {text})"
                                 ) from None

    def _storage(self, key: str, dtype: torch.dtype, numel: int) -> _StorageRef:
        name = f"{self._prefix}data/{key}"
        try:
            info = self._zip.getinfo(name)
        except KeyError:
            raise _Malformed(f"storage {key} is missing from the archive") from None
        nbytes = numel * dtype.itemsize
        if info.file_size != nbytes:
            raise _Malformed(f"storage {key} holds {info.file_size} bytes, the pickle says "
                             f"{numel} x {dtype} ({nbytes} bytes)")
        known = self._storages.setdefault(key, _StorageRef(self, key, dtype, numel))
        if known.dtype != dtype or known.numel != numel:
            raise _Malformed(f"storage {key} is used with two different types")
        return known

    def _read_storage(self, ref: _StorageRef) -> torch.Tensor:
        flat = torch.empty(ref.numel, dtype=ref.dtype)
        target = memoryview(flat.view(torch.uint8).numpy()) if ref.numel else memoryview(b"")
        try:
            with self._zip.open(f"{self._prefix}data/{ref.key}") as file:
                done = 0
                while done < len(target):
                    count = file.readinto(target[done:done + _READ_CHUNK])
                    if not count:
                        raise UserInputError(f"{self.path}: storage {ref.key} is truncated")
                    done += count
        except (zipfile.BadZipFile, OSError, ValueError) as error:
            raise UserInputError(f"{self.path}: cannot read storage {ref.key} ({error})") from None
        return flat


def load_checkpoint(path: str | os.PathLike) -> Any:
    """The whole saved object of a checkpoint with every tensor read (``torch.Tensor``);
    objects of classes outside the allow-list stay :class:`Placeholder` records."""
    with TorchCheckpoint(path) as checkpoint:
        return _materialise(checkpoint.root)


def iter_placeholders(obj: Any) -> Iterator[Placeholder]:
    """Every :class:`Placeholder` inside ``obj`` (dicts, lists, tuples and placeholders)."""
    stack = [obj]
    while stack:
        item = stack.pop()
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
        result = type(obj)() if type(obj) in (dict, collections.OrderedDict) else {}
        result.update((key, _materialise(value)) for key, value in obj.items())
        return result
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
    if not zipfile.is_zipfile(path):
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
    except (zipfile.BadZipFile, OSError) as error:
        raise UserInputError(f"{path} is a damaged zip archive: {error}") from None
