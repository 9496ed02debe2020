"""The reward refit callback: how a reward learner keeps learning beside a stock SB3 algorithm."""

from __future__ import annotations

import os
import time
from typing import Any, Optional, Union

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm
from stable_baselines3.common.vec_env import VecEnvWrapper, VecNormalize

from sbil.errors import SbilError
from sbil.rewards.base import BATCH_NORMS, RewardLearner
from sbil.sb3.buffers import RelabelingReplayBuffer
from sbil.sb3.refit_process import RefitProcess, why_not_in_child
from sbil.sb3.transitions import TransitionRing, newest_slots
from sbil.sb3.wrappers import LearnedRewardVecEnv, put_terminal_obs


class RewardRefitCallback(BaseCallback):
    """Gather the learner's transitions and refit the reward learner on a schedule.

    Works with stock SB3 algorithms: after every rollout for on-policy ones (PPO, A2C), every
    ``refit_every`` env steps for off-policy ones (SAC, TD3). Transitions go into a bounded ring
    (:attr:`ring`, a :class:`~sbil.sb3.transitions.TransitionRing` of ``buffer_size``), and each
    refit draws at most ``samples_per_refit`` of them, so the cost of a refit does not grow with
    the length of the run. At training start it attaches the
    reward learner to a :class:`~sbil.sb3.buffers.RelabelingReplayBuffer` that has none.

    Logs ``reward/*``: the learner's refit stats (score losses, DS-divergence estimate, refit time)
    and the learned reward's per-step mean and episode return (from
    :class:`~sbil.sb3.wrappers.LearnedRewardVecEnv`'s infos).

    :param reward: the reward learner to refit.
    :param refit_every: env steps between refits for off-policy algorithms (reference: 1000);
        ignored for on-policy ones, which refit after every rollout.
    :param buffer_size: learner transitions kept in :attr:`ring` (reference: 200k).
    :param samples_per_refit: transitions per refit (reference: 100k). Fewer make refits cheaper but
        the reward worse: with PPO on HalfCheetah, 8 rollouts' worth (32k) instead of 100k roughly
        halved the normalised score of the quick benchmark (two seeds each).
    :param seed: seeds which transitions each refit draws.
    :param refit_in_process: on-policy, with rollouts scored at their end (the usual case): run each
        refit in a child process (:class:`~sbil.sb3.refit_process.RefitProcess`) while the algorithm
        updates its policy and collects the next rollout, and collect it before that rollout is
        scored. Same numbers as refitting in place; the refit's cost moves to another core.
        ``"auto"`` (default): do so when this process may use at least two CPUs, the reward learner
        is a :class:`~sbil.rewards.RewardLearner` on the CPU and the system is POSIX; ``False``
        always refits in place (off-policy algorithms always do).
    :param replace: draw ``samples_per_refit`` transitions with replacement at every refit (the
        reference), so every refit costs the same number of gradient steps from the first on;
        ``False`` draws ``min(size, samples_per_refit)`` distinct ones (a budget that grows with
        the buffer).
    :param refit_first_rollout: on-policy with deferred scoring: fit the learner net on the first
        rollout before scoring it, so no rollout is scored by an untrained learner net (that rollout
        then takes part in two refits: this one and the usual one after it). Off-policy runs need
        no such step: their warm-up steps (``learning_starts``) are refit on before any update.
    :param norm_window: on-policy with deferred scoring and a batch normalisation (``robust``,
        ``batch``): take the normalisation's statistics from the newest ``norm_window`` learner
        transitions (the rollout included; up to :attr:`NORM_SAMPLE` of them, drawn at random,
        scored by the current reward) instead of from the rollout alone. A rollout holds a few
        episodes, and whether one of them falls moves its median and MAD: on Walker2d the scale
        changed by up to 1.9x between consecutive rollouts (results/ablation/). 0: the rollout alone.
    """

    #: at most this many window transitions are scored for the normalisation's statistics
    NORM_SAMPLE = 4096

    def __init__(
        self,
        reward: Any,
        refit_every: int = 1000,
        buffer_size: int = 200_000,
        samples_per_refit: int = 100_000,
        seed: int = 0,
        verbose: int = 0,
        refit_in_process: Union[bool, str] = "auto",
        replace: bool = False,
        refit_first_rollout: bool = False,
        norm_window: int = 0,
    ) -> None:
        super().__init__(verbose)
        for name, value in (("refit_every", refit_every), ("buffer_size", buffer_size), ("samples_per_refit", samples_per_refit)):
            if value < 1:
                raise SbilError(f"RewardRefitCallback: {name}={value} is invalid; it must be >= 1.")
        self.reward = reward
        self.refit_every = int(refit_every)
        self.buffer_size = int(buffer_size)
        self.samples_per_refit = int(samples_per_refit)
        self.replace = bool(replace)
        self.refit_first_rollout = bool(refit_first_rollout)
        if norm_window < 0:
            raise SbilError(f"RewardRefitCallback: norm_window={norm_window} is invalid; it must be >= 0 (0: the rollout alone).")
        self.norm_window = int(norm_window)
        self.norm_rng = np.random.default_rng(seed + 1)
        if refit_in_process not in (True, False, "auto"):
            raise SbilError(f"RewardRefitCallback: refit_in_process={refit_in_process!r} is invalid; it must be True, False or 'auto'.")
        self.refit_in_process: Union[bool, str] = refit_in_process
        self._in_process = False  # what refit_in_process resolved to for this training run
        self._process: Any = None  # a RefitProcess, started when training starts
        self.rng = np.random.default_rng(seed)
        #: the learner transitions refits draw from
        self.ring = TransitionRing(self.buffer_size)
        self.n_refits = 0
        self._on_policy = True
        self._last_refit_step = 0
        self._learned_sum = 0.0
        self._learned_count = 0
        self._learned_episodes: list[float] = []
        self._deferred: Any = None
        self._raw_obs: Optional[np.ndarray] = None  # under VecNormalize: the raw observation the next step starts from

    def _on_training_start(self) -> None:
        self._on_policy = not isinstance(self.model, OffPolicyAlgorithm)
        if hasattr(self.reward, "check_env"):
            self.reward.check_env(self.model.get_env())
        buffer = getattr(self.model, "replay_buffer", None)
        if isinstance(buffer, RelabelingReplayBuffer) and buffer.reward_fn is None:
            buffer.reward_fn = self.reward
        if not self.ring.data:
            self.ring.allocate(self.model.observation_space.shape, self.model.action_space.shape)
        self._last_refit_step = self.num_timesteps
        normalizer = self.model.get_vec_normalize_env()
        # The raw observation SB3's last one normalises (None before the env has been reset).
        original = None if normalizer is None else getattr(normalizer, "old_obs", None)
        self._raw_obs = None if original is None else np.array(original, np.float32)
        self._deferred = self._find_deferrable_wrapper() if self._on_policy else None
        self._in_process = self._deferred is not None and self._resolve_in_process()
        if self._deferred is not None:
            self._deferred.defer = True
        if self._in_process and self._process is None:
            self._process = self._start_process()  # it imports torch during the first rollout

    def _resolve_in_process(self) -> bool:
        if self.refit_in_process is False:
            return False
        reason = why_not_in_child(self.reward)
        if self.refit_in_process is True:
            if reason:
                raise SbilError(f"refit_in_process=True: {reason} Use refit_in_process=False (or 'auto', which refits in place then).")
            return True
        try:
            cpus = len(os.sched_getaffinity(0))
        except AttributeError:  # not Linux
            cpus = os.cpu_count() or 1
        return reason is None and cpus >= 2

    def _find_deferrable_wrapper(self) -> Any:
        env = self.model.get_env()
        while isinstance(env, VecEnvWrapper):
            if isinstance(env, VecNormalize) and env.norm_reward:
                # It would normalise the placeholder rewards: score per step instead, which batch normalisations cannot.
                if getattr(self.reward, "reward_norm", None) in BATCH_NORMS:
                    raise SbilError(
                        f"VecNormalize(norm_reward=True) above the learned reward makes it score step by step, which "
                        f"reward_norm={self.reward.reward_norm!r} cannot (it normalises whole rollouts). Use VecNormalize(norm_reward=False), "
                        "or build the learner with reward_norm='running', reward_clip=None, reward_floor=None."
                    )
                return None
            if isinstance(env, LearnedRewardVecEnv):
                return env if env.reward_fn is self.reward else None
            env = env.venv
        return None

    def _on_rollout_start(self) -> None:
        if self._deferred is not None:
            self._deferred.pop_rollout()  # drop anything recorded outside a rollout

    def _on_training_end(self) -> None:
        self.close()
        if self._deferred is not None:
            self._deferred.defer = False
            self._deferred.pop_rollout()

    def _on_step(self) -> bool:
        if self._deferred is None:  # deferred mode gathers the whole rollout at its end instead
            self._gather_step()
        for info in self.locals["infos"]:
            if "learned_reward" in info:
                self._learned_sum += info["learned_reward"]
                self._learned_count += 1
            if "learned_episode" in info:
                self._learned_episodes.append(info["learned_episode"]["r"])
        if not self._on_policy and self.num_timesteps // self.refit_every > self._last_refit_step // self.refit_every:
            self.refit()
        return True

    def _gather_step(self) -> None:
        loc = self.locals
        dones, infos = loc["dones"], loc["infos"]
        # On-policy algorithms step the env with the clipped actions; off-policy ones with `actions`.
        acts = np.asarray(loc["clipped_actions"] if "clipped_actions" in loc else loc["actions"], np.float32)
        normalizer = self.model.get_vec_normalize_env()
        if normalizer is None:
            obs = np.asarray(self.model._last_obs, np.float32)
            new_obs = np.array(loc["new_obs"], dtype=np.float32, copy=True)
            put_terminal_obs(new_obs, dones, infos)
        else:
            # Under VecNormalize the algorithm sees normalised observations, but the reward scores raw
            # ones (the wrapper sits below it, the replay buffer stores originals): refit on raw ones,
            # recovered as SB3 itself stores them.
            obs = self._raw_obs if self._raw_obs is not None else normalizer.unnormalize_obs(self.model._last_obs)
            new_obs = np.array(normalizer.get_original_obs(), dtype=np.float32, copy=True)
            self._raw_obs = new_obs.copy()  # the reset observation where an episode ended
            for i in np.flatnonzero(dones):
                if infos[i].get("terminal_observation") is not None:
                    new_obs[i] = normalizer.unnormalize_obs(infos[i]["terminal_observation"])
        self.ring.add(np.asarray(obs, np.float32), acts, new_obs, np.asarray(dones, bool))

    def _on_rollout_end(self) -> None:
        if self._deferred is not None:
            self.wait()  # the previous rollout's refit, if it ran in the child process
            self._score_rollout()
        if self._on_policy:
            self.refit(background=self._in_process)

    def _score_rollout(self) -> None:
        """Deferred mode: score the finished rollout in one call, then redo SB3's advantages."""
        record = self._deferred.pop_rollout()
        if record is None:
            return
        # The same transitions, in the same order, as gathering them step by step.
        self.ring.add(*(a.reshape(-1, *a.shape[2:]) for a in record))
        if self.refit_first_rollout and self.n_refits == 0:
            self.refit()
        rewards = self._deferred.score(*record, reference=self._window_reference())
        buffer = self.model.rollout_buffer
        # The buffer already holds 0 + gamma * V(terminal obs) on truncated steps: add, don't overwrite.
        buffer.rewards += rewards
        buffer.compute_returns_and_advantage(last_values=self.locals["values"], dones=self.locals["dones"])
        self._learned_sum += float(rewards.sum())
        self._learned_count += rewards.size

    def _window_reference(self) -> Optional[tuple[np.ndarray, ...]]:
        """With ``norm_window``: a random sample of the newest ``norm_window`` transitions (the
        rollout included), whose rewards set the rollout's normalisation; else None (the rollout's own)."""
        if not (self.norm_window > 0 and isinstance(self.reward, RewardLearner) and self.reward.reward_norm in BATCH_NORMS):
            return None
        window = min(self.norm_window, self.ring.size)
        picks = self.norm_rng.choice(window, size=min(window, self.NORM_SAMPLE), replace=False)
        return self.ring.batch(newest_slots(self.ring.pos, self.ring.capacity, picks))

    def add_transitions(self, obs: np.ndarray, acts: np.ndarray, next_obs: np.ndarray, dones: np.ndarray) -> None:
        """Add learner transitions gathered elsewhere (e.g. a replay buffer loaded from disk), so
        that the next refits use them; the oldest are overwritten once ``buffer_size`` is reached.

        :param obs: ``(n, *obs_shape)`` observations; ``acts``, ``next_obs`` and ``dones`` alike.
        """
        self.ring.extend(obs, acts, next_obs, dones)

    @property
    def size(self) -> int:
        """Learner transitions held for refits."""
        return self.ring.size

    def refit(self, background: bool = False) -> dict[str, float]:
        """Refit the reward learner on a sample of the gathered transitions, and log.

        :param background: start the refit in the child process and return at once; :meth:`wait`
            finishes it (the reward learner must not be used in between).
        """
        self.wait()
        self._last_refit_step = self.num_timesteps
        if self.size == 0:
            return {}
        if self.replace:
            idx = self.rng.integers(0, self.size, size=self.samples_per_refit)
        else:
            idx = self.rng.choice(self.size, size=min(self.samples_per_refit, self.size), replace=False)
        if background:
            if self._process is None:
                self._process = self._start_process()
            ring = self.ring
            self._process.submit(self.reward, ring.data, ring.pos, ring.added, ring.generation, idx)
            return {}
        t0 = time.perf_counter()
        stats = self.reward.update(*self.ring.batch(idx))
        return self._log_refit(stats, time.perf_counter() - t0)

    @staticmethod
    def _start_process() -> Any:
        return RefitProcess(threads=1)

    def wait(self) -> dict[str, float]:
        """Finish a refit running in the child process and log it; a no-op when none runs."""
        if self._process is None or not self._process.busy:
            return {}
        return self._log_refit(*self._process.result())

    def close(self) -> None:
        """Finish any background refit and stop the child process (called when training ends)."""
        try:
            self.wait()
        finally:
            if self._process is not None:
                self._process.close()
                self._process = None

    def _log_refit(self, stats: dict[str, float], seconds: float) -> dict[str, float]:
        self.n_refits += 1
        for key, value in stats.items():
            self.logger.record(f"reward/{key}", value)
        self.logger.record("reward/refit_time", seconds)
        self.logger.record("reward/n_refits", self.n_refits)
        if self._learned_count:
            self.logger.record("reward/learned_step_mean", self._learned_sum / self._learned_count)
            self._learned_sum, self._learned_count = 0.0, 0
        if self._learned_episodes:
            self.logger.record("reward/learned_ep_rew_mean", float(np.mean(self._learned_episodes[-100:])))
            self._learned_episodes = self._learned_episodes[-100:]
        return stats

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume exactly: gathered data, position, RNG (finishes a background
        refit first, so that the reward learner saved beside it is complete)."""
        self.wait()
        return {
            **self.ring.state_dict(), "n_refits": self.n_refits, "last_refit_step": self._last_refit_step,
            "rng": self.rng.bit_generator.state, "norm_rng": self.norm_rng.bit_generator.state,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.ring.load_state_dict(state)
        self.n_refits = int(state["n_refits"])
        self._last_refit_step = int(state["last_refit_step"])
        self.rng.bit_generator.state = state["rng"]
        if "norm_rng" in state:  # checkpoints from before norm_window lack it
            self.norm_rng.bit_generator.state = state["norm_rng"]

