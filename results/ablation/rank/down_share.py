"""How often a run's learner is down (fallen or flipped): in its newest training states (PPO's
stochastic rollouts, read from the checkpoint's learner-state buffer) and in episodes of its final
deterministic policy (reset seeds 7000+, which no evaluation or demo uses).

    python results/ablation/rank/down_share.py RUN_DIR [RUN_DIR ...] --episodes 5

RUN_DIR is a benchmark run folder (``<out>/runs/<task>/smiling/seed<k>``). Down, per task (the
observation's first coordinates: root height, then orientation):
  walker2d  torso below 0.8 m or tilted more than 1 rad (gymnasium's unhealthy range)
  hopper    torso below 0.7 m or tilted more than 0.2 rad (the same)
  halfcheetah  on its back: cos(root pitch) < 0
  ant       on its back: the torso's up axis points down (from its orientation quaternion)
"""
import argparse
import json
import pickle
from pathlib import Path

import numpy as np
from stable_baselines3 import PPO
from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

from sbil.data import read_manifest
from sbil.envs import make_env
from sbil.sb3.transitions import newest_slots


def down(task: str, obs: np.ndarray) -> np.ndarray:
    if task == "walker2d":
        return (obs[:, 0] < 0.8) | (np.abs(obs[:, 1]) > 1.0)
    if task == "hopper":
        return (obs[:, 0] < 0.7) | (np.abs(obs[:, 1]) > 0.2)
    if task == "halfcheetah":
        return np.cos(obs[:, 1]) < 0
    if task == "ant":
        qx, qy = obs[:, 2], obs[:, 3]  # quaternion (w, x, y, z) at obs[1:5]
        return 1.0 - 2.0 * (qx**2 + qy**2) < 0
    raise SystemExit(f"no 'down' rule for task {task!r}")


parser = argparse.ArgumentParser()
parser.add_argument("runs", nargs="+")
parser.add_argument("--episodes", type=int, default=5)
parser.add_argument("--states", type=int, default=16384, help="newest training states (4 PPO rollouts)")
args = parser.parse_args()

manifest = read_manifest()
print("| run | training states down (newest %d) | eval episodes: return (mean, min) | eval steps down | eval episodes ever down |" % args.states)
print("|---|---|---|---|---|")
for run in map(Path, args.runs):
    task = run.parts[-3]
    smile = run / "smile"
    last = sorted((smile / "checkpoints").glob("step_*"))[-1]
    refit = pickle.load(open(last / "state.pkl", "rb"))["refit"]
    n = len(refit["data"]["dones"])
    train_down = down(task, refit["data"]["next_obs"][newest_slots(refit["pos"], n, np.arange(min(args.states, n)))]).mean()

    entry = manifest["tasks"][task]
    venv = VecNormalize.load(str(smile / "vecnormalize.pkl"), DummyVecEnv([lambda: make_env(entry["env_id"], entry.get("env_kwargs", {}))]))
    venv.training, venv.norm_reward = False, False
    model = PPO.load(smile / "policy.zip", device="cpu")
    returns, steps_down, ever_down = [], [], []
    for episode in range(args.episodes):
        venv.seed(7000 + episode)
        obs, total, flags, done = venv.reset(), 0.0, [], False
        while not done:
            action, _ = model.predict(obs, deterministic=True)
            obs, r, dones, _ = venv.step(action)
            done = bool(dones[0])
            total += float(r[0])
            flags.append(bool(down(task, venv.get_original_obs())[0]))
        returns.append(total)
        steps_down.append(np.mean(flags))
        ever_down.append(any(flags))
    print(f"| {run} | {train_down:.2f} | {np.mean(returns):.0f}, {np.min(returns):.0f} | {np.mean(steps_down):.2f} | "
          f"{sum(ever_down)} of {args.episodes} |")
