#!/usr/bin/env python
"""Speed and fidelity of SMILING next to bare SB3 and imitation's GAIL, measured side by side in one run.

    python scripts/bench_speed.py                 # writes results/speed/speed.{json,md}
    python scripts/bench_speed.py --quick         # tiny budgets (seconds), for a smoke test
    python scripts/bench_speed.py --memory-only --memory-steps 1000000   # RSS of a 1M-step PPO + SMILING run -> memory.{json,md}

Learner speed (Hopper-v5, random-policy demos: this measures cost, not imitation): env steps/s of
bare PPO, PPO + SMILING (refits in a child process, the default where two CPUs are free, and in
place) and imitation's GAIL around the same PPO; bare SAC and SAC + SMILING (relabeling every
minibatch, and cached). Both are taken in the steady state of a long run, where SMILING costs the
most: SMILING's learner-transition buffer (and SAC's replay buffer) starts prefilled with
``--prefill`` random transitions, so every refit draws its full ``samples_per_refit`` (and the SAC
reward cache mostly misses); PPO rates count only the rollouts after ``--ppo-warmup`` env steps
(past the child process's start-up). The variants take turns, one rollout (or block of SAC steps)
each, so that a shared machine's changing speed shows in all of them alike, not in their ratios.
Estimator speed and fidelity (HalfCheetah-v5 with the shipped expert demos, so the states are
distinct and the expert net is real): states/s of the reference configuration (500 evenly spaced t
per state, 1024 states) and of our default, and the default's Spearman rank correlation and
relative RMSE against a precise reward (the mean of 20 reference draws, ``--precise-draws``); the
ceiling is the highest Spearman the precise reward's own noise allows (from its split halves).
Memory: resident set size of a PPO + SMILING run at 100k steps and at the end (``--memory-steps``).
"""

from __future__ import annotations

import argparse
import functools
import os
import platform
import resource
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch as th
from stable_baselines3 import PPO, SAC
from stable_baselines3.common.callbacks import BaseCallback

from sbil.benchmark.baselines import make_adversarial_trainer
from sbil.sb3.buffers import RelabelingReplayBuffer
from sbil.sb3.refit import RewardRefitCallback
from sbil.cli import run_main, set_threads
from sbil.data import demos_from_episodes, load_demos
from sbil.errors import SbilError
from sbil.envs import make_env
from sbil.sb3.vec_env import make_vec_env
from sbil.sb3.rollouts import rollout_episodes
from sbil.io import atomic_write, atomic_write_json
from sbil.rewards import SmilingReward
from sbil.rewards.fidelity import Estimator, fidelity, precise_rewards, split_half_ceiling, state_inputs
from sbil.sb3.wrappers import LearnedRewardVecEnv


