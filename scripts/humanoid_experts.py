#!/usr/bin/env python
"""Experts for the H1 walk / sit / crawl tasks: open-loop joint-target controllers found by search.

    python scripts/humanoid_experts.py h1_sit              # search, then ship demos to expert_data/
    python scripts/humanoid_experts.py h1_crawl --iterations 40
    python scripts/humanoid_experts.py h1_walk --no-ship   # search only; print the result

Why this method: H1's tasks use position actuators, so a controller that ramps the joint targets
to a task pose (and, for locomotion, oscillates them in an alternating gait) is a complete policy
with ~20 parameters. The cross-entropy method finds them with the simulator as a privileged model,
in minutes on one core, where SAC would need millions of steps. Its objective is the task reward
itself (no shaping). The demos are deterministic rollouts of the task exactly as defined (fixed
1000-step episodes); the manifest records the bar and whether the expert meets it.
"""

from __future__ import annotations

import argparse
import json
import shlex
import tempfile
from pathlib import Path
from typing import Any, Optional, Sequence

import gymnasium as gym
import numpy as np
from tqdm.auto import tqdm

import sbil  # noqa: F401  (registers the tasks)
from sbil.cli import run_main
from sbil.errors import SbilError
from sbil.shipping import ship_demos
from sbil_envs.controllers import OpenLoopController, load_controller

POSE_JOINTS = ("hip_pitch", "knee", "ankle", "shoulder_pitch", "shoulder_roll", "elbow", "torso")
GAIT_JOINTS = ("hip_pitch", "knee", "ankle", "shoulder_pitch")

# Per task: env, bar, starting pose, whether it walks (oscillates), and the search spread.
TASKS: dict[str, dict[str, Any]] = {
    "h1_sit": {"env_id": "sbil/H1Sit-v0", "floor": 750.0, "gait": False, "spread": 0.3,
               "pose": {"hip_pitch": -1.57, "knee": 1.57, "ankle": 0.0}},
    "h1_crawl": {"env_id": "sbil/H1Crawl-v0", "floor": 700.0, "gait": True, "spread": 0.4, "amplitude": 0.2,
                 "pose": {"hip_pitch": -2.5, "knee": 1.0, "ankle": -0.5, "shoulder_pitch": -1.5, "elbow": 1.2}},
    # Starts from standing still (amplitude 0): the best found so far; open-loop gaits fall.
    "h1_walk": {"env_id": "sbil/H1Walk-v0", "floor": 700.0, "gait": True, "spread": 0.2, "amplitude": 0.0,
                "pose": {"hip_pitch": -0.4, "knee": 0.8, "ankle": -0.4}},
}


def decode(theta: np.ndarray, gait: bool) -> OpenLoopController:
    """Parameter vector -> controller: pose targets, then (gait) amplitudes, phases and the period."""
    n = len(POSE_JOINTS)
    pose = {j: float(v) for j, v in zip(POSE_JOINTS, theta[:n])}
    if not gait:
        return OpenLoopController(pose, ramp=50)
    m = len(GAIT_JOINTS)
    amplitude = {f"left_{j}": float(abs(v)) for j, v in zip(GAIT_JOINTS, theta[n:n + m])}
    phase = {f"left_{j}": float(v) for j, v in zip(GAIT_JOINTS, theta[n + m:n + 2 * m])}
    period = int(np.clip(round(theta[n + 2 * m] * 10), 10, 100))  # searched in units of 10 steps
    return OpenLoopController(pose, ramp=50, amplitude=amplitude, phase=phase, period=period)


def initial(spec: dict[str, Any], init: Optional[OpenLoopController] = None) -> np.ndarray:
    """The search's starting point: the task's starting pose, or an earlier search's controller."""
    pose_src = init.pose if init is not None else spec["pose"]
    pose = [pose_src.get(j, 0.0) for j in POSE_JOINTS]
    if not spec["gait"]:
        return np.array(pose)
    if init is None:
        return np.array(pose + [spec["amplitude"]] * len(GAIT_JOINTS) + [0.0] * len(GAIT_JOINTS) + [4.0])
    amp = [init.amplitude.get(f"left_{j}", 0.0) for j in GAIT_JOINTS]
    phase = [init.phase.get(f"left_{j}", 0.0) for j in GAIT_JOINTS]
    return np.array(pose + amp + phase + [init.period / 10.0])


