"""What a run's SMILING reward pays for being down (fallen or flipped) against being upright, on
the run's newest training rollouts, scored by its final reward (the checkpoint's ``reward.pt``, the
run's own estimator and processing, each rollout its own reference as in training; processed
rewards before ``reward_scale``, in the units of the floor and the clip), and what the expert's
demo states would earn against the same rollout.

    python results/ablation/rank/down_reward.py RUN_DIR [RUN_DIR ...]

RUN_DIR is a benchmark run folder (``<out>/runs/<task>/smiling/seed<k>``); "down" is the rule of
``down_share.py`` next to this file, applied to the state the reward scores. A processed reward
that is as high down as upright means the reward does not see the fall; a low one that the learner
still falls means it is the learner, not the reward, that trades falls for something.
"""
import argparse
import pickle
import sys
from pathlib import Path

import numpy as np

from sbil.checkpoint import latest_checkpoint
from sbil.data import load_demos
from sbil.rewards import load_reward
from sbil.sb3.transitions import newest_slots

sys.path.insert(0, str(Path(__file__).parent))
from down_share import down  # noqa: E402  (the same rule, one place)

parser = argparse.ArgumentParser()
parser.add_argument("runs", nargs="+")
parser.add_argument("--rollout", type=int, default=4096, help="transitions per PPO rollout (the mujoco recipe: 4 envs x 1024)")
parser.add_argument("--rollouts", type=int, default=4, help="newest rollouts to score")
parser.add_argument("--floor", type=float, default=None,
                    help="also show the processed rewards under this floor instead of the run's (e.g. -2: what a deeper floor would change)")
args = parser.parse_args()

print("| run | rollout (newest = 0) | states down | raw reward: upright, down (median) | processed: upright, down (mean) "
      "| expert states, processed (median) | down at the floor | upright at the floor |"
      + (f" processed under floor {args.floor:g}: upright, down (mean) |" if args.floor is not None else ""))
print("|---|---|---|---|---|---|---|---|" + ("---|" if args.floor is not None else ""))
for run in map(Path, args.runs):
    task = run.parts[-3]
    found = latest_checkpoint(run / "smile" / "checkpoints")
    if found is None:
        sys.exit(f"{run}: no verified checkpoint under {run / 'smile' / 'checkpoints'} (rerun its profile first)")
    reward = load_reward(found[0] / "reward.pt", device="cpu")
    refit = pickle.loads((found[0] / "state.pkl").read_bytes())["refit"]
    data, n = refit["data"], len(refit["data"]["dones"])
    floor = -np.inf if reward.reward_floor is None else reward.reward_floor
    expert = load_demos(task).next_obs
    no_acts, no_dones = np.zeros((len(expert), *reward.action_space.shape), np.float32), np.zeros(len(expert), bool)
    expert_raw = reward.raw_reward(expert, no_acts, expert, no_dones)
    for back in range(args.rollouts):
        idx = newest_slots(refit["pos"], n, back * args.rollout + np.arange(args.rollout))
        obs, acts, next_obs, dones = (data[k][idx] for k in ("obs", "acts", "next_obs", "dones"))
        scored = obs if reward.cfg.score_state == "obs" else next_obs
        is_down = down(task, scored)
        raw = reward.raw_reward(obs, acts, next_obs, dones)
        # Before reward_scale, in the units of the floor and the clip.
        z = reward.normalize(raw, update_stats=False) / reward.reward_scale
        if args.floor is not None:
            # The run's normalisation and clip without its floor, then the other floor.
            kept, reward.reward_floor = reward.reward_floor, None
            unfloored = reward.normalize(raw, update_stats=False) / reward.reward_scale
            reward.reward_floor = kept
        z_expert = reward.normalize(expert_raw, update_stats=False, reference=raw) / reward.reward_scale

        def pair(values, stat):
            up = stat(values[~is_down]) if (~is_down).any() else float("nan")
            dn = stat(values[is_down]) if is_down.any() else float("nan")
            return f"{up:.2f}, {dn:.2f}"

        print(f"| {run} | {back} | {is_down.mean():.2f} | {pair(raw, np.median)} | {pair(z, np.mean)} | {np.median(z_expert):.2f} | "
              f"{np.mean(z[is_down] <= floor) if is_down.any() else float('nan'):.2f} | {np.mean(z[~is_down] <= floor):.2f} |"
              + (f" {pair(np.maximum(unfloored, args.floor), np.mean)} |" if args.floor is not None else ""))
