"""Snapshot and restore the live state of in-process vectorised envs, for exact resume.

A checkpoint that restores only the policy and buffers continues from a freshly reset env; this
module also restores where every env copy was: MuJoCo's full integration state (``mj_getState``),
each wrapper's bookkeeping (``TimeLimit`` step count, ``Monitor`` episode sums, ...), classic-control
state arrays, and every RNG. With it, a run killed and resumed ends with the same numbers as an
uninterrupted one. Only plain data is captured; envs in subprocesses are not supported (``None``).
"""

from __future__ import annotations

import copy
from typing import Any, Optional

import gymnasium as gym
import numpy as np
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv, VecEnvWrapper

_SKIP = {"env", "venv", "np_random", "_np_random", "reward_fn", "observation_space", "action_space"}


def _is_plain(value: Any) -> bool:
    if value is None or isinstance(value, (bool, int, float, str, np.ndarray, np.generic)):
        return True
    if isinstance(value, (list, tuple)):
        return all(_is_plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_plain(v) for k, v in value.items())
    return False


def _plain_attrs(obj: Any) -> dict[str, Any]:
    return {k: copy.deepcopy(v) for k, v in vars(obj).items() if k not in _SKIP and _is_plain(v)}


def _restore_attrs(obj: Any, attrs: dict[str, Any]) -> None:
    for key, value in attrs.items():
        setattr(obj, key, copy.deepcopy(value))


def _mujoco_parts(env: Any) -> Optional[tuple[Any, Any]]:
    model, data = getattr(env, "model", None), getattr(env, "data", None)
    try:
        import mujoco
    except ImportError:
        return None
    if isinstance(model, mujoco.MjModel) and isinstance(data, mujoco.MjData):
        return model, data
    return None


def _env_state(env: gym.Env) -> dict[str, Any]:
    layers, layer = [], env
    while True:
        layers.append(_plain_attrs(layer))
        if not isinstance(layer, gym.Wrapper):
            break
        layer = layer.env
    base = env.unwrapped
    state: dict[str, Any] = {"layers": layers, "np_random": base.np_random.bit_generator.state}
    parts = _mujoco_parts(base)
    if parts is not None:
        import mujoco

        spec = mujoco.mjtState.mjSTATE_INTEGRATION
        buf = np.empty(mujoco.mj_stateSize(parts[0], spec))
        mujoco.mj_getState(parts[0], parts[1], buf, spec)
        state["mujoco"] = buf
    return state


def _set_env_state(env: gym.Env, state: dict[str, Any]) -> None:
    layer = env
    for attrs in state["layers"]:
        _restore_attrs(layer, attrs)
        if not isinstance(layer, gym.Wrapper):
            break
        layer = layer.env
    base = env.unwrapped
    base.np_random.bit_generator.state = state["np_random"]
    if "mujoco" in state:
        import mujoco

        model, data = _mujoco_parts(base)
        mujoco.mj_setState(model, data, state["mujoco"], mujoco.mjtState.mjSTATE_INTEGRATION)


def get_vec_env_state(venv: VecEnv) -> Optional[dict[str, Any]]:
    """Snapshot of a (wrapped) ``DummyVecEnv`` and its envs; ``None`` for unsupported VecEnvs."""
    wrappers, inner = [], venv
    while isinstance(inner, VecEnvWrapper):
        wrappers.append(_plain_attrs(inner))
        inner = inner.venv
    if not isinstance(inner, DummyVecEnv):
        return None
    return {"wrappers": wrappers, "dummy": _plain_attrs(inner), "envs": [_env_state(e) for e in inner.envs]}


def set_vec_env_state(venv: VecEnv, state: Optional[dict[str, Any]]) -> bool:
    """Restore :func:`get_vec_env_state`'s snapshot; returns False when there is none to restore."""
    if state is None:
        return False
    inner, i = venv, 0
    while isinstance(inner, VecEnvWrapper):
        _restore_attrs(inner, state["wrappers"][i])
        inner, i = inner.venv, i + 1
    _restore_attrs(inner, state["dummy"])
    for env, env_state in zip(inner.envs, state["envs"]):
        _set_env_state(env, env_state)
    return True
