"""The one exception type that user-facing entry points turn into a one-line message.

Library code raises :class:`UserInputError` (a ``ValueError``) for anything the *user* got wrong:
a missing file, a malformed tensor, a damaged ``.codes`` file. The CLI catches it, prints
``simvq-audio: error: <message>`` and exits with status 2; any other exception is a bug.
"""


class UserInputError(ValueError):
    """Bad input from the user: the message says what is wrong and, where possible, how to fix it."""
