"""The expert recipes of ``sbil/configs/experts.yaml``: which algorithm, env and budget make each task's expert."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import yaml

from sbil.errors import SbilError

EXPERT_CONFIGS = Path(__file__).parent.parent / "configs" / "experts.yaml"


@dataclass
class ExpertConfig:
    """One task's expert recipe (see ``sbil/configs/experts.yaml``)."""

    task: str
    env_id: str
    algo: str
    n_timesteps: int
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    train_env_kwargs: dict[str, Any] = field(default_factory=dict)
    hyperparams: dict[str, Any] = field(default_factory=dict)
    n_envs: int = 1
    eval_freq: int = 20_000
    n_eval_episodes: int = 5
    checkpoint_freq: int = 25_000
    n_demo_episodes: int = 25
    floor: Optional[float] = None  #: the quality bar of the expert's mean return (recorded in the manifest)


def load_expert_configs(path: Optional[Path] = None) -> dict[str, ExpertConfig]:
    """All expert recipes, keyed by task name."""
    raw = yaml.safe_load(Path(path or EXPERT_CONFIGS).read_text())
    names = {f.name for f in dataclasses.fields(ExpertConfig)}
    configs = {}
    for task, entry in raw.items():
        unknown = set(entry) - names
        if unknown:
            raise SbilError(f"Expert recipe {task!r} has unknown keys {sorted(unknown)}; valid keys: {sorted(names - {'task'})}.")
        configs[task] = ExpertConfig(task=task, **entry)
    return configs


def get_expert_config(task: str) -> ExpertConfig:
    """The recipe for ``task``, with an error listing the known tasks."""
    configs = load_expert_configs()
    if task not in configs:
        raise SbilError(f"No expert recipe for task {task!r}. Known tasks: {', '.join(configs)}.")
    return configs[task]


