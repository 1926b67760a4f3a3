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
import types
import typing
from pathlib import Path
from typing import Any, Literal, TypeVar, Union

import yaml

from simvq_audio.errors import UserInputError

T = TypeVar("T")


def read_config_file(path: str | Path) -> dict[str, Any]:
    """The nested dict of a YAML config file with its ``base:`` files merged in (unchecked)."""
    return _read_with_bases(Path(path), ())


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


def _read_with_bases(path: Path, seen: tuple[Path, ...]) -> dict[str, Any]:
    if not path.is_file():
        raise UserInputError(f"config file not found: {path}")
    if path.resolve() in seen:
        raise UserInputError(f"{path}: 'base' files form a loop")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise UserInputError(f"{path}: not valid YAML ({error})") from None
    data = {} if data is None else data
    if not isinstance(data, dict):
        raise UserInputError(f"{path}: expected a mapping of sections at the top level")
    base = data.pop("base", None)
    if base is None:
        return data
    if not isinstance(base, str):
        raise UserInputError(f"{path}: 'base' must be a file name, got {base!r}")
    return _merge(_read_with_bases(path.parent / base, seen + (path.resolve(),)), data)


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
        name = f"{place}.{key}" if place else str(key)
        if key not in allowed:
            raise UserInputError(f"{where}: unknown key '{name}'; allowed keys"
                                 f"{' in ' + place if place else ''}: {', '.join(allowed)}")
        values[key] = _convert(hints[key], value, where, name)
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
                                 f"{', '.join(map(repr, args))}, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, str):  # YAML 1.1 reads "1e-4" (no dot) as a string
            try:
                return float(value)
            except ValueError:
                pass
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
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
    return UserInputError(f"{where}: '{name}' must be {expected}, got {value!r} "
                          f"({type(value).__name__})")
