"""The one exception type that user-facing entry points raise for bad input.

Scripts catch :class:`SbilError` and print its message as one paragraph (no traceback unless
``--debug``), so every message must say what was wrong, which value, and what to do about it.
"""


class SbilError(Exception):
    """A problem the user can fix: bad config, bad demos, bad files, misuse."""
