#!/usr/bin/env python
"""How much the humanoid task rewards add to an env step, measured side by side.

For every sbil/* humanoid task, three ways of taking the same 1000 random-action steps from the
same reset, interleaved in rounds so machine noise hits all alike:
  physics:   bare ``mj_step`` with the env's substeps;
  no reward: ``env.step`` with the task reward replaced by a constant (action checks, observation);
  env:       the real ``env.step``.
"reward adds" = env time / no-reward time - 1. Writes results/speed/envs.{json,md}.

    python scripts/bench_envs.py            # ~1 minute
    python scripts/bench_envs.py --quick
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path
from typing import Sequence

import gymnasium as gym
import mujoco
import numpy as np

import sbil  # noqa: F401  (registers the tasks)
from sbil.cli import run_main
from sbil.io import atomic_write
from sbil_envs import ENV_IDS


def _rate(fn, n: int) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    return n / (time.perf_counter() - t0)


def bench(env_id: str, steps: int, rounds: int) -> dict:
    env = gym.make(env_id).unwrapped
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    actions = rng.uniform(-1, 1, (steps, env.action_space.shape[0]))
    ctrls = np.array([env.action_to_ctrl(a) for a in actions])
    model, data, n_sub = env.model, env.data, env.robot.n_substeps
    i = [0]

    def bare() -> None:
        data.ctrl[:] = ctrls[i[0] % steps]
        mujoco.mj_step(model, data, nstep=n_sub)
        i[0] += 1

    def full() -> None:
        env.step(actions[i[0] % steps])
        i[0] += 1

    real = env.task
    constant = dataclasses.replace(real, reward=lambda readings, robot: (0.0, {}))
    rates: dict[str, list[float]] = {"physics": [], "no_reward": [], "env": []}
    for _ in range(rounds):  # interleaved: all see the same machine load
        for name, fn, task in (("physics", bare, real), ("no_reward", full, constant), ("env", full, real)):
            env.task = task
            env.reset(seed=0)
            i[0] = 0
            rates[name].append(_rate(fn, steps))
    env.task = real
    b, n, f = (float(np.median(rates[k])) for k in ("physics", "no_reward", "env"))
    return {"env_id": env_id, "physics_steps_per_s": b, "no_reward_steps_per_s": n, "env_steps_per_s": f,
            "reward_overhead": n / f - 1.0, "env_overhead": b / f - 1.0}


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer steps (a smoke test)")
    parser.add_argument("--out", default="results/speed", help="output folder")
    args = parser.parse_args(argv)
    steps, rounds = (100, 1) if args.quick else (1000, 5)
    rows = []
    for env_id in ENV_IDS:
        try:
            rows.append(bench(env_id, steps, rounds))
        except sbil.errors.SbilError as e:  # the H1 extra is not installed
            print(f"{env_id}: skipped ({e})")
            continue
        r = rows[-1]
        print(f"{env_id}: physics {r['physics_steps_per_s']:.0f} steps/s, env {r['env_steps_per_s']:.0f} steps/s; "
              f"the reward adds {100 * r['reward_overhead']:.1f}%, the whole env {100 * r['env_overhead']:.1f}%")
    lines = ["| task | physics (steps/s) | env.step, constant reward | env.step | reward adds | whole env adds |", "|---|---|---|---|---|---|"]
    lines += [f"| {r['env_id']} | {r['physics_steps_per_s']:.0f} | {r['no_reward_steps_per_s']:.0f} | {r['env_steps_per_s']:.0f} | "
              f"{100 * r['reward_overhead']:.1f}% | {100 * r['env_overhead']:.1f}% |" for r in rows]
    out = Path(args.out)
    atomic_write(out / "envs.json", json.dumps(rows, indent=2))
    atomic_write(out / "envs.md", "Produced by `python scripts/bench_envs.py` (1 thread, median of 5 interleaved rounds).\n\n" + "\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    run_main(main)