def timed(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


class BiasedPolicy:
    """Uniform random actions in the upper half of the action box: a distinct state distribution."""

    def __init__(self, space: Any, seed: int) -> None:
        self.space, self.rng = space, np.random.default_rng(seed)

    def predict(self, obs: np.ndarray, deterministic: bool = True) -> tuple[np.ndarray, None]:
        mid = (self.space.low + self.space.high) / 2
        return self.rng.uniform(mid, self.space.high).astype(np.float32), None


def rss_mb() -> float:
    """Current resident set size (MB), from /proc (Linux); peak RSS elsewhere."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class RssProbe(BaseCallback):
    """Records RSS (MB) at the given env-step marks."""

    def __init__(self, marks: Sequence[int]) -> None:
        super().__init__()
        self.marks, self.readings = sorted(marks), {}

    def _on_step(self) -> bool:
        for mark in self.marks:
            if mark not in self.readings and self.num_timesteps >= mark:
                self.readings[mark] = rss_mb()
        return True


class TakeTurns:
    """Runs several training loops side by side, one cycle at a time, in turn.

    Each loop runs in its own thread, but only the one whose turn it is does any work (the others
    wait on a condition variable): so every variant meets the same machine, and a slow spell of a
    shared or throttled CPU slows all of them alike instead of whichever ran then. A loop calls
    :meth:`switch` at the start of each of its cycles (a PPO rollout, an imitation round, a block of
    SAC steps); the time from getting its turn to handing it on is that cycle's cost.
    """

    def __init__(self, names: Sequence[str]) -> None:
        self.names = list(names)
        self.cycles: dict[str, list[tuple[int, float]]] = {name: [] for name in names}  # (env steps, seconds)
        self._cond = threading.Condition()
        self._turn = 0
        self._done: set[str] = set()
        self._start: dict[str, tuple[int, float]] = {}

    def _wait_for_turn(self, name: str, steps: int) -> None:
        self._cond.wait_for(lambda: self.names[self._turn] == name)
        self._start[name] = (steps, time.perf_counter())

    def _pass_turn(self) -> None:
        for _ in range(len(self.names)):
            self._turn = (self._turn + 1) % len(self.names)
            if self.names[self._turn] not in self._done:
                break
        self._cond.notify_all()

    def switch(self, name: str, steps: int) -> None:
        """Called by loop ``name`` (at ``steps`` env steps) at the start of each cycle."""
        with self._cond:
            first_steps, start = self._start[name]
            self.cycles[name].append((steps - first_steps, time.perf_counter() - start))
            self._pass_turn()
            self._wait_for_turn(name, steps)

    def run(self, loops: dict[str, Callable[[], Any]]) -> None:
        """Run ``loops`` (name -> a function that trains, calling :meth:`switch`) to the end, in turn."""
        errors: dict[str, BaseException] = {}

        def body(name: str, loop: Callable[[], Any]) -> None:
            with self._cond:
                self._wait_for_turn(name, 0)
            try:
                loop()
            except BaseException as e:  # noqa: BLE001 - re-raised in the calling thread
                errors[name] = e
            finally:
                with self._cond:
                    self._done.add(name)
                    if self.names[self._turn] == name:
                        self._pass_turn()

        threads = [threading.Thread(target=body, args=(name, loops[name]), daemon=True) for name in self.names]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for name, error in errors.items():
            raise SbilError(f"Benchmark run {name} failed: {error}") from error

    def rate(self, name: str, warmup: int) -> float:
        """Env steps/s over the cycles that start at or after ``warmup`` env steps: the median
        cycle's (robust to a burst of load)."""
        done, per_step = 0, []
        for steps, seconds in self.cycles[name]:
            if done >= warmup and steps:
                per_step.append(seconds / steps)
            done += steps
        if not per_step:
            raise SbilError(f"{name} ended before its {warmup}-step warm-up: raise its steps above the warm-up.")
        return 1.0 / float(np.median(per_step))


class TurnCallback(BaseCallback):
    """Hands the turn on (:meth:`TakeTurns.switch`) at every ``every``-th rollout start."""

    def __init__(self, turns: TakeTurns, name: str, every: int = 1) -> None:
        super().__init__()
        self.turns, self.name, self.every, self.count = turns, name, every, 0

    def _on_rollout_start(self) -> None:
        if self.count and self.count % self.every == 0:
            self.turns.switch(self.name, self.num_timesteps)
        self.count += 1

    def _on_step(self) -> bool:
        return True


def random_transitions(env_id: str, env_kwargs: dict[str, Any], n: int, seed: int = 0) -> dict[str, np.ndarray]:
    """``n`` uniform-random-action transitions, collected at raw env speed (no learner)."""
    env = make_env(env_id, env_kwargs)
    rng = np.random.default_rng(seed)
    env.action_space.seed(seed)
    obs, _ = env.reset(seed=seed)
    data: dict[str, list] = {k: [] for k in ("obs", "next_obs", "action", "reward", "done", "timeout")}
    for _ in range(n):
        action = env.action_space.sample()
        next_obs, reward, terminated, truncated, _ = env.step(action)
        for key, value in zip(data, (obs, next_obs, action, reward, terminated or truncated, truncated and not terminated)):
            data[key].append(value)
        obs = env.reset(seed=int(rng.integers(2**31)))[0] if terminated or truncated else next_obs
    return {k: np.asarray(v) for k, v in data.items()}


def prefill(buffer: Any, data: dict[str, np.ndarray]) -> None:
    """Add transitions to a one-env SB3 replay buffer through its own ``add``, as SAC would."""
    n = len(data["obs"])
    if n > buffer.buffer_size:
        raise SbilError(f"--prefill {n} exceeds the replay buffer size {buffer.buffer_size}.")
    for i in range(n):
        step = slice(i, i + 1)
        buffer.add(data["obs"][step], data["next_obs"][step], data["action"][step], data["reward"][step], data["done"][step],
                   [{"TimeLimit.truncated": bool(data["timeout"][i])}])


#: the reward estimators compared: (key, label, SmilingConfig fields)
CANDIDATES = (
    ("old_default", "qmc, 16 draws over all t (the default before issue 18)", {"estimator": "qmc", "n_t_samples": 16, "reward_min_signal": 0.0}),
    ("default", "default", {}),
    ("default_x4", "the default with more draws", {"draws_factor": 4}),
    ("reference", "reference: 500 evenly spaced t, one noise draw each", {"estimator": "reference", "n_t_samples": 500}),
)


def estimator_fidelity(args: argparse.Namespace, smiling: Callable[..., SmilingReward]) -> dict[str, Any]:
    """Speed and fidelity of reward estimators on a real expert's states, on a broad batch (expert
    and learner states mixed) and on narrow sets (expert states alone; one policy's states alone),
    where the reward must tell "almost like the expert" from "like the expert"."""
    from sbil.data import read_manifest

    entry = read_manifest()["tasks"][args.estimator_task]
    est_env = make_vec_env(entry["env_id"], 1, seed=0, env_kwargs=entry["env_kwargs"])
    expert = load_demos(args.estimator_task, env=est_env, n_episodes=2 if args.quick else 5)
    reward = smiling(est_env, expert, reward_norm="none")
    # Learner states from another distribution (a policy biased to positive actions), with the
    # learner net fit properly, so that rewards really differ between states.
    learner = [rollout_episodes(BiasedPolicy(reward.action_space, seed), entry["env_id"], entry["env_kwargs"], 1, seed=99 + seed)[0]["next_obs"]
               for seed in range(2 if args.quick else 5)]
    learner_states = np.concatenate(learner)
    zeros_a = np.zeros((len(learner_states), *reward.action_space.shape), np.float32)
    for _ in range(5 if args.quick else 50):
        reward.update(learner_states, zeros_a, learner_states, np.zeros(len(learner_states), bool))
    rng = np.random.default_rng(0)

    def pick(pool: np.ndarray, n: int) -> np.ndarray:
        return pool[rng.choice(len(pool), n, replace=len(pool) < n)]

    sets = {"broad": pick(np.concatenate([expert.next_obs, learner_states]), args.states),
            "expert": pick(expert.next_obs, args.states // 2), "learner": pick(learner_states, args.states // 2)}
    inputs = state_inputs(reward, sets)
    gen = th.Generator().manual_seed(0)
    n_precise = 4 if args.quick else args.precise_draws
    precise = precise_rewards(reward, inputs, n_precise, gen)
    out: dict[str, Any] = {"task": args.estimator_task, "states": {k: len(v) for k, v in sets.items()}, "precise_draws": n_precise, "candidates": {}}
    for key, label, fields in CANDIDATES:
        n_draws = fields.get("n_t_samples", reward.cfg.n_t_samples * fields.get("draws_factor", 1))
        est = Estimator(label, fields.get("estimator", reward.cfg.estimator), n_draws, fields.get("reward_min_signal", reward.cfg.reward_min_signal))
        if key == "default":
            est = est._replace(label=f"default: {est.estimator}, {est.n_t_samples} draws, sqrt(abar_t) >= {est.min_signal}")
        elif "draws_factor" in fields:
            est = est._replace(label=f"the default with {fields['draws_factor']}x the draws ({est.n_t_samples}): what more draws buy")
        x = inputs["broad"]

        def call() -> th.Tensor:  # as a reward call after a refit runs it: fresh qmc draws
            return reward.reward_for_inputs(x, est.estimator, est.n_t_samples, generator=gen, min_signal=est.min_signal)

        seconds = min(timed(call) for _ in range(3))
        row = {"label": est.label, "config": est._asdict(), "states_per_second": len(x) / seconds}
        for name, r in fidelity(reward, inputs, precise, est, gen).items():
            row[f"spearman_{name}"], row[f"rel_rmse_{name}"] = r["spearman"], r["rel_rmse"]
        out["candidates"][key] = row
    out["ceiling"] = split_half_ceiling(precise)
    ref = out["candidates"]["reference"]["states_per_second"]
    for row in out["candidates"].values():
        row["speedup_over_reference"] = row["states_per_second"] / ref
    return out


def estimator_lines(est: dict[str, Any]) -> list[str]:
    lines = [
        f"Reward estimators on {est['task']} (expert demos, and a biased random policy's states as the learner's): Spearman "
        f"rank correlation with a precise reward (the mean of {est['precise_draws']} reference draws) on a broad batch "
        f"({est['states']['broad']} expert and learner states mixed) and on narrow sets ({est['states']['expert']} expert "
        f"states; {est['states']['learner']} learner states), where ranking is hard:",
        "",
        "| reward estimator | states/s | vs reference | Spearman broad | Spearman expert states | Spearman learner states |",
        "|---|---|---|---|---|---|",
    ]
    for row in est["candidates"].values():
        lines.append(f"| {row['label']} | {row['states_per_second']:.0f} | {row['speedup_over_reference']:.1f}x | {row['spearman_broad']:.3f} | "
                     f"{row['spearman_expert']:.3f} | {row['spearman_learner']:.3f} |")
    c = est["ceiling"]
    lines += ["", f"Ceiling (the highest Spearman the precise reward's own noise allows: the square root of its split-half "
              f"reliability, Spearman-Brown corrected): broad {c['broad']:.3f}, expert {c['expert']:.3f}, "
              f"learner {c['learner']:.3f}."]
    return lines


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="Hopper-v5", help="env of the learner-speed runs")
    parser.add_argument("--estimator-task", default="halfcheetah", help="shipped task whose expert demos the estimator part uses")
    parser.add_argument("--ppo-steps", type=int, default=40_960, help="env steps of each PPO run")
    parser.add_argument("--ppo-warmup", type=int, default=8_192, help="PPO rates count only rollouts after this many steps")
    parser.add_argument("--sac-steps", type=int, default=12_000,
                        help="timed env steps of each SAC run (in turns of 1,000; 12 turns: with 4 the ratio moved by 0.1 between runs)")
    parser.add_argument("--prefill", type=int, default=100_000,
                        help="random transitions in SMILING's learner buffer and SAC's replay buffer before each run")
    parser.add_argument("--states", type=int, default=1024)
    parser.add_argument("--precise-draws", type=int, default=20,
                        help="reference draws averaged into the precise reward (more: a higher ceiling on sets whose rewards barely differ)")
    parser.add_argument("--memory-steps", type=int, default=0, help="also run PPO + SMILING this long and report RSS (0: skip)")
    parser.add_argument("--memory-only", action="store_true", help="only the memory run (needs --memory-steps); writes memory.{json,md}")
    parser.add_argument("--estimator-only", action="store_true", help="only the reward-estimator part; writes estimator.{json,md}")
    parser.add_argument("--quick", action="store_true", help="tiny budgets for a smoke test")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("results/speed"))
    args = parser.parse_args(argv)
    if args.precise_draws < 2:
        raise SbilError(f"--precise-draws must be at least 2 (the ceiling splits them in halves), got {args.precise_draws}.")
    if args.quick:
        args.ppo_steps, args.ppo_warmup, args.sac_steps, args.prefill, args.states = 1024, 512, 150, 500, 64
    set_threads(args.threads)
    env_kwargs = {"terminate_when_unhealthy": False} if args.env.split("-")[0] in ("Hopper", "Walker2d", "Ant") else {}
    episodes = rollout_episodes(None, args.env, env_kwargs, 2 if args.quick else 5, seed=0)
    demos = demos_from_episodes(episodes, {"env_id": args.env, "env_kwargs": env_kwargs})

    def smiling(space_env: Any, expert_demos: Any, **kw: Any) -> SmilingReward:
        reward = SmilingReward(space_env.observation_space, space_env.action_space, expert_grad_steps=200 if args.quick else 2000, device="cpu", **kw)
        reward.fit_expert(expert_demos)
        return reward

    scratch = tempfile.TemporaryDirectory(prefix="sbil-bench-")  # imitation's logs; removed at exit
    results: dict[str, Any] = {"env": args.env, "threads": args.threads, "machine": platform.processor() or platform.machine()}
    ppo_kwargs = {"n_steps": min(2048, args.ppo_steps // 4), "batch_size": 64, "seed": 0, "device": "cpu"}

    prefill_data = random_transitions(args.env, env_kwargs, args.prefill)

    def refitter(reward: SmilingReward, **kw: Any) -> RewardRefitCallback:
        callback = RewardRefitCallback(reward, **kw)
        callback.add_transitions(prefill_data["obs"], prefill_data["action"], prefill_data["next_obs"], prefill_data["done"])
        return callback

    # ---- on-policy: PPO, PPO + SMILING, imitation's GAIL around the same PPO ------------------
    # Models are built (and SMILING's expert nets fitted) before the clock starts; each loop then
    # trains in turn with the others (TakeTurns), one rollout at a time. Two groups: learning runs,
    # and the same runs with the policy held fixed (learning rate 0: PPO still does all of its
    # update's work), where every variant steps the env through the same states, so their ratios
    # are the imitation method's own cost (a learning policy changes what an env step costs).
    ppo_names = ("ppo_bare", "ppo_smiling", "ppo_smiling_in_place", "ppo_gail")

    def ppo(with_reward: bool, in_process: bool | str = "auto", fill: bool = True, lr: float = 3e-4) -> tuple[PPO, list[BaseCallback]]:
        venv = make_vec_env(args.env, 1, seed=0, env_kwargs=env_kwargs)
        callbacks: list[BaseCallback] = []
        if with_reward:
            reward = smiling(venv, demos, reward_norm="running")
            venv = LearnedRewardVecEnv(venv, reward)
            # The memory run starts empty: its point is that the buffer stays bounded as it fills.
            callbacks.append(refitter(reward, refit_in_process=in_process) if fill else RewardRefitCallback(reward))
        return PPO("MlpPolicy", venv, learning_rate=lr, **ppo_kwargs), callbacks

    def ppo_loops(turns: TakeTurns, lr: float) -> dict[str, Callable[[], Any]]:
        from imitation.util import logger as imit_logger

        loops = {}
        for name, with_reward, in_process in zip(ppo_names[:3], (False, True, True), ("auto", "auto", False)):
            model, callbacks = ppo(with_reward, in_process, lr=lr)
            loops[name] = functools.partial(model.learn, args.ppo_steps, callback=[*callbacks, TurnCallback(turns, name)])
        venv = make_vec_env(args.env, 1, seed=0, env_kwargs=env_kwargs)
        learner = PPO("MlpPolicy", venv, learning_rate=lr, **ppo_kwargs)
        log_dir = tempfile.mkdtemp(dir=scratch.name)
        trainer = make_adversarial_trainer("gail", demos, venv, learner, custom_logger=imit_logger.configure(log_dir, format_strs=[]))
        # imitation calls back after every round (one rollout, then its discriminator updates).
        loops["ppo_gail"] = functools.partial(trainer.train, args.ppo_steps, callback=lambda _round: turns.switch("ppo_gail", learner.num_timesteps))
        return loops

    # ---- off-policy: SAC, in turns of one refit period each (learning, and with a fixed policy) ----
    sac_cycle = min(1000, max(1, args.sac_steps // 3))
    sac_names = ("sac_bare", "sac_smiling_relabel", "sac_smiling_cached")

    def sac_loops(turns: TakeTurns, lr: float) -> dict[str, Callable[[], Any]]:
        loops = {}
        for name, mode in zip(sac_names, ("bare", "relabel", "cached")):
            venv = make_vec_env(args.env, 1, seed=0, env_kwargs=env_kwargs)
            kwargs: dict[str, Any] = {}
            callbacks: list[BaseCallback] = [TurnCallback(turns, name, every=sac_cycle)]
            if mode != "bare":
                reward = smiling(venv, demos, reward_norm="batch")
                kwargs = {"replay_buffer_class": RelabelingReplayBuffer, "replay_buffer_kwargs": {"cached": mode == "cached"}}
                callbacks.append(refitter(reward, refit_every=1000))
            model = SAC("MlpPolicy", venv, learning_starts=0, learning_rate=lr, seed=0, device="cpu", **kwargs)
            prefill(model.replay_buffer, prefill_data)
            loops[name] = functools.partial(model.learn, args.sac_steps, callback=callbacks)
        return loops

    if args.estimator_only:
        est = estimator_fidelity(args, smiling)
        args.out.mkdir(parents=True, exist_ok=True)
        atomic_write_json(args.out / "estimator.json", est)
        text = "\n".join(estimator_lines(est)) + f"\n\nCommand: python scripts/bench_speed.py {' '.join(argv)}\n"
        atomic_write(args.out / "estimator.md", text)
        print(text)
        return 0

    if args.memory_only:
        if not args.memory_steps:
            raise SbilError("--memory-only needs --memory-steps N (e.g. 1000000).")
        probe = RssProbe([min(100_000, args.memory_steps), args.memory_steps])
        start = rss_mb()
        model, callbacks = ppo(True, fill=False)
        rate = args.memory_steps / timed(lambda: model.learn(args.memory_steps, callback=[*callbacks, probe]))
        memory = {"env": args.env, "steps": args.memory_steps, "env_steps_per_second": rate, "rss_mb_at_start": start,
                  "rss_mb": {str(k): v for k, v in probe.readings.items()}}
        args.out.mkdir(parents=True, exist_ok=True)
        atomic_write_json(args.out / "memory.json", memory)
        text = (f"PPO + SMILING on {args.env}, {args.memory_steps:,} env steps ({rate:.0f} steps/s): resident memory "
                f"{start:.0f} MB before the run, " + ", ".join(f"{v:.0f} MB at {int(k):,} steps" for k, v in probe.readings.items())
                + f".\nCommand: python scripts/bench_speed.py {' '.join(argv)}\n")
        atomic_write(args.out / "memory.md", text)
        print(text)
        return 0

    groups = {"learning": 3e-4, "fixed_policy": 0.0}
    results["env_steps_per_second"], results["wall_time_ratio"] = {}, {}
    for group, lr in groups.items():
        steps: dict[str, float] = {}
        for names, make_loops, warmup in ((ppo_names, ppo_loops, args.ppo_warmup), (sac_names, sac_loops, 0)):
            turns = TakeTurns(names)
            turns.run(make_loops(turns, lr))
            steps.update({name: turns.rate(name, warmup) for name in names})
        results["env_steps_per_second"][group] = steps
        results["wall_time_ratio"][group] = {
            "ppo_smiling_over_bare": steps["ppo_bare"] / steps["ppo_smiling"],
            "ppo_smiling_in_place_over_bare": steps["ppo_bare"] / steps["ppo_smiling_in_place"],
            "ppo_gail_over_bare": steps["ppo_bare"] / steps["ppo_gail"],
            "sac_relabel_over_bare": steps["sac_bare"] / steps["sac_smiling_relabel"],
            "sac_cached_over_bare": steps["sac_bare"] / steps["sac_smiling_cached"],
        }

    results["estimator"] = estimator_fidelity(args, smiling)

    # ---- memory over a long run -----------------------------------------------------------------
    if args.memory_steps:
        probe = RssProbe([min(100_000, args.memory_steps), args.memory_steps])
        start = rss_mb()
        model, callbacks = ppo(True, fill=False)
        model.learn(args.memory_steps, callback=[*callbacks, probe])
        results["memory"] = {"steps": args.memory_steps, "rss_mb_at_start": start, "rss_mb": {str(k): v for k, v in probe.readings.items()}}

    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(args.out / "speed.json", results)
    est, rate, ratio = results["estimator"], results["env_steps_per_second"], results["wall_time_ratio"]
    rows = [
        ("PPO", "ppo_bare", None),
        ("PPO + SMILING (default: refits in a child process)", "ppo_smiling", "ppo_smiling_over_bare"),
        ("PPO + SMILING, refits in place (`refit_in_process=False`)", "ppo_smiling_in_place", "ppo_smiling_in_place_over_bare"),
        ("imitation GAIL (same PPO)", "ppo_gail", "ppo_gail_over_bare"),
        ("SAC", "sac_bare", None),
        ("SAC + SMILING (relabel every minibatch)", "sac_smiling_relabel", "sac_relabel_over_bare"),
        ("SAC + SMILING (cached)", "sac_smiling_cached", "sac_cached_over_bare"),
    ]
    table = []
    for label, key, ratio_key in rows:
        cells = [f"{rate[g][key]:.0f} | {ratio[g][ratio_key]:.2f}" if ratio_key else f"{rate[g][key]:.0f} | 1.00" for g in groups]
        table.append(f"| {label} | " + " | ".join(cells) + " |")
    lines = [
        f"# Speed on {args.env} ({args.threads} thread(s), measured side by side in one run, the variants taking turns)",
        "",
        f"Steady state of a long run: SMILING's learner buffer (and SAC's replay buffer) prefilled with {args.prefill:,} random "
        f"transitions, so every refit is full size; PPO rates over the rollouts after {args.ppo_warmup:,} env steps "
        f"(of {args.ppo_steps:,}); SAC over {args.sac_steps:,} steps. The variants of each algorithm train in turn, one "
        f"cycle each (a PPO rollout and update, an imitation round, {sac_cycle:,} SAC steps), so load on the machine "
        "hits them alike. Fixed policy: the same runs with learning rate 0 (every update still computed), so every "
        "variant visits the same states and the ratio is the imitation method's own cost; in learning runs the "
        "policies differ, and with them the cost of an env step. "
        f"{os.cpu_count()} CPUs; PPO + SMILING refits in a child process by default where two are free.",
        "",
        "| run | env steps/s (learning) | wall time vs bare (learning) | env steps/s (fixed policy) | wall time vs bare (fixed policy) |",
        "|---|---|---|---|---|",
        *table,
        "",
        *estimator_lines(est),
    ]
    if "memory" in results:
        mem = results["memory"]
        lines += ["", f"PPO + SMILING memory (RSS): {mem['rss_mb_at_start']:.0f} MB before the run, "
                  + ", ".join(f"{float(v):.0f} MB at {int(k):,} steps" for k, v in mem["rss_mb"].items()) + "."]
    lines.append("Command: python scripts/bench_speed.py " + " ".join(argv))
    atomic_write(args.out / "speed.md", "\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    run_main(main)
