#!/usr/bin/env python
"""Speed and fidelity of SMILING next to bare SB3, measured side by side in one run.

    python scripts/bench_speed.py                 # Hopper-v5; writes results/speed/speed.{json,md}
    python scripts/bench_speed.py --quick         # tiny budgets (seconds), for a smoke test

Measures env steps/s of bare PPO and PPO + SMILING, bare SAC and SAC + SMILING (relabeling every
minibatch, and cached); reward-estimator throughput (states/s) of the reference configuration
(500 evenly spaced t per state, 1024 states) and of our default; and the default's fidelity
(Spearman rank correlation and relative RMSE) against a high-precision reference reward.
The demos here are random-policy states: this measures speed and estimator agreement, not imitation.
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch as th
from scipy.stats import spearmanr
from stable_baselines3 import PPO, SAC

from sbil.buffers import RelabelingReplayBuffer
from sbil.callbacks import RewardRefitCallback
from sbil.cli import run_main, set_threads
from sbil.data import demos_from_episodes
from sbil.envs import make_vec_env
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


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="Hopper-v5")
    parser.add_argument("--ppo-steps", type=int, default=20_480)
    parser.add_argument("--sac-steps", type=int, default=3_000)
    parser.add_argument("--states", type=int, default=1024)
    parser.add_argument("--quick", action="store_true", help="tiny budgets for a smoke test")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("results/speed"))
    args = parser.parse_args(argv)
    if args.quick:
        args.ppo_steps, args.sac_steps, args.states = 512, 300, 128
    set_threads(args.threads)
    env_kwargs = {"terminate_when_unhealthy": False} if args.env.split("-")[0] in ("Hopper", "Walker2d", "Ant") else {}
    episodes = rollout_episodes(None, args.env, env_kwargs, 2 if args.quick else 5, seed=0)
    demos = demos_from_episodes(episodes, {"env_id": args.env})

    probe = make_vec_env(args.env, 1, seed=0, env_kwargs=env_kwargs)
    obs_space, act_space = probe.observation_space, probe.action_space
    probe.close()

    def smiling(**kw: Any) -> SmilingReward:
        reward = SmilingReward(obs_space, act_space, expert_grad_steps=200 if args.quick else 2000, device="cpu", **kw)
        reward.fit_expert(demos)
        return reward

    results: dict[str, Any] = {"env": args.env, "threads": args.threads, "machine": platform.processor() or platform.machine()}

    # ---- on-policy: PPO -----------------------------------------------------------------------
    def ppo(with_reward: bool) -> float:
        venv = make_vec_env(args.env, 1, seed=0, env_kwargs=env_kwargs)
        callback = None
        if with_reward:
            reward = smiling(reward_norm="running")
            venv, callback = LearnedRewardVecEnv(venv, reward), RewardRefitCallback(reward)
        model = PPO("MlpPolicy", venv, n_steps=min(2048, args.ppo_steps), batch_size=64, seed=0, device="cpu")
        return args.ppo_steps / timed(lambda: model.learn(args.ppo_steps, callback=callback))

    # ---- off-policy: SAC ----------------------------------------------------------------------
    def sac(mode: str) -> float:
        venv = make_vec_env(args.env, 1, seed=0, env_kwargs=env_kwargs)
        kwargs: dict[str, Any] = {}
        callback = None
        if mode != "bare":
            reward = smiling(reward_norm="batch")
            kwargs = {"replay_buffer_class": RelabelingReplayBuffer, "replay_buffer_kwargs": {"cached": mode == "cached"}}
            callback = RewardRefitCallback(reward, refit_every=1000)
        model = SAC("MlpPolicy", venv, learning_starts=min(500, args.sac_steps // 2), seed=0, device="cpu", **kwargs)
        return args.sac_steps / timed(lambda: model.learn(args.sac_steps, callback=callback))

    steps = {
        "ppo_bare": ppo(False), "ppo_smiling": ppo(True),
        "sac_bare": sac("bare"), "sac_smiling_relabel": sac("relabel"), "sac_smiling_cached": sac("cached"),
    }
    results["env_steps_per_second"] = steps
    results["wall_time_ratio"] = {
        "ppo_smiling_over_bare": steps["ppo_bare"] / steps["ppo_smiling"],
        "sac_relabel_over_bare": steps["sac_bare"] / steps["sac_smiling_relabel"],
        "sac_cached_over_bare": steps["sac_bare"] / steps["sac_smiling_cached"],
    }

    # ---- estimator throughput and fidelity ----------------------------------------------------
    reward = smiling(reward_norm="none")
    # The learner's states come from another distribution (a policy biased to positive actions),
    # and its net is fit properly, so that rewards really differ between states.
    learner = [rollout_episodes(BiasedPolicy(reward.action_space, seed), args.env, env_kwargs, 1, seed=99 + seed)[0]["next_obs"] for seed in range(2 if args.quick else 5)]
    learner_states = np.concatenate(learner)
    zeros_a = np.zeros((len(learner_states), *reward.action_space.shape), np.float32)
    for _ in range(5 if args.quick else 50):
        reward.update(learner_states, zeros_a, learner_states, np.zeros(len(learner_states), bool))
    pool = np.concatenate([demos.next_obs, learner_states])
    states = pool[np.random.default_rng(0).choice(len(pool), args.states, replace=len(pool) < args.states)]
    x = reward._inputs(states, None, states)
    gen = th.Generator().manual_seed(0)
    ref_k = 500
    t_ref = timed(lambda: reward.reward_for_inputs(x, "reference", ref_k, generator=gen))
    t_default = min(timed(lambda: reward.reward_for_inputs(x, reward.cfg.estimator, reward.cfg.n_t_samples, generator=gen)) for _ in range(3))
    truth = th.stack([reward.reward_for_inputs(x, "reference", ref_k, generator=gen) for _ in range(4 if args.quick else 20)]).mean(0).numpy()
    ours = reward.reward_for_inputs(x, reward.cfg.estimator, reward.cfg.n_t_samples, generator=gen).numpy()
    one_ref = reward.reward_for_inputs(x, "reference", ref_k, generator=gen).numpy()
    results["estimator"] = {
        "default": f"{reward.cfg.estimator}, {reward.cfg.n_t_samples} t-samples",
        "reference": f"{ref_k} evenly spaced t, one noise draw each",
        "reference_states_per_second": len(x) / t_ref,
        "default_states_per_second": len(x) / t_default,
        "speedup": t_ref / t_default,
        "spearman_default_vs_precise": float(spearmanr(ours, truth)[0]),
        "spearman_reference_vs_precise": float(spearmanr(one_ref, truth)[0]),
        "rel_rmse_default_vs_precise": float(np.sqrt(np.mean((ours - truth) ** 2)) / (np.std(truth) + 1e-12)),
    }

    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(args.out / "speed.json", results)
    est = results["estimator"]
    lines = [
        f"# Speed on {args.env} ({args.threads} thread(s), measured side by side in one run)",
        "",
        "| run | env steps/s | wall time vs bare |",
        "|---|---|---|",
        f"| PPO | {steps['ppo_bare']:.0f} | 1.00 |",
        f"| PPO + SMILING | {steps['ppo_smiling']:.0f} | {results['wall_time_ratio']['ppo_smiling_over_bare']:.2f} |",
        f"| SAC | {steps['sac_bare']:.0f} | 1.00 |",
        f"| SAC + SMILING (relabel every minibatch) | {steps['sac_smiling_relabel']:.0f} | {results['wall_time_ratio']['sac_relabel_over_bare']:.2f} |",
        f"| SAC + SMILING (cached) | {steps['sac_smiling_cached']:.0f} | {results['wall_time_ratio']['sac_cached_over_bare']:.2f} |",
        "",
        "| reward estimator | states/s | Spearman vs precise | rel. RMSE |",
        "|---|---|---|---|",
        f"| reference ({est['reference']}) | {est['reference_states_per_second']:.0f} | {est['spearman_reference_vs_precise']:.3f} | |",
        f"| default ({est['default']}) | {est['default_states_per_second']:.0f} | {est['spearman_default_vs_precise']:.3f} | {est['rel_rmse_default_vs_precise']:.3f} |",
        "",
        f"Default estimator speed-up over the reference: {est['speedup']:.0f}x.",
        "Command: python scripts/bench_speed.py " + " ".join(argv),
    ]
    atomic_write(args.out / "speed.md", "\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    run_main(main)
