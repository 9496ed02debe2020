#!/usr/bin/env python
"""Look inside a SMILING reward: how it scores expert, learner and random states, where along the
diffusion steps its signal and its noise come from, and how faithfully each estimator ranks states
within narrow sets (the states of one policy; expert states).

    python scripts/diagnose_reward.py RUN_DIR/checkpoints/step_N        # a train_smile checkpoint
    python scripts/diagnose_reward.py CKPT --out results/ablation/diagnosis_base

The checkpoint's ``reward.pt`` gives both score nets; its ``state.pkl`` holds the learner states the
learner net was refit on (the newest ``--learner-states`` of them are the "learner" set). Expert
states are the task's shipped demos; random states come from uniform random actions. The precise
reward of a state is the mean of ``--precise-draws`` reference draws (500 evenly spaced t, one noise
draw each). Policies: the checkpoint's own (``model.zip``) and the shipped expert, each with Gaussian
action noise of several sizes, scored by their true return and by their return under the learned
reward (the run's own estimator, raw): what the learner would gain by moving toward the expert.
And how the run's own reward processing treats the newest rollouts: their raw spread and robust
scale, the shares of rewards it floors and clips, and where the expert's states land.
And the reward split over input coordinates: which of them decide how learner states rank.
Writes ``diagnosis.json`` and ``diagnosis.md`` to ``--out``.
"""

from __future__ import annotations

import argparse
import pickle
from pathlib import Path
from typing import Sequence

import numpy as np
import torch as th

from sbil.cli import run_main, set_threads
from sbil.data import load_demos, read_manifest
from sbil.envs import make_env
from sbil.errors import SbilError
from sbil.io import atomic_write, atomic_write_json
from sbil.rewards import load_reward
from sbil.rewards.base import robust_center_scale
from sbil.rewards.fidelity import Estimator, fidelity, precise_rewards, split_half_ceiling, state_inputs
from sbil.sb3.transitions import newest_slots
from sbil.sb3.rollouts import rollout_episodes

#: the candidates whose narrow-set fidelity is measured
ESTIMATORS = [
    Estimator("qmc, 16 draws over all t (default before issue 18)", "qmc", 16, 0.0),
    Estimator("qmc, 64 draws over all t", "qmc", 64, 0.0),
    Estimator("qmc, 256 draws over all t", "qmc", 256, 0.0),
    Estimator("qmc, 16 draws, sqrt(abar_t) >= 0.02", "qmc", 16, 0.02),
    Estimator("qmc, 32 draws, sqrt(abar_t) >= 0.02", "qmc", 32, 0.02),
    Estimator("qmc, 64 draws, sqrt(abar_t) >= 0.02", "qmc", 64, 0.02),
    Estimator("stratified, 64 draws over all t", "stratified", 64, 0.0),
    Estimator("reference: 500 evenly spaced t", "reference", 500, 0.0),
]


def quantiles(r: np.ndarray) -> dict[str, float]:
    return {"mean": float(r.mean()), "p10": float(np.quantile(r, 0.1)), "p50": float(np.median(r)), "p90": float(np.quantile(r, 0.9))}


def coordinate_terms(reward, x: th.Tensor, t: th.Tensor, eps: th.Tensor) -> th.Tensor:
    """``(n, k, d)`` per-coordinate loss-form terms ``(eps_P - eps)_j^2 - (eps_E - eps)_j^2`` of the
    inputs ``x`` ``(n, d)`` noised at steps ``t`` ``(n, k)`` with noise ``eps`` ``(n, k, d)``."""
    n, k = t.shape
    x_t = reward.schedule.add_noise(x.unsqueeze(1), eps, t).reshape(n * k, -1)
    e_e = reward.expert_net(x_t, t.reshape(-1)).reshape(n, k, -1)
    e_p = reward.learner_net(x_t, t.reshape(-1)).reshape(n, k, -1)
    return (e_p - eps) ** 2 - (e_e - eps) ** 2


@th.inference_mode()
def per_t_profile(reward, x: th.Tensor, grid: np.ndarray, n_eps: int, gen: th.Generator) -> list[dict[str, float]]:
    """Per diffusion step t: the spread of the per-state reward term across states (signal) and its
    spread across noise draws for one state (noise), both in raw reward units."""
    rows = []
    for t in grid:
        tt = th.full((len(x), n_eps), int(t), dtype=th.long)
        eps = th.randn((len(x), n_eps, x.shape[1]), generator=gen)
        f = coordinate_terms(reward, x, tt, eps).sum(-1).numpy()  # (n, k)
        rows.append({
            "t": int(t), "sqrt_abar": float(reward.schedule.sqrt_abar[int(t)]),
            "mean": float(f.mean()), "signal_std": float(f.mean(1).std()), "noise_std": float(f.std(1, ddof=1).mean()),
        })
    return rows


