"""What a run's SMILING reward pays for being down (fallen or flipped) against being upright, on
the run's newest training rollouts, scored by its final reward (the checkpoint's ``reward.pt``, the
run's own estimator and processing, each rollout its own reference as in training; processed
rewards before ``reward_scale``, in the units of the floor and the clip), and what the expert's
demo states would earn against the same rollout.

    python results/ablation/rank/down_reward.py RUN_DIR [RUN_DIR ...] [--floor -2]

RUN_DIR is a benchmark run folder of SMILING with per-rollout processing
(``<out>/runs/<task>/smiling/seed<k>`` or ``.../smiling_sa/seed<k>``, ``norm_window=0``); "down" is
the rule of ``down_share.py`` next to this file, applied to the state the reward scores (``next_obs``
for state-only SMILING, ``obs`` for the state-action variant, which scores (obs, action) pairs; the
expert's pairs are then its demo pairs; a state-action run's "states down" therefore counts a
rollout's first states and not its last ones, one step apart from ``down_share.py``'s count). ``--floor F`` adds the processed rewards
under floor F instead of the run's own. A processed reward
that is as high down as upright means the reward does not see the fall; a low one that the learner
still falls means it is the learner, not the reward, that trades falls for something.
"""
import argparse
import pickle
import sys
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from omegaconf import OmegaConf

from sbil.checkpoint import latest_checkpoint
from sbil.cli import run_main, set_threads
from sbil.data import load_demos
from sbil.errors import SbilError
from sbil.rewards import load_reward
from sbil.sb3.transitions import newest_slots

sys.path.insert(0, str(Path(__file__).parent))
from down_share import down  # noqa: E402  (the same rule, one place)


def split(values: np.ndarray, is_down: np.ndarray, stat: Callable[[np.ndarray], float]) -> str:
    """``stat`` of the upright and of the down values, as a table cell."""
    parts = [stat(values[mask]) if mask.any() else float("nan") for mask in (~is_down, is_down)]
    return f"{parts[0]:.2f}, {parts[1]:.2f}"


def share(mask: np.ndarray, within: np.ndarray) -> float:
    return float(mask[within].mean()) if within.any() else float("nan")


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--rollout", type=int, default=4096, help="transitions per PPO rollout (the mujoco recipe: 4 envs x 1024)")
    parser.add_argument("--rollouts", type=int, default=4, help="newest rollouts to score")
    parser.add_argument("--floor", type=float, default=None,
                        help="also show the processed rewards under this floor instead of the run's (e.g. -2: what a deeper floor would change)")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    set_threads(args.threads)

    print("| run | rollout (newest = 0) | states down | raw reward: upright, down (median) | processed: upright, down (mean) "
          "| expert states, processed (median) | down at the floor | upright at the floor |"
          + (f" processed under floor {args.floor:g}: upright, down (mean) |" if args.floor is not None else ""))
    print("|---|---|---|---|---|---|---|---|" + ("---|" if args.floor is not None else ""))
    for run in args.runs:
        task = run.parts[-3]
        found = latest_checkpoint(run / "smile" / "checkpoints")
        if found is None:
            raise SbilError(f"{run}: no verified checkpoint under {run / 'smile' / 'checkpoints'} (rerun its profile first).")
        reward = load_reward(found[0] / "reward.pt", device="cpu")
        cfg = getattr(reward, "cfg", None)
        norm_window = OmegaConf.load(run / "smile" / "config.yaml").reward.get("norm_window", 0)
        if cfg is None or norm_window:
            raise SbilError(f"{run}: this reads SMILING rewards processed one rollout at a time "
                            f"(norm_window=0); this one is {type(reward).__name__} with another setting.")
        refit = pickle.loads((found[0] / "state.pkl").read_bytes())["refit"]
        data, capacity = refit["data"], len(refit["data"]["dones"])
        held = capacity if refit["full"] else refit["pos"]
        if held < args.rollouts * args.rollout:
            raise SbilError(f"{run}: its checkpoint holds {held} learner transitions, fewer than {args.rollouts} x {args.rollout}: "
                            "lower --rollouts or --rollout.")
        floor = -np.inf if reward.reward_floor is None else reward.reward_floor
        demos = load_demos(task)
        expert_raw = reward.raw_reward(demos.obs, demos.acts, demos.next_obs, np.zeros(len(demos.obs), bool))
        for back in range(args.rollouts):
            idx = newest_slots(refit["pos"], capacity, back * args.rollout + np.arange(args.rollout))
            obs, acts, next_obs, dones = (data[k][idx] for k in ("obs", "acts", "next_obs", "dones"))
            is_down = down(task, reward.scored_state(obs, next_obs))
            raw = reward.raw_reward(obs, acts, next_obs, dones)
            # Before reward_scale, in the units of the floor and the clip; each rollout its own reference.
            z = reward.normalize(raw, update_stats=False) / reward.reward_scale
            z_expert = reward.normalize(expert_raw, update_stats=False, reference=raw) / reward.reward_scale
            row = (f"| {run} | {back} | {is_down.mean():.2f} | {split(raw, is_down, np.median)} | {split(z, is_down, np.mean)} | "
                   f"{np.median(z_expert):.2f} | {share(z <= floor, is_down):.2f} | {share(z <= floor, ~is_down):.2f} |")
            if args.floor is not None:
                # The clip comes before the floor, so flooring the unfloored rewards anew is exact.
                kept, reward.reward_floor = reward.reward_floor, None
                try:
                    unfloored = reward.normalize(raw, update_stats=False) / reward.reward_scale
                finally:
                    reward.reward_floor = kept
                row += f" {split(np.maximum(unfloored, args.floor), is_down, np.mean)} |"
            print(row)
    return 0


if __name__ == "__main__":
    run_main(main)
