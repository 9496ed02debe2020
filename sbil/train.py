"""One SMILING (or learned-reward) training run from a validated :class:`~sbil.config.TrainConfig`.

The story: config -> demos -> envs -> reward learner (expert score net fit, cached) -> SB3
algorithm (on-policy: learned-reward VecEnv wrapper; off-policy: relabeling replay buffer) ->
learn with refit / eval / checkpoint callbacks -> final evaluation and ``summary.json``.
``scripts/train_smile.py`` is its command line; ``scripts/benchmark.py`` calls it per run.
"""

from __future__ import annotations

import pickle
import time
from pathlib import Path
from typing import Any, Optional

import numpy as np
from omegaconf import DictConfig, OmegaConf
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm

from sbil.checkpoint import latest_checkpoint, require_checkpoint, save_checkpoint
from sbil.cli import set_threads
from sbil.config import check_resume_config, load_config, refit_in_process_value, reward_processing
from sbil.data import EXPERT_DATA_DIR, find_task_data, load_demos, read_manifest
from sbil.errors import SbilError
from sbil.io import RunLock, atomic_path, atomic_write, atomic_write_json
from sbil.logging import make_logger
from sbil.rewards import GailReward, RewardLearner, SmilingReward, load_reward
from sbil.rewards.smiling import default_cache_dir
from sbil.sb3.algos import get_algo
from sbil.sb3.buffers import RelabelingReplayBuffer
from sbil.sb3.callbacks import CheckpointCallback, EvalCallback
from sbil.sb3.envstate import get_run_state, set_run_envs, set_run_rngs
from sbil.sb3.refit import RewardRefitCallback
from sbil.sb3.rollouts import rollout_episodes
from sbil.sb3.vec_env import make_vec_env, normalize_obs
from sbil.sb3.wrappers import LearnedRewardVecEnv


def default_out_dir(cfg: DictConfig) -> Path:
    return Path("runs/smile") / cfg.env.id.replace("/", "_") / f"seed{cfg.seed}"


def build_reward(cfg: DictConfig, env: Any) -> Optional[RewardLearner]:
    """The reward learner named by ``reward.learner``; swapping learners is this one call.

    ``None`` for ``true_reward``: the algorithm learns from the env's own reward (the oracle).
    """
    if cfg.reward.learner == "true_reward":
        return None
    processing = reward_processing(cfg)
    obs_dims = None if cfg.reward.obs_dims is None else list(cfg.reward.obs_dims)
    if cfg.reward.learner.startswith("gail_reward"):
        return GailReward(env.observation_space, env.action_space, use_action=cfg.reward.learner == "gail_reward", seed=cfg.seed,
                          reward_scale=cfg.reward.reward_scale, device=cfg.device, obs_dims=obs_dims, **processing)
    smiling = OmegaConf.to_container(cfg.reward.smiling)
    smiling["obs_dims"] = obs_dims  # reward.smiling.obs_dims is refused by the config check: one setting for every learner
    smiling["seed"] = cfg.seed
    if cfg.reward.learner == "smiling_sa":
        smiling["use_action"] = True
    if cfg.reward.learner == "smiling_linear":
        smiling["score_net"] = "linear"
    return SmilingReward(env.observation_space, env.action_space, smiling, reward_scale=cfg.reward.reward_scale, device=cfg.device, **processing)


def task_data_dir(cfg: DictConfig, cache_dir: Path) -> Path:
    """The data folder holding the task ``demos.source`` names: the shipped one, else the cache
    (where ``demos.make_missing=true`` put it earlier).

    A task found in neither is an error naming the commands that make its demos. Only with the
    explicit opt-in ``demos.make_missing=true`` does the run train that expert itself (hours for a
    MuJoCo task): a typo in a task name must not start one silently.
    """
    task = cfg.demos.source
    found = find_task_data(task, [cache_dir / "expert_data"])
    if found is not None:
        return found
    if cfg.demos.make_missing:
        from sbil.experts.shipping import make_task_data  # the opt-in's own dependency: expert training

        return make_task_data(task, cache_dir, progress_bar=cfg.progress_bar)
    from sbil.experts.recipes import load_expert_configs  # only to say whether a recipe can make it

    shipped = ", ".join(sorted(read_manifest(EXPERT_DATA_DIR)["tasks"])) or "none"
    recipes = load_expert_configs()
    if task not in recipes:
        raise SbilError(
            f"Unknown demos {task!r}: not a demos .npz file, not a shipped task (shipped: {shipped}), and no expert recipe "
            f"to make it (recipes: {', '.join(recipes)}). Pass demos.source=<task or path to a .npz>."
        )
    recipe = recipes[task]
    raise SbilError(
        f"No demos for task {task!r}: it is not shipped (shipped: {shipped}). Make them first (a {recipe.algo.upper()} expert, "
        f"{recipe.n_timesteps} env steps): python scripts/train_expert.py {task} && python scripts/collect_demos.py {task} ; "
        f"or set demos.make_missing=true to train that expert inside this run (its demos cached in {cache_dir / 'expert_data'})."
    )


