"""Run a corpus module's ``main(argv)`` as a command: bad input becomes one line and exit 2."""

from __future__ import annotations

import sys
from collections.abc import Callable

from simvq_audio.errors import UserInputError


def run_command(prog: str, main: Callable[[list[str]], int | None]) -> None:
    """Call ``main(sys.argv[1:])`` and exit with its status; a UserInputError exits 2."""
    try:
        status = main(sys.argv[1:])
    except UserInputError as error:
        print(f"{prog}: error: {error}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        sys.exit(130)
    sys.exit(int(status or 0))
