"""How a checkpoint's SMILING reward varies along one observation coordinate across the learner's
newest states (all of them, and those with coordinate ``--upright-dim`` above ``--upright-min``).

    python results/ablation/floorm1/reward_along_a_coordinate.py CKPT --dim 8 --upright-dim 0 --upright-min 0.8

Walker2d: coordinate 8 is the forward velocity, coordinate 0 the torso height (below 0.8 it is unhealthy).
"""
import argparse
import pickle

import numpy as np
from scipy.stats import spearmanr

from sbil.rewards import load_reward
from sbil.sb3.transitions import newest_slots

parser = argparse.ArgumentParser()
parser.add_argument("checkpoint")
parser.add_argument("--dim", type=int, default=8)
parser.add_argument("--upright-dim", type=int, default=0)
parser.add_argument("--upright-min", type=float, default=0.8)
parser.add_argument("--states", type=int, default=16384, help="newest learner states to draw from")
parser.add_argument("--sample", type=int, default=4096, help="states scored, drawn at random from them")
args = parser.parse_args()
reward = load_reward(f"{args.checkpoint}/reward.pt", device="cpu")
refit = pickle.load(open(f"{args.checkpoint}/state.pkl", "rb"))["refit"]
n = len(refit["data"]["dones"])
newest = newest_slots(refit["pos"], n, np.arange(args.states))
# At random, not every k-th: the buffer interleaves the envs, so a stride would pick one env's episodes.
states = refit["data"]["next_obs"][np.random.default_rng(0).choice(newest, min(args.sample, len(newest)), replace=False)]
r = reward.raw_reward(states, np.zeros((len(states), *reward.action_space.shape), np.float32), states, np.zeros(len(states), bool))
up = states[:, args.upright_dim] > args.upright_min
print(f"{len(states)} learner states; share with coordinate {args.upright_dim} > {args.upright_min}: {up.mean():.3f}")
for j in sorted({args.upright_dim, args.dim}):
    print(f"coordinate {j}: Spearman with the raw reward, all states {spearmanr(states[:, j], r)[0]:.3f}, upright {spearmanr(states[up, j], r[up])[0]:.3f}")
edges = np.quantile(states[up, args.dim], np.linspace(0, 1, 6))
for lo, hi in zip(edges[:-1], edges[1:]):
    m = up & (states[:, args.dim] >= lo) & (states[:, args.dim] <= hi)
    print(f"  upright, coordinate {args.dim} in [{lo:.2f}, {hi:.2f}]: median raw reward {np.median(r[m]):.2f}")
