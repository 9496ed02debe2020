"""The SMILING paper's DeepMind Control tasks as flat-observation gymnasium envs.

    import gymnasium as gym, sbil
    env = gym.make("sbil/DMCCheetahRun-v0")       # needs the dmc extra, see DMC_EXTRA

shimmy exposes dm_control tasks as ``dm_control/<domain>-<task>-v0`` with a dict observation;
SB3's MLP policies and our reward learners want one vector, so these ids flatten it (keys in
dm_control's order). Episodes are dm_control's own fixed 1000 steps (truncation, never termination),
as in the paper.
"""

from __future__ import annotations

from typing import Any, Optional

import gymnasium as gym

from .errors import EnvError

DMC_EXTRA = (
    "pip install -e .[dmc] in a separate environment: dm-control's tasks need mujoco==3.17.0 and "
    "do not load with mujoco 4 (the H1 tasks need mujoco 4)"
)

# sbil id -> (dm_control domain, task)
DMC_TASKS = {
    "sbil/DMCCheetahRun-v0": ("cheetah", "run"),
    "sbil/DMCBallInCupCatch-v0": ("ball_in_cup", "catch"),
}
REQUIRED_MUJOCO = "3.17."


def _unavailable() -> Optional[str]:
    """Why the DeepMind Control tasks cannot be made here, with the fix; ``None`` when they can."""
    try:
        import mujoco
        import shimmy  # noqa: F401
    except ImportError:
        return f"The DeepMind Control tasks need dm-control and shimmy, an optional extra: {DMC_EXTRA}."
    if not mujoco.__version__.startswith(REQUIRED_MUJOCO):
        return (f"dm-control's tasks do not load with the installed mujoco {mujoco.__version__}; "
                f"they need mujoco=={REQUIRED_MUJOCO}0. Fix: {DMC_EXTRA}.")
    return None


def dmc_available() -> bool:
    """Whether the DeepMind Control tasks can be made here (dmc extra with mujoco 3.17)."""
    return _unavailable() is None


def make_dmc_env(domain: str, task: str, **kwargs: Any) -> gym.Env:
    """``dm_control/<domain>-<task>-v0`` from shimmy, with its dict observation flattened."""
    problem = _unavailable()
    if problem is not None:
        raise EnvError(problem)
    import shimmy

    gym.register_envs(shimmy)
    return gym.wrappers.FlattenObservation(gym.make(f"dm_control/{domain}-{task}-v0", **kwargs))


def register() -> None:
    for env_id, (domain, task) in DMC_TASKS.items():
        if env_id not in gym.registry:
            gym.register(
                id=env_id,
                entry_point="sbil_envs.dmc:make_dmc_env",
                kwargs={"domain": domain, "task": task},
                max_episode_steps=1000,
            )

