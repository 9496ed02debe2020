"""Benchmark profiles: which tasks, algorithms and seeds a sweep runs, and each task's training recipe.

Profiles live in ``sbil/configs/benchmark.yaml`` (or a YAML of your own, ``path.yaml:name``);
:func:`plan_runs` turns one into :class:`RunSpec` s, one per (task, algorithm, seed), with the
manifest's expert and random returns for the normalised score.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Optional, Sequence

import yaml

from sbil.data import EXPERT_DATA_DIR, read_manifest
from sbil.errors import SbilError
from sbil.io import PathLike

PROFILES_FILE = Path(__file__).parent.parent / "configs" / "benchmark.yaml"
#: ``gail*`` / ``airl*``: imitation's trainers; ``gail_reward*``: GAIL's discriminator reward
#: (sbil.rewards.GailReward) through sbil's own train loop, as SMILING runs, so the two rewards
#: compare like for like; ``rl`` is the oracle: the same SB3 learner on the env's true reward.
ALGOS = ("smiling", "smiling_sa", "gail_reward", "gail_reward_so", "gail", "gail_so", "airl", "airl_so", "bc", "rl")
TRAIN_LOOP_ALGOS = ("smiling", "smiling_sa", "gail_reward", "gail_reward_so", "rl")
BACKENDS = ("local", "ray")
CURVE_KEYS = ("timesteps", "mean_return", "std_return", "mean_length", "wall_time")


@dataclasses.dataclass(frozen=True)
class TaskRecipe:
    """How every algorithm is trained on one task in a profile (see ``benchmark.yaml``)."""

    task: str
    algo: str
    total_timesteps: int
    algo_kwargs: dict = dataclasses.field(default_factory=dict)
    n_envs: int = 1
    eval_freq: int = 10_000
    n_eval_episodes: int = 5
    demo_episodes: Optional[int] = None
    smiling: dict = dataclasses.field(default_factory=dict)
    gail_round_steps: Optional[int] = None
    bc_epochs: int = 20
    env_kwargs: Optional[dict] = None  #: override the manifest's env kwargs (rarely needed)
    allow_other_env: bool = False  #: with env_kwargs that change the task: imitate the demos on it anyway
    normalize_obs: bool = False  #: the policy sees VecNormalize'd observations (reward learners and discriminators raw ones)
    #: the observation coordinates every learned reward sees (SMILING's score nets, GAIL / AIRL discriminators); the policy sees all
    reward_obs_dims: Optional[list] = None
    #: env steps between checkpoints of train-loop and GAIL / AIRL runs (None: a tenth of the budget, never more often than every 10k steps)
    checkpoint_freq: Optional[int] = None

    @property
    def checkpoint_every(self) -> int:
        # A stopped sweep loses at most a tenth of a run; tiny budgets would otherwise write a
        # checkpoint (replay buffer included) every few steps.
        return self.checkpoint_freq if self.checkpoint_freq is not None else max(self.total_timesteps // 10, 10_000)


@dataclasses.dataclass(frozen=True)
class Profile:
    name: str
    algos: tuple[str, ...]
    seeds: tuple[int, ...]
    tasks: dict[str, TaskRecipe]


@dataclasses.dataclass(frozen=True)
class RunSpec:
    """One run of a sweep: everything a worker needs, picklable."""

    algo: str
    seed: int
    recipe: TaskRecipe
    env_id: str
    env_kwargs: dict
    expert_return: float
    random_return: float
    run_dir: str
    data_dir: str

    @property
    def key(self) -> str:
        return f"{self.recipe.task}/{self.algo}/seed{self.seed}"


# ---- profiles ---------------------------------------------------------------------------------


def profile_names(path: PathLike = PROFILES_FILE) -> list[str]:
    return sorted(_read_yaml(path).get("profiles", {}))


def _read_yaml(path: PathLike) -> dict:
    try:
        data = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as e:
        raise SbilError(f"Cannot read benchmark profiles {path}: {e}") from None
    if not isinstance(data, dict):
        raise SbilError(f"Benchmark profile file {path} must hold a mapping with a 'profiles' key.")
    return data


def load_profile(name_or_path: str) -> Profile:
    """A shipped profile by name (``quick``, ``standard``, ``humanoid``) or a YAML file of profiles.

    A YAML path may name one of its profiles as ``path.yaml:name`` (default: its only profile).
    :raises SbilError: listing the valid names for an unknown profile, task key or algorithm.
    """
    path, _, wanted = name_or_path.partition(":") if name_or_path.endswith((".yaml", ".yml")) or ".yaml:" in name_or_path else ("", "", name_or_path)
    profiles = _read_yaml(path or PROFILES_FILE).get("profiles", {})
    if not wanted and path:
        if len(profiles) != 1:
            raise SbilError(f"{path} holds profiles {', '.join(profiles)}: pick one as {path}:<name>.")
        wanted = next(iter(profiles))
    if wanted not in profiles:
        raise SbilError(f"Unknown benchmark profile {wanted!r}; valid: {', '.join(sorted(profiles))} (or a profiles .yaml path).")
    raw = profiles[wanted]
    algos = tuple(raw.get("algos", ()))
    for algo in algos:
        check_algo(algo)
    fields = {f.name for f in dataclasses.fields(TaskRecipe)}
    tasks = {}
    for task, recipe in (raw.get("tasks") or {}).items():
        unknown = set(recipe) - fields
        if unknown:
            raise SbilError(f"Profile {wanted!r}, task {task!r}: unknown recipe keys {sorted(unknown)}; valid: {sorted(fields - {'task'})}.")
        try:
            tasks[task] = TaskRecipe(task=task, **recipe)
        except TypeError as e:
            raise SbilError(f"Profile {wanted!r}, task {task!r}: {e}") from None
        if tasks[task].total_timesteps <= 0:
            raise SbilError(f"Profile {wanted!r}, task {task!r}: total_timesteps must be positive.")
        if tasks[task].checkpoint_freq is not None and tasks[task].checkpoint_freq <= 0:
            raise SbilError(f"Profile {wanted!r}, task {task!r}: checkpoint_freq must be positive.")
    if not algos or not tasks or not raw.get("seeds"):
        raise SbilError(f"Profile {wanted!r} needs non-empty 'algos', 'seeds' and 'tasks'.")
    return Profile(wanted, algos, tuple(int(s) for s in raw["seeds"]), tasks)


def check_algo(name: str) -> None:
    if name not in ALGOS:
        raise SbilError(f"Unknown benchmark algorithm {name!r}; valid: {', '.join(ALGOS)}.")


def plan_runs(profile: Profile, out_dir: PathLike, data_dir: PathLike = EXPERT_DATA_DIR,
              algos: Optional[Sequence[str]] = None, tasks: Optional[Sequence[str]] = None,
              seeds: Optional[Sequence[int]] = None) -> list[RunSpec]:
    """Every run of the profile (optionally narrowed to some algorithms, tasks or seeds)."""
    manifest = read_manifest(data_dir)["tasks"]
    for algo in algos or ():
        check_algo(algo)
    for task in tasks or ():
        if task not in profile.tasks:
            raise SbilError(f"Task {task!r} is not in profile {profile.name!r}; valid: {', '.join(profile.tasks)}.")
    specs = []
    for task, recipe in profile.tasks.items():
        if tasks and task not in tasks:
            continue
        entry = manifest.get(task)
        if entry is None:
            raise SbilError(
                f"Task {task!r} has no shipped expert data (expert_data/manifest.json holds: {', '.join(sorted(manifest))}). "
                f"Make it with: python scripts/train_expert.py {task} && python scripts/collect_demos.py {task}"
            )
        env_kwargs = recipe.env_kwargs if recipe.env_kwargs is not None else entry.get("env_kwargs", {})
        for algo in algos or profile.algos:
            for seed in seeds if seeds is not None else profile.seeds:
                run_dir = Path(out_dir) / "runs" / task / algo / f"seed{seed}"
                specs.append(RunSpec(algo, int(seed), recipe, entry["env_id"], dict(env_kwargs), float(entry["expert_return_mean"]),
                                     float(entry["random_return_mean"]), str(run_dir), str(data_dir)))
    return specs


