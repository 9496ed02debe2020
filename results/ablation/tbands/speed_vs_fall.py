"""What a rollout's reward normalisation leaves of the speed signal: over a checkpoint's newest
rollout (4096 learner transitions), scored with the run's estimator, the normalised reward's gain
when an upright state is 1 m/s faster (speed coordinate alone) against the cost of a fall (mean
over upright states minus mean over fallen ones), under each batch normalisation, floor 0, clip 3.
The true reward of Walker2d-v5 pays +1 per m/s and a fall costs its healthy bonus of 1 (and the speed).

    python results/ablation/tbands/speed_vs_fall.py CKPT --speed-dim 8 --upright-dim 0 --upright-min 0.8
"""
import argparse
import pickle

import numpy as np
import torch as th

from sbil.rewards import load_reward
from sbil.rewards.base import normal_scores, robust_center_scale
from sbil.sb3.transitions import newest_slots

parser = argparse.ArgumentParser()
parser.add_argument("checkpoint")
parser.add_argument("--speed-dim", type=int, default=8)
parser.add_argument("--upright-dim", type=int, default=0)
parser.add_argument("--upright-min", type=float, default=0.8)
parser.add_argument("--rollout", type=int, default=4096)
args = parser.parse_args()

th.set_num_threads(1)
reward = load_reward(f"{args.checkpoint}/reward.pt", device="cpu")
refit = pickle.load(open(f"{args.checkpoint}/state.pkl", "rb"))["refit"]
n = len(refit["data"]["dones"])
states = refit["data"]["next_obs"][newest_slots(refit["pos"], n, np.arange(args.rollout))]
faster = states.copy()
faster[:, args.speed_dim] += 1.0
up = states[:, args.upright_dim] > args.upright_min


@th.inference_mode()
def raw_reward(s: np.ndarray) -> np.ndarray:
    acts = np.zeros((len(s), *reward.action_space.shape), np.float32)
    gen = th.Generator().manual_seed(0)  # the same draws for both sets
    return reward.reward_for_inputs(reward._inputs(s, acts, s), reward.cfg.estimator, reward.cfg.n_t_samples, generator=gen).numpy()


raw, raw_faster = raw_reward(states), raw_reward(faster)
centre, scale = robust_center_scale(raw)
norms = {
    "robust (median / MAD)": lambda r: np.clip((r - centre) / scale, 0.0, 3.0),
    "rank (normal scores)": lambda r: np.clip(normal_scores(r, raw), 0.0, 3.0),
}
print(f"{len(states)} transitions, {up.mean():.2f} upright; raw reward: median {centre:.2f}, 1.4826 MAD {scale:.2f}, "
      f"upright median {np.median(raw[up]):.2f}, fallen median {np.median(raw[~up]):.2f}")
print("| normalisation | gain per +1 m/s (upright states) | cost of a fall | gain / cost |")
print("|---|---|---|---|")
for name, norm in norms.items():
    z, z_faster = norm(raw), norm(raw_faster)
    gain = float((z_faster - z)[up].mean())
    cost = float(z[up].mean() - z[~up].mean())
    print(f"| {name} | {gain:.3f} | {cost:.2f} | {gain / cost:.3f} |")
