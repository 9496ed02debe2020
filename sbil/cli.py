"""What every script shares: one-paragraph errors instead of tracebacks, thread settings."""

from __future__ import annotations

import os
import sys
import textwrap
import traceback
from typing import Callable, Sequence

from sbil.errors import USER_ERRORS


def run_main(main: Callable[[Sequence[str]], int | None], argv: Sequence[str] | None = None) -> None:
    """Run a script's ``main(argv)`` and exit with its status.

    Bad input the user can fix (:data:`~sbil.errors.USER_ERRORS`: sbil's or an env's) becomes a
    one-paragraph message on stderr and exit status 2; ``--debug`` anywhere in the arguments shows the full traceback instead.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    if debug:
        argv.remove("--debug")
    try:
        status = main(argv)
    except USER_ERRORS as e:
        if debug:
            traceback.print_exc()
        else:
            print("error: " + textwrap.fill(str(e), width=100, subsequent_indent="  "), file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    sys.exit(int(status or 0))


def set_threads(n: int | None) -> None:
    """Limit torch's CPU threads (``None``: leave torch's default)."""
    if n:
        import torch

        torch.set_num_threads(int(n))
        os.environ.setdefault("OMP_NUM_THREADS", str(n))