def reference_returns(cfg: DictConfig, demos: Any, data_dir: Path) -> tuple[float, float]:
    """Expert and random-policy returns for the normalised score (manifest, else measured)."""
    entry = read_manifest(data_dir)["tasks"].get(cfg.demos.source)
    if entry is not None and entry["env_id"] == cfg.env.id:
        return entry["expert_return_mean"], entry["random_return_mean"]
    random_eps = rollout_episodes(None, cfg.env.id, dict(cfg.env.kwargs), 5, seed=cfg.seed + 20_000)
    return float(demos.episode_returns().mean()), float(np.mean([e["rewards"].sum() for e in random_eps]))


def train(cfg: DictConfig, resume: bool = False) -> dict[str, Any]:
    """Run (or, with ``resume``, continue) the training run described by ``cfg``.

    :param cfg: a config from :func:`sbil.config.load_config`.
    :param resume: continue from the latest valid checkpoint in the run's ``out_dir``.
    :return: the run summary (also written to ``out_dir/summary.json``): true return, normalised
        score, env steps/s; ``interrupted`` names the signal if SIGINT/SIGTERM stopped it early
        (a checkpoint was saved).
    """
    out_dir = Path(cfg.out_dir) if cfg.out_dir else default_out_dir(cfg)
    set_threads(cfg.threads)
    verbose = cfg.verbose

    with RunLock(out_dir):
        ckpt_dir = out_dir / "checkpoints"
        if not resume and latest_checkpoint(ckpt_dir) is not None:
            raise SbilError(f"{out_dir} already holds a run. Pass --resume to continue it, or set out_dir=... to start another.")
        checkpoint = require_checkpoint(ckpt_dir, "Start the run afresh without --resume.") if resume else None
        if checkpoint is not None and (out_dir / "config.yaml").is_file():
            check_resume_config(load_config(None, base=OmegaConf.load(out_dir / "config.yaml")), cfg, out_dir)
        atomic_write(out_dir / "config.yaml", OmegaConf.to_yaml(cfg))

        # ---- envs and demos ------------------------------------------------------------------
        train_env = make_vec_env(cfg.env.id, cfg.env.n_envs, seed=cfg.seed, env_kwargs=cfg.env.kwargs, subprocess=cfg.env.subprocess)
        eval_env = make_vec_env(cfg.env.id, 1, seed=cfg.seed + 10_000, env_kwargs=cfg.env.kwargs)
        is_path = cfg.demos.source.endswith(".npz") or Path(cfg.demos.source).exists()
        cache_dir = Path(cfg.reward.cache_dir) if cfg.reward.cache_dir else default_cache_dir()
        data_dir = Path(".") if is_path else task_data_dir(cfg, cache_dir)
        demos = load_demos(cfg.demos.source, env=train_env, n_episodes=cfg.demos.n_episodes, every=cfg.demos.every,
                           max_transitions=cfg.demos.max_transitions, data_dir=data_dir, allow_other_env=cfg.demos.allow_other_env)
        expert_return, random_return = reference_returns(cfg, demos, data_dir)

        # ---- reward learner: expert score net fit once (cached), or restored from the checkpoint -
        reward = build_reward(cfg, train_env) if checkpoint is None else None
        if reward is not None:
            fit = reward.fit_expert(demos, cache_dir=cache_dir, progress_bar=cfg.progress_bar)
            if verbose and "expert_loss" in fit:
                print(f"expert score net: loss {fit['expert_loss']:.4f}{' (cached)' if fit['cached'] else ''}; {len(demos)} demo transitions")
        elif checkpoint is not None and cfg.reward.learner != "true_reward":
            reward = load_reward(checkpoint[0] / "reward.pt", device=cfg.device, env=train_env)
            if isinstance(reward, GailReward):
                reward.fit_expert(demos)  # the demos are not part of the saved learner

        # ---- SB3 algorithm: stock classes, learned reward through SB3's own seams ---------------
        algo_cls = get_algo(cfg.algo.name)
        off_policy = issubclass(algo_cls, OffPolicyAlgorithm)
        algo_kwargs = dict(OmegaConf.to_container(cfg.algo.kwargs))
        env = train_env  # true_reward: the env's own reward
        if reward is not None and off_policy:  # rewards are relabeled at sampling time
            algo_kwargs.update(replay_buffer_class=RelabelingReplayBuffer, replay_buffer_kwargs={"cached": cfg.reward.relabel == "cached"})
        elif reward is not None:
            env = LearnedRewardVecEnv(train_env, reward)
        if cfg.env.normalize_obs:
            # Above the reward wrapper: the reward learner scores raw observations, the policy sees normalised ones.
            env = normalize_obs(env)
            eval_env = normalize_obs(eval_env, training=False)
        if checkpoint is None:
            try:
                model = algo_cls(cfg.algo.policy, env, seed=cfg.seed, device=cfg.device, verbose=0, **algo_kwargs)
            except TypeError as e:
                raise SbilError(f"algo.kwargs rejected by {algo_cls.__name__}: {e}") from None
        else:
            model = algo_cls.load(checkpoint[0] / "model.zip", env=env, device=cfg.device)
            if off_policy:
                model.load_replay_buffer(checkpoint[0] / "replay_buffer.pkl")
        resume_step = int(model.num_timesteps)
        model.set_logger(make_logger(out_dir, resume_step, stdout=verbose >= 2))

        refitter = None if reward is None else RewardRefitCallback(
            reward, cfg.reward.refit_every, cfg.reward.buffer_size, cfg.reward.samples_per_refit, seed=cfg.seed,
            refit_in_process=refit_in_process_value(cfg.reward.refit_in_process), replace=cfg.reward.refit_replace,
            refit_first_rollout=cfg.reward.refit_first_rollout, norm_window=cfg.reward.norm_window)
        evaluator = EvalCallback(eval_env, cfg.eval.freq, cfg.eval.n_episodes, log_dir=out_dir, verbose=verbose)
        if checkpoint is not None:
            with open(checkpoint[0] / "state.pkl", "rb") as f:
                state = pickle.load(f)
            if refitter is not None:
                refitter.load_state_dict(state["refit"])
            evaluator.load_state_dict(state["eval"])
            # Continue from the exact env state, not a fresh reset: same numbers as an uninterrupted run.
            set_run_envs(model, eval_env, state["run"])
            if verbose:
                print(f"resuming {out_dir} from {checkpoint[0].name} ({resume_step} env steps)")

        def save() -> None:
            state = {"eval": evaluator.state_dict(), "run": get_run_state(model, eval_env)}
            writers = {"model.zip": model.save, "state.pkl": lambda p: p.write_bytes(pickle.dumps(state))}
            if refitter is not None:
                state["refit"] = refitter.state_dict()
                writers["reward.pt"] = reward.save
            if off_policy:
                writers["replay_buffer.pkl"] = model.save_replay_buffer
            save_checkpoint(ckpt_dir, model.num_timesteps, writers, meta={"num_timesteps": int(model.num_timesteps)})

        checkpointer = CheckpointCallback(save, cfg.checkpoint_freq, restore_fn=(lambda: set_run_rngs(model, state["run"])) if checkpoint is not None else None)

        # ---- learn ------------------------------------------------------------------------
        t0 = time.time()
        remaining = cfg.total_timesteps - model.num_timesteps
        if remaining > 0:
            callbacks = [evaluator, checkpointer] if refitter is None else [refitter, evaluator, checkpointer]
            model.learn(remaining, callback=callbacks, reset_num_timesteps=False, progress_bar=cfg.progress_bar)
        elapsed = time.time() - t0
        if not checkpointer.stopped_early:
            save()
        if checkpointer.interrupted is not None:
            # Also a signal during the last rollout, after which no rollout start saw it: the
            # checkpoint just written holds the whole run, and resuming only evaluates it.
            print(f"stopped by {checkpointer.interrupted} at {model.num_timesteps} env steps; checkpoint saved. Continue with: "
                  f"python scripts/train_smile.py --resume out_dir={out_dir}")
            return {"interrupted": checkpointer.interrupted, "total_timesteps": int(model.num_timesteps), "out_dir": str(out_dir)}

        # ---- final evaluation and summary ------------------------------------------------
        last = evaluator.history[-1] if evaluator.history and evaluator.history[-1]["timesteps"] == model.num_timesteps else evaluator.evaluate()
        if reward is not None:
            reward.save(out_dir / "reward.pt")
        model.save(out_dir / "policy.zip")
        vec_normalize = model.get_vec_normalize_env()
        if vec_normalize is not None:  # the policy is only usable with its observation statistics
            with atomic_path(out_dir / "vecnormalize.pkl") as tmp:
                vec_normalize.save(tmp)
        denom = expert_return - random_return
        summary = {
            "env_id": cfg.env.id,
            "algo": cfg.algo.name,
            "reward_learner": cfg.reward.learner,
            "seed": cfg.seed,
            "total_timesteps": int(model.num_timesteps),
            "true_return": last["mean_return"],
            "true_return_std": last["std_return"],
            "expert_return": expert_return,
            "random_return": random_return,
            "normalized_score": (last["mean_return"] - random_return) / denom if abs(denom) > 1e-8 else float("nan"),
            "env_steps_per_second": (model.num_timesteps - resume_step) / max(elapsed, 1e-9),
            "wall_time": last["wall_time"],
            "out_dir": str(out_dir),
            "interrupted": None,
        }
        atomic_write_json(out_dir / "summary.json", summary)
        print(
            f"\n{cfg.reward.learner} reward on {cfg.env.id} ({cfg.algo.name.upper()}, {summary['total_timesteps']} env steps): "
            f"true return {summary['true_return']:.1f} ± {summary['true_return_std']:.1f} | expert {expert_return:.1f} | "
            f"random {random_return:.1f} | normalised score {summary['normalized_score']:.2f} | "
            f"{summary['env_steps_per_second']:.0f} env steps/s\nsummary: {out_dir / 'summary.json'}"
        )
        train_env.close()
        eval_env.close()
    return summary


