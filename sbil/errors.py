"""The exception types that user-facing entry points raise for bad input.

Scripts catch :data:`USER_ERRORS` and print the message as one paragraph (no traceback unless
``--debug``), so every message must say what was wrong, which value, and what to do about it.
"""

from sbil_envs.errors import EnvError


class SbilError(Exception):
    """A problem the user can fix: bad config, bad demos, bad files, misuse."""


#: What :func:`sbil.cli.run_main` reports as a one-paragraph message: sbil's own errors and the
#: environments' (``sbil_envs`` stands alone, with its own :class:`~sbil_envs.errors.EnvError`).
USER_ERRORS = (SbilError, EnvError)
