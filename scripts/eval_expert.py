#!/usr/bin/env python
"""Score a shipped expert on held-out reset seeds (not its demo seeds), on this machine.

    python scripts/eval_expert.py ant                        # 50 episodes, reset seeds 6000-6049
    python scripts/eval_expert.py ant --below 3000 --record  # count episodes under 3000; write the figure to the manifest

A closed-loop return depends on the CPU as well as on the policy: MuJoCo's floating-point results
differ in their last bits across CPUs, and a chaotic task (an Ant that flips onto its back now and
then) turns that into other episodes. ``--record`` stores the held-out figure with the CPU it was
measured on under the task's ``heldout`` key in ``expert_data/manifest.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path
from typing import Sequence

import numpy as np

from sbil.cli import run_main, set_threads
from sbil.data import EXPERT_DATA_DIR, MANIFEST_NAME, read_manifest
from sbil.errors import SbilError
from sbil.sb3.rollouts import rollout_episodes
from sbil.io import atomic_write_json
from sbil.experts.policies import load_expert_policy


def cpu_name() -> str:
    """The CPU model, from /proc/cpuinfo on Linux (``platform.processor()`` elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("task", help="a shipped task with an SB3 expert (expert_data/manifest.json)")
    parser.add_argument("--episodes", type=int, default=50)
    parser.add_argument("--seed", type=int, default=6000, help="reset seed of the first episode (the demos use 1000+)")
    parser.add_argument("--below", type=float, default=None, help="also count episodes whose return is under this")
    parser.add_argument("--record", action="store_true", help="write the figure to the manifest's heldout entry")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    set_threads(args.threads)
    tasks = read_manifest()["tasks"]
    if args.task not in tasks:
        raise SbilError(f"Unknown task {args.task!r}; shipped: {', '.join(sorted(tasks))}.")
    entry = tasks[args.task]
    if entry["algo"] == "controller":
        raise SbilError(f"{args.task}'s expert is a controller: its demos replay exactly (tests/test_experts.py); this scores SB3 policies.")
    if args.episodes < 1:
        raise SbilError("--episodes must be >= 1.")
    model = load_expert_policy(EXPERT_DATA_DIR / entry["policy"], entry["algo"])
    episodes = rollout_episodes(model, entry["env_id"], entry["env_kwargs"], args.episodes, seed=args.seed, progress_bar=True)
    returns = np.array([e["rewards"].sum() for e in episodes])
    figure = {
        "seeds": f"{args.seed}-{args.seed + args.episodes - 1}", "episodes": args.episodes,
        "return_mean": float(returns.mean()), "return_std": float(returns.std()), "return_median": float(np.median(returns)),
        "return_min": float(returns.min()), "cpu": cpu_name(),
    }
    if args.below is not None:
        figure[f"episodes_below_{args.below:g}"] = int((returns < args.below).sum())
    print(json.dumps(figure, indent=1))
    print("returns:", ", ".join(f"{r:.0f}" for r in returns))
    if args.record:
        manifest = read_manifest()
        manifest["tasks"][args.task]["heldout"] = figure
        atomic_write_json(EXPERT_DATA_DIR / MANIFEST_NAME, manifest)
        print(f"recorded in {EXPERT_DATA_DIR / MANIFEST_NAME}")
    return 0


if __name__ == "__main__":
    run_main(main)
