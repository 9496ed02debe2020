"""Training SB3 experts from the recipes in ``sbil/configs/experts.yaml``.

An expert run lives in one output folder: ``checkpoints/`` (model + replay buffer, atomic),
``tb/`` (tensorboard), ``evals.csv``, ``best_model.zip`` (best fixed-horizon evaluation) and
``result.json``. It resumes from its latest checkpoint after any interruption.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import pickle
import time
from pathlib import Path
from typing import Any, Optional

from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm

from sbil.checkpoint import latest_checkpoint, require_checkpoint, save_checkpoint
from sbil.errors import SbilError
from sbil.experts.policies import load_expert_policy
from sbil.experts.recipes import ExpertConfig
from sbil.io import RunLock, atomic_write_json
from sbil.sb3.algos import get_algo
from sbil.sb3.callbacks import CheckpointCallback, EvalCallback
from sbil.sb3.envstate import get_run_state, set_run_envs, set_run_rngs
from sbil.sb3.vec_env import make_vec_env


def train_expert(
    cfg: ExpertConfig,
    out_dir: Path,
    seed: int = 0,
    resume: bool = False,
    n_timesteps: Optional[int] = None,
    progress_bar: bool = True,
    device: str = "auto",
    verbose: int = 1,
    init_from: Optional[Path] = None,
    refill_steps: Optional[int] = None,
) -> dict[str, Any]:
    """Train (or resume) an expert and return its final evaluation.

    :param cfg: the task's recipe.
    :param out_dir: the run folder; locked while training.
    :param seed: seeds the algorithm and the envs.
    :param resume: continue from the latest valid checkpoint in ``out_dir``.
    :param n_timesteps: override the recipe's budget (total env steps, including any done).
    :param init_from: start a new run from this SB3 policy file (its weights, optimiser and step
        count; for off-policy algorithms the empty replay buffer is first refilled with the recipe's
        ``learning_starts`` steps of the loaded policy's own stochastic actions, without updates): how
        a run continues on a machine that lost its checkpoints.
    :param refill_steps: with ``init_from``, how many steps refill the replay buffer (default: the
        recipe's ``learning_starts``). More make the restarted critic's data less narrow.
    :return: a summary with the final and best evaluation returns.
    """
    out_dir = Path(out_dir)
    total = int(n_timesteps or cfg.n_timesteps)
    if total <= 0:
        raise SbilError(f"n_timesteps must be positive, got {total}.")
    if refill_steps is not None and refill_steps < 0:
        raise SbilError(f"refill_steps must be >= 0, got {refill_steps}.")
    ckpt_dir = out_dir / "checkpoints"
    with RunLock(out_dir):
        if not resume and latest_checkpoint(ckpt_dir) is not None:
            raise SbilError(f"{out_dir} already holds a run. Pass --resume to continue it, or choose another output folder.")
        algo_cls = get_algo(cfg.algo)
        env = make_vec_env(cfg.env_id, cfg.n_envs, seed=seed, env_kwargs=cfg.train_env_kwargs)
        eval_env = make_vec_env(cfg.env_id, 1, seed=seed + 10_000, env_kwargs=cfg.env_kwargs)
        evaluator = EvalCallback(eval_env, cfg.eval_freq, cfg.n_eval_episodes, log_dir=out_dir, save_best=True, verbose=verbose)
        if resume:
            path, manifest = require_checkpoint(ckpt_dir, f"Start it afresh: python scripts/train_expert.py {cfg.task}")
            _check_recipe_unchanged(out_dir, cfg)
            model = algo_cls.load(path / "model.zip", env=env, device=device, tensorboard_log=str(out_dir / "tb"))
            if isinstance(model, OffPolicyAlgorithm):
                model.load_replay_buffer(path / "replay_buffer.pkl")
            evaluator.load_state_dict(manifest["meta"]["eval"])
            run_state = None
            if (path / "state.pkl").is_file():  # checkpoints from before exact resume lack it
                run_state = pickle.loads((path / "state.pkl").read_bytes())
                set_run_envs(model, eval_env, run_state)
            print(f"Resuming {cfg.task} expert from {path.name} ({model.num_timesteps} env steps).")
        elif init_from is not None:
            load_expert_policy(init_from, cfg.algo)  # a readable error for a missing or broken file
            model = algo_cls.load(init_from, env=env, device=device, tensorboard_log=str(out_dir / "tb"))
            if isinstance(model, OffPolicyAlgorithm):
                # SB3 acts uniformly at random below learning_starts; a trained critic updated on
                # such data first collapses the policy (measured on Ant: 2028 -> 100 in 20k steps).
                # So the refill uses the loaded policy's own actions, with updates switched off.
                model.learning_starts = model.num_timesteps
                gradient_steps, model.gradient_steps = model.gradient_steps, 0
                wanted = refill_steps if refill_steps is not None else int(cfg.hyperparams.get("learning_starts", 100))
                refill = min(wanted, max(total - model.num_timesteps, 0))
                model.learn(refill, reset_num_timesteps=False, progress_bar=progress_bar, tb_log_name="run")
                model.gradient_steps = gradient_steps
            atomic_write_json(out_dir / "config.json", {"seed": seed, "n_timesteps": total, "init_from": str(init_from), **dataclasses.asdict(cfg)})
            print(f"Starting {cfg.task} expert from {init_from} ({model.num_timesteps} env steps).")
        else:
            model = algo_cls("MlpPolicy", env, seed=seed, device=device, tensorboard_log=str(out_dir / "tb"), verbose=0,
                              **copy.deepcopy(cfg.hyperparams))  # SB3 adds keys to policy_kwargs in place
            atomic_write_json(out_dir / "config.json", {"seed": seed, "n_timesteps": total, **dataclasses.asdict(cfg)})

        def save() -> None:
            run_state = pickle.dumps(get_run_state(model, eval_env))
            writers = {"model.zip": model.save, "state.pkl": lambda p: p.write_bytes(run_state)}
            if isinstance(model, OffPolicyAlgorithm):
                writers["replay_buffer.pkl"] = model.save_replay_buffer
            save_checkpoint(ckpt_dir, model.num_timesteps, writers, meta={"eval": evaluator.state_dict()})

        restore = (lambda: set_run_rngs(model, run_state)) if resume and run_state is not None else None
        checkpointer = CheckpointCallback(save, cfg.checkpoint_freq, restore_fn=restore)
        t0, start = time.time(), model.num_timesteps
        if total > model.num_timesteps:
            model.learn(
                total - model.num_timesteps,
                callback=[evaluator, checkpointer],
                reset_num_timesteps=False,
                progress_bar=progress_bar,
                tb_log_name="run",
            )
        if checkpointer.stopped_early:
            raise SbilError(f"Stopped by {checkpointer.interrupted} at {model.num_timesteps} env steps; checkpoint saved. Continue with --resume.")
        save()
        done = evaluator.history and evaluator.history[-1]["timesteps"] == model.num_timesteps
        final = evaluator.history[-1] if done else evaluator.evaluate()
        result = {
            "task": cfg.task,
            "env_id": cfg.env_id,
            "algo": cfg.algo,
            "seed": seed,
            "n_timesteps": int(model.num_timesteps),
            "final_return": final["mean_return"],
            "final_return_std": final["std_return"],
            "best_return": float(evaluator.best_mean),
            "steps_per_second_last_session": (model.num_timesteps - start) / max(time.time() - t0, 1e-9),
        }
        atomic_write_json(out_dir / "result.json", result)
        env.close()
        eval_env.close()
        return result


def _check_recipe_unchanged(out_dir: Path, cfg: ExpertConfig) -> None:
    """A resumed run must go on with the recipe it started with (a changed training env or
    hyperparameter would silently make it another run); only the budget may change (``--steps``)."""
    path = out_dir / "config.json"
    if not path.is_file():  # runs from before config.json was written
        return
    started = json.loads(path.read_text())
    now = json.loads(json.dumps(dataclasses.asdict(cfg)))
    changed = sorted(k for k in now if k != "n_timesteps" and k in started and started[k] != now[k])
    if changed:
        details = "; ".join(f"{k}: {started[k]!r} then, {now[k]!r} now" for k in changed)
        raise SbilError(f"{cfg.task}'s recipe in sbil/configs/experts.yaml changed since the run in {out_dir} started ({details}). "
                        f"Restore the recipe to resume it, or start a new run in another --out folder.")