def episode_return(env: Any, controller: OpenLoopController, seed: int, steps: int) -> float:
    env.reset(seed=seed)
    controller.bind(env)
    total = 0.0
    for _ in range(steps):
        action, _ = controller.predict(None)
        total += env.step(action)[1]
    return total


def search(task: str, iterations: int, population: int, steps: int, seed: int,
           init: Optional[OpenLoopController] = None) -> tuple[OpenLoopController, float]:
    """Cross-entropy method over the controller's parameters; returns the best one found."""
    spec = TASKS[task]
    env = gym.make(spec["env_id"]).unwrapped
    rng = np.random.default_rng(seed)
    mean = initial(spec, init)
    std = np.full_like(mean, spec["spread"])
    if spec["gait"]:
        std[-1] = 1.5  # the period, in units of 10 steps
    best_theta, best = mean.copy(), episode_return(env, decode(mean, spec["gait"]), seed, steps)
    n_elite = max(2, population // 4)
    for it in tqdm(range(iterations), desc=f"search {task}"):
        thetas = mean + std * rng.standard_normal((population, len(mean)))
        scores = np.array([episode_return(env, decode(t, spec["gait"]), seed + it, steps) for t in thetas])
        elite = thetas[np.argsort(scores)[-n_elite:]]
        mean, std = elite.mean(0), 0.8 * std + 0.2 * elite.std(0)
        if scores.max() > best:
            best, best_theta = float(scores.max()), thetas[int(np.argmax(scores))].copy()
        tqdm.write(f"iteration {it + 1}: best of generation {scores.max():.1f}, best so far {best:.1f} (over {steps} steps)")
    return decode(best_theta, spec["gait"]), best


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("task", help=f"one of: {', '.join(TASKS)}")
    parser.add_argument("--iterations", type=int, default=20, help="CEM generations (0: ship the starting controller)")
    parser.add_argument("--population", type=int, default=16)
    parser.add_argument("--search-steps", type=int, default=1000, help="episode length during the search")
    parser.add_argument("--episodes", type=int, default=10, help="demo episodes of 1000 steps")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--init", type=Path, default=None, help="start the search from this controller JSON (an earlier result)")
    parser.add_argument("--save", type=Path, default=None, help="also write the found controller to this JSON file")
    parser.add_argument("--no-ship", action="store_true", help="search only; do not write expert_data/")
    parser.add_argument("--out", type=Path, default=None, help="expert_data folder (default: the repository's)")
    args = parser.parse_args(argv)
    if args.task not in TASKS:
        raise SbilError(f"Unknown humanoid expert task {args.task!r}; valid: {', '.join(TASKS)}.")
    spec = TASKS[args.task]
    init = load_controller(args.init) if args.init else None
    controller, best = search(args.task, args.iterations, args.population, args.search_steps, args.seed, init)
    print(f"{args.task}: best search return {best:.1f}; controller {json.dumps(controller.to_dict())}")
    if args.save:
        controller.save(args.save)
    if args.no_ship:
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "controller.json"
        controller.save(path)
        command = "python scripts/humanoid_experts.py " + " ".join(shlex.quote(a) for a in argv)
        entry = ship_demos(args.task, spec["env_id"], {}, controller, "controller", path, args.episodes, seed=1000,
                           steps_trained=args.iterations * args.population * args.search_steps, command=command,
                           train_command=command, floor=spec["floor"], data_dir=args.out)
    print(json.dumps({k: v for k, v in entry.items() if k != "files"}, indent=2))
    return 0


if __name__ == "__main__":
    run_main(main)
