"""The SMILING paper's DeepMind Control tasks as flat-observation gymnasium envs.

    import gymnasium as gym, sbil
    env = gym.make("sbil/DMCCheetahRun-v0")       # needs the dmc extra, see DMC_EXTRA

shimmy exposes dm_control tasks as ``dm_control/<domain>-<task>-v0`` with a dict observation;
SB3's MLP policies and our reward learners want one vector, so these ids flatten it (keys in
dm_control's order). Episodes are dm_control's own fixed 1000 steps (truncation, never termination),
as in the paper.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym

from sbil.errors import SbilError

DMC_EXTRA = (
    "pip install -e .[dmc] in a separate environment: dm-control's tasks need mujoco==3.17.0 and "
    "do not load with mujoco 4 (the H1 tasks need mujoco 4)"
)

# sbil id suffix -> (dm_control domain, task)
DMC_TASKS = {
    "DMCCheetahRun": ("cheetah", "run"),
    "DMCBallInCupCatch": ("ball_in_cup", "catch"),
}
REQUIRED_MUJOCO = "3.17."


def make_dmc_env(domain: str, task: str, **kwargs: Any) -> gym.Env:
    """``dm_control/<domain>-<task>-v0`` from shimmy, with its dict observation flattened."""
    try:
        import mujoco
        import shimmy
    except ImportError:
        raise SbilError(f"The DeepMind Control tasks need dm-control and shimmy, an optional extra: {DMC_EXTRA}.") from None
    if not mujoco.__version__.startswith(REQUIRED_MUJOCO):
        raise SbilError(
            f"dm-control's tasks do not load with the installed mujoco {mujoco.__version__}; "
            f"they need mujoco=={REQUIRED_MUJOCO}0. Fix: {DMC_EXTRA}."
        )
    gym.register_envs(shimmy)
    return gym.wrappers.FlattenObservation(gym.make(f"dm_control/{domain}-{task}-v0", **kwargs))


def register() -> None:
    for name, (domain, task) in DMC_TASKS.items():
        env_id = f"sbil/{name}-v0"
        if env_id not in gym.registry:
            gym.register(
                id=env_id,
                entry_point="sbil_envs.dmc:make_dmc_env",
                kwargs={"domain": domain, "task": task},
                max_episode_steps=1000,
            )


def dmc_available() -> bool:
    """Whether the DeepMind Control tasks can be made here (dmc extra with mujoco 3.17)."""
    try:
        import mujoco
        import shimmy  # noqa: F401
    except ImportError:
        return False
    return mujoco.__version__.startswith(REQUIRED_MUJOCO)
