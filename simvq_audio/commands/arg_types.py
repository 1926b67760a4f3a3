"""``type=`` functions for numeric command-line options: each parses one option value and refuses
what cannot mean anything (``nan``, ``inf``, a negative count, a zero size) with argparse's own
usage line and ``error: argument --x: must be a positive number, got 'nan'`` (exit status 2),
before any command starts working.

Numbers of things (files per batch, worker processes, steps) are whole numbers, at least 1 where
0 would do nothing (:func:`positive_int`) and at least 0 where 0 means "none" (e.g. plots,
:func:`non_negative_int`); durations and rates are finite numbers (:func:`positive_float`,
:func:`non_negative_float`).
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable

from simvq_audio.errors import quote


def positive_int(text: str) -> int:
    """A whole number >= 1."""
    return _parsed(text, int, lambda value: value >= 1, "a positive whole number")


def non_negative_int(text: str) -> int:
    """A whole number >= 0."""
    return _parsed(text, int, lambda value: value >= 0, "a whole number >= 0")


def positive_float(text: str) -> float:
    """A finite number > 0."""
    return _parsed(text, float, lambda value: math.isfinite(value) and value > 0,
                   "a positive number")


def non_negative_float(text: str) -> float:
    """A finite number >= 0."""
    return _parsed(text, float, lambda value: math.isfinite(value) and value >= 0,
                   "a number >= 0")


def _parsed(text: str, parse: Callable[[str], int | float], accept: Callable[[int | float], bool],
            words: str) -> int | float:
    """``parse(text)`` if ``accept`` takes it, else the argparse error ``must be <words>``."""
    try:
        value = parse(text)
    except ValueError:  # not a number, or an integer too long for int()
        value = None
    if value is None or not accept(value):
        raise argparse.ArgumentTypeError(f"must be {words}, got {quote(text)}")
    return value
