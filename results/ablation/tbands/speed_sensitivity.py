"""How a checkpoint's SMILING reward changes when only the forward speed of a state changes: the
newest upright learner states and as many expert states, each shifted by a few m/s in the speed
coordinate alone, scored with 256 quasi-random (t, eps) draws shared by every shift (so the
differences carry no draw noise). Raw rewards, before the run's per-rollout normalisation.

    python results/ablation/tbands/speed_sensitivity.py CKPT --task walker2d --speed-dim 8 --upright-dim 0 --upright-min 0.8
"""
import argparse
import pickle

import numpy as np
import torch as th

from sbil.data import load_demos
from sbil.rewards import load_reward
from sbil.sb3.transitions import newest_slots

parser = argparse.ArgumentParser()
parser.add_argument("checkpoint")
parser.add_argument("--task", default="walker2d")
parser.add_argument("--speed-dim", type=int, default=8)
parser.add_argument("--upright-dim", type=int, default=0)
parser.add_argument("--upright-min", type=float, default=0.8)
parser.add_argument("--sample", type=int, default=1024, help="newest learner states drawn (then the upright ones kept)")
parser.add_argument("--draws", type=int, default=256)
args = parser.parse_args()

th.set_num_threads(1)
reward = load_reward(f"{args.checkpoint}/reward.pt", device="cpu")
refit = pickle.load(open(f"{args.checkpoint}/state.pkl", "rb"))["refit"]
n = len(refit["data"]["dones"])
newest = newest_slots(refit["pos"], n, np.arange(16384))
rng = np.random.default_rng(0)
states = refit["data"]["next_obs"][rng.choice(newest, args.sample, replace=False)]
states = states[states[:, args.upright_dim] > args.upright_min]
demos = load_demos(args.task)
expert = demos.next_obs[rng.choice(len(demos), len(states), replace=False)]
print(f"{len(states)} upright learner states; mean speed: learner {states[:, args.speed_dim].mean():.2f}, "
      f"expert {expert[:, args.speed_dim].mean():.2f}")


@th.inference_mode()
def raw_reward(s: np.ndarray) -> np.ndarray:
    acts = np.zeros((len(s), *reward.action_space.shape), np.float32)
    gen = th.Generator().manual_seed(0)  # the same draws for every shift
    return reward.reward_for_inputs(reward._inputs(s, acts, s), "qmc", args.draws, generator=gen).numpy()


print("| states | raw reward mean | MAD | speed shift (m/s) | mean change | share of states that gain |")
print("|---|---|---|---|---|---|")
for name, base in (("learner, upright", states), ("expert", expert)):
    r0 = raw_reward(base)
    mad = np.median(np.abs(r0 - np.median(r0)))
    for shift in (-1.0, 0.5, 1.0, 2.0, 3.0):
        shifted = base.copy()
        shifted[:, args.speed_dim] += shift
        change = raw_reward(shifted) - r0
        print(f"| {name} | {r0.mean():.2f} | {mad:.2f} | {shift:+.1f} | {change.mean():+.2f} | {np.mean(change > 0):.2f} |")
