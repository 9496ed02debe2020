#!/usr/bin/env python
"""Experts for the H1 walk / sit / crawl tasks, planned with the simulator as a privileged model.

    python scripts/humanoid_experts.py h1_sit                     # open-loop search, then ship demos
    python scripts/humanoid_experts.py h1_crawl --planner mpc     # model-predictive control, ship demos
    python scripts/humanoid_experts.py h1_walk --no-ship          # search only; print the result

Why these methods: on this 2-core CPU, SAC reaches the H1 bars only after millions of steps. H1's
tasks use position actuators, so two planners that use the simulator do it in minutes to an hour:
- ``--planner cem`` (open loop): a controller that ramps the joint targets to a task pose (and
  oscillates them in an alternating gait) has ~20 parameters; the cross-entropy method finds them,
  with the task reward itself as the objective. Enough to sit, not to move (no feedback).
- ``--planner mpc`` (closed loop, :class:`sbil.experts.mpc.PredictiveSampling`): re-plans the joint
  targets every 1-2 control steps from the simulator's state, over a 0.6-0.7 s horizon, scoring
  rollouts with the task reward plus planning-only shaping (``TASKS[...]["mpc"]``). 2.5-3.5 min per
  episode on one core. Walking also looks 2 s ahead by running that planner on a copy of the
  simulator along a few branches (:class:`sbil.experts.mpc.BranchingPlanner`, ``TASKS[...]["branching"]``):
  ~4x the cost, and the falls that kept it below its bar are gone.
The demos are deterministic rollouts of the task exactly as defined (fixed 1000-step episodes,
unshaped reward); the manifest records the bar and whether the expert meets it.
"""

from __future__ import annotations

import argparse
import json
import shlex
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, Optional, Sequence

import gymnasium as gym
import numpy as np
from tqdm.auto import tqdm

import sbil  # noqa: F401  (registers the tasks)
from sbil.cli import run_main
from sbil.errors import SbilError
from sbil.experts.shipping import ship_demos
from sbil.experts.controllers import OpenLoopController
from sbil.experts.policies import load_controller
from sbil.experts.mpc import BranchingPlanner, PredictiveSampling

POSE_JOINTS = ("hip_pitch", "knee", "ankle", "shoulder_pitch", "shoulder_roll", "elbow", "torso")
GAIT_JOINTS = ("hip_pitch", "knee", "ankle", "shoulder_pitch")

