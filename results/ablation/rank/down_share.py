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
import pickle
from pathlib import Path
from types import SimpleNamespace

import numpy as np
from stable_baselines3 import PPO
from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

from sbil.checkpoint import latest_checkpoint
from sbil.data import read_manifest
from sbil.envs import make_env
from sbil.sb3.rollouts import rollout_episodes
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


def main() -> None:
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
        found = latest_checkpoint(smile / "checkpoints")
        if found is None:
            raise SystemExit(f"{run}: no verified checkpoint under {smile / 'checkpoints'} (rerun its profile first)")
        refit = pickle.loads((found[0] / "state.pkl").read_bytes())["refit"]
        n = len(refit["data"]["dones"])
        train_down = down(task, refit["data"]["next_obs"][newest_slots(refit["pos"], n, np.arange(min(args.states, n)))]).mean()

        entry = manifest["tasks"][task]
        env_kwargs = entry.get("env_kwargs", {})
        # The policy acts on the run's normalised observations; the episodes (and "down") stay raw.
        normalizer = VecNormalize.load(str(smile / "vecnormalize.pkl"), DummyVecEnv([lambda: make_env(entry["env_id"], env_kwargs)]))
        model = PPO.load(smile / "policy.zip", device="cpu")
        policy = SimpleNamespace(predict=lambda obs, deterministic: model.predict(normalizer.normalize_obs(obs), deterministic=deterministic))
        episodes = rollout_episodes(policy, entry["env_id"], env_kwargs, args.episodes, seed=7000)
        returns = [float(ep["rewards"].sum()) for ep in episodes]
        steps_down = [down(task, ep["next_obs"]) for ep in episodes]
        print(f"| {run} | {train_down:.2f} | {np.mean(returns):.0f}, {np.min(returns):.0f} | {np.mean(np.concatenate(steps_down)):.2f} | "
              f"{sum(d.any() for d in steps_down)} of {args.episodes} |")


if __name__ == "__main__":
    main()
