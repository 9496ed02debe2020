"""One benchmark run, (task, algorithm, seed) -> result and learning curve, and its files.

SMILING and GAIL's reward go through :func:`sbil.train.train`; imitation's GAIL / AIRL / BC through
:mod:`sbil.benchmark.baselines`; the oracle ``rl`` is the train loop on the env's own reward. All
share the env-step budget and the evaluation (:class:`sbil.sb3.EvalCallback` on a separate env).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import time
import traceback
from pathlib import Path
from typing import Any, Optional

from sbil.benchmark.profiles import CURVE_KEYS, TRAIN_LOOP_ALGOS, RunSpec
from sbil.errors import SbilError
from sbil.io import atomic_write, atomic_write_json

# ---- one run ----------------------------------------------------------------------------------


class RunInterrupted(SbilError):
    """A run stopped by SIGINT / SIGTERM after writing its checkpoint: the sweep stops too, and the
    run resumes from that checkpoint next time."""

    def __init__(self, signal_name: str, curve: Optional[list[dict]] = None) -> None:
        super().__init__(f"stopped by {signal_name}")
        self.signal_name = signal_name
        self.curve = curve  # the evaluations made so far, where the run holds them in memory


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
            else:
                curve, env_steps = _run_adversarial(spec)
    except BaseException as e:  # noqa: BLE001 - a failed run is data, the sweep goes on
        if isinstance(e, KeyboardInterrupt):
            raise
        result = {**base, "status": "failed", "error": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc(),
                  "wall_time": time.time() - t0}
        curve: list[dict] = []
        if isinstance(e, RunInterrupted):
            result["interrupted"] = e.signal_name
            curve = e.curve or []
        if not curve and spec.algo in TRAIN_LOOP_ALGOS:  # sbil's train loop keeps its evaluations on disk
            curve = _partial_curve(run_dir / "smile" / "evals.csv")
        # The evaluations made before a stop stay readable in the run's evals.csv (the run resumes from its checkpoint anyway).
        return {"result": result, "curve": curve}
    final = curve[-1]
    late, n_late = late_return(curve, env_steps)
    # a resumed run's curve carries the time of the segments before the interruption; this process saw only the last
    wall = max(time.time() - t0, float(final.get("wall_time", 0.0)))
    result = {
        **base,
        "status": "ok",
        "env_steps": int(env_steps),
        "final_return": final["mean_return"],
        "final_return_std": final["std_return"],
        "late_return": late,
        "late_evals": n_late,
        "normalized_score": normalized_score(late, spec.expert_return, spec.random_return),
        "expert_return": spec.expert_return,
        "random_return": spec.random_return,
        "wall_time": wall,
        "env_steps_per_second": env_steps / wall if env_steps else None,
    }
    return {"result": result, "curve": curve}


def _run_smiling(spec: RunSpec) -> tuple[list[dict], int]:
    """A run through sbil's train loop: SMILING, GAIL's reward as its peer, or the oracle ``rl`` (the
    env's own reward), so that all three share checkpoints, exact resume and evaluation."""
    from omegaconf import OmegaConf

    from sbil.checkpoint import latest_checkpoint
    from sbil.config import load_config
    from sbil.train import train

    r = spec.recipe
    base = OmegaConf.create({
        "env": {"id": spec.env_id, "kwargs": spec.env_kwargs, "n_envs": r.n_envs, "normalize_obs": r.normalize_obs},
        "demos": {"source": r.task, "n_episodes": r.demo_episodes, "allow_other_env": r.allow_other_env},
        "algo": {"name": r.algo, "kwargs": r.algo_kwargs},
        "reward": {"learner": "true_reward" if spec.algo == "rl" else spec.algo},
        "eval": {"freq": r.eval_freq, "n_episodes": r.n_eval_episodes},
        "total_timesteps": r.total_timesteps,
        "seed": spec.seed,
        "threads": 1,
        "out_dir": str(Path(spec.run_dir) / "smile"),
        "checkpoint_freq": r.checkpoint_every,
        "progress_bar": False,
        "verbose": 0,
    })
    overrides = [f"{k}={v}" for k, v in r.smiling.items()]
    if r.reward_obs_dims is not None and spec.algo != "rl":
        overrides.append(f"reward.obs_dims={list(r.reward_obs_dims)}")
    cfg = load_config(None, overrides, base=base)
    resume = latest_checkpoint(Path(cfg.out_dir) / "checkpoints") is not None  # an interrupted sweep continues the run
    summary = train(cfg, resume=resume)
    if summary["interrupted"]:
        raise RunInterrupted(summary["interrupted"])
    return read_curve(Path(cfg.out_dir) / "evals.csv"), summary["total_timesteps"]


def _envs(spec: RunSpec, policy_normalizes_obs: bool = True) -> tuple[Any, Any]:
    """The raw training env and the eval env (normalising observations when the recipe's policy does)."""
    from stable_baselines3.common.utils import set_random_seed

    from sbil.sb3.vec_env import make_vec_env, normalize_obs

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

    from sbil.benchmark.baselines import make_adversarial_trainer, train_adversarial
    from sbil.checkpoint import latest_checkpoint
    from sbil.sb3.callbacks import EvalCallback
    from sbil.sb3.algos import get_algo

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
    checkpoints = Path(spec.run_dir) / "checkpoints"
    found = latest_checkpoint(checkpoints)
    # imitation prints a table per round to stdout by default; keep its log as CSV in the run folder
    # (a resumed run's in a folder of its own: SB3's CSV writer starts its file afresh).
    log_dir = Path(spec.run_dir) / ("imitation" if found is None else f"imitation_resumed_at_{found[1]['step']}")
    log = imit_logger.configure(str(log_dir), format_strs=["csv"])
    trainer = make_adversarial_trainer(spec.algo, demos, venv, learner, seed=spec.seed, custom_logger=log, gen_train_timesteps=round_steps,
                                       allow_other_env=spec.recipe.allow_other_env, normalize_obs=r.normalize_obs,
                                       obs_dims=r.reward_obs_dims)
    evaluator = EvalCallback(eval_env, r.eval_freq, r.n_eval_episodes)
    trainer.gen_callback = [trainer.gen_callback, evaluator]
    # Everything that shapes the run's numbers (checkpoint_freq does not): a checkpoint of another setup is refused.
    # Fields at their defaults are left out, so that a field added later does not void existing checkpoints.
    recipe = {f.name: getattr(r, f.name) for f in dataclasses.fields(r) if f.name != "checkpoint_freq" and getattr(r, f.name) != _field_default(f)}
    setup = {**recipe, "algo_name": spec.algo, "seed": spec.seed, "env_id": spec.env_id, "env_kwargs": spec.env_kwargs}
    fingerprint = hashlib.sha256(json.dumps(setup, sort_keys=True, default=str).encode()).hexdigest()[:16]
    stopped = train_adversarial(trainer, budget, evaluator, eval_env, seed=spec.seed, checkpoint_dir=checkpoints,
                                checkpoint_freq=r.checkpoint_every, fingerprint=fingerprint)
    if stopped:
        raise RunInterrupted(stopped, curve=list(evaluator.history))
    return _finish(evaluator, learner, venv, eval_env)


def _field_default(f: dataclasses.Field) -> Any:
    return f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default


def _finish(evaluator: Any, learner: Any, venv: Any, eval_env: Any) -> tuple[list[dict], int]:
    """A last evaluation at the final step (unless the schedule just made it); close the envs."""
    if not evaluator.history or evaluator.history[-1]["timesteps"] != learner.num_timesteps:
        evaluator.evaluate()
    venv.close()
    eval_env.close()
    return evaluator.history, learner.num_timesteps


def _run_bc(spec: RunSpec) -> tuple[list[dict], int]:
    from sbil.benchmark.baselines import evaluate, train_bc

    venv, eval_env = _envs(spec, policy_normalizes_obs=False)  # BC's policy is trained on the raw demos
    t0 = time.time()
    policy = train_bc(_demos(spec, venv), venv, n_epochs=spec.recipe.bc_epochs, seed=spec.seed, allow_other_env=spec.recipe.allow_other_env)
    mean, std = evaluate(policy, eval_env, spec.recipe.n_eval_episodes)
    venv.close()
    eval_env.close()
    # BC takes no env steps: one point at 0, drawn as a flat line on the curves.
    return [{"timesteps": 0, "mean_return": mean, "std_return": std, "mean_length": float("nan"), "wall_time": time.time() - t0}], 0


#: the share of the budget at its end whose evaluations make a run's score (``late_return``)
LATE_SHARE = 0.1


def late_return(curve: list[dict], env_steps: int) -> tuple[float, int]:
    """A run's score: the mean return of its evaluations in the last 10% of its env steps (at least
    the last one), and how many there were. One evaluation of 5 episodes swings by hundreds between
    PPO updates (the oracle on Ant: 2605 at 1000k, 1778 at 1004k), so the last one alone would rank
    runs by luck."""
    late = [row["mean_return"] for row in curve if row["timesteps"] >= (1 - LATE_SHARE) * env_steps] or [curve[-1]["mean_return"]]
    return float(sum(late) / len(late)), len(late)


def normalized_score(ret: float, expert_return: float, random_return: float) -> float:
    """(R - R_random) / (R_expert - R_random): 0 for the random policy, 1 for the expert."""
    return (ret - random_return) / (expert_return - random_return)


def read_curve(path: Path) -> list[dict]:
    """The evaluations in an ``evals.csv`` (empty if the file holds no header, as a run stopped at once)."""
    lines = path.read_text().strip().splitlines()
    if not lines:
        return []
    keys = lines[0].split(",")
    return [dict(zip(keys, map(float, line.split(",")))) for line in lines[1:]]


def _partial_curve(path: Path) -> list[dict]:
    """A stopped run's evaluations so far; none if it made none (or its file is unreadable: a failed run never raises)."""
    try:
        return read_curve(path) if path.is_file() else []
    except (OSError, ValueError):
        return []


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


