"""sbil's environments: the humanoid tasks (walk, sit, crawl) and the DeepMind Control ids.

    import gymnasium as gym, sbil
    env = gym.make("sbil/HumanoidSit-v0")            # gymnasium's humanoid, no extra needed
    env = gym.make("sbil/H1Walk-v0")                 # Unitree H1: pip install -e .[h1]
    env = gym.make("sbil/DMCCheetahRun-v0")          # DeepMind Control: the dmc extra (see dmc.py)

Installed as the package ``sbil_envs`` (the folder ``envs/``). It holds environments only and
imports nothing from ``sbil``: the experts that solve these tasks (planners, controllers) live in
:mod:`sbil.experts`. Importing it (``import sbil`` does) registers the ids with gymnasium by
string entry points, so no MuJoCo model is built, and ``mujoco`` is not even imported, until an
env is made.

- :mod:`~sbil_envs.humanoid_env`: :class:`~sbil_envs.humanoid_env.HumanoidTaskEnv`, the env;
- :mod:`~sbil_envs.robots`, :mod:`~sbil_envs.tasks`: the two robots and the three tasks' rewards;
- :mod:`~sbil_envs.tolerance`: dm_control's ``tolerance``; :mod:`~sbil_envs.poses`: scripted poses
  that check every height band and prop;
- :mod:`~sbil_envs.dmc`: the DeepMind Control ids; :mod:`~sbil_envs.errors`: :class:`EnvError`.
"""

from __future__ import annotations

from typing import Optional

import gymnasium as gym

from .dmc import DMC_TASKS
from .dmc import register as register_dmc
from .errors import EnvError

__all__ = ["ENV_IDS", "DMC_ENV_IDS", "EnvError", "env_id", "missing_extra", "register"]

# The names of sbil_envs.robots.ROBOTS and sbil_envs.tasks.TASKS, here so that registering needs
# neither module (both import mujoco); a test checks they agree.
ROBOT_NAMES = ("h1", "humanoid")
TASK_NAMES = ("walk", "sit", "crawl")
_PREFIX = {"h1": "H1", "humanoid": "Humanoid"}
EPISODE_STEPS = 1000


def env_id(robot: str, task: str) -> str:
    return f"sbil/{_PREFIX[robot]}{task.capitalize()}-v0"


ENV_IDS = [env_id(robot, task) for robot in ROBOT_NAMES for task in TASK_NAMES]
DMC_ENV_IDS = list(DMC_TASKS)


def missing_extra(env_id: str) -> Optional[str]:
    """The optional extra that ``env_id`` needs and this environment lacks (``None``: makeable)."""
    if env_id in DMC_ENV_IDS:
        from .dmc import dmc_available

        return None if dmc_available() else "dmc (a separate environment with mujoco 3.17)"
    if env_id.startswith("sbil/H1"):
        from .robots import h1_available

        return None if h1_available() else "h1"
    return None


def register() -> None:
    """Register every id with gymnasium (idempotent); entry points are strings, imported on ``make``."""
    for robot in ROBOT_NAMES:
        for task in TASK_NAMES:
            if env_id(robot, task) not in gym.registry:
                gym.register(
                    id=env_id(robot, task),
                    entry_point="sbil_envs.humanoid_env:HumanoidTaskEnv",
                    kwargs={"robot": robot, "task": task},
                    max_episode_steps=EPISODE_STEPS,
                )
    register_dmc()


register()
