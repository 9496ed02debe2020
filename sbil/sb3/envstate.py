"""Snapshot and restore the live state of in-process vectorised envs, for exact resume.

A checkpoint that restores only the policy and buffers continues from a freshly reset env; this
module also restores where every env copy was: MuJoCo's full integration state (``mj_getState``),
each wrapper's bookkeeping (``TimeLimit`` step count, ``Monitor`` episode sums, ...), classic-control
state arrays, and every RNG. With it, a run killed and resumed ends with the same numbers as an
uninterrupted one. Only plain data is captured: a layer with ``snapshot_state()`` / ``restore_state()``
(sbil's :class:`~sbil.sb3.wrappers.LearnedRewardVecEnv`) declares its own; of any other layer, its
plain-data attributes (numbers, strings, arrays, lists and dicts of them, ``RunningMeanStd``). Envs in subprocesses (``SubprocVecEnv``) are
reached through :class:`SnapshotWrapper`, which :func:`sbil.sb3.vec_env.make_vec_env` puts on every copy.
"""

from __future__ import annotations

import copy
from typing import Any, Optional

import gymnasium as gym
import numpy as np
from stable_baselines3.common.running_mean_std import RunningMeanStd
from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv, VecEnv, VecEnvWrapper

_SKIP = {"env", "venv", "np_random", "_np_random", "reward_fn", "observation_space", "action_space"}


def _is_plain(value: Any) -> bool:
    # RunningMeanStd (arrays and a count) holds VecNormalize's statistics.
    if value is None or isinstance(value, (bool, int, float, str, np.ndarray, np.generic, RunningMeanStd)):
        return True
    if isinstance(value, (list, tuple)):
        return all(_is_plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_plain(v) for k, v in value.items())
    return False


def _plain_attrs(obj: Any) -> dict[str, Any]:
    # A layer that declares its state (sbil's own wrappers do) is taken at its word; any other
    # (gymnasium's and SB3's wrappers, the envs themselves) by its plain-data attributes, which is
    # where they keep step counters, episode sums and running statistics.
    # Looked up on the class: SB3's VecEnvWrapper forwards unknown attributes to the env below, so
    # a VecNormalize above LearnedRewardVecEnv would otherwise answer with the wrapper's method.
    if hasattr(type(obj), "snapshot_state"):
        return copy.deepcopy(obj.snapshot_state())
    return {k: copy.deepcopy(v) for k, v in vars(obj).items() if k not in _SKIP and _is_plain(v)}


def _restore_attrs(obj: Any, attrs: dict[str, Any]) -> None:
    if hasattr(type(obj), "restore_state"):
        obj.restore_state(copy.deepcopy(attrs))
        return
    for key, value in attrs.items():
        setattr(obj, key, copy.deepcopy(value))


def _dm_control_env(env: Any) -> Any:
    # shimmy keeps the dm_control Environment (physics, step counter, task) in ``_env``.
    inner = vars(env).get("_env")
    return inner if hasattr(inner, "physics") and hasattr(inner, "_step_count") else None


def _mujoco_parts(env: Any) -> Optional[tuple[Any, Any]]:
    model, data = getattr(env, "model", None), getattr(env, "data", None)
    dmc = _dm_control_env(env)
    if dmc is not None:
        model, data = dmc.physics.model.ptr, dmc.physics.data.ptr
    try:
        import mujoco
    except ImportError:
        return None
    if isinstance(model, mujoco.MjModel) and isinstance(data, mujoco.MjData):
        return model, data
    return None


def _rng_state(rng: Any) -> Any:
    # dm_control uses the legacy RandomState; gymnasium a Generator.
    return rng.get_state() if isinstance(rng, np.random.RandomState) else rng.bit_generator.state


def _set_rng_state(rng: Any, state: Any) -> None:
    if isinstance(rng, np.random.RandomState):
        rng.set_state(state)
    else:
        rng.bit_generator.state = state


def _env_state(env: gym.Env) -> dict[str, Any]:
    layers, layer = [], env
    while True:
        layers.append(_plain_attrs(layer))
        if not isinstance(layer, gym.Wrapper):
            break
        layer = layer.env
    base = env.unwrapped
    state: dict[str, Any] = {"layers": layers, "np_random": _rng_state(base.np_random)}
    dmc = _dm_control_env(base)
    if dmc is not None:
        state["dm_control"] = _plain_attrs(dmc)
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
    _set_rng_state(base.np_random, state["np_random"])
    if "dm_control" in state:
        _restore_attrs(_dm_control_env(base), state["dm_control"])
    if "mujoco" in state:
        import mujoco

        model, data = _mujoco_parts(base)
        mujoco.mj_setState(model, data, state["mujoco"], mujoco.mjtState.mjSTATE_INTEGRATION)
        if "dm_control" in state:
            mujoco.mj_forward(model, data)  # dm_control reads derived quantities between steps


