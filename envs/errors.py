"""The one exception type the environments raise for input the user can fix.

``sbil_envs`` stands alone (it imports nothing from ``sbil``), so it has its own error class: a
``ValueError`` for code that knows nothing of sbil, and one of the errors sbil's scripts print as a
one-paragraph message (:data:`sbil.errors.USER_ERRORS`).
"""


class EnvError(ValueError):
    """A bad env argument or action, or a missing optional extra; the message says what to do."""
