"""The strict YAML config loader every schema shares (audio codec, image tokenizer).

A schema is a tree of dataclasses whose field types say what is allowed (``int``, ``float``,
``str``, ``bool``, ``Literal``, ``list``, optional sections, nested dataclasses).
:func:`read_config_file` reads a YAML file, which may name a ``base:`` file it extends (resolved
relative to itself); :func:`build_dataclass` fills a schema from the nested dict and checks every
key and type, so a typo is reported with its place and the keys allowed there.
:func:`config_to_dict` is the way back (``config.json`` in model directories). The schemas live
with their modality: :mod:`simvq_audio.codec.config`, :mod:`simvq_audio.image.config`.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from pathlib import Path
from typing import Any, Literal, TypeVar, Union

from simvq_audio.documents import read_yaml_document
from simvq_audio.errors import UserInputError, quote

T = TypeVar("T")
CONFIG_SUFFIXES = (".yaml", ".yml")
"""What the name of a file given as ``base:`` must end with."""


def read_config_file(path: str | Path, schema: type | None = None) -> dict[str, Any]:
    """The nested dict of a YAML config file with its ``base:`` files merged in (types not yet
    checked: see :func:`build_dataclass`).

    Each file is read within the limits of :func:`simvq_audio.documents.read_yaml_document`
    (size, nesting, values with aliases expanded, no repeated keys). A ``base:`` must name a
    ``.yaml``/``.yml`` file, and since it could name any file of the machine, nothing it holds
    is quoted until it proves to be a config: a mapping whose top-level keys are all sections
    of ``schema`` (the dataclass the config fills; every top-level key is allowed without it).
    """
    sections = None if schema is None else {field.name for field in dataclasses.fields(schema)}
    return _read_with_bases(Path(path), (), sections)


def build_dataclass(cls: type[T], data: dict[str, Any], where: str = "config") -> T:
    """Instantiate the schema dataclass ``cls`` from nested ``data`` (missing keys take the
    defaults), checking every key and type: an unknown key is reported with its dotted place
    and the keys allowed there, a wrong type with what was expected."""
    return _build(cls, data, where, "")


def config_to_dict(config: Any) -> dict[str, Any]:
    """Plain nested dict (JSON/YAML-safe) of a schema dataclass: what
    :func:`build_dataclass` reads back."""
    return dataclasses.asdict(config)


def check_values(problems: list[tuple[bool, str]], where: str = "config") -> None:
    """Raise :class:`UserInputError` (``"<where>: <message>"``) for the first ``(ok, message)``
    that is not ok: the checks of values that have the right type but cannot work."""
    for ok, message in problems:
        if not ok:
            raise UserInputError(f"{where}: {message}")


def _read_with_bases(path: Path, seen: tuple[Path, ...],
                     sections: set[str] | None) -> dict[str, Any]:
    """The dict of ``path`` merged over its ``base:`` files; ``seen`` are the files that
    (transitively) name ``path`` as their base (empty for the file the user gave)."""
    if path.resolve() in seen:
        raise UserInputError(f"{path}: 'base' files form a loop")
    named_by = seen[-1] if seen else None
    data = read_yaml_document(path, what="YAML config file", quote_content=named_by is None)
    data = {} if data is None else data
    if not isinstance(data, dict):
        raise UserInputError(f"{path}: expected a mapping of sections at the top level"
                             + ("" if named_by is None else f" (it is the base of {named_by})"))
    if named_by is not None and sections is not None:
        strangers = sum(key != "base" and key not in sections for key in data)
        if strangers:
            raise UserInputError(f"{path}: not a config, so not usable as the base of {named_by}:"
                                 f" its top level has {strangers} key(s) that name no section"
                                 f" (sections: {', '.join(sorted(sections))})")
    base = data.pop("base", None)
    if base is None:
        return data
    if not isinstance(base, str) or not base.endswith(CONFIG_SUFFIXES):
        shown = f", got {quote(base)}" if named_by is None else ""
        raise UserInputError(f"{path}: 'base' must name a {' or '.join(CONFIG_SUFFIXES)} "
                             f"file{shown}")
    return _merge(_read_with_bases(path.parent / base, seen + (path.resolve(),), sections), data)


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _build(cls: type, data: Any, where: str, place: str) -> Any:
    """Instantiate dataclass ``cls`` from mapping ``data``, checking keys and types."""
    if not isinstance(data, dict):
        raise UserInputError(f"{where}: {place or 'the top level'} must be a mapping, "
                             f"got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    allowed = [f.name for f in dataclasses.fields(cls)]
    values = {}
    for key, value in data.items():
        if key not in allowed:
            name = quote(f"{place}.{key}" if place and isinstance(key, str) else key)
            raise UserInputError(f"{where}: unknown key {name}; allowed keys"
                                 f"{' in ' + place if place else ''}: {', '.join(allowed)}")
        values[key] = _convert(hints[key], value, where, f"{place}.{key}" if place else key)
    return cls(**values)


def _convert(hint: Any, value: Any, where: str, name: str) -> Any:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _convert(inner, value, where, name)
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, where, name)
    if origin is list:
        if not isinstance(value, list):
            raise _type_error(where, name, f"a list of {_describe(args[0])}", value)
        return [_convert(args[0], item, where, f"{name}[{i}]") for i, item in enumerate(value)]
    if origin is Literal:
        if value not in args:
            raise UserInputError(f"{where}: '{name}' must be one of "
                                 f"{', '.join(map(repr, args))}, got {quote(value)}")
        return value
    if hint is float:
        number = value
        if isinstance(value, str):  # YAML 1.1 reads "1e-4" (no dot) as a string
            try:
                number = float(value)
            except ValueError:
                pass
        if isinstance(number, (int, float)) and not isinstance(number, bool):
            if math.isfinite(number):
                return float(number)
            raise _type_error(where, name, "a finite number", value)
        raise _type_error(where, name, "a number", value)
    if hint in (int, str, bool):
        if type(value) is hint:
            return value
        raise _type_error(where, name, _describe(hint), value)
    raise TypeError(f"config schema uses an unsupported type {hint!r} at {name}")


def _describe(hint: Any) -> str:
    names = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}
    if hint in names:
        return names[hint]
    if typing.get_origin(hint) is list:
        return f"lists of {_describe(typing.get_args(hint)[0])}"
    return "mappings" if dataclasses.is_dataclass(hint) else str(hint)


def _type_error(where: str, name: str, expected: str, value: Any) -> UserInputError:
    return UserInputError(f"{where}: '{name}' must be {expected}, got {quote(value)} "
                          f"({type(value).__name__})")