class SnapshotWrapper(gym.Wrapper):
    """Exposes the snapshot of the env it wraps as methods, so that ``SubprocVecEnv.env_method``
    can take and restore it inside the worker process."""

    def sbil_get_state(self) -> dict[str, Any]:
        return _env_state(self.env)

    def sbil_set_state(self, state: dict[str, Any]) -> None:
        _set_env_state(self.env, state)


def _has_snapshot(venv: SubprocVecEnv) -> bool:
    try:
        return all(venv.env_method("has_wrapper_attr", "sbil_get_state"))
    except Exception:  # an older worker protocol, or a dead worker: no exact resume
        return False


def get_vec_env_state(venv: VecEnv) -> Optional[dict[str, Any]]:
    """Snapshot of a (wrapped) ``DummyVecEnv`` or ``SubprocVecEnv`` and its envs; ``None`` for
    VecEnvs it cannot reach (a ``SubprocVecEnv`` built without :class:`SnapshotWrapper`)."""
    wrappers, inner = [], venv
    while isinstance(inner, VecEnvWrapper):
        wrappers.append(_plain_attrs(inner))
        inner = inner.venv
    if isinstance(inner, DummyVecEnv):
        envs = [_env_state(e) for e in inner.envs]
    elif isinstance(inner, SubprocVecEnv) and _has_snapshot(inner):
        envs = inner.env_method("sbil_get_state")
    else:
        return None
    return {"wrappers": wrappers, "vec": _plain_attrs(inner), "envs": envs}


def set_vec_env_state(venv: VecEnv, state: Optional[dict[str, Any]]) -> bool:
    """Restore :func:`get_vec_env_state`'s snapshot; returns False when there is none to restore."""
    if state is None:
        return False
    inner, i = venv, 0
    while isinstance(inner, VecEnvWrapper):
        _restore_attrs(inner, state["wrappers"][i])
        inner, i = inner.venv, i + 1
    _restore_attrs(inner, state["vec"])
    if isinstance(inner, SubprocVecEnv):
        for i, env_state in enumerate(state["envs"]):
            inner.env_method("sbil_set_state", env_state, indices=[i])
    else:
        for env, env_state in zip(inner.envs, state["envs"]):
            _set_env_state(env, env_state)
    return True


# ---- a whole SB3 run: envs, the algorithm's last observation, every RNG -----------------------


def _sde_noise(model: Any) -> Any:
    dist = getattr(model.policy, "action_dist", None)
    if getattr(dist, "exploration_mat", None) is None:
        return None
    return dist.exploration_mat.clone(), dist.exploration_matrices.clone()


def get_run_state(model: Any, eval_env: Optional[VecEnv] = None) -> dict[str, Any]:
    """What a checkpoint needs besides the model and buffers to continue exactly: both envs' live
    state, the algorithm's last observation, and every RNG (numpy, torch, python, action space, gSDE)."""
    import random

    import torch as th

    return {
        "rng": {"numpy": np.random.get_state(), "torch": th.get_rng_state(), "python": random.getstate()},
        "train_env": get_vec_env_state(model.get_env()),
        "eval_env": get_vec_env_state(eval_env) if eval_env is not None else None,
        "last_obs": model._last_obs,
        "last_episode_starts": model._last_episode_starts,
        "last_original_obs": model._last_original_obs,
        "action_space_rng": model.action_space.np_random.bit_generator.state,
        "sde_noise": _sde_noise(model),
    }


def set_run_envs(model: Any, eval_env: Optional[VecEnv], state: dict[str, Any]) -> bool:
    """Restore the envs and the last observation (before ``learn``); False if they could not be
    restored exactly (the run then continues from freshly reset envs)."""
    exact = set_vec_env_state(model.get_env(), state["train_env"])
    if eval_env is not None:
        exact = exact and set_vec_env_state(eval_env, state["eval_env"])
    if exact:
        model._last_obs, model._last_episode_starts = state["last_obs"], state["last_episode_starts"]
        model._last_original_obs = state["last_original_obs"]
        model.action_space.np_random.bit_generator.state = state["action_space_rng"]
    return exact


def set_run_rngs(model: Any, state: dict[str, Any]) -> None:
    """Restore every RNG; call it at the first rollout start (``CheckpointCallback(restore_fn=...)``),
    the point where the state was saved, after SB3's own pre-rollout draws."""
    import random

    import torch as th

    np.random.set_state(state["rng"]["numpy"])
    th.set_rng_state(state["rng"]["torch"])
    random.setstate(state["rng"]["python"])
    if state["sde_noise"] is not None:
        dist = model.policy.action_dist
        dist.exploration_mat, dist.exploration_matrices = state["sde_noise"]