@th.inference_mode()
def per_dim_terms(reward, x: th.Tensor, n_draws: int, gen: th.Generator) -> np.ndarray:
    """The reward split over input coordinates: ``(n, d)`` per-state, per-coordinate terms
    ``(eps_P - eps)_j^2 - (eps_E - eps)_j^2``, averaged over ``n_draws`` (t, eps) draws over the
    run's own steps; each row sums to the state's reward (the loss form)."""
    n, d = x.shape
    t = th.randint(0, reward.reward_steps, (n, n_draws), generator=gen)
    eps = th.randn((n, n_draws, d), generator=gen)
    return coordinate_terms(reward, x, t, eps).mean(1).numpy()


def dim_shares(terms: np.ndarray) -> list[dict[str, float]]:
    """Per coordinate: its mean term and its share of the variance of the reward across states
    (``cov(term_j, reward) / var(reward)``; the shares sum to 1, so a few coordinates with most of
    it mean those coordinates decide the ranking)."""
    total = terms.sum(1)
    var = float(total.var()) or 1.0
    centred = total - total.mean()
    return [{"dim": j, "mean": float(terms[:, j].mean()), "share": float(((terms[:, j] - terms[:, j].mean()) * centred).mean() / var)}
            for j in range(terms.shape[1])]


def checkpoint_obs_normalizer(run_state: dict, env_fn):
    """The checkpoint policy's observation normalisation (SB3's VecNormalize with the run state's
    statistics), as a function of raw observations; None if the policy saw raw ones.

    :param env_fn: builds the task env (VecNormalize needs one; it is never stepped)."""
    from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

    for layer in (run_state.get("train_env") or {}).get("wrappers", []):
        if layer.get("obs_rms") is not None and layer.get("norm_obs", False):
            vec = VecNormalize(DummyVecEnv([env_fn]), norm_obs=True, norm_reward=False,
                               clip_obs=layer.get("clip_obs", 10.0), epsilon=layer.get("epsilon", 1e-8))
            vec.obs_rms = layer["obs_rms"]
            return vec.normalize_obs
    return None


def rollout_normalisation(reward, data: dict, pos: int, rollout: int, n_rollouts: int, expert_raw: np.ndarray) -> list[dict]:
    """How the reward's own processing (its ``reward_norm``, clip and floor, per rollout) treats the
    newest ``n_rollouts`` rollouts of ``rollout`` transitions: raw quantiles, the robust scale
    (1.4826 MAD, whatever the normalisation), the shares at the floor and the clip, the 90th
    percentile of the processed rewards and the processed reward of the expert's median state,
    both before ``reward_scale``, with the rollout as the reference."""
    rows = []
    n = len(data["dones"])
    floor = -np.inf if reward.reward_floor is None else reward.reward_floor
    clip = np.inf if reward.reward_clip is None else reward.reward_clip
    for back in range(n_rollouts):
        idx = newest_slots(pos, n, back * rollout + np.arange(rollout))
        raw = reward.raw_reward(data["obs"][idx], data["acts"][idx], data["next_obs"][idx], data["dones"][idx])
        median, scale = robust_center_scale(raw)
        z = reward.normalize(raw, update_stats=False) / reward.reward_scale
        z_expert = reward.normalize(expert_raw, update_stats=False, reference=raw) / reward.reward_scale
        rows.append({"rollouts_back": back, "raw_p10": float(np.quantile(raw, 0.1)), "raw_p50": median, "raw_p90": float(np.quantile(raw, 0.9)),
                     "scale": scale, "at_floor": float(np.mean(z <= floor)), "at_clip": float(np.mean(z >= clip)),
                     "z_p90": float(np.quantile(z, 0.9)), "expert_z_p50": float(np.median(z_expert))})
    return rows


