#!/usr/bin/env python
"""Pictures of the shipped humanoid experts that a person can check, written under docs/humanoid/.

    MUJOCO_GL=egl python scripts/plot_humanoid_experts.py        # every shipped h1_* task

Per task: head height, forward velocity of the centre of mass and reward over the shipped demo
episode with the median return (the typical one, not the best), replayed (``<task>.png``), and a
strip of rendered frames (``<task>_strip.png``) where an OpenGL backend works (EGL or OSMesa);
without one the strip is skipped with a note.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Sequence

os.environ.setdefault("MUJOCO_GL", "egl")

import gymnasium as gym  # noqa: E402
import matplotlib  # noqa: E402
import numpy as np  # noqa: E402

import sbil  # noqa: E402,F401
from sbil.cli import run_main  # noqa: E402
from sbil.data import load_demos, read_manifest  # noqa: E402
from sbil.errors import SbilError  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def record(task: str, entry: dict, frames_at: Sequence[int]) -> tuple[dict[str, np.ndarray], list[np.ndarray], str, int]:
    """Replay the shipped demo episode with the median return (the simulator is deterministic, so
    replaying its actions from the same reset seed reproduces it exactly, also for planners that
    take minutes per episode) and read the plotted quantities along the way.

    :return: the plotted rows, the rendered frames, why there are none, and the episode's index.
    """
    env = gym.make(entry["env_id"], render_mode="rgb_array", **entry["env_kwargs"])
    all_demos = load_demos(task)
    returns = all_demos.episode_returns()
    episode = int(np.argsort(returns)[len(returns) // 2])
    start, end = all_demos.episode_bounds()[episode]
    acts, recorded = all_demos.acts[start:end], all_demos.rewards[start:end]
    u = env.unwrapped
    env.reset(seed=entry["seed"] + episode)  # episode i of the demos was reset with seed + i
    rows: dict[str, list[float]] = {"head_z": [], "com_vx": [], "reward": []}
    frames, note = [], ""
    for t, action in enumerate(acts):
        _, reward, terminated, truncated, info = env.step(action)
        rows["head_z"].append(u.readings().head_z)
        rows["com_vx"].append(info["com_vx"])
        rows["reward"].append(reward)
        if t in frames_at and not note:
            try:
                frames.append(env.render())
            except SbilError as e:
                note = str(e)
        if terminated or truncated:
            break
    env.close()
    if not np.allclose(rows["reward"], recorded[:len(rows["reward"])], atol=1e-5):
        raise SbilError(f"Replaying {task}'s demo actions does not give its recorded rewards (another MuJoCo build?).")
    return {k: np.array(v) for k, v in rows.items()}, frames, note, episode


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("docs/humanoid"))
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    tasks = {k: v for k, v in read_manifest()["tasks"].items() if k.startswith("h1_")}
    if not tasks:
        raise SbilError("No humanoid experts are shipped yet: python scripts/humanoid_experts.py h1_sit")
    frames_at = [0, 50, 100, 200, 400, 999]
    for task, entry in sorted(tasks.items()):
        rows, frames, note, episode = record(task, entry, frames_at)
        dt = 0.02
        t = np.arange(len(rows["reward"])) * dt
        fig, axes = plt.subplots(3, 1, figsize=(7, 6), sharex=True)
        for ax, key, label in zip(axes, ("head_z", "com_vx", "reward"), ("head height (m)", "forward CoM velocity (m/s)", "reward per step")):
            ax.plot(t, rows[key], lw=1)
            ax.set_ylabel(label)
            ax.grid(alpha=0.3)
        axes[0].set_title(f"{task}: median expert episode ({episode + 1} of {entry['episodes']}), return {rows['reward'].sum():.0f}\n"
                          f"(mean over all {entry['expert_return_mean']:.0f}, bar {entry.get('floor')})")
        axes[-1].set_xlabel("time (s)")
        fig.tight_layout()
        fig.savefig(args.out / f"{task}.png", dpi=100)
        plt.close(fig)
        if frames:
            strip = np.concatenate(frames, axis=1)
            plt.imsave(args.out / f"{task}_strip.png", strip)
        print(f"{task}: return {rows['reward'].sum():.1f} -> {args.out / (task + '.png')}" + (f" (no frames: {note})" if note else ""))
    return 0


if __name__ == "__main__":
    run_main(main)
