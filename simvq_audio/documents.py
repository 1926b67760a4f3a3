"""Reading JSON and YAML documents from strangers (configs, ``config.json`` of model directories,
``summary.json`` of scoring runs) in bounded memory and time.

Every reader here refuses, with one :class:`~simvq_audio.errors.UserInputError` line that names
the file and the cause:

* anything that is not a regular file, before reading from it (a FIFO would block forever, a
  device would never end), and a file larger than ``max_bytes`` (:data:`MAX_DOCUMENT_BYTES`);
* a document nested more than :data:`MAX_DEPTH` levels, or holding more than
  :data:`MAX_VALUES` values once YAML aliases are expanded (each use of an alias counts again:
  a 900-byte "billion laughs" names 10**9 values), checked while composing and again by walking
  the loaded document iteratively, never by recursion;
* integers longer than :data:`MAX_INTEGER_DIGITS` digits (no size or count needs more, and
  converting 100000 digits is refused by Python itself), and JSON's non-standard ``NaN`` and
  ``Infinity`` unless the caller allows them;
* YAML mappings that repeat a key (the last one would silently win) and YAML merge keys
  (``<<``, whose copies grow exponentially the way aliases do; configs extend each other with
  ``base:`` instead).

Messages quote at most a short cut of a value (:func:`~simvq_audio.errors.quote`), and nothing
at all when the caller says the file may not be a document of ours (``quote_content=False``:
e.g. the file that a config's ``base:`` names, which could be any file of the machine).
"""

from __future__ import annotations

import json
import math
import os
from typing import Any

import yaml

from simvq_audio.errors import UserInputError, cut, quote
from simvq_audio.input_files import open_regular

MAX_DOCUMENT_BYTES = 1 << 20
"""Default size limit: a config or a ``config.json`` is a few kilobytes."""
MAX_DEPTH = 64
"""Deepest nesting of mappings and lists accepted (configs use four levels)."""
MAX_VALUES = 100_000
"""Most values (keys, scalars, mappings, lists; aliases counted at each use) in a document."""
MAX_INTEGER_DIGITS = 30
"""Longest integer accepted, in digits (a 64-bit integer has at most 20)."""


class _Refused(ValueError):
    """A document that breaks one of the limits; caught here and reported with its file."""


def read_bytes(path: str | os.PathLike, max_bytes: int = MAX_DOCUMENT_BYTES,
               what: str = "file") -> bytes:
    """The content of the regular file ``path`` if it holds at most ``max_bytes`` bytes.

    The file is opened without blocking and checked to be a regular file before anything is
    read from it (a FIFO or a device is refused: reading one may never end).

    Raises:
        UserInputError: a missing or unreadable file, one that is not a regular file, or one
        larger than ``max_bytes`` (``what`` names the kind of file in that message).
    """
    with open_regular(path, what) as handle:
        try:
            data = handle.read(max_bytes + 1)
        except OSError as error:
            raise UserInputError(f"{path}: cannot read ({error.strerror or error})") from None
    if len(data) > max_bytes:
        raise UserInputError(f"{path}: larger than {max_bytes} bytes, too large for a {what}")
    return data


def read_json_document(path: str | os.PathLike, max_bytes: int = MAX_DOCUMENT_BYTES,
                       what: str = "JSON file", allow_non_finite: bool = False) -> Any:
    """The JSON document in the file ``path``, read within the limits of this module.

    ``allow_non_finite`` accepts ``NaN``, ``Infinity`` and ``-Infinity`` (which Python writes
    for such floats); otherwise they, like numbers that overflow to infinity, are refused.

    Raises:
        UserInputError: see :func:`read_bytes`, invalid UTF-8 or JSON, or a document beyond the
        limits.
    """
    return parse_json(read_bytes(path, max_bytes, what), str(path), allow_non_finite)


def parse_json(data: bytes, where: str, allow_non_finite: bool = False) -> Any:
    """The JSON value in the UTF-8 bytes ``data``, within the limits of this module (at most
    ``len(data)`` values: a JSON value takes a byte at least); ``where`` (a file, or
    ``file:line``) starts every message. ``allow_non_finite`` as in
    :func:`read_json_document`.

    Raises:
        UserInputError: invalid UTF-8 or JSON, or a value beyond the limits.
    """
    hooks = {"parse_int": _json_int, "parse_float": _json_float}
    if not allow_non_finite:
        hooks["parse_constant"] = _json_constant
    try:
        document = json.loads(data.decode("utf-8"), **hooks)
        _check_document(document, max_values=max(len(data), 1))
    except UnicodeDecodeError:
        raise UserInputError(f"{where}: not valid JSON (not UTF-8 text)") from None
    except json.JSONDecodeError as error:
        raise UserInputError(f"{where}: not valid JSON ({error.msg} at line {error.lineno}, "
                             f"column {error.colno})") from None
    except RecursionError:
        raise UserInputError(f"{where}: {_too_deep()}") from None
    except _Refused as error:
        raise UserInputError(f"{where}: {error}") from None
    return document


