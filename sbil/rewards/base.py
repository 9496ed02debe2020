"""The reward-learner interface every learned reward in sbil implements.

A :class:`RewardLearner` is, first of all, a plain callable ``(obs, acts, next_obs, dones) ->
np.ndarray`` of shape ``(batch,)``: ``imitation``'s ``RewardFn`` protocol, so it also works inside
imitation's own ``RewardVecEnvWrapper``. On top of that it can be refit from learner data
(:meth:`update`), saved and reloaded (:meth:`save`, :func:`load_reward`), and checks its inputs
against the spaces it was built for.
"""

from __future__ import annotations

import abc
import importlib
from pathlib import Path
from typing import Any, ClassVar, Optional

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.running_mean_std import RunningMeanStd
from stable_baselines3.common.utils import get_device

from sbil.errors import SbilError
from sbil.io import PathLike, atomic_path

REWARD_NORMS = ("none", "batch", "running")
FORMAT = "sbil-reward-v1"


def _space_summary(space: spaces.Space) -> dict[str, Any]:
    if isinstance(space, spaces.Box):
        return {"type": "Box", "shape": list(space.shape), "low": space.low.tolist(), "high": space.high.tolist()}
    raise SbilError(f"sbil reward learners need Box (continuous) spaces, got {space}. Flatten dict/discrete spaces first.")


def _space_from_summary(summary: dict[str, Any]) -> spaces.Box:
    return spaces.Box(np.asarray(summary["low"], np.float32), np.asarray(summary["high"], np.float32), dtype=np.float32)


def check_spaces_match(expected: spaces.Box, actual: spaces.Space, what: str, fix: str) -> None:
    """Refuse a space whose shape or bounds differ from the one a reward learner was built for."""
    if not isinstance(actual, spaces.Box) or actual.shape != expected.shape:
        raise SbilError(f"{what} space mismatch: the reward learner expects shape {expected.shape}, got {getattr(actual, 'shape', actual)}. {fix}")
    if not (np.allclose(actual.low, expected.low, equal_nan=True) and np.allclose(actual.high, expected.high, equal_nan=True)):
        raise SbilError(f"{what} space bounds differ from the ones the reward learner was built for. {fix}")


