"""Turning an expert into shipped data: its demos, its policy file and its manifest entry."""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Optional

import gymnasium
import mujoco
import numpy as np
import stable_baselines3

from sbil.checkpoint import latest_checkpoint
from sbil.data import EXPERT_DATA_DIR, MANIFEST_NAME, demos_from_episodes, read_manifest, save_demos
from sbil.errors import SbilError
from sbil.experts.policies import load_expert_policy
from sbil.experts.recipes import ExpertConfig, load_expert_configs
from sbil.experts.training import train_expert
from sbil.io import PathLike, atomic_path, atomic_write_json, sha256_file
from sbil.sb3.rollouts import rollout_episodes


def _policy_file(run_dir: Path, which: str) -> Path:
    if which == "best" and (run_dir / "best_model.zip").is_file():
        return run_dir / "best_model.zip"
    found = latest_checkpoint(run_dir / "checkpoints")
    if found is None:
        raise SbilError(f"{run_dir} holds no trained expert (no best_model.zip, no checkpoint). Train one: python scripts/train_expert.py <task> --out {run_dir}")
    return found[0] / "model.zip"


def ship_demos(
    task: str,
    env_id: str,
    env_kwargs: dict[str, Any],
    policy: Any,
    algo: str,
    policy_file: Path,
    n_episodes: int,
    n_random: int = 10,
    seed: int = 1000,
    steps_trained: int = 0,
    command: str = "",
    train_command: str = "",
    floor: Optional[float] = None,
    data_dir: Optional[PathLike] = None,
    episodes: Optional[list[dict]] = None,
    collect_seconds: Optional[float] = None,
) -> dict[str, Any]:
    """Roll out ``policy`` deterministically, save its demos and policy file under
    ``<data_dir>/<task>/``, and record the task in ``manifest.json``.

    :param policy: anything :func:`~sbil.sb3.rollouts.rollout_episodes` takes (SB3 model or controller).
    :param policy_file: the file that reloads it (copied as ``expert.zip`` / ``expert.json``).
    :param floor: the quality bar; the manifest records it and whether the expert meets it.
    :param episodes: the policy's episodes when already rolled out (e.g. in parallel processes), as
        :func:`~sbil.sb3.rollouts.rollout_episodes` returns them for seeds ``seed, seed + 1, ...``;
        ``collect_seconds`` is then the wall time they took (recorded in the manifest).
    :return: the task's manifest entry.
    """
    data_dir = Path(data_dir or EXPERT_DATA_DIR)
    t0 = time.time()
    if episodes is None:
        episodes = rollout_episodes(policy, env_id, env_kwargs, n_episodes, seed, progress_bar=True)
    elif len(episodes) != n_episodes:
        raise SbilError(f"ship_demos got {len(episodes)} episodes for n_episodes={n_episodes}.")
    random_eps = rollout_episodes(None, env_id, env_kwargs, n_random, seed + 100_000)
    expert_returns = np.array([e["rewards"].sum() for e in episodes])
    random_returns = np.array([e["rewards"].sum() for e in random_eps])
    task_dir = data_dir / task
    task_dir.mkdir(parents=True, exist_ok=True)
    meta = {"env_id": env_id, "env_kwargs": env_kwargs, "task": task, "seed": seed, "terminal": any(e["terminated"] for e in episodes)}
    save_demos(demos_from_episodes(episodes, meta), task_dir / "demos.npz")
    policy_name = "expert" + Path(policy_file).suffix
    with atomic_path(task_dir / policy_name) as tmp:
        shutil.copyfile(policy_file, tmp)
    files = {f"{task}/demos.npz": sha256_file(task_dir / "demos.npz"), f"{task}/{policy_name}": sha256_file(task_dir / policy_name)}
    entry = {
        "env_id": env_id,
        "env_kwargs": env_kwargs,
        "algo": algo,
        "steps_trained": int(steps_trained),
        "episodes": n_episodes,
        "steps": int(sum(len(e["rewards"]) for e in episodes)),
        "expert_return_mean": float(expert_returns.mean()),
        "expert_return_std": float(expert_returns.std()),
        "random_return_mean": float(random_returns.mean()),
        "random_return_std": float(random_returns.std()),
        "random_episodes": n_random,
        "floor": floor,
        "meets_floor": None if floor is None else bool(expert_returns.mean() >= floor),
        "demos": f"{task}/demos.npz",
        "policy": f"{task}/{policy_name}",
        "seed": seed,
        "command": command or f"python scripts/collect_demos.py {task}",
        "train_command": train_command,
        "versions": {
            "gymnasium": gymnasium.__version__,
            "mujoco": mujoco.__version__,
            "stable_baselines3": stable_baselines3.__version__,
            "python": sys.version.split()[0],
        },
        "collect_seconds": round(time.time() - t0 + (collect_seconds or 0.0), 1),
        "files": files,
    }
    manifest = read_manifest(data_dir)
    manifest.setdefault("tasks", {})[task] = entry
    manifest["format"] = 1
    atomic_write_json(data_dir / MANIFEST_NAME, manifest)
    return entry


