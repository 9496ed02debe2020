"""Making environments: id validation, fixed-horizon kwargs, seeded vectorised envs."""

from __future__ import annotations

import difflib
import sys
from typing import Any, Callable, Mapping, Optional

import gymnasium as gym
from stable_baselines3.common.env_util import make_vec_env as sb3_make_vec_env
from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv, VecEnv, VecNormalize

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
    # Importing sbil registers our own tasks; shimmy registers dm_control ones when installed.
    import sbil  # noqa: F401

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


def make_vec_env(
    env_id: str,
    n_envs: int = 1,
    seed: Optional[int] = None,
    env_kwargs: Optional[Mapping[str, Any]] = None,
    subprocess: bool = False,
    wrapper_class: Optional[Callable[[gym.Env], gym.Env]] = None,
) -> VecEnv:
    """A seeded, ``Monitor``-wrapped vectorised env (SB3's ``make_vec_env`` with validation).

    :param env_id: registered gymnasium id.
    :param n_envs: number of parallel copies.
    :param seed: seed of the first copy (copy ``i`` gets ``seed + i``).
    :param env_kwargs: keyword arguments for ``gymnasium.make``.
    :param subprocess: run copies in subprocesses (``SubprocVecEnv``) rather than in-process.
    :param wrapper_class: optional gymnasium wrapper applied to each copy after ``Monitor``.
    """
    if n_envs < 1:
        raise SbilError(f"n_envs must be >= 1, got {n_envs}.")
    from sbil.envstate import SnapshotWrapper

    make_env(env_id, env_kwargs).close()  # validate id and kwargs once, with a readable error

    def wrap(env: gym.Env) -> gym.Env:
        # Outermost: lets checkpoints snapshot envs that live in subprocesses.
        return SnapshotWrapper(wrapper_class(env) if wrapper_class is not None else env)

    return sb3_make_vec_env(
        env_id,
        n_envs=n_envs,
        seed=seed,
        env_kwargs=dict(env_kwargs or {}),
        vec_env_cls=SubprocVecEnv if subprocess else DummyVecEnv,
        wrapper_class=wrap,
    )


def normalize_obs(venv: VecEnv, training: bool = True) -> VecNormalize:
    """``VecNormalize`` of the observations only, for the policy; put it above every reward wrapper.

    The policy then sees observations scaled by running statistics (as rl-zoo3 trains PPO on
    MuJoCo), while reward learners, demos and refit data keep raw ones; rewards are left to the
    reward learner's own normalisation. Evaluation envs take ``training=False``: they use the
    training env's statistics, which :class:`sbil.callbacks.EvalCallback` copies before each
    evaluation.
    """
    return VecNormalize(venv, training=training, norm_obs=True, norm_reward=False)
