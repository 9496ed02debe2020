"""A replay buffer that relabels every sampled minibatch with the current learned reward."""

from __future__ import annotations

from typing import Any, Callable, Optional

import numpy as np
from gymnasium import spaces
from stable_baselines3.common.buffers import ReplayBuffer
from stable_baselines3.common.type_aliases import ReplayBufferSamples
from stable_baselines3.common.vec_env import VecNormalize

from sbil.errors import SbilError
from sbil.rewards.base import RewardLearner

RewardFn = Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray], np.ndarray]


class RelabelingReplayBuffer(ReplayBuffer):
    """SB3 ``ReplayBuffer`` whose sampled rewards come from a reward learner, not the env.

    Use it through SB3's own seam, ``SAC(..., replay_buffer_class=RelabelingReplayBuffer)``;
    :class:`sbil.sb3.refit.RewardRefitCallback` attaches its reward learner at training start (or
    set :attr:`reward_fn` yourself). Sampling with no reward attached is an error, never the env
    reward by accident.

    Two modes:

    - ``cached=False`` (the SMILING reference): every sampled minibatch is scored afresh.
    - ``cached=True``: raw rewards are stored per buffer slot with the learner's ``version`` and
      recomputed only when the learner has changed since, so each slot costs at most one
      evaluation per refit. Normalisation is still applied per sample call. With SMILING's default
      ``qmc`` estimator the raw reward is a fixed function of the transition between refits, so
      both modes give the same rewards; the cache only saves time.

    Off-policy SB3 algorithms store actions rescaled to [-1, 1]; they are mapped back to env units
    before scoring, so state-action rewards see the same actions as the demos.

    :param reward_fn: a :class:`~sbil.rewards.RewardLearner` or any imitation ``RewardFn``.
    :param cached: see above (needs a ``RewardLearner``).
    """

    def __init__(self, *args: Any, reward_fn: Optional[RewardFn] = None, cached: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.reward_fn = reward_fn
        self.cached = cached
        self.reward_cache = np.zeros((self.buffer_size, self.n_envs), dtype=np.float32)
        self.cache_version = np.full((self.buffer_size, self.n_envs), -1, dtype=np.int64)
        #: number of transitions scored (cache misses included, hits excluded)
        self.n_scored = 0
        #: per slot, the number of ``add`` calls before it was written: names the env step of a bad reward
        self.stored_at = np.zeros(self.buffer_size, dtype=np.int64)
        self._n_adds = 0

    def add(self, *args: Any, **kwargs: Any) -> None:
        self.stored_at[self.pos] = self._n_adds
        self.cache_version[self.pos] = -1  # a new transition in this slot: its cached reward was another's
        self._n_adds += 1
        super().add(*args, **kwargs)

    def _check_finite(self, raw: np.ndarray, inds: np.ndarray, env_inds: np.ndarray) -> None:
        bad = ~np.isfinite(raw)
        if bad.any():
            steps = sorted(set((self.stored_at[inds[bad]] * self.n_envs + env_inds[bad] + 1).tolist()))
            shown = ", ".join(map(str, steps[:5])) + (", ..." if len(steps) > 5 else "")
            raise SbilError(
                f"The learned reward (relabeled replay minibatch) is NaN/inf for {int(bad.sum())} transitions, stored at env "
                f"step(s) {shown}. The reward learner has diverged: lower reward.smiling.lr or check the demos; "
                "the last checkpoint before this is intact (continue with --resume)."
            )

    def __getstate__(self) -> dict[str, Any]:
        # The reward learner is saved on its own; pickling it into the buffer would freeze a copy.
        state = self.__dict__.copy()
        state["reward_fn"] = None
        return state

    def _env_actions(self, actions: np.ndarray) -> np.ndarray:
        space = self.action_space
        if isinstance(space, spaces.Box) and np.all(np.isfinite(space.low)) and np.all(np.isfinite(space.high)):
            return space.low + 0.5 * (actions + 1.0) * (space.high - space.low)
        return actions

    def _get_samples(self, batch_inds: np.ndarray, env: Optional[VecNormalize] = None) -> ReplayBufferSamples:
        if self.reward_fn is None:
            raise SbilError(
                "RelabelingReplayBuffer has no reward learner attached. Pass RewardRefitCallback(reward) to learn(), "
                "or set model.replay_buffer.reward_fn = reward."
            )
        env_indices = np.random.randint(0, high=self.n_envs, size=(len(batch_inds),))
        if self.optimize_memory_usage:
            next_obs_raw = self.observations[(batch_inds + 1) % self.buffer_size, env_indices, :]
        else:
            next_obs_raw = self.next_observations[batch_inds, env_indices, :]
        obs_raw = self.observations[batch_inds, env_indices, :]
        acts = self.actions[batch_inds, env_indices, :]
        dones = self.dones[batch_inds, env_indices]
        rewards = self._relabel(batch_inds, env_indices, obs_raw, acts, next_obs_raw, dones)
        data = (
            self._normalize_obs(obs_raw, env),
            acts,
            self._normalize_obs(next_obs_raw, env),
            # Only true terminations stop bootstrapping, as in SB3's own buffer.
            (dones * (1 - self.timeouts[batch_inds, env_indices])).reshape(-1, 1),
            rewards.reshape(-1, 1),
        )
        return ReplayBufferSamples(*tuple(map(self.to_torch, data)))

    def _relabel(self, inds, env_inds, obs, acts, next_obs, dones) -> np.ndarray:
        env_acts = self._env_actions(acts)
        learner = self.reward_fn
        if not self.cached:
            self.n_scored += len(inds)
            if not isinstance(learner, RewardLearner):
                rewards = np.asarray(learner(obs, env_acts, next_obs, dones), dtype=np.float32)
                self._check_finite(rewards, inds, env_inds)
                return rewards
            raw = learner.raw_reward(*learner.check_batch(obs, env_acts, next_obs, dones))
            self._check_finite(raw, inds, env_inds)
            return learner.normalize(raw)
        if not isinstance(learner, RewardLearner):
            raise SbilError("cached=True needs a RewardLearner (it keys the cache on its version); use cached=False for plain callables.")
        stale = self.cache_version[inds, env_inds] != learner.version
        if stale.any():
            s_inds, s_env = inds[stale], env_inds[stale]
            batch = learner.check_batch(obs[stale], env_acts[stale], next_obs[stale], dones[stale])
            raw = learner.raw_reward(*batch)
            self._check_finite(np.asarray(raw), s_inds, s_env)
            self.reward_cache[s_inds, s_env] = raw
            self.cache_version[s_inds, s_env] = learner.version
            self.n_scored += int(stale.sum())
        return learner.normalize(self.reward_cache[inds, env_inds])
