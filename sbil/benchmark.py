"""Benchmark sweeps: SMILING against imitation's GAIL / AIRL / BC, with honest, aggregated numbers.

A sweep is algorithms x tasks x seeds from a named profile (``sbil/configs/benchmark.yaml``) or a
profile YAML of your own. Each run writes ``result.json`` (its final numbers, or its error) and
``evals.csv`` (true return at fixed env-step intervals) under ``<out>/runs/<task>/<algo>/seed<k>/``.
The sweep is resumable: a run with an ``ok`` result is skipped; a run that raised is recorded as
``failed`` with its error, the others go on, and it is retried the next time. Runs go to local
worker processes (one CPU thread each) or, with ``backend="ray"``, to a Ray cluster; results
always come back to the driver, which writes them, so workers need no shared filesystem.

Aggregation follows rliable (Agarwal et al., 2021): interquartile mean (IQM) of normalised scores
(R - R_random) / (R_expert - R_random) with a 95% percentile bootstrap CI, resampling seeds within
each task (stratified), computed with scipy's bootstrap: rliable 1.2 installs here but fails at
import (its ``arch`` dependency against pandas 3).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import time
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np
import yaml

from sbil.data import EXPERT_DATA_DIR, read_manifest
from sbil.errors import SbilError
from sbil.io import PathLike, atomic_write, atomic_write_json

PROFILES_FILE = Path(__file__).parent / "configs" / "benchmark.yaml"
#: ``gail*`` / ``airl*``: imitation's trainers; ``gail_reward*``: GAIL's discriminator reward
#: (sbil.rewards.GailReward) through sbil's own train loop, as SMILING runs, so the two rewards
#: compare like for like; ``rl`` is the oracle: the same SB3 learner on the env's true reward.
ALGOS = ("smiling", "smiling_sa", "gail_reward", "gail_reward_so", "gail", "gail_so", "airl", "airl_so", "bc", "rl")
TRAIN_LOOP_ALGOS = ("smiling", "smiling_sa", "gail_reward", "gail_reward_so")
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


# ---- one run ----------------------------------------------------------------------------------


def run_one(spec: RunSpec) -> dict[str, Any]:
    """Train and evaluate one (task, algorithm, seed); never raises.

    :return: ``{"result": {...}, "curve": [eval rows]}``; ``result["status"]`` is ``ok`` or
        ``failed`` (with ``error`` and ``traceback``).
    """
    run_dir = Path(spec.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    base = {"task": spec.recipe.task, "algo": spec.algo, "seed": spec.seed, "env_id": spec.env_id, "learner": spec.recipe.algo}
    try:
        import torch as th

        th.set_num_threads(1)  # one core per run: runs are the unit of parallelism
        with open(run_dir / "log.txt", "a") as log, contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
            if spec.algo in TRAIN_LOOP_ALGOS:
                curve, env_steps = _run_smiling(spec)
            elif spec.algo == "bc":
                curve, env_steps = _run_bc(spec)
            elif spec.algo == "rl":
                curve, env_steps = _run_rl(spec)
            else:
                curve, env_steps = _run_adversarial(spec)
    except BaseException as e:  # noqa: BLE001 - a failed run is data, the sweep goes on
        if isinstance(e, KeyboardInterrupt):
            raise
        result = {**base, "status": "failed", "error": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc(),
                  "wall_time": time.time() - t0}
        return {"result": result, "curve": []}
    final = curve[-1]
    denom = spec.expert_return - spec.random_return
    wall = time.time() - t0
    result = {
        **base,
        "status": "ok",
        "env_steps": int(env_steps),
        "final_return": final["mean_return"],
        "final_return_std": final["std_return"],
        "normalized_score": (final["mean_return"] - spec.random_return) / denom,
        "expert_return": spec.expert_return,
        "random_return": spec.random_return,
        "wall_time": wall,
        "env_steps_per_second": env_steps / wall if env_steps else None,
    }
    return {"result": result, "curve": curve}


def _run_smiling(spec: RunSpec) -> tuple[list[dict], int]:
    """A learned-reward run through sbil's train loop (SMILING, or GAIL's reward as its peer)."""
    from omegaconf import OmegaConf

    from sbil.checkpoint import latest_checkpoint
    from sbil.config import load_config
    from sbil.train import train

    r = spec.recipe
    base = OmegaConf.create({
        "env": {"id": spec.env_id, "kwargs": spec.env_kwargs, "n_envs": r.n_envs, "normalize_obs": r.normalize_obs},
        "demos": {"source": r.task, "n_episodes": r.demo_episodes, "allow_other_env": r.allow_other_env},
        "algo": {"name": r.algo, "kwargs": r.algo_kwargs},
        "reward": {"learner": spec.algo},
        "eval": {"freq": r.eval_freq, "n_episodes": r.n_eval_episodes},
        "total_timesteps": r.total_timesteps,
        "seed": spec.seed,
        "threads": 1,
        "out_dir": str(Path(spec.run_dir) / "smile"),
        "checkpoint_freq": max(r.total_timesteps // 10, 1),
        "progress_bar": False,
        "verbose": 0,
    })
    overrides = [f"{k}={v}" for k, v in r.smiling.items()]
    cfg = load_config(None, overrides, base=base)
    resume = latest_checkpoint(Path(cfg.out_dir) / "checkpoints") is not None  # an interrupted sweep continues the run
    summary = train(cfg, resume=resume)
    if summary["interrupted"]:
        raise SbilError(f"stopped by {summary['interrupted']}")
    return _read_curve(Path(cfg.out_dir) / "evals.csv"), summary["total_timesteps"]


def _envs(spec: RunSpec, policy_normalizes_obs: bool = True) -> tuple[Any, Any]:
    """The raw training env and the eval env (normalising observations when the recipe's policy does)."""
    from stable_baselines3.common.utils import set_random_seed

    from sbil.envs import make_vec_env, normalize_obs

    set_random_seed(spec.seed)
    venv = make_vec_env(spec.env_id, spec.recipe.n_envs, seed=spec.seed, env_kwargs=spec.env_kwargs)
    eval_env = make_vec_env(spec.env_id, 1, seed=spec.seed + 10_000, env_kwargs=spec.env_kwargs)  # same as SMILING's
    if spec.recipe.normalize_obs and policy_normalizes_obs:
        eval_env = normalize_obs(eval_env, training=False)
    return venv, eval_env


def _demos(spec: RunSpec, env: Any) -> Any:
    from sbil.data import load_demos

    return load_demos(spec.recipe.task, env=env, n_episodes=spec.recipe.demo_episodes, data_dir=spec.data_dir,
                      allow_other_env=spec.recipe.allow_other_env)


def _run_adversarial(spec: RunSpec) -> tuple[list[dict], int]:
    from imitation.util import logger as imit_logger
    from stable_baselines3.common.on_policy_algorithm import OnPolicyAlgorithm

    from sbil.baselines import make_adversarial_trainer
    from sbil.callbacks import EvalCallback
    from sbil.experts import get_algo

    r = spec.recipe
    venv, eval_env = _envs(spec)
    demos = _demos(spec, venv)
    learner = get_algo(r.algo)("MlpPolicy", venv, seed=spec.seed, device="cpu", verbose=0, **r.algo_kwargs)
    round_steps = r.gail_round_steps
    if round_steps is None:
        if not isinstance(learner, OnPolicyAlgorithm):
            raise SbilError(f"{r.algo} is off-policy: set gail_round_steps for task {r.task!r} in the profile.")
        round_steps = learner.n_steps * venv.num_envs
    # Whole rounds, rounded up like SB3's learn() rounds up to whole rollouts: the same budget as SMILING's runs.
    budget = -(-r.total_timesteps // round_steps) * round_steps
    # imitation prints a table per round to stdout by default; keep its log as CSV in the run folder.
    log = imit_logger.configure(str(Path(spec.run_dir) / "imitation"), format_strs=["csv"])
    trainer = make_adversarial_trainer(spec.algo, demos, venv, learner, seed=spec.seed, custom_logger=log, gen_train_timesteps=round_steps,
                                       allow_other_env=spec.recipe.allow_other_env, normalize_obs=r.normalize_obs)
    evaluator = EvalCallback(eval_env, r.eval_freq, r.n_eval_episodes)
    trainer.gen_callback = [trainer.gen_callback, evaluator]
    trainer.train(budget)
    return _finish(evaluator, learner, venv, eval_env)


def _finish(evaluator: Any, learner: Any, venv: Any, eval_env: Any) -> tuple[list[dict], int]:
    """A last evaluation at the final step (unless the schedule just made it); close the envs."""
    if not evaluator.history or evaluator.history[-1]["timesteps"] != learner.num_timesteps:
        evaluator.evaluate()
    venv.close()
    eval_env.close()
    return evaluator.history, learner.num_timesteps


def _run_rl(spec: RunSpec) -> tuple[list[dict], int]:
    """The oracle: the recipe's SB3 learner on the true task reward, same budget and evaluation."""
    from sbil.callbacks import EvalCallback
    from sbil.envs import normalize_obs
    from sbil.experts import get_algo

    r = spec.recipe
    venv, eval_env = _envs(spec)
    if r.normalize_obs:
        venv = normalize_obs(venv)
    learner = get_algo(r.algo)("MlpPolicy", venv, seed=spec.seed, device="cpu", verbose=0, **r.algo_kwargs)
    evaluator = EvalCallback(eval_env, r.eval_freq, r.n_eval_episodes)
    learner.learn(r.total_timesteps, callback=evaluator)
    return _finish(evaluator, learner, venv, eval_env)


def _run_bc(spec: RunSpec) -> tuple[list[dict], int]:
    from sbil.baselines import evaluate, train_bc

    venv, eval_env = _envs(spec, policy_normalizes_obs=False)  # BC's policy is trained on the raw demos
    t0 = time.time()
    policy = train_bc(_demos(spec, venv), venv, n_epochs=spec.recipe.bc_epochs, seed=spec.seed, allow_other_env=spec.recipe.allow_other_env)
    mean, std = evaluate(policy, eval_env, spec.recipe.n_eval_episodes)
    venv.close()
    eval_env.close()
    # BC takes no env steps: one point at 0, drawn as a flat line on the curves.
    return [{"timesteps": 0, "mean_return": mean, "std_return": std, "mean_length": float("nan"), "wall_time": time.time() - t0}], 0


def _read_curve(path: Path) -> list[dict]:
    lines = path.read_text().strip().splitlines()
    keys = lines[0].split(",")
    return [dict(zip(keys, map(float, line.split(",")))) for line in lines[1:]]


def write_run(spec: RunSpec, outcome: dict[str, Any]) -> None:
    """The driver's side: write a run's curve and result (the result last: it marks the run done)."""
    run_dir = Path(spec.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    rows = [",".join(CURVE_KEYS)] + [",".join(f"{row[k]:.6g}" for k in CURVE_KEYS) for row in outcome["curve"]]
    atomic_write(run_dir / "evals.csv", "\n".join(rows) + "\n")
    atomic_write_json(run_dir / "result.json", outcome["result"])


def read_result(spec: RunSpec) -> Optional[dict[str, Any]]:
    path = Path(spec.run_dir) / "result.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


# ---- the sweep --------------------------------------------------------------------------------


def run_sweep(specs: Sequence[RunSpec], workers: int = 2, backend: str = "local", ray_address: Optional[str] = None,
              progress_bar: bool = True) -> list[dict[str, Any]]:
    """Run every spec without an ``ok`` result; return all results (finished ones included).

    :param workers: parallel local processes (1: run in this process, one after another).
    :param backend: ``local`` or ``ray`` (``ray.init(address=ray_address)``; one CPU per run).
    """
    from tqdm.auto import tqdm

    if backend not in BACKENDS:
        raise SbilError(f"Unknown backend {backend!r}; valid: {', '.join(BACKENDS)}.")
    if workers < 1:
        raise SbilError(f"workers must be >= 1, got {workers}.")
    todo = [s for s in specs if (read_result(s) or {}).get("status") != "ok"]
    skipped = len(specs) - len(todo)
    if skipped:
        print(f"{skipped} of {len(specs)} runs already finished: skipped.")
    bar = tqdm(total=len(todo), desc="benchmark runs", disable=not progress_bar or not todo)

    def record(spec: RunSpec, outcome: dict[str, Any]) -> None:
        write_run(spec, outcome)
        res = outcome["result"]
        bar.update()
        if res["status"] == "ok":
            bar.write(f"{spec.key}: return {res['final_return']:.1f}, normalised {res['normalized_score']:.2f} ({res['wall_time']:.0f} s)")
        else:
            bar.write(f"{spec.key}: FAILED {res['error'].splitlines()[0] if res['error'] else ''}")

    if backend == "ray":
        _sweep_ray(todo, ray_address, record)
    elif workers == 1:
        for spec in todo:
            record(spec, run_one(spec))
    else:
        import multiprocessing as mp

        # spawn: a fresh interpreter per worker, no torch/OpenMP state inherited through fork.
        with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn")) as pool:
            futures = {pool.submit(run_one, spec): spec for spec in todo}
            for future in as_completed(futures):
                spec = futures[future]
                try:
                    outcome = future.result()
                except Exception as e:  # the worker process itself died (e.g. out of memory)
                    outcome = {"result": {"task": spec.recipe.task, "algo": spec.algo, "seed": spec.seed, "status": "failed",
                                          "error": f"worker died: {type(e).__name__}: {e}"}, "curve": []}
                record(spec, outcome)
    bar.close()
    return [read_result(s) for s in specs]


def _sweep_ray(todo: Sequence[RunSpec], address: Optional[str], record: Any) -> None:
    try:
        import ray
    except ImportError:
        raise SbilError("backend=ray needs Ray: pip install -e .[ray]  (or pip install 'ray[default]')") from None
    ray.init(address=address, ignore_reinit_error=True, log_to_driver=False)
    remote = ray.remote(num_cpus=1)(run_one)
    pending = {remote.remote(spec): spec for spec in todo}
    while pending:
        done, _ = ray.wait(list(pending), num_returns=1)
        spec = pending.pop(done[0])
        try:
            outcome = ray.get(done[0])
        except Exception as e:  # noqa: BLE001 - a lost node or task is a failed run
            outcome = {"result": {"task": spec.recipe.task, "algo": spec.algo, "seed": spec.seed, "status": "failed",
                                  "error": f"ray task failed: {type(e).__name__}: {e}"}, "curve": []}
        record(spec, outcome)


# ---- aggregation ------------------------------------------------------------------------------


def iqm(x: np.ndarray) -> float:
    """Interquartile mean: the mean of the middle 50% (rliable's definition, fractional ends weighted)."""
    x = np.sort(np.asarray(x, dtype=float).ravel())
    n = len(x)
    if n == 0:
        return float("nan")
    lo, hi = 0.25 * n, 0.75 * n
    idx = np.arange(n)
    weights = np.clip(np.minimum(idx + 1, hi) - np.maximum(idx, lo), 0, 1)
    return float(np.sum(weights * x) / np.sum(weights))


def stratified_bootstrap_ci(scores_by_task: dict[str, np.ndarray], stat: Any = iqm, n_resamples: int = 2000,
                            confidence: float = 0.95, seed: int = 0) -> tuple[float, float, float]:
    """``stat`` of all scores pooled, and its 95% percentile bootstrap CI resampling runs within each
    task (scipy's bootstrap resamples each of several samples independently: rliable's stratified
    bootstrap)."""
    from scipy.stats import bootstrap

    groups = [np.asarray(v, dtype=float) for v in scores_by_task.values() if len(v)]
    if not groups:
        return float("nan"), float("nan"), float("nan")
    point = stat(np.concatenate(groups))
    varied = [g for g in groups if len(g) >= 2]
    fixed = np.concatenate([g for g in groups if len(g) < 2] or [np.zeros(0)])  # one run: resampling cannot change it
    if not varied:
        return point, point, point

    def pooled(*resampled: np.ndarray, axis: int = -1) -> np.ndarray:
        shape = resampled[0].shape[:-1]
        parts = [*resampled, np.broadcast_to(fixed, (*shape, len(fixed)))]
        return np.apply_along_axis(stat, -1, np.concatenate(parts, axis=-1))

    res = bootstrap(varied, pooled, n_resamples=n_resamples, confidence_level=confidence, method="percentile",
                    vectorized=True, rng=np.random.default_rng(seed))
    return point, float(res.confidence_interval.low), float(res.confidence_interval.high)


def summarize(results: Sequence[Optional[dict[str, Any]]]) -> tuple[list[dict], list[dict]]:
    """Per (task, algo) rows and per-algo aggregate rows from run results."""
    ok = [r for r in results if r and r.get("status") == "ok"]
    failed = [r for r in results if r and r.get("status") == "failed"]
    cells: dict[tuple[str, str], list[dict]] = {}
    for r in ok:
        cells.setdefault((r["task"], r["algo"]), []).append(r)
    # The oracle (rl: the same learner on the true reward) per task: the ceiling of this budget.
    oracle = {task: float(np.mean([r["final_return"] for r in runs])) for (task, algo), runs in cells.items() if algo == "rl"}
    rows = []
    for (task, algo), runs in sorted(cells.items()):
        returns = np.array([r["final_return"] for r in runs])
        scores = np.array([r["normalized_score"] for r in runs])
        random_return = runs[0]["random_return"]
        of_oracle = (returns.mean() - random_return) / (oracle[task] - random_return) if task in oracle and oracle[task] != random_return else None
        point, lo, hi = stratified_bootstrap_ci({task: scores})
        sps = [r["env_steps_per_second"] for r in runs if r.get("env_steps_per_second")]
        rows.append({
            "task": task, "algo": algo, "runs": len(runs),
            "failed": sum(1 for f in failed if f["task"] == task and f["algo"] == algo),
            "return_mean": float(returns.mean()), "return_std": float(returns.std()),
            "score_mean": float(scores.mean()), "iqm": point, "ci_low": lo, "ci_high": hi,
            "oracle_return": oracle.get(task), "of_oracle": None if of_oracle is None else float(of_oracle),
            "wall_time": float(np.mean([r["wall_time"] for r in runs])),
            "env_steps": int(np.mean([r["env_steps"] for r in runs])),
            "env_steps_per_second": float(np.mean(sps)) if sps else None,
        })
    aggregate = []
    for algo in sorted({r["algo"] for r in ok}):
        by_task = {task: np.array([r["normalized_score"] for r in runs]) for (task, a), runs in cells.items() if a == algo}
        point, lo, hi = stratified_bootstrap_ci(by_task)
        of_oracle = [r["of_oracle"] for r in rows if r["algo"] == algo and r["of_oracle"] is not None]
        aggregate.append({"algo": algo, "tasks": len(by_task), "runs": sum(len(v) for v in by_task.values()), "iqm": point, "ci_low": lo, "ci_high": hi,
                          "of_oracle_mean": float(np.mean(of_oracle)) if of_oracle else None, "oracle_tasks": len(of_oracle)})
    return rows, aggregate


def _fmt(x: Optional[float], spec: str = ".2f") -> str:
    return "–" if x is None or (isinstance(x, float) and np.isnan(x)) else format(x, spec)


def markdown_report(profile: str, rows: list[dict], aggregate: list[dict], failed: list[dict], command: str) -> str:
    lines = [
        f"# Benchmark: profile `{profile}`",
        "",
        f"Produced by `{command}`. Normalised score = (R − R_random) / (R_expert − R_random) with the "
        "expert and random returns of `expert_data/manifest.json`; final deterministic-policy return on a "
        "fresh evaluation env. IQM and 95% CI: stratified percentile bootstrap over seeds (rliable's method). "
        "Of oracle = (R − R_random) / (R_oracle − R_random), with R_oracle the mean final return of `rl` (the same learner "
        "on the true reward, same budget) on that task: the ceiling this budget allows.",
        "",
        "## Aggregate over tasks (normalised score)",
        "",
        "| algorithm | tasks | runs | IQM | 95% CI | of oracle (mean over tasks) |",
        "|---|---|---|---|---|---|",
    ]
    for a in aggregate:
        of_oracle = f"{a['of_oracle_mean']:.2f} ({a['oracle_tasks']} tasks)" if a.get("of_oracle_mean") is not None else "–"
        lines.append(f"| {a['algo']} | {a['tasks']} | {a['runs']} | {_fmt(a['iqm'])} | [{_fmt(a['ci_low'])}, {_fmt(a['ci_high'])}] | {of_oracle} |")
    lines += [
        "",
        "## Per task",
        "",
        "| task | algorithm | runs | final return (mean ± std) | normalised (mean) | IQM [95% CI] | of oracle | env steps | wall time / run | env steps/s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        runs = f"{r['runs']}" + (f" (+{r['failed']} failed)" if r["failed"] else "")
        lines.append(
            f"| {r['task']} | {r['algo']} | {runs} | {r['return_mean']:.1f} ± {r['return_std']:.1f} | {_fmt(r['score_mean'])} | "
            f"{_fmt(r['iqm'])} [{_fmt(r['ci_low'])}, {_fmt(r['ci_high'])}] | {_fmt(r.get('of_oracle'))} | {r['env_steps']} | {r['wall_time']:.0f} s | "
            f"{_fmt(r['env_steps_per_second'], '.0f')} |"
        )
    if failed:
        lines += ["", "## Failed runs", "", "| task | algorithm | seed | error |", "|---|---|---|---|"]
        lines += [f"| {f['task']} | {f['algo']} | {f['seed']} | {f.get('error', '').splitlines()[0] if f.get('error') else ''} |" for f in failed]
    lines += ["", "Learning curves: `curves_<task>.png`; summary: `summary.png`.", ""]
    return "\n".join(lines)


def _mean_ci(curves: list[np.ndarray], rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    stack = np.stack(curves)
    mean = stack.mean(0)
    if len(curves) < 2:
        return mean, mean, mean
    boots = np.stack([stack[rng.integers(0, len(curves), len(curves))].mean(0) for _ in range(1000)])
    return mean, np.quantile(boots, 0.025, axis=0), np.quantile(boots, 0.975, axis=0)


def plot_report(specs: Sequence[RunSpec], results: Sequence[Optional[dict]], aggregate: list[dict], out_dir: Path) -> list[Path]:
    """Learning curves per task (true return vs env steps, mean and 95% CI band per algorithm)
    and a summary plot of the aggregate IQM with its CI."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rng = np.random.default_rng(0)
    written = []
    by_task: dict[str, dict[str, list[list[dict]]]] = {}
    refs: dict[str, tuple[float, float]] = {}
    for spec, res in zip(specs, results):
        if not res or res.get("status") != "ok":
            continue
        curve = _read_curve(Path(spec.run_dir) / "evals.csv")
        by_task.setdefault(spec.recipe.task, {}).setdefault(spec.algo, []).append(curve)
        refs[spec.recipe.task] = (spec.expert_return, spec.random_return)
    for task, algos in sorted(by_task.items()):
        fig, ax = plt.subplots(figsize=(6, 4))
        xmax = max(row["timesteps"] for curves in algos.values() for c in curves for row in c) or 1
        for algo, curves in sorted(algos.items()):
            if all(len(c) == 1 and c[0]["timesteps"] == 0 for c in curves):  # BC: no env steps
                mean, lo, hi = _mean_ci([np.array([c[0]["mean_return"]] * 2) for c in curves], rng)
                line = ax.plot([0, xmax], mean, "--", label=algo)[0]
                ax.fill_between([0, xmax], lo, hi, color=line.get_color(), alpha=0.15)
                continue
            n = min(len(c) for c in curves)  # runs share the eval schedule; a resumed run may hold one extra point
            xs = np.array([row["timesteps"] for row in curves[0][:n]])
            mean, lo, hi = _mean_ci([np.array([row["mean_return"] for row in c[:n]]) for c in curves], rng)
            line = ax.plot(xs, mean, marker="o", ms=3, label=f"{algo} (n={len(curves)})")[0]
            ax.fill_between(xs, lo, hi, color=line.get_color(), alpha=0.2)
        expert, random_ = refs[task]
        ax.axhline(expert, color="k", lw=0.8, ls=":", label="expert")
        ax.axhline(random_, color="grey", lw=0.8, ls=":", label="random")
        ax.set(title=task, xlabel="env steps", ylabel="true return (deterministic policy)")
        ax.legend(fontsize=7)
        fig.tight_layout()
        path = out_dir / f"curves_{task}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    if aggregate:
        fig, ax = plt.subplots(figsize=(5, 0.5 + 0.45 * len(aggregate)))
        ys = np.arange(len(aggregate))
        iqms = np.array([a["iqm"] for a in aggregate])
        err = np.array([[a["iqm"] - a["ci_low"] for a in aggregate], [a["ci_high"] - a["iqm"] for a in aggregate]])
        ax.errorbar(iqms, ys, xerr=err, fmt="o", capsize=4)
        ax.set_yticks(ys, [a["algo"] for a in aggregate])
        ax.axvline(1.0, color="k", lw=0.8, ls=":")
        ax.axvline(0.0, color="grey", lw=0.8, ls=":")
        ax.set(xlabel="IQM normalised score (95% CI)", title="all tasks")
        fig.tight_layout()
        path = out_dir / "summary.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    return written


def write_report(profile: str, specs: Sequence[RunSpec], results: Sequence[Optional[dict]], out_dir: PathLike, command: str) -> Path:
    """``report.md``, ``summary.json`` and the PNGs in ``out_dir``; returns the report path."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows, aggregate = summarize(results)
    failed = [r for r in results if r and r.get("status") == "failed"]
    atomic_write_json(out_dir / "summary.json", {"profile": profile, "per_task": rows, "aggregate": aggregate,
                                                  "failed": [{k: f.get(k) for k in ("task", "algo", "seed", "error")} for f in failed]})
    plot_report(specs, results, aggregate, out_dir)
    path = out_dir / "report.md"
    atomic_write(path, markdown_report(profile, rows, aggregate, failed, command))
    return path
