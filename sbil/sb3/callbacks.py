"""SB3 callbacks of a run: periodic evaluation of the true return, crash-safe checkpoints.

The reward refit callback lives beside them in :mod:`sbil.sb3.refit`.

All schedules count env steps (``model.num_timesteps``), so they mean the same thing whatever the
number of parallel envs.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.vec_env import VecEnv, unwrap_vec_normalize

from sbil.errors import SbilError
from sbil.io import PathLike, atomic_path, atomic_write


class EvalCallback(BaseCallback):
    """Evaluate the deterministic policy's true return every ``eval_freq`` env steps.

    Unlike SB3's ``EvalCallback``, its history is part of the run's state (:meth:`state_dict`), so
    a resumed run continues the same curve with no duplicated or missing points, and the CSV and
    best model are written atomically.

    :param eval_env: a separate env (never the training env: its reward may be replaced).
    :param eval_freq: evaluate every this many env steps (0 disables periodic evaluation).
    :param n_eval_episodes: episodes per evaluation.
    :param log_dir: where ``evals.csv`` and ``best_model.zip`` go (optional).
    :param save_best: keep the best-scoring policy as ``best_model.zip``.
    """

    def __init__(
        self,
        eval_env: VecEnv,
        eval_freq: int,
        n_eval_episodes: int = 5,
        log_dir: Optional[PathLike] = None,
        save_best: bool = False,
        verbose: int = 0,
    ) -> None:
        super().__init__(verbose)
        self.eval_env = eval_env
        self.eval_freq = int(eval_freq)
        self.n_eval_episodes = int(n_eval_episodes)
        self.log_dir = Path(log_dir) if log_dir is not None else None
        self.save_best = save_best
        self.history: list[dict[str, float]] = []
        self.best_mean = -np.inf
        self._t0 = time.time()

    def _next_due(self) -> int:
        done = int(self.history[-1]["timesteps"]) if self.history else 0
        return (done // self.eval_freq + 1) * self.eval_freq

    def _on_step(self) -> bool:
        if self.eval_freq > 0 and self.num_timesteps >= self._next_due():
            self.evaluate()
        return True

    def _sync_obs_normalization(self) -> None:
        # The policy acts on normalised observations: evaluate it on the same scale, frozen.
        train_norm = unwrap_vec_normalize(self.model.get_env())
        eval_norm = unwrap_vec_normalize(self.eval_env)
        if train_norm is None:
            return
        if eval_norm is None:
            raise SbilError("The training env normalises observations (VecNormalize) but the eval env does not, so the policy would be "
                            "evaluated on raw ones. Wrap the eval env too: sbil.sb3.normalize_obs(eval_env, training=False).")
        eval_norm.obs_rms = train_norm.obs_rms.copy()

    def evaluate(self) -> dict[str, float]:
        """Run one evaluation now, log it and append it to the history."""
        self._sync_obs_normalization()
        returns, lengths = evaluate_policy(
            self.model, self.eval_env, n_eval_episodes=self.n_eval_episodes, deterministic=True, return_episode_rewards=True
        )
        row = {
            "timesteps": int(self.num_timesteps),
            "mean_return": float(np.mean(returns)),
            "std_return": float(np.std(returns)),
            "mean_length": float(np.mean(lengths)),
            "wall_time": float(time.time() - self._t0),
        }
        self.history.append(row)
        self.logger.record("eval/mean_reward", row["mean_return"])
        self.logger.record("eval/std_reward", row["std_return"])
        self.logger.record("eval/mean_ep_length", row["mean_length"])
        self.logger.record("time/wall_time", row["wall_time"])
        self.logger.dump(self.num_timesteps)
        if self.verbose:
            print(f"eval @ {row['timesteps']} steps: return {row['mean_return']:.1f} ± {row['std_return']:.1f}")
        if self.log_dir is not None:
            self.write_csv()
            if self.save_best and row["mean_return"] > self.best_mean:
                with atomic_path(self.log_dir / "best_model.zip") as tmp:
                    self.model.save(tmp)
        self.best_mean = max(self.best_mean, row["mean_return"])
        return row

    def write_csv(self) -> None:
        if self.log_dir is None or not self.history:
            return
        keys = ["timesteps", "mean_return", "std_return", "mean_length", "wall_time"]
        lines = [",".join(keys)] + [",".join(f"{r[k]:.6g}" for k in keys) for r in self.history]
        atomic_write(self.log_dir / "evals.csv", "\n".join(lines) + "\n")

    def state_dict(self) -> dict[str, Any]:
        return {"history": self.history, "best_mean": float(self.best_mean), "elapsed": time.time() - self._t0}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.history = [dict(r) for r in state.get("history", [])]
        self.best_mean = float(state.get("best_mean", -np.inf))
        self._t0 = time.time() - float(state.get("elapsed", 0.0))


class SignalFlag:
    """While installed, SIGINT and SIGTERM only record their name in :attr:`signal`, so the
    training loop can checkpoint at its next safe point and stop; usable as a context manager."""

    def __init__(self) -> None:
        self.signal: Optional[str] = None
        self._previous: dict[int, Any] = {}

    def install(self) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self._previous[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread: leave signals alone
                pass

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    def _handle(self, signum: int, frame: Any) -> None:
        self.signal = signal.Signals(signum).name

    def __enter__(self) -> "SignalFlag":
        self.install()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.restore()


class CheckpointCallback(BaseCallback):
    """Call ``save_fn()`` every ``save_freq`` env steps, and on SIGINT / SIGTERM before stopping.

    Checkpoints are taken at the start of a rollout (for SAC/TD3 with ``train_freq=1``: before
    every env step), where SB3's state is whole: the previous transition is stored and trained on,
    and the env, the last observation and every RNG agree. A signal only raises a flag: the
    checkpoint is written at the next such point, then training stops (``learn`` returns and
    :attr:`interrupted` names the signal).

    :param save_fn: writes a checkpoint of the whole run (it knows what the run holds).
    :param save_freq: env steps between checkpoints (0: only on signals).
    :param restore_fn: on resume, restores RNG state at the first rollout start: the same point
        where it was saved, after SB3's own pre-rollout draws (gSDE noise).
    """

    def __init__(self, save_fn: Callable[[], None], save_freq: int, restore_fn: Optional[Callable[[], None]] = None, verbose: int = 0) -> None:
        super().__init__(verbose)
        self.save_fn = save_fn
        self.restore_fn = restore_fn
        self.save_freq = int(save_freq)
        self._signals = SignalFlag()
        self._stop = False
        self._last_save = 0

    @property
    def interrupted(self) -> Optional[str]:
        """The name of the signal that stopped training (``"SIGTERM"``, ``"SIGINT"``), or None."""
        return self._signals.signal

    def _on_training_start(self) -> None:
        self._last_save = self.num_timesteps
        self._signals.install()

    def _on_rollout_start(self) -> None:
        if self.restore_fn is not None:
            self.restore_fn()
            self.restore_fn = None
            return
        # Save at multiples of save_freq, so a resumed run checkpoints at the same steps as an
        # uninterrupted one.
        due = self.save_freq > 0 and self.num_timesteps // self.save_freq > self._last_save // self.save_freq
        if due or self.interrupted is not None:
            self.save_fn()
            self._last_save = self.num_timesteps
            self._stop = self.interrupted is not None

    def _on_step(self) -> bool:
        # The step that follows a signal's checkpoint is discarded: resuming replays it.
        return not self._stop

    @property
    def stopped_early(self) -> bool:
        """True when a signal stopped training after saving a checkpoint."""
        return self._stop

    def _on_training_end(self) -> None:
        self._signals.restore()
