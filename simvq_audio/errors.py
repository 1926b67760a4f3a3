"""The one exception type that user-facing entry points turn into a one-line message.

Library code raises :class:`UserInputError` (a ``ValueError``) for anything the *user* got wrong
or can fix: a missing file, a malformed tensor or argument (:mod:`simvq_audio.validate`), a
damaged ``.codes`` file, an output that may not be written (:mod:`simvq_audio.outputs`), a full
disk. The CLI catches it, prints ``simvq-audio: error: <message>`` and exits with status 2; any
other exception is a bug. Messages describe values, never show an object's repr or address.
"""


class UserInputError(ValueError):
    """Bad input from the user: the message says what is wrong and, where possible, how to fix
    it."""
