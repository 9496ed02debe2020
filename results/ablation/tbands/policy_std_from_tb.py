"""PPO's action std (SB3's ``train/std``) every 100k steps, from the tensorboard logs of benchmark runs.

    python results/ablation/tbands/policy_std_from_tb.py RUNS_DIR walker2d smiling,rl 3,4

RUNS_DIR: a benchmark's ``runs`` folder (the tensorboard logs are not committed: run the sweep first).
"""
import glob
import sys

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

runs, task, algos, seeds = sys.argv[1], sys.argv[2], sys.argv[3].split(","), sys.argv[4].split(",")
for algo in algos:
    for seed in seeds:
        for f in sorted(glob.glob(f"{runs}/{task}/{algo}/seed{seed}/smile/tb/**/events.*", recursive=True))[:1]:
            ea = EventAccumulator(f, size_guidance={"scalars": 0})
            ea.Reload()
            by_100k = {int(e.step // 100_000) * 100: e.value for e in ea.Scalars("train/std")}
            print(f"{task} {algo} seed{seed}: " + ", ".join(f"{k}k {v:.3f}" for k, v in sorted(by_100k.items())))
