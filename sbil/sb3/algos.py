"""The stock SB3 algorithms sbil trains with, by name."""

from __future__ import annotations

from stable_baselines3 import A2C, PPO, SAC, TD3
from stable_baselines3.common.base_class import BaseAlgorithm

from sbil.errors import SbilError

ALGOS: dict[str, type[BaseAlgorithm]] = {"ppo": PPO, "a2c": A2C, "sac": SAC, "td3": TD3}


def get_algo(name: str) -> type[BaseAlgorithm]:
    """The SB3 algorithm class for a lower-case name, with an error listing the valid ones."""
    try:
        return ALGOS[name.lower()]
    except KeyError:
        raise SbilError(f"Unknown algorithm {name!r}. Valid names: {', '.join(ALGOS)}.") from None
