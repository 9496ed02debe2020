"""A VecEnv wrapper that hands the agent a learned reward instead of the env's."""

from __future__ import annotations

from typing import Callable, Optional

import numpy as np
from stable_baselines3.common.vec_env import VecEnv, VecEnvWrapper
from stable_baselines3.common.vec_env.base_vec_env import VecEnvObs, VecEnvStepReturn

from sbil.errors import SbilError
from sbil.rewards.base import RewardLearner

RewardFn = Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray], np.ndarray]
Transitions = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # (obs, acts, next_obs, dones), flat


def put_terminal_obs(next_obs: np.ndarray, dones: np.ndarray, infos: list) -> None:
    """In place: a finished episode's next observation is its real last one (SB3's
    ``terminal_observation``), not the reset observation the VecEnv returned."""
    for i in np.flatnonzero(dones):
        if "terminal_observation" in infos[i]:
            next_obs[i] = infos[i]["terminal_observation"]


class LearnedRewardVecEnv(VecEnvWrapper):
    """Replace each step's reward with ``reward_fn(obs, acts, next_obs, dones)``.

    Put it directly over the ``Monitor``-wrapped envs (e.g. over SB3's ``make_vec_env``): Monitor
    still records the true task return, so SB3's ``rollout/ep_rew_mean`` stays the true return,
    while the learned reward goes to ``infos[i]["learned_reward"]`` (and, at episode ends, the
    learned return to ``infos[i]["learned_episode"]``) for :class:`sbil.sb3.refit.RewardRefitCallback`
    to log. ``next_obs`` of a finished episode is its real last observation
    (``terminal_observation``), not the reset one.

    Observations are checked for NaN/inf at every step: a bad env value stops training with a
    message naming the env step, not silently corrupted rewards.

    With :class:`sbil.sb3.refit.RewardRefitCallback` on an on-policy algorithm, scoring is
    *deferred*: the wrapper returns zeros and records the rollout, and the callback scores the whole
    rollout in one batched call at its end and recomputes SB3's returns and advantages (the same
    numbers, without a reward-model call per env step). Used alone, the wrapper scores every step
    (then the learner needs ``reward_norm="running"``: SMILING's default normalises whole batches,
    and :meth:`RewardLearner.normalize` refuses a batch of a few envs' rewards).

    :param venv: the vectorised env (raw observations: put ``VecNormalize`` above this wrapper).
    :param reward_fn: a :class:`~sbil.rewards.RewardLearner` or any imitation ``RewardFn``.
    """

    def __init__(self, venv: VecEnv, reward_fn: RewardFn) -> None:
        super().__init__(venv)
        if isinstance(reward_fn, RewardLearner):
            reward_fn.check_env(venv)
        self.reward_fn = reward_fn
        self._last_obs: np.ndarray | None = None
        self._actions: np.ndarray | None = None
        self._learned_returns = np.zeros(self.num_envs)
        self._lengths = np.zeros(self.num_envs, dtype=np.int64)
        self.steps = 0
        #: set by RewardRefitCallback: record transitions, score them at rollout end
        self.defer = False
        # Deferred mode records into arrays that grow by doubling (one rollout's worth, reused):
        # a few array writes per step, and a rollout is a slice, not a stack of per-step tuples.
        self._record: dict[str, np.ndarray] = {}
        #: env steps (rows of ``num_envs`` transitions) recorded since the last :meth:`pop_rollout`
        self.n_recorded = 0
        self._zeros = np.zeros(self.num_envs, np.float32)

    #: what a checkpoint must hold to continue mid-episode (see :mod:`sbil.sb3.envstate`)
    STATE = ("_last_obs", "_actions", "_learned_returns", "_lengths", "steps", "defer", "_record", "n_recorded")

    def snapshot_state(self) -> dict:
        """The wrapper's live state for exact resume: the step it is in, the learned returns so far,
        the deferred rollout recorded so far."""
        return {key: getattr(self, key) for key in self.STATE}

    def restore_state(self, state: dict) -> None:
        for key in self.STATE:
            if key in state:  # checkpoints keep every plain attribute; the rest are set by __init__
                setattr(self, key, state[key])

    def reset(self) -> VecEnvObs:
        obs = self.venv.reset()
        self._check_finite(obs, "reset observation")
        self._last_obs = np.asarray(obs)
        self._learned_returns[:] = 0.0
        self._lengths[:] = 0
        return obs

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = np.asarray(actions)
        self.venv.step_async(actions)

    def step_wait(self) -> VecEnvStepReturn:
        obs, true_rewards, dones, infos = self.venv.step_wait()
        self.steps += self.num_envs
        self._check_finite(obs, "observation")
        if self._last_obs is None or self._actions is None:
            raise SbilError("LearnedRewardVecEnv.step called before reset(). Reset the env first.")
        if self.defer:
            self._record_step(obs, dones, infos)
            self._last_obs = obs
            return obs, self._zeros.copy(), dones, infos
        next_obs = np.array(obs, copy=True)
        put_terminal_obs(next_obs, dones, infos)
        rewards = self.score(self._last_obs[None], self._actions[None], next_obs[None], np.asarray(dones, bool)[None])[0]
        self._learned_returns += rewards
        self._lengths += 1
        for i, info in enumerate(infos):
            info["true_reward"] = float(true_rewards[i])
            info["learned_reward"] = float(rewards[i])
            if dones[i]:
                info["learned_episode"] = {"r": float(self._learned_returns[i]), "l": int(self._lengths[i])}
                self._learned_returns[i] = 0.0
                self._lengths[i] = 0
        self._last_obs = np.asarray(obs)
        return obs, rewards, dones, infos

    def _record_step(self, obs: np.ndarray, dones: np.ndarray, infos: list) -> None:
        n = self.n_recorded
        if n == len(self._record.get("dones", ())):
            self._grow(max(64, 2 * n), obs)
        rec = self._record
        rec["obs"][n] = self._last_obs
        rec["acts"][n] = self._actions
        rec["next_obs"][n] = obs
        rec["dones"][n] = dones
        put_terminal_obs(rec["next_obs"][n], dones, infos)
        self.n_recorded = n + 1

    def _grow(self, steps: int, obs: np.ndarray) -> None:
        shapes = {"obs": obs.shape, "acts": np.shape(self._actions), "next_obs": obs.shape, "dones": (self.num_envs,)}
        grown = {key: np.zeros((steps, *shape), bool if key == "dones" else np.float32) for key, shape in shapes.items()}
        for key, arr in self._record.items():
            grown[key][: len(arr)] = arr
        self._record = grown

    def pop_rollout(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
        """Deferred mode: the recorded ``(obs, acts, next_obs, dones)``, each ``(n_steps, n_envs, ...)``; clears it."""
        if self.n_recorded == 0:
            return None
        record = tuple(self._record[key][: self.n_recorded].copy() for key in ("obs", "acts", "next_obs", "dones"))
        self.n_recorded = 0
        return record  # type: ignore[return-value]

    def score(
        self, obs: np.ndarray, acts: np.ndarray, next_obs: np.ndarray, dones: np.ndarray, reference: Optional[Transitions] = None
    ) -> np.ndarray:
        """Learned rewards for ``(n_steps, n_envs, ...)`` arrays, shape ``(n_steps, n_envs)``, checked finite.

        :param reference: flat ``(obs, acts, next_obs, dones)`` whose raw rewards set the
            normalisation's statistics instead of these transitions' own (a batch normalisation of a
            :class:`~sbil.rewards.RewardLearner`; see ``RewardRefitCallback(norm_window=...)``).
        """
        n_steps, n_envs = dones.shape
        flat = [a.reshape(n_steps * n_envs, *a.shape[2:]) for a in (obs, acts, next_obs)] + [dones.reshape(-1)]
        if reference is None:
            rewards = self.reward_fn(*flat)
        elif isinstance(self.reward_fn, RewardLearner):
            rewards = self.reward_fn(*flat, reference=reference)
        else:
            raise SbilError(f"A normalisation reference needs a RewardLearner; this wrapper's reward is a {type(self.reward_fn).__name__}.")
        rewards = np.asarray(rewards, dtype=np.float32).reshape(-1)
        if rewards.shape != (n_steps * n_envs,) or not np.all(np.isfinite(rewards)):
            raise SbilError(
                f"Env steps up to {self.steps}: the learned reward returned shape {rewards.shape} with values {rewards[:4]}; "
                f"expected {n_steps * n_envs} finite values. Check the reward learner (diverged nets give NaN)."
            )
        return rewards.reshape(n_steps, n_envs)

    def _check_finite(self, obs: np.ndarray, what: str) -> None:
        arr = np.asarray(obs)
        if arr.dtype.kind == "f" and not np.isfinite(arr).all():
            envs = np.unique(np.argwhere(~np.isfinite(arr.reshape(len(arr), -1)))[:, 0]).tolist()
            raise SbilError(f"Env step {self.steps}: the {what} of env(s) {envs} contains NaN/inf. The environment (or its actions) produced invalid values.")
