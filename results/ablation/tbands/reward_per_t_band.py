"""Which diffusion steps of a checkpoint's SMILING reward carry what: per band of t, across the
learner's newest upright states, the band's share of the reward's spread and how its term ranks
the states by forward speed; and how well it tells expert states from the learner's.

    python results/ablation/tbands/reward_per_t_band.py CKPT --task walker2d --speed-dim 8 --upright-dim 0 --upright-min 0.8

Walker2d: coordinate 8 is the forward velocity, coordinate 0 the torso height (below 0.8 it is unhealthy).
"""
import argparse
import importlib.util
import pickle
from pathlib import Path

import numpy as np
import torch as th
from scipy.stats import mannwhitneyu, spearmanr

from sbil.data import load_demos
from sbil.rewards import load_reward
from sbil.sb3.transitions import newest_slots

spec = importlib.util.spec_from_file_location("diagnose_reward", Path(__file__).parents[3] / "scripts" / "diagnose_reward.py")
diagnose = importlib.util.module_from_spec(spec)
spec.loader.exec_module(diagnose)

parser = argparse.ArgumentParser()
parser.add_argument("checkpoint")
parser.add_argument("--task", default="walker2d")
parser.add_argument("--speed-dim", type=int, default=8)
parser.add_argument("--upright-dim", type=int, default=0)
parser.add_argument("--upright-min", type=float, default=0.8)
parser.add_argument("--states", type=int, default=16384, help="newest learner states to draw from")
parser.add_argument("--sample", type=int, default=2048, help="states scored, drawn at random from them")
parser.add_argument("--draws", type=int, default=64, help="(t, eps) draws per state and band")
parser.add_argument("--bands", default="0,50,150,350,700,1200,2000")
args = parser.parse_args()

th.set_num_threads(1)
reward = load_reward(f"{args.checkpoint}/reward.pt", device="cpu")
refit = pickle.load(open(f"{args.checkpoint}/state.pkl", "rb"))["refit"]
n = len(refit["data"]["dones"])
newest = newest_slots(refit["pos"], n, np.arange(args.states))
rng = np.random.default_rng(0)
# At random, not every k-th: the buffer interleaves the envs, so a stride would pick one env's episodes.
states = refit["data"]["next_obs"][rng.choice(newest, min(args.sample, len(newest)), replace=False)]
demos = load_demos(args.task)
expert = demos.next_obs[rng.choice(len(demos), args.sample, replace=False)]
acts = np.zeros((args.sample, *reward.action_space.shape), np.float32)


def inputs(s):
    return reward._inputs(s, acts[: len(s)], s)


edges = [int(e) for e in args.bands.split(",")]
edges = [e for e in edges if e < reward.reward_steps] + [reward.reward_steps]
gen = th.Generator().manual_seed(0)


@th.inference_mode()
def band_terms(x):
    out = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        t = th.randint(lo, hi, (len(x), args.draws), generator=gen)
        eps = th.randn((len(x), args.draws, x.shape[1]), generator=gen)
        out.append(diagnose.coordinate_terms(reward, x, t, eps).sum(-1).mean(1).numpy())
    return np.stack(out, 1)  # (n, bands)


learner_terms, expert_terms = band_terms(inputs(states)), band_terms(inputs(expert))
widths = np.diff(edges)
# The run's reward averages over t uniform in [0, reward_steps): a band weighs by its width.
total = learner_terms @ (widths / widths.sum())
up = states[:, args.upright_dim] > args.upright_min
speed = states[:, args.speed_dim]
print(f"{len(states)} learner states, {up.mean():.2f} upright; {len(expert)} expert states; reward steps {reward.reward_steps}")
print(f"whole reward: Spearman with speed (upright) {spearmanr(speed[up], total[up])[0]:.2f}")
print("| t band | sqrt(abar) | share of the spread (upright) | Spearman with speed (upright) | expert over learner (AUC) |")
print("|---|---|---|---|---|")
cov = np.cov(np.column_stack([learner_terms[up] * (widths / widths.sum()), total[up]]).T)
for b, (lo, hi) in enumerate(zip(edges[:-1], edges[1:])):
    share = cov[b, -1] / cov[-1, -1]
    rho = spearmanr(speed[up], learner_terms[up, b])[0]
    auc = mannwhitneyu(expert_terms[:, b], learner_terms[:, b]).statistic / (len(expert) * len(states))
    sa = reward.schedule.sqrt_abar
    print(f"| [{lo}, {hi}) | {float(sa[lo]):.2f}-{float(sa[hi - 1]):.2f} | {share:.2f} | {rho:.2f} | {auc:.3f} |")