# Per task: env, bar, starting pose, whether it walks (oscillates), and the search spread.
TASKS: dict[str, dict[str, Any]] = {
    "h1_sit": {"env_id": "sbil/H1Sit-v0", "floor": 750.0, "gait": False, "spread": 0.3,
               "pose": {"hip_pitch": -1.57, "knee": 1.57, "ankle": 0.0}},
    "h1_crawl": {"env_id": "sbil/H1Crawl-v0", "floor": 700.0, "gait": True, "spread": 0.4, "amplitude": 0.2,
                 "pose": {"hip_pitch": -2.5, "knee": 1.0, "ankle": -0.5, "shoulder_pitch": -1.5, "elbow": 1.2},
                 # Shaping for the planner only: hold the pitched pose and crawling height harder than the
                 # reward does (a 0.7 s horizon does not see that a collapse stops all motion), keep the
                 # pelvis off the floor, and every body under 1 m so that it fits into the tunnel.
                 "mpc": {"samples": 32, "noise": 0.15, "horizon": 35, "knots": 4, "replan_every": 2,
                         "shaping": {"pose": 1.0, "crawling": 1.0, "pelvis_height": 0.5, "low_profile": 1.0}}},
    # Open loop: standing still (amplitude 0) is the best found; open-loop gaits fall.
    "h1_walk": {"env_id": "sbil/H1Walk-v0", "floor": 700.0, "gait": True, "spread": 0.2, "amplitude": 0.0,
                "pose": {"hip_pitch": -0.4, "knee": 0.8, "ankle": -0.4},
                # Planner shaping: the capture point over the feet, feet that move with the body, do not
                # cross and stay low (steps, not kicks), the pelvis at standing height (no crouched run),
                # torso, arms, hip yaw/roll and ankles near the standing pose (482; 409 without),
                # standing tall, moving (the reward's own terms, weighted up) but not above 1.1 m/s, and
                # the horizon's last step weighted 5x; re-planned every control step, on a planning
                # model with 4 ms physics steps (half the cost of the env's 2 ms, ~5 mm apart over 0.8 s); the
                # first plan leans forward (ankles -0.3: the nominal pose tips over backward).
                "mpc": {"samples": 32, "noise": 0.15, "horizon": 30, "knots": 4, "replan_every": 1, "substeps": 5,
                        "start": {"ankle": -0.3},
                        "shaping": {"balance": 1.0, "feet_follow": 1.0, "feet_apart": 0.5, "low_feet": 1.0, "pelvis_tall": 1.0,
                                    "upper_posture": 1.0, "hip_posture": 1.0, "standing": 1.0, "upright": 1.0, "move": 2.0, "speed_limit": 1.0, "terminal": 5.0}},
                # Around it, a 2 s closed-loop look-ahead: up to 6 branches of the planner per second of walking,
                # the first one reaching 0.72 reward per step taken (falls: 7 in 10 episodes without).
                "branching": {"branches": 6, "segment": 50, "lookahead": 50, "accept": 0.72}},
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


def make_planner(task: str) -> Any:
    """The task's planner: :class:`PredictiveSampling`, inside a :class:`BranchingPlanner` when the task has ``branching`` settings."""
    spec = TASKS[task]
    if "branching" in spec:
        return BranchingPlanner(spec["mpc"], **spec["branching"])
    return PredictiveSampling(**spec["mpc"])


def _mpc_episode(task: str, seed: int) -> dict:
    """One demo episode of the task's planner (a top-level function: run in worker processes)."""
    from sbil.sb3.rollouts import rollout_episodes

    return rollout_episodes(make_planner(task), TASKS[task]["env_id"], {}, 1, seed)[0]


def mpc_episodes(task: str, n_episodes: int, seed: int, workers: int) -> list[dict]:
    """Demo episodes of the planner, ``workers`` at a time (each episode is independent and deterministic)."""
    seeds = [seed + i for i in range(n_episodes)]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        return list(tqdm(pool.map(_mpc_episode, [task] * n_episodes, seeds), total=n_episodes, desc=f"mpc {task}"))


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("task", help=f"one of: {', '.join(TASKS)}")
    parser.add_argument("--planner", choices=("cem", "mpc"), default="cem", help="open-loop search, or model-predictive control")
    parser.add_argument("--iterations", type=int, default=20, help="CEM generations (0: ship the starting controller)")
    parser.add_argument("--population", type=int, default=16)
    parser.add_argument("--search-steps", type=int, default=1000, help="episode length during the search")
    parser.add_argument("--episodes", type=int, default=10, help="demo episodes of 1000 steps")
    parser.add_argument("--workers", type=int, default=1, help="mpc: episodes planned in parallel processes")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--init", type=Path, default=None, help="start the search from this controller JSON (an earlier result)")
    parser.add_argument("--save", type=Path, default=None, help="also write the found controller to this JSON file")
    parser.add_argument("--no-ship", action="store_true", help="search (cem) or plan the episodes (mpc) only; do not write expert_data/")
    parser.add_argument("--out", type=Path, default=None, help="expert_data folder (default: the repository's)")
    args = parser.parse_args(argv)
    if args.task not in TASKS:
        raise SbilError(f"Unknown humanoid expert task {args.task!r}; valid: {', '.join(TASKS)}.")
    spec = TASKS[args.task]
    if args.planner == "mpc" and "mpc" not in spec:
        raise SbilError(f"No planner settings for {args.task}; --planner mpc works for: {', '.join(t for t in TASKS if 'mpc' in TASKS[t])}.")
    if args.workers < 1 or args.episodes < 1:
        raise SbilError("--workers and --episodes must be >= 1.")
    episodes, steps_trained, planning_seconds = None, 0, 0.0
    if args.planner == "mpc":
        controller: Any = make_planner(args.task)
        t0 = time.time()
        episodes = mpc_episodes(args.task, args.episodes, 1000, args.workers)
        planning_seconds = time.time() - t0
        returns = [float(e["rewards"].sum()) for e in episodes]
        print(f"{args.task}: mpc returns {np.round(returns, 1).tolist()}, mean {np.mean(returns):.1f} (bar {spec['floor']})")
    else:
        init = load_controller(args.init) if args.init else None
        controller, best = search(args.task, args.iterations, args.population, args.search_steps, args.seed, init)
        steps_trained = args.iterations * args.population * args.search_steps
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
                           steps_trained=steps_trained, command=command, train_command=command, floor=spec["floor"],
                           data_dir=args.out, episodes=episodes, collect_seconds=planning_seconds)
    print(json.dumps({k: v for k, v in entry.items() if k != "files"}, indent=2))
    return 0


if __name__ == "__main__":
    run_main(main)