def policy_returns(args: argparse.Namespace, reward, entry: dict, normalizer=None) -> list[dict]:
    """True and learned returns of the run's policy and of the shipped expert, with action noise.

    :param normalizer: the checkpoint policy's observation normalisation (see :func:`checkpoint_obs_normalizer`)."""
    from stable_baselines3 import PPO, SAC

    from sbil.data import EXPERT_DATA_DIR
    from sbil.experts.policies import load_expert_policy

    policies = {"expert": load_expert_policy(EXPERT_DATA_DIR / entry["policy"], entry["algo"])}
    if (args.checkpoint / "model.zip").is_file():
        for cls in (PPO, SAC):
            try:
                policies["learner (checkpoint)"] = cls.load(args.checkpoint / "model.zip", device="cpu")
                break
            except Exception:  # noqa: BLE001 - the other algorithm's file: try the next class
                continue
    env = make_env(entry["env_id"], entry["env_kwargs"])
    rng = np.random.default_rng(1)
    fall = -50.0  # a per-step learned reward this low is far below anything a standing or moving hopper scores
    rows = []
    for name, policy in policies.items():
        for noise in (0.0, 0.1, 0.2, 0.4):
            true_returns, learned_returns, falls = [], [], []
            for ep in range(2):
                obs, _ = env.reset(seed=500 + ep)
                states, total, done = [], 0.0, False
                while not done:
                    seen = normalizer(obs) if normalizer is not None and name != "expert" else obs
                    act = policy.predict(seen, deterministic=True)[0]
                    act = np.clip(act + noise * rng.normal(size=act.shape), env.action_space.low, env.action_space.high)
                    obs, r, terminated, truncated, _ = env.step(act)
                    total, done = total + r, terminated or truncated
                    states.append(obs)
                s = np.asarray(states, np.float32)
                learned = reward.raw_reward(s, np.zeros((len(s), *env.action_space.shape), np.float32), s, np.zeros(len(s), bool))
                true_returns.append(total)
                learned_returns.append(float(learned.sum()))
                falls.append(float(np.mean(learned < fall)))
            rows.append({"policy": name, "noise": noise, "true_return": float(np.mean(true_returns)),
                         "learned_return": float(np.mean(learned_returns)), "fall_share": float(np.mean(falls))})
    return rows


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint", type=Path, help="a checkpoint folder holding reward.pt and state.pkl")
    parser.add_argument("--task", default="hopper", help="shipped task of the demos (default hopper)")
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: print only)")
    parser.add_argument("--states", type=int, default=512, help="states per narrow set")
    parser.add_argument("--learner-states", type=int, default=4096, help="newest learner states to use")
    parser.add_argument("--precise-draws", type=int, default=20)
    parser.add_argument("--rollout", type=int, default=4096, help="transitions per PPO rollout (n_steps x n_envs)")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    set_threads(args.threads)
    if not (args.checkpoint / "reward.pt").is_file():
        raise SbilError(f"{args.checkpoint} holds no reward.pt: pass a train_smile checkpoint folder (runs/.../checkpoints/step_N).")
    reward = load_reward(args.checkpoint / "reward.pt", device="cpu")
    if not hasattr(reward, "cfg") or reward.cfg.use_action or reward.cfg.score_state != "next_obs":
        raise SbilError(f"{args.checkpoint}: this diagnosis reads state-only SMILING rewards that score next_obs; this one is "
                        f"{type(reward).__name__}{' (state-action)' if getattr(getattr(reward, 'cfg', None), 'use_action', False) else ''}.")
    entry = read_manifest()["tasks"][args.task]
    demos = load_demos(args.task)
    rng = np.random.default_rng(0)
    with open(args.checkpoint / "state.pkl", "rb") as f:
        state = pickle.load(f)
    refit = state["refit"]
    pos, full, data = refit["pos"], refit["full"], refit["data"]
    size = len(data["dones"]) if full else pos
    newest = newest_slots(pos, len(data["dones"]), np.arange(min(args.learner_states, size)))
    learner = data["next_obs"][newest]
    random_states = np.concatenate([e["next_obs"] for e in rollout_episodes(None, entry["env_id"], entry["env_kwargs"], 3, seed=123)])

    def pick(pool: np.ndarray) -> np.ndarray:
        return pool[rng.choice(len(pool), min(args.states, len(pool)), replace=False)]

    sets = {"expert": pick(demos.next_obs), "learner": pick(learner), "random": pick(random_states)}
    sets["broad"] = np.concatenate([sets["expert"], sets["learner"]])
    gen = th.Generator().manual_seed(0)
    inputs = state_inputs(reward, sets)
    precise = precise_rewards(reward, inputs, args.precise_draws, gen)
    out: dict = {"checkpoint": str(args.checkpoint), "task": args.task, "raw_reward": {}, "fidelity": {}, "per_t": {}}
    for name, draws in precise.items():
        out["raw_reward"][name] = quantiles(draws.mean(0))
    narrow = {name: inputs[name] for name in ("broad", "expert", "learner")}
    for est in ESTIMATORS:
        out["fidelity"][est.label] = {name: r["spearman"] for name, r in fidelity(reward, narrow, precise, est, gen).items()}
    out["fidelity"]["ceiling: what the precise reward's own noise allows"] = split_half_ceiling({name: precise[name] for name in narrow})
    out["policies"] = policy_returns(args, reward, entry, checkpoint_obs_normalizer(
        state.get("run") or {}, lambda: make_env(entry["env_id"], entry["env_kwargs"])))
    expert_raw = reward.raw_reward(sets["expert"], np.zeros((len(sets["expert"]), *reward.action_space.shape), np.float32), sets["expert"],
                                   np.zeros(len(sets["expert"]), bool))
    out["normalisation"] = rollout_normalisation(reward, data, pos, args.rollout, 4, expert_raw)
    grid = np.unique(np.concatenate([np.arange(0, 100, 10), np.geomspace(100, 4999, 20).astype(int)]))
    for name in ("expert", "learner"):
        out["per_t"][name] = per_t_profile(reward, inputs[name][:256], grid, 8, gen)
    out["per_dim"] = {name: dim_shares(per_dim_terms(reward, inputs[name], 64, gen)) for name in ("expert", "learner")}

    lines = [f"# Reward diagnosis: `{args.checkpoint}`", "", "Raw reward (precise: mean of "
             f"{args.precise_draws} reference draws), per state set ({args.states} states each):", "",
             "| states | mean | p10 | median | p90 |", "|---|---|---|---|---|"]
    lines += [f"| {n} | {q['mean']:.2f} | {q['p10']:.2f} | {q['p50']:.2f} | {q['p90']:.2f} |" for n, q in out["raw_reward"].items()]
    lines += ["", "Spearman rank correlation with the precise reward:", "", "| estimator | broad (expert + learner) | expert states | learner states |",
              "|---|---|---|---|"]
    lines += [f"| {label} | {r['broad']:.3f} | {r['expert']:.3f} | {r['learner']:.3f} |" for label, r in out["fidelity"].items()]
    lines += ["", f"The run's reward processing on the newest rollouts ({args.rollout} transitions each, the run's estimator; "
              f"z = reward_norm={reward.reward_norm!r} with clip {reward.reward_clip} and floor {reward.reward_floor}, before "
              "reward_scale; scale = 1.4826 MAD of the raw rewards); the last column: the expert's median state's z against that "
              "rollout", "",
              "| rollouts back | raw p10 | raw median | raw p90 | scale | share at the floor | share at the clip | z p90 | expert median z |",
              "|---|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r['rollouts_back']} | {r['raw_p10']:.1f} | {r['raw_p50']:.1f} | {r['raw_p90']:.1f} | {r['scale']:.2f} | {r['at_floor']:.2f} | "
              f"{r['at_clip']:.3f} | {r['z_p90']:.2f} | {r['expert_z_p50']:.2f} |" for r in out["normalisation"]]
    lines += ["", "Policies with Gaussian action noise (2 episodes each, reset seeds 500+): true return, and return under the "
              "learned reward (raw, the run's own estimator); the last column is the share of steps whose learned reward is "
              "below -50, the size of a fallen hopper's", "",
              "| policy | action noise | true return | learned return | steps with a fall-sized reward |", "|---|---|---|---|---|"]
    lines += [f"| {p['policy']} | {p['noise']} | {p['true_return']:.0f} | {p['learned_return']:.0f} | {p['fall_share']:.2f} |" for p in out["policies"]]
    for name in ("expert", "learner"):
        lines += ["", f"Per diffusion step, {name} states (256 states x 8 noise draws): signal = std across states of the "
                  "per-state mean term; noise = std across draws for one state", "",
                  "| t | sqrt(abar_t) | mean term | signal std | noise std |", "|---|---|---|---|---|"]
        lines += [f"| {r['t']} | {r['sqrt_abar']:.3f} | {r['mean']:.2f} | {r['signal_std']:.2f} | {r['noise_std']:.2f} |" for r in out["per_t"][name]]
    top = sorted(out["per_dim"]["learner"], key=lambda r: -abs(r["share"]))[:12]
    expert_dims = {r["dim"]: r for r in out["per_dim"]["expert"]}
    lines += ["", "Per input coordinate (observation index), the 12 with the largest share of the reward's variance across "
              "learner states (share = cov(term_j, reward) / var(reward); all coordinates' shares sum to 1), each with its "
              f"mean term on learner and on expert states ({reward.input_dim} coordinates in all)", "",
              "| coordinate | share, learner states | mean term, learner | share, expert states | mean term, expert |", "|---|---|---|---|---|"]
    coordinate = (lambda j: j) if reward._obs_index is None else (lambda j: int(reward._obs_index[j]))
    lines += [f"| {coordinate(r['dim'])} | {r['share']:.3f} | {r['mean']:.2f} | {expert_dims[r['dim']]['share']:.3f} | {expert_dims[r['dim']]['mean']:.2f} |"
              for r in top]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        atomic_write_json(args.out / "diagnosis.json", out)
        atomic_write(args.out / "diagnosis.md", text + f"\nCommand: python scripts/diagnose_reward.py {' '.join(argv)}\n")
    return 0


if __name__ == "__main__":
    run_main(main)
