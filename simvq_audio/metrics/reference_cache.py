"""Model-metric results of the reference audio, kept across scoring runs.

Scoring several systems on one test set computes the same reference-side values every time
(DNSMOS and UTMOS of the reference, the ASR transcript of the reference audio): half the cost of
DNSMOS and of the ASR metrics. A :class:`ReferenceCache` keeps them in a folder, one small JSON
file per value, named by the SHA-256 of what was computed (the scorer's description, which names
its model and version, and the quantity), the sample rate and the reference's samples themselves
(float64, after truncation to the hypothesis' length). A changed reference file, another model
version (weight files are named by :func:`weights_stamp`) or another length therefore never meets
a stale value. Files are written atomically; one
that cannot be read is computed again and replaced.

``score`` uses ``~/.cache/simvq-audio/reference-scores`` (``$XDG_CACHE_HOME`` honoured) unless
told ``--reference-cache DIR`` or ``--no-reference-cache``.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np

from simvq_audio.atomic import atomic_path

Value = TypeVar("Value")


def weights_stamp(path: str | os.PathLike) -> str:
    """``"PATH, N bytes, modified T"``: names a weight file in a scorer's description, so that
    replacing the file (another size or time) also changes the cache keys of its values."""
    stat = os.stat(path)
    return f"{path}, {stat.st_size} bytes, modified {stat.st_mtime_ns} ns"


def user_cache_home() -> Path:
    """The user's cache folder: ``$XDG_CACHE_HOME``, else ``~/.cache``."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")


def default_folder() -> Path:
    """``$XDG_CACHE_HOME/simvq-audio/reference-scores`` (default ``~/.cache/...``)."""
    return user_cache_home() / "simvq-audio" / "reference-scores"


class ReferenceCache:
    """Values computed from reference audio, in ``folder`` (created when first written)."""

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)

    def key(self, what: str, samples: np.ndarray, sample_rate: int) -> str:
        """The SHA-256 (hex) naming the value ``what`` of ``samples [T]`` at ``sample_rate``."""
        digest = hashlib.sha256(f"{what}\n{sample_rate}\n".encode())
        digest.update(np.ascontiguousarray(samples, dtype=np.float64).tobytes())
        return digest.hexdigest()

    def get(self, what: str, samples: np.ndarray, sample_rate: int,
            compute: Callable[[], Value]) -> Value:
        """The cached value ``what`` of ``samples [T]``, else ``compute()`` (a value JSON holds
        exactly: numbers, strings, lists, dicts), stored for the next time."""
        path = self.folder / f"{self.key(what, samples, sample_rate)}.json"
        try:
            return json.loads(path.read_text(encoding="utf-8"))["value"]
        except (OSError, ValueError, KeyError, TypeError):
            pass
        value = compute()
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            with atomic_path(path) as tmp:
                tmp.write_text(json.dumps({"what": what, "value": value}), encoding="utf-8")
        except OSError:
            pass            # a cache that cannot be written only costs time
        return value
