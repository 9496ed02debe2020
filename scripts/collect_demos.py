#!/usr/bin/env python
"""Roll out a trained expert and ship its demos in expert_data/ with a manifest entry.

    python scripts/collect_demos.py hopper                       # from runs/experts/hopper/seed0
    python scripts/collect_demos.py hopper --run /path/to/run    # another expert run folder

Episodes are deterministic, fixed-horizon (the task's env_kwargs from sbil/configs/experts.yaml).
Writes expert_data/<task>/demos.npz and expert.zip, and updates expert_data/manifest.json with
expert and random-policy returns, versions, the command, and sha256 of every file.
"""

from __future__ import annotations

import argparse
import json
import shlex
from pathlib import Path
from typing import Sequence

from sbil.cli import run_main, set_threads
from sbil.experts.recipes import get_expert_config, load_expert_configs
from sbil.experts.shipping import ship_expert


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("task", help=f"one of: {', '.join(load_expert_configs())}")
    parser.add_argument("--run", type=Path, default=None, help="expert run folder (default runs/experts/<task>/seed0)")
    parser.add_argument("--episodes", type=int, default=None, help="demo episodes (default from the recipe)")
    parser.add_argument("--random-episodes", type=int, default=10, help="episodes of the random policy (normalisation floor)")
    parser.add_argument("--seed", type=int, default=1000, help="seed of the first demo episode")
    parser.add_argument("--policy", choices=("best", "final"), default="best", help="best_model.zip or the final checkpoint")
    parser.add_argument("--out", type=Path, default=None, help="expert_data folder (default: the repository's)")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    set_threads(args.threads)
    cfg = get_expert_config(args.task)
    run = args.run or Path("runs/experts") / args.task / "seed0"
    command = "python scripts/collect_demos.py " + " ".join(shlex.quote(a) for a in argv)
    entry = ship_expert(cfg, run, n_episodes=args.episodes, n_random=args.random_episodes, seed=args.seed, which=args.policy, command=command, data_dir=args.out)
    print(json.dumps({k: v for k, v in entry.items() if k != "files"}, indent=2))
    return 0


if __name__ == "__main__":
    run_main(main)
