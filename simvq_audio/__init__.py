"""simvq-audio: a SimVQ-quantized neural speech codec toolkit.

The quantizers are imported on first use (module ``__getattr__``, PEP 562): importing
:mod:`simvq_audio` pulls in no torch (over a second to import), which keeps ``simvq-audio
--help``, ``--version`` and ``info`` fast; ``from simvq_audio import SimVQ`` works as before.
``__version__`` is the installed distribution's version (``pyproject.toml``).
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["CodeUsage", "SimVQ", "VanillaVQ", "nearest_code"]

_LAZY = {name: "simvq_audio.quantize" for name in __all__}


def __getattr__(name: str) -> Any:
    if name == "__version__":
        # here, not at the top: it takes 25 ms, which only __version__ needs
        from importlib import metadata

        try:
            return metadata.version("simvq-audio")
        except metadata.PackageNotFoundError:  # run from a source tree that was never installed
            return "0+unknown"
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__) | {"__version__"})
