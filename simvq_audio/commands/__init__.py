"""One module per ``simvq-audio`` subcommand; each defines ``NAME``, ``HELP``, ``add_arguments``
and ``run``. :mod:`simvq_audio.cli` lists them in ``COMMANDS`` and imports torch to set its thread
count (``--threads``) before ``run``, except for a module that sets ``NEEDS_TORCH = False``.

The commands that load a model read the nearest-code search back end from
:data:`SEARCH_BACKEND_ENV` (:func:`search_backend`); the library itself never reads the
environment: the back end is an argument of the models it builds.
"""

from __future__ import annotations

import os

from simvq_audio.errors import UserInputError

SEARCH_BACKEND_ENV = "SIMVQ_SEARCH_BACKEND"


def search_backend() -> str:
    """The back end :data:`SEARCH_BACKEND_ENV` names (``auto`` when unset), checked."""
    # Imported here, not at the top: it imports torch, and every command imports this package,
    # --help included (1.5 s of start-up, docs/benchmarks.md).
    from simvq_audio.quantize.search import BACKENDS

    name = os.environ.get(SEARCH_BACKEND_ENV, "auto")
    if name not in BACKENDS:
        raise UserInputError(f"{SEARCH_BACKEND_ENV} must be one of {', '.join(BACKENDS)}; "
                             f"got {name!r}")
    return name
