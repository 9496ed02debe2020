"""sbil's humanoid tasks (walk, sit, crawl), registered with gymnasium when ``sbil`` is imported.

    import gymnasium as gym, sbil
    env = gym.make("sbil/HumanoidSit-v0")            # gymnasium's humanoid, no extra needed
    env = gym.make("sbil/H1Walk-v0")                 # Unitree H1: pip install -e .[h1]
    env = gym.make("sbil/DMCCheetahRun-v0")          # DeepMind Control: the dmc extra (see dmc.py)

Installed as the package ``sbil_envs`` (the folder ``envs/``).
"""

from __future__ import annotations

from typing import Optional

import gymnasium as gym

from . import dmc
from .humanoid_env import HumanoidTaskEnv
from .robots import ROBOTS, h1_available
from .tasks import TASKS
from .tolerance import tolerance

__all__ = ["HumanoidTaskEnv", "ENV_IDS", "DMC_ENV_IDS", "missing_extra", "env_id", "tolerance", "ROBOTS", "TASKS"]

_PREFIX = {"h1": "H1", "humanoid": "Humanoid"}
EPISODE_STEPS = 1000


def env_id(robot: str, task: str) -> str:
    return f"sbil/{_PREFIX[robot]}{task.capitalize()}-v0"


ENV_IDS = [env_id(robot, task) for robot in ROBOTS for task in TASKS]
DMC_ENV_IDS = list(dmc.DMC_TASKS)


def missing_extra(env_id: str) -> Optional[str]:
    """The optional extra that ``env_id`` needs and this environment lacks (``None``: makeable)."""
    if env_id in DMC_ENV_IDS and not dmc.dmc_available():
        return "dmc (a separate environment with mujoco 3.17)"
    if env_id.startswith("sbil/H1") and not h1_available():
        return "h1"
    return None


def register() -> None:
    for robot in ROBOTS:
        for task in TASKS:
            if env_id(robot, task) not in gym.registry:
                gym.register(
                    id=env_id(robot, task),
                    entry_point="sbil_envs.humanoid_env:HumanoidTaskEnv",
                    kwargs={"robot": robot, "task": task},
                    max_episode_steps=EPISODE_STEPS,
                )
    dmc.register()


register()
