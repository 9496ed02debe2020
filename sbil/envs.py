"""Making one gymnasium env: id validation with close matches, readable errors for bad kwargs.

SB3's vectorised envs are built on top of it in :mod:`sbil.sb3.vec_env`.
"""

from __future__ import annotations

import difflib
import sys
from typing import Any, Mapping, Optional

import gymnasium as gym

from sbil.errors import SbilError

# gymnasium's own half_cheetah.xml sets a compiler attribute MuJoCo 4 deprecates, so every
# HalfCheetah made prints the same warning (and appends it to ./MUJOCO_LOG.TXT): it says nothing
# about the user's run. Only that message is dropped; MuJoCo's other warnings print as before.
_QUIET_MUJOCO_WARNINGS = ("compiler attribute 'settotalmass' is deprecated",)


def _install_mujoco_warning_filter() -> None:
    try:
        import mujoco
    except ImportError:
        return
    previous = mujoco.get_mju_user_warning()
    if getattr(previous, "_sbil_filter", False):
        return

    def on_warning(message: str) -> None:
        if any(quiet in message for quiet in _QUIET_MUJOCO_WARNINGS):
            return
        if previous is not None:
            previous(message)
        else:
            print(f"WARNING: {message}", file=sys.stderr, flush=True)

    on_warning._sbil_filter = True  # type: ignore[attr-defined]
    mujoco.set_mju_user_warning(on_warning)


_install_mujoco_warning_filter()


def check_env_id(env_id: str) -> None:
    """Raise :class:`SbilError` with close matches when ``env_id`` is not registered."""
    _import_env_packages()
    if env_id in gym.registry:
        return
    close = difflib.get_close_matches(env_id, list(gym.registry), n=5, cutoff=0.5)
    hint = f" Did you mean one of: {', '.join(close)}?" if close else ""
    raise SbilError(
        f"Unknown env id {env_id!r}: it is not registered with gymnasium.{hint} "
        "Check the spelling and version suffix (MuJoCo tasks are '-v5'), or import the package "
        "that registers it."
    )


def _import_env_packages() -> None:
    # Our own tasks were registered when the sbil package was imported; shimmy registers
    # dm_control's when installed.
    try:
        import shimmy  # noqa: F401
    except ImportError:
        pass


def make_env(env_id: str, env_kwargs: Optional[Mapping[str, Any]] = None, **make_kwargs: Any) -> gym.Env:
    """``gymnasium.make`` with a clear error for an unknown id or bad keyword arguments."""
    check_env_id(env_id)
    try:
        return gym.make(env_id, **dict(env_kwargs or {}), **make_kwargs)
    except TypeError as e:
        raise SbilError(f"Env {env_id!r} rejected its keyword arguments {dict(env_kwargs or {})}: {e}") from None
