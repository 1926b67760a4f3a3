"""The one exception type that user-facing entry points turn into a one-line message.

Library code raises :class:`UserInputError` (a ``ValueError``) for anything the *user* got wrong
or can fix: a missing file, a malformed tensor or argument (:mod:`simvq_audio.validate`), a
damaged ``.codes`` file, an output that may not be written (:mod:`simvq_audio.outputs`), a full
disk. The CLI catches it, prints ``simvq-audio: error: <message>`` and exits with status 2; any
other exception is a bug. Messages describe values, never show an object's repr or address.
"""


import reprlib


class UserInputError(ValueError):
    """Bad input from the user: the message says what is wrong and, where possible, how to fix
    it."""


def os_error_message(error: OSError) -> str:
    """One line for a failed system call: the reason and, when known, the file
    (``No space left on device: out/a.codes``)."""
    reason = error.strerror or str(error) or type(error).__name__
    return f"{reason}: {error.filename}" if error.filename is not None else reason


class _BoundedRepr(reprlib.Repr):
    """``reprlib`` limits with integers too long for ``repr`` described by their size."""

    def repr_int(self, value: int, level: int) -> str:
        if value.bit_length() > 128:
            return f"<an integer of about {int(value.bit_length() * 0.30103) + 1} digits>"
        return repr(value)


_QUOTER = _BoundedRepr()
for _name, _limit in [("maxlevel", 2), ("maxtuple", 4), ("maxlist", 4), ("maxarray", 4),
                      ("maxdict", 4), ("maxset", 4), ("maxfrozenset", 4), ("maxdeque", 4),
                      ("maxstring", 60), ("maxlong", 40), ("maxother", 60)]:
    setattr(_QUOTER, _name, _limit)


def quote(value: object, limit: int = 80) -> str:
    """A short ``repr`` of ``value`` for an error message, in bounded time and memory whatever
    ``value`` is (a YAML alias bomb, a 100000-digit integer, a nested list): containers are
    shown to two levels and four items, and the result is cut to ``limit`` characters."""
    return cut(_QUOTER.repr(value), limit)


def cut(text: str, limit: int = 80) -> str:
    """``text`` if it has at most ``limit`` characters, else its start ending in ``...``."""
    return text if len(text) <= limit else text[:limit - 3] + "..."