def ship_expert(
    cfg: ExpertConfig,
    run_dir: PathLike,
    n_episodes: Optional[int] = None,
    n_random: int = 10,
    seed: int = 1000,
    which: str = "best",
    command: str = "",
    data_dir: Optional[PathLike] = None,
) -> dict[str, Any]:
    """Collect demos from an SB3 expert run (:func:`ship_demos` with the run's policy).

    :param cfg: the task's recipe (env id and the fixed-horizon env kwargs).
    :param run_dir: the expert's training run folder.
    :param n_episodes: demo episodes (default: the recipe's ``n_demo_episodes``).
    :param n_random: episodes of a uniform random policy, for the normalisation floor.
    :param which: ``"best"`` (best evaluation) or ``"final"`` (latest checkpoint) policy.
    :return: the task's manifest entry.
    """
    run_dir = Path(run_dir)
    policy_path = _policy_file(run_dir, which)
    model = load_expert_policy(policy_path, cfg.algo)
    # The policy's own step count: the best model may predate the end of its run (result.json).
    steps = model.num_timesteps
    if not steps and (run_dir / "result.json").is_file():
        steps = json.loads((run_dir / "result.json").read_text()).get("n_timesteps", 0)
    return ship_demos(
        cfg.task, cfg.env_id, cfg.env_kwargs, model, cfg.algo, policy_path, int(n_episodes or cfg.n_demo_episodes), n_random, seed,
        steps_trained=int(steps), command=command,
        train_command=f"python scripts/train_expert.py {cfg.task}", floor=cfg.floor, data_dir=data_dir,
    )


def make_task_data(task: str, cache_dir: Path, progress_bar: bool = True) -> Path:
    """Train a quick expert for ``task`` with its recipe and collect its demos into
    ``cache_dir/expert_data`` (resumes a cut-off expert run; later calls find the demos there).

    What ``demos.make_missing=true`` does for a task the repository does not ship; without that
    opt-in, :func:`sbil.train.train` refuses such a task and names the commands that make it.

    :return: the data folder now holding the task.
    """
    data_dir = cache_dir / "expert_data"
    recipes = load_expert_configs()
    if task not in recipes:
        shipped = ", ".join(sorted(read_manifest(EXPERT_DATA_DIR)["tasks"])) or "none"
        raise SbilError(
            f"Unknown demos {task!r}: not a demos .npz file, not a shipped task (shipped: {shipped}), and no expert recipe "
            f"to make it (recipes: {', '.join(recipes)}). Pass demos.source=<task or path to a .npz>."
        )
    cfg = recipes[task]
    run_dir = cache_dir / "experts" / task
    print(f"No shipped demos for {task!r}: training a {cfg.algo.upper()} expert ({cfg.n_timesteps} steps) and caching its demos in {data_dir}.")
    resume = latest_checkpoint(run_dir / "checkpoints") is not None
    train_expert(cfg, run_dir, seed=0, resume=resume, progress_bar=progress_bar, verbose=0)
    ship_expert(cfg, run_dir, data_dir=data_dir)
    return data_dir
