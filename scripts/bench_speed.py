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
(past the child process's start-up).
Estimator speed and fidelity (HalfCheetah-v5 with the shipped expert demos, so the states are
distinct and the expert net is real): states/s of the reference configuration (500 evenly spaced t
per state, 1024 states) and of our default, and the default's Spearman rank correlation and
relative RMSE against a precise reward (the mean of 20 reference draws); the precise reward's own
split-half Spearman is the ceiling any estimator can show.
Memory: resident set size of a PPO + SMILING run at 100k steps and at the end (``--memory-steps``).
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch as th
from scipy.stats import spearmanr
from stable_baselines3 import PPO, SAC
from stable_baselines3.common.callbacks import BaseCallback

from sbil.baselines import make_adversarial_trainer
from sbil.buffers import RelabelingReplayBuffer
from sbil.callbacks import RewardRefitCallback
from sbil.cli import run_main, set_threads
from sbil.data import demos_from_episodes, load_demos
from sbil.errors import SbilError
from sbil.envs import make_env, make_vec_env
from sbil.experts import rollout_episodes
from sbil.io import atomic_write, atomic_write_json
from sbil.rewards import SmilingReward
from sbil.wrappers import LearnedRewardVecEnv


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


class RateProbe(BaseCallback):
    """Env steps/s from the first rollout that starts at or after ``warmup`` steps to the end."""

    def __init__(self, warmup: int) -> None:
        super().__init__()
        self.warmup, self.start = warmup, None

    def _on_rollout_start(self) -> None:
        if self.start is None and self.num_timesteps >= self.warmup:
            self.start = (self.num_timesteps, time.perf_counter())

    def _on_step(self) -> bool:
        return True

    def rate(self) -> float:
        if self.start is None:
            raise SbilError(f"The run ended before its {self.warmup}-step warm-up: raise --ppo-steps above --ppo-warmup.")
        return (self.num_timesteps - self.start[0]) / (time.perf_counter() - self.start[1])


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


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="Hopper-v5", help="env of the learner-speed runs")
    parser.add_argument("--estimator-task", default="halfcheetah", help="shipped task whose expert demos the estimator part uses")
    parser.add_argument("--ppo-steps", type=int, default=40_960, help="env steps of each PPO run")
    parser.add_argument("--ppo-warmup", type=int, default=8_192, help="PPO rates count only rollouts after this many steps")
    parser.add_argument("--sac-steps", type=int, default=3_000, help="timed env steps of each SAC run")
    parser.add_argument("--prefill", type=int, default=100_000,
                        help="random transitions in SMILING's learner buffer and SAC's replay buffer before each run")
    parser.add_argument("--states", type=int, default=1024)
    parser.add_argument("--memory-steps", type=int, default=0, help="also run PPO + SMILING this long and report RSS (0: skip)")
    parser.add_argument("--repeats", type=int, default=2, help="interleaved repetitions of each learner run (best is kept)")
    parser.add_argument("--memory-only", action="store_true", help="only the memory run (needs --memory-steps); writes memory.{json,md}")
    parser.add_argument("--quick", action="store_true", help="tiny budgets for a smoke test")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("results/speed"))
    args = parser.parse_args(argv)
    if args.quick:
        args.ppo_steps, args.ppo_warmup, args.sac_steps, args.prefill, args.states, args.repeats = 2048, 1024, 300, 1000, 128, 1
    set_threads(args.threads)
    env_kwargs = {"terminate_when_unhealthy": False} if args.env.split("-")[0] in ("Hopper", "Walker2d", "Ant") else {}
    episodes = rollout_episodes(None, args.env, env_kwargs, 2 if args.quick else 5, seed=0)
    demos = demos_from_episodes(episodes, {"env_id": args.env})

    def smiling(space_env: Any, expert_demos: Any, **kw: Any) -> SmilingReward:
        reward = SmilingReward(space_env.observation_space, space_env.action_space, expert_grad_steps=200 if args.quick else 2000, device="cpu", **kw)
        reward.fit_expert(expert_demos)
        return reward

    results: dict[str, Any] = {"env": args.env, "threads": args.threads, "machine": platform.processor() or platform.machine()}
    ppo_kwargs = {"n_steps": min(2048, args.ppo_steps // 4), "batch_size": 64, "seed": 0, "device": "cpu"}

    prefill_data = random_transitions(args.env, env_kwargs, args.prefill)

    def refitter(reward: SmilingReward, **kw: Any) -> RewardRefitCallback:
        callback = RewardRefitCallback(reward, **kw)
        callback.add_transitions(prefill_data["obs"], prefill_data["action"], prefill_data["next_obs"], prefill_data["done"])
        return callback

    # ---- on-policy: PPO, PPO + SMILING, imitation's GAIL around the same PPO ------------------
    def ppo(with_reward: bool, total: int, probe: Any = None, in_process: bool | str = "auto") -> float:
        venv = make_vec_env(args.env, 1, seed=0, env_kwargs=env_kwargs)
        rate = RateProbe(args.ppo_warmup if probe is None else 0)
        callbacks = [rate] + ([probe] if probe is not None else [])
        if with_reward:
            reward = smiling(venv, demos, reward_norm="running")
            venv = LearnedRewardVecEnv(venv, reward)
            # The memory run starts empty: its point is that the buffer stays bounded as it fills.
            callbacks.append(refitter(reward, refit_in_process=in_process) if probe is None else RewardRefitCallback(reward))
        model = PPO("MlpPolicy", venv, **ppo_kwargs)
        model.learn(total, callback=callbacks)
        return rate.rate()

    def gail() -> float:
        from imitation.util import logger as imit_logger

        venv = make_vec_env(args.env, 1, seed=0, env_kwargs=env_kwargs)
        learner = PPO("MlpPolicy", venv, **ppo_kwargs)
        marks: list[tuple[int, float]] = []

        def on_round(round_num: int) -> None:  # imitation calls this after every round
            marks.append((learner.num_timesteps, time.perf_counter()))

        with tempfile.TemporaryDirectory() as tmp:
            trainer = make_adversarial_trainer("gail", demos, venv, learner, custom_logger=imit_logger.configure(tmp, format_strs=[]))
            trainer.train(args.ppo_steps, callback=on_round)
        start = next(m for m in marks if m[0] >= args.ppo_warmup)
        return (marks[-1][0] - start[0]) / (marks[-1][1] - start[1])

    # ---- off-policy: SAC ----------------------------------------------------------------------
    def sac(mode: str) -> float:
        venv = make_vec_env(args.env, 1, seed=0, env_kwargs=env_kwargs)
        kwargs: dict[str, Any] = {}
        callback = None
        if mode != "bare":
            reward = smiling(venv, demos, reward_norm="batch")
            kwargs = {"replay_buffer_class": RelabelingReplayBuffer, "replay_buffer_kwargs": {"cached": mode == "cached"}}
            callback = refitter(reward, refit_every=1000)
        model = SAC("MlpPolicy", venv, learning_starts=0, seed=0, device="cpu", **kwargs)
        prefill(model.replay_buffer, prefill_data)
        return args.sac_steps / timed(lambda: model.learn(args.sac_steps, callback=callback))

    if args.memory_only:
        if not args.memory_steps:
            raise SbilError("--memory-only needs --memory-steps N (e.g. 1000000).")
        probe = RssProbe([min(100_000, args.memory_steps), args.memory_steps])
        start = rss_mb()
        rate = ppo(True, args.memory_steps, probe)
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

    # Interleaved repetitions, best of each: background load hits every variant alike.
    runs = {
        "ppo_bare": lambda: ppo(False, args.ppo_steps), "ppo_smiling": lambda: ppo(True, args.ppo_steps),
        "ppo_smiling_in_place": lambda: ppo(True, args.ppo_steps, in_process=False), "ppo_gail": gail,
        "sac_bare": lambda: sac("bare"), "sac_smiling_relabel": lambda: sac("relabel"), "sac_smiling_cached": lambda: sac("cached"),
    }
    rates: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(args.repeats):
        for name, run in runs.items():
            rates[name].append(run())
    steps = {name: max(values) for name, values in rates.items()}
    results["env_steps_per_second"] = steps
    results["wall_time_ratio"] = {
        "ppo_smiling_over_bare": steps["ppo_bare"] / steps["ppo_smiling"],
        "ppo_smiling_in_place_over_bare": steps["ppo_bare"] / steps["ppo_smiling_in_place"],
        "ppo_gail_over_bare": steps["ppo_bare"] / steps["ppo_gail"],
        "sac_relabel_over_bare": steps["sac_bare"] / steps["sac_smiling_relabel"],
        "sac_cached_over_bare": steps["sac_bare"] / steps["sac_smiling_cached"],
    }

    # ---- estimator throughput and fidelity, on a real expert's states ---------------------------
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
    pool = np.concatenate([expert.next_obs, learner_states])
    states = pool[np.random.default_rng(0).choice(len(pool), args.states, replace=len(pool) < args.states)]
    x = reward._inputs(states, None, states)
    gen = th.Generator().manual_seed(0)
    ref_k = 500
    t_ref = min(timed(lambda: reward.reward_for_inputs(x, "reference", ref_k, generator=gen)) for _ in range(2))
    t_default = min(timed(lambda: reward.reward_for_inputs(x, reward.cfg.estimator, reward.cfg.n_t_samples, generator=gen)) for _ in range(5))
    draws = th.stack([reward.reward_for_inputs(x, "reference", ref_k, generator=gen) for _ in range(4 if args.quick else 20)]).numpy()
    truth = draws.mean(0)
    half = len(draws) // 2
    ours = reward.reward_for_inputs(x, reward.cfg.estimator, reward.cfg.n_t_samples, generator=gen).numpy()
    one_ref = reward.reward_for_inputs(x, "reference", ref_k, generator=gen).numpy()
    results["estimator"] = {
        "task": args.estimator_task,
        "default": f"{reward.cfg.estimator}, {reward.cfg.n_t_samples} t-samples",
        "reference": f"{ref_k} evenly spaced t, one noise draw each",
        "reference_states_per_second": len(x) / t_ref,
        "default_states_per_second": len(x) / t_default,
        "speedup": t_ref / t_default,
        "spearman_default_vs_precise": float(spearmanr(ours, truth)[0]),
        "spearman_reference_vs_precise": float(spearmanr(one_ref, truth)[0]),
        "spearman_precise_split_half": float(spearmanr(draws[:half].mean(0), draws[half:].mean(0))[0]),
        "rel_rmse_default_vs_precise": float(np.sqrt(np.mean((ours - truth) ** 2)) / (np.std(truth) + 1e-12)),
    }

    # ---- memory over a long run -----------------------------------------------------------------
    if args.memory_steps:
        probe = RssProbe([min(100_000, args.memory_steps), args.memory_steps])
        start = rss_mb()
        ppo(True, args.memory_steps, probe)
        results["memory"] = {"steps": args.memory_steps, "rss_mb_at_start": start, "rss_mb": {str(k): v for k, v in probe.readings.items()}}

    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(args.out / "speed.json", results)
    est, ratio = results["estimator"], results["wall_time_ratio"]
    lines = [
        f"# Speed on {args.env} ({args.threads} thread(s), measured side by side in one run, best of {args.repeats} interleaved repetitions)",
        "",
        f"Steady state of a long run: SMILING's learner buffer (and SAC's replay buffer) prefilled with {args.prefill:,} random "
        f"transitions, so every refit is full size; PPO rates over the rollouts after {args.ppo_warmup:,} env steps "
        f"(of {args.ppo_steps:,}); SAC over {args.sac_steps:,} steps. "
        f"{os.cpu_count()} CPUs; PPO + SMILING refits in a child process by default where two are free.",
        "",
        "| run | env steps/s | wall time vs bare |",
        "|---|---|---|",
        f"| PPO | {steps['ppo_bare']:.0f} | 1.00 |",
        f"| PPO + SMILING (default: refits in a child process) | {steps['ppo_smiling']:.0f} | {ratio['ppo_smiling_over_bare']:.2f} |",
        f"| PPO + SMILING, refits in place (`refit_in_process=False`) | {steps['ppo_smiling_in_place']:.0f} | {ratio['ppo_smiling_in_place_over_bare']:.2f} |",
        f"| imitation GAIL (same PPO) | {steps['ppo_gail']:.0f} | {ratio['ppo_gail_over_bare']:.2f} |",
        f"| SAC | {steps['sac_bare']:.0f} | 1.00 |",
        f"| SAC + SMILING (relabel every minibatch) | {steps['sac_smiling_relabel']:.0f} | {ratio['sac_relabel_over_bare']:.2f} |",
        f"| SAC + SMILING (cached) | {steps['sac_smiling_cached']:.0f} | {ratio['sac_cached_over_bare']:.2f} |",
        "",
        f"Reward estimator on {est['task']} expert and learner states ({len(x)} states):",
        "",
        "| reward estimator | states/s | Spearman vs precise | rel. RMSE |",
        "|---|---|---|---|",
        f"| reference ({est['reference']}) | {est['reference_states_per_second']:.0f} | {est['spearman_reference_vs_precise']:.3f} | |",
        f"| default ({est['default']}) | {est['default_states_per_second']:.0f} | {est['spearman_default_vs_precise']:.3f} | {est['rel_rmse_default_vs_precise']:.3f} |",
        "",
        f"Default estimator speed-up over the reference: {est['speedup']:.0f}x. "
        f"Ceiling (split-half Spearman of the precise reward itself): {est['spearman_precise_split_half']:.3f}.",
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