def read_yaml_document(path: str | os.PathLike, max_bytes: int = MAX_DOCUMENT_BYTES,
                       what: str = "YAML file", quote_content: bool = True) -> Any:
    """The YAML document in the file ``path`` (safe tags only), read within the limits of this
    module; with ``quote_content=False`` no message quotes anything the file holds.

    Raises:
        UserInputError: see :func:`read_bytes`, invalid UTF-8 or YAML, a repeated key, a merge
        key, or a document beyond the limits.
    """
    data = read_bytes(path, max_bytes, what)
    try:
        loader = _BoundedLoader(data.decode("utf-8"), quote_content)
        try:
            document = loader.get_single_data()
        finally:
            loader.dispose()
        _check_document(document)
    except UnicodeDecodeError:
        raise UserInputError(f"{path}: not valid YAML (not UTF-8 text)") from None
    except yaml.YAMLError as error:
        raise UserInputError(f"{path}: not valid YAML ({_yaml_problem(error, quote_content)})"
                             ) from None
    except _Refused as error:
        raise UserInputError(f"{path}: {error}") from None
    return document


def _check_document(document: Any, max_values: int = MAX_VALUES) -> None:
    """Refuse (``ValueError`` subclass, message without the file) a loaded document nested
    deeper than :data:`MAX_DEPTH` or holding more than ``max_values`` values, counting a value
    shared by several places (a YAML alias) at each place; an iterative walk that stops as soon
    as a limit is passed, so a self-referencing or exponentially shared structure costs at most
    ``max_values`` steps."""
    stack = [(document, 1)]
    count = 1
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            children = (item for pair in value.items() for item in pair)
            count += 2 * len(value)
        elif isinstance(value, list):
            children = iter(value)
            count += len(value)
        else:
            continue
        if count > max_values:
            raise _Refused(_too_many(max_values))
        if depth >= MAX_DEPTH:
            raise _Refused(_too_deep())
        stack.extend((child, depth + 1) for child in children)


def _too_many(max_values: int = MAX_VALUES) -> str:
    return (f"holds more than {max_values} values (each use of a YAML alias counts again), "
            "far more than any config holds")


def _too_deep() -> str:
    return f"nested more than {MAX_DEPTH} levels deep"


def _json_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INTEGER_DIGITS:
        raise _Refused(f"holds an integer of {len(text.lstrip('-'))} digits "
                       f"(at most {MAX_INTEGER_DIGITS})")
    return int(text)


def _json_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _Refused(f"holds a number too large for a float ({len(text)} characters)")
    return value


def _json_constant(name: str) -> float:
    raise _Refused(f"holds {name}, which is not a JSON number")


def _yaml_problem(error: yaml.YAMLError, quote_content: bool) -> str:
    """One line for a PyYAML error: its problem (cut, or left out when content may not be
    quoted) and where, never the snippet of the line that PyYAML's own text shows."""
    if not isinstance(error, yaml.MarkedYAMLError):
        return "unreadable" if not quote_content else quote(str(error).splitlines()[0], 120)
    mark = error.problem_mark or error.context_mark
    where = "" if mark is None else f"line {mark.line + 1}, column {mark.column + 1}"
    if not quote_content or not error.problem:
        return where or "unreadable"
    problem = cut(error.problem, 120)
    return f"{problem} at {where}" if where else problem


class _BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader with the limits of this module: depth and node count while
    composing (its composer recurses once per level), integer length, no repeated or merge
    keys."""

    def __init__(self, text: str, quote_content: bool) -> None:
        super().__init__(text)
        self.quote_content = quote_content
        self.depth = 0
        self.nodes = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        self.depth += 1
        self.nodes += 1
        if self.depth > MAX_DEPTH:
            raise _Refused(f"{_too_deep()} (line {self.peek_event().start_mark.line + 1})")
        if self.nodes > MAX_VALUES:
            raise _Refused(_too_many())
        try:
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        if isinstance(node, yaml.MappingNode):
            lines: dict[Any, int] = {}
            for key_node, _ in node.value:
                line = key_node.start_mark.line + 1
                if key_node.tag == "tag:yaml.org,2002:merge":
                    raise _Refused(f"uses a YAML merge key '<<' (line {line}), which is not "
                                   "supported; a config extends another with 'base:'")
                key = self.construct_object(key_node, deep=deep)
                try:
                    first = lines.get(key)
                except TypeError:
                    continue  # an unhashable key: SafeConstructor refuses it below
                if first is not None:
                    named = f"key {quote(key)}" if self.quote_content else "a key"
                    raise _Refused(f"repeats {named} at line {line} (first at line {first}); "
                                   "the second would silently replace the first")
                lines[key] = line
        return super().construct_mapping(node, deep=deep)

    def construct_yaml_int(self, node: Any) -> int:
        digits = sum(character.isalnum() for character in node.value)
        if digits > MAX_INTEGER_DIGITS:
            raise _Refused(f"holds an integer of {digits} digits at line "
                           f"{node.start_mark.line + 1} (at most {MAX_INTEGER_DIGITS})")
        return super().construct_yaml_int(node)


_BoundedLoader.add_constructor("tag:yaml.org,2002:int", _BoundedLoader.construct_yaml_int)
