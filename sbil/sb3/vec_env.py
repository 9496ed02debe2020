"""SB3 vectorised envs for sbil runs: seeded, ``Monitor``-wrapped, snapshot-able for exact resume."""

from __future__ import annotations

from typing import Any, Callable, Mapping, Optional

import gymnasium as gym
from stable_baselines3.common.env_util import make_vec_env as sb3_make_vec_env
from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv, VecEnv, VecNormalize

from sbil.envs import make_env
from sbil.errors import SbilError
from sbil.sb3.envstate import SnapshotWrapper


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
    training env's statistics, which :class:`sbil.sb3.callbacks.EvalCallback` copies before each
    evaluation.
    """
    return VecNormalize(venv, training=training, norm_obs=True, norm_reward=False)