class RewardLearner(abc.ABC):
    """Base class of learned rewards: SMILING, GAIL/AIRL reward nets, or your own.

    Subclasses implement :meth:`raw_reward` (and, if they learn online, :meth:`update`) plus
    :meth:`_state` / :meth:`_load_state` for persistence. Normalisation, input checks, versioning
    and save/load live here, once.

    :param observation_space: the env's observation space (Box).
    :param action_space: the env's action space (Box).
    :param reward_norm: ``"none"``; ``"batch"``: ``(r - mean) / std`` over each call's batch (as in
        the SMILING reference; needs large batches, e.g. replay minibatches); ``"running"``: with
        running statistics of all rewards produced so far (for per-step VecEnv use).
    :param reward_scale: multiplies the normalised reward (the reference uses 0.1 with ``batch``).
    :param device: ``"auto"`` (CUDA when present, else CPU), ``"cpu"`` or ``"cuda"``.
    """

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        reward_norm: str = "none",
        reward_scale: float = 1.0,
        device: str | th.device = "auto",
    ) -> None:
        if reward_norm not in REWARD_NORMS:
            raise SbilError(f"Unknown reward_norm {reward_norm!r}; valid: {', '.join(REWARD_NORMS)}.")
        self._obs_summary = _space_summary(observation_space)
        self._act_summary = _space_summary(action_space)
        self.observation_space = _space_from_summary(self._obs_summary)
        self.action_space = _space_from_summary(self._act_summary)
        self.reward_norm = reward_norm
        self.reward_scale = float(reward_scale)
        self.device = get_device(device)
        self.reward_stats = RunningMeanStd(shape=())
        #: increases by one each time the reward function changes (caches key on it)
        self.version = 0

    #: True when :meth:`update` needs nothing but :meth:`_state` and its arguments, so that a copy
    #: rebuilt from :meth:`save` refits exactly like the original: then
    #: :class:`~sbil.callbacks.RewardRefitCallback` may run refits in a child process.
    portable_update: ClassVar[bool] = False

    # ---- what a subclass provides -------------------------------------------------------------
    @abc.abstractmethod
    def raw_reward(self, obs: np.ndarray, acts: np.ndarray, next_obs: np.ndarray, dones: np.ndarray) -> np.ndarray:
        """Unnormalised reward, shape ``(batch,)``; inputs are already checked float32 arrays."""

    def update(self, obs: np.ndarray, acts: np.ndarray, next_obs: np.ndarray, dones: np.ndarray) -> dict[str, float]:
        """Refit from learner data; return scalar stats to log. Fixed rewards do nothing."""
        return {}

    def config(self) -> dict[str, Any]:
        """Constructor keyword arguments (JSON-serialisable) that rebuild this learner."""
        return {"reward_norm": self.reward_norm, "reward_scale": self.reward_scale}

    def _state(self) -> dict[str, Any]:
        """Learned state (tensors, arrays, numbers) for :meth:`save`."""
        return {}

    def _load_state(self, state: dict[str, Any]) -> None:
        """Inverse of :meth:`_state`."""

    # ---- the public, shared part --------------------------------------------------------------
    def __call__(self, obs: np.ndarray, acts: np.ndarray, next_obs: np.ndarray, dones: np.ndarray) -> np.ndarray:
        """Normalised learned reward for a batch of transitions (imitation's ``RewardFn``).

        :param obs: ``(batch, *obs_shape)`` states before the step.
        :param acts: ``(batch, *act_shape)`` actions taken (env units, not rescaled).
        :param next_obs: ``(batch, *obs_shape)`` states after the step.
        :param dones: ``(batch,)`` episode-end flags.
        :return: ``(batch,)`` float32 rewards.
        """
        return self.normalize(self.raw_reward(*self.check_batch(obs, acts, next_obs, dones)))

    predict_reward = __call__

    def check_batch(self, obs, acts, next_obs, dones) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Validate shapes and finiteness of a transition batch; return float32 arrays."""
        obs_shape, act_shape = self.observation_space.shape, self.action_space.shape
        obs = np.asarray(obs, dtype=np.float32)
        next_obs = np.asarray(next_obs, dtype=np.float32)
        acts = np.asarray(acts, dtype=np.float32)
        n = obs.shape[0] if obs.ndim else -1
        for name, arr, shape in (("obs", obs, obs_shape), ("next_obs", next_obs, obs_shape), ("acts", acts, act_shape)):
            if arr.shape[1:] != tuple(shape) or arr.shape[0] != n:
                raise SbilError(
                    f"Reward input {name} has shape {arr.shape}; expected (batch, {', '.join(map(str, shape))}) "
                    f"with batch {n}. The env and the reward learner disagree: build the learner for this env's spaces."
                )
        dones = np.asarray(dones, dtype=bool).reshape(-1)
        if dones.shape[0] != n:
            raise SbilError(f"Reward input dones has {dones.shape[0]} entries for a batch of {n}.")
        return obs, acts, next_obs, dones

    def normalize(self, rewards: np.ndarray, update_stats: bool = True) -> np.ndarray:
        """Apply this learner's reward normalisation to raw rewards.

        :param update_stats: with ``"running"``, fold this batch into the running statistics.
        """
        r = np.asarray(rewards, dtype=np.float64)
        if not np.all(np.isfinite(r)):
            raise SbilError(
                f"The learned reward produced {np.sum(~np.isfinite(r))} non-finite values (NaN/inf). "
                "The reward model has diverged: lower its learning rate, or check the demos and observations for NaN."
            )
        if self.reward_norm == "batch":
            r = (r - r.mean()) / (r.std() + 1e-8)
        elif self.reward_norm == "running":
            if update_stats:
                self.reward_stats.update(r)
            r = (r - self.reward_stats.mean) / np.sqrt(self.reward_stats.var + 1e-8)
        return (r * self.reward_scale).astype(np.float32)

    def check_env(self, env: Any) -> None:
        """Refuse an env (gymnasium or VecEnv) whose spaces differ from this learner's."""
        fix = "Use the env this reward was trained for, or train a reward learner for this env."
        check_spaces_match(self.observation_space, env.observation_space, "Observation", fix)
        check_spaces_match(self.action_space, env.action_space, "Action", fix)

    def save(self, path: PathLike) -> None:
        """Save config, spaces, normalisation statistics and learned weights (atomically)."""
        payload = {
            "format": FORMAT,
            "class": f"{type(self).__module__}:{type(self).__qualname__}",
            "config": self.config(),
            "observation_space": self._obs_summary,
            "action_space": self._act_summary,
            "version": self.version,
            "reward_stats": {"mean": float(self.reward_stats.mean), "var": float(self.reward_stats.var), "count": float(self.reward_stats.count)},
            "state": self._state(),
        }
        with atomic_path(path) as tmp:
            th.save(payload, tmp)

    @classmethod
    def load(cls, path: PathLike, device: str | th.device = "auto") -> "RewardLearner":
        """Load a learner saved with :meth:`save` (any subclass; see :func:`load_reward`)."""
        learner = load_reward(path, device)
        if not isinstance(learner, cls):
            raise SbilError(f"{path} holds a {type(learner).__name__}, not a {cls.__name__}.")
        return learner


def load_reward(path: PathLike, device: str | th.device = "auto", env: Optional[Any] = None) -> RewardLearner:
    """Load any reward learner saved with :meth:`RewardLearner.save`.

    :param path: the saved file.
    :param device: where to put its networks.
    :param env: if given, the learner is refused unless the env's spaces match its own.
    """
    path = Path(path)
    if not path.is_file():
        raise SbilError(f"Reward file {path} does not exist.")
    try:
        payload = th.load(path, map_location="cpu", weights_only=True)
        if payload.get("format") != FORMAT:
            raise ValueError(f"format {payload.get('format')!r}")
        module, qualname = payload["class"].split(":")
        cls = getattr(importlib.import_module(module), qualname)
    except Exception as e:  # noqa: BLE001 - any failure here means "not a readable reward file"
        raise SbilError(f"{path} is not a readable sbil reward file ({type(e).__name__}: {e}). Save it again with RewardLearner.save.") from None
    learner = cls(
        _space_from_summary(payload["observation_space"]), _space_from_summary(payload["action_space"]), device=device, **payload["config"]
    )
    stats = payload["reward_stats"]
    learner.reward_stats.mean, learner.reward_stats.var, learner.reward_stats.count = stats["mean"], stats["var"], stats["count"]
    learner._load_state(payload["state"])
    learner.version = int(payload["version"])
    if env is not None:
        learner.check_env(env)
    return learner
