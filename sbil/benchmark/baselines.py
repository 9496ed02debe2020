"""GAIL, AIRL and BC from ``imitation``, fed exactly what SMILING gets: same demos, envs, SB3
learner and evaluation. This module is the one place where ``imitation`` needs glue.
"""

from __future__ import annotations

import contextlib
import pickle
import signal
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np
import torch as th
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.vec_env import VecEnv

from sbil.checkpoint import latest_checkpoint, save_checkpoint
from sbil.data import Demos, check_demos_env
from sbil.io import PathLike
from sbil.sb3.callbacks import SignalFlag
from sbil.sb3.vec_env import normalize_obs as normalize_obs_env
from sbil.errors import SbilError

BASELINES = ("gail", "gail_so", "airl", "airl_so", "bc")


def make_adversarial_trainer(
    name: str,
    demos: Demos,
    venv: VecEnv,
    learner: BaseAlgorithm,
    demo_batch_size: int = 1024,
    n_disc_updates_per_round: int = 4,
    seed: int = 0,
    allow_other_env: bool = False,
    normalize_obs: bool = False,
    obs_dims: Optional[Sequence[int]] = None,
    **trainer_kwargs: Any,
) -> Any:
    """An ``imitation`` GAIL or AIRL trainer around a stock SB3 learner.

    :param name: ``gail`` / ``airl`` (state-action discriminator) or ``gail_so`` / ``airl_so``
        (state-only: the rival of state-only SMILING).
    :param demos: expert demos (converted to imitation ``Transitions``).
    :param venv: the training env (true rewards underneath; imitation replaces them).
    :param learner: the SB3 algorithm whose policy is trained (built on ``venv``).
    :param seed: seeds the discriminator's initial weights.
    :param allow_other_env: accept demos recorded on another env (see :func:`sbil.data.check_demos_env`).
    :param normalize_obs: the generator's policy sees ``VecNormalize``'d observations (as SMILING's
        with ``env.normalize_obs``); the discriminator keeps raw ones, like the demos. GAIL only:
        AIRL's discriminator evaluates the policy on the raw observations it stores.
    :param obs_dims: the observation coordinates the discriminator sees (default all; as SMILING's
        ``obs_dims``, so that both rewards see the same state).
    """
    from imitation.algorithms.adversarial.airl import AIRL
    from imitation.algorithms.adversarial.gail import GAIL
    from imitation.rewards.reward_nets import BasicRewardNet, BasicShapedRewardNet
    from imitation.util.networks import RunningNorm

    from sbil.rewards.adversarial import obs_subset_net

    check_baseline(name)
    if name == "bc":
        raise SbilError("bc is not adversarial: use train_bc.")
    check_demos_env(demos, venv, allow_other_env=allow_other_env)
    if normalize_obs and name.startswith("airl"):
        raise SbilError(f"{name} cannot train a policy on normalised observations: AIRL's discriminator evaluates the policy on the raw "
                        "observations it stores. Use normalize_obs=False, or gail / gail_so.")
    use_action = not name.endswith("_so")
    cls, net_cls = (GAIL, BasicRewardNet) if name.startswith("gail") else (AIRL, BasicShapedRewardNet)
    # Seeded discriminator init, without touching the caller's global torch RNG.
    with th.random.fork_rng(devices=[]):
        th.manual_seed(seed)
        net = obs_subset_net(net_cls, venv.observation_space, venv.action_space, obs_dims, use_action=use_action,
                             normalize_input_layer=RunningNorm)
    trainer = cls(
        demonstrations=demos.to_transitions(),
        demo_batch_size=min(demo_batch_size, len(demos)),
        n_disc_updates_per_round=n_disc_updates_per_round,
        venv=venv,
        gen_algo=learner,
        reward_net=net,
        # Our tasks have fixed horizons; this only silences imitation's check for envs that do not.
        allow_variable_horizon=True,
        init_tensorboard=False,
        **trainer_kwargs,
    )
    if normalize_obs:
        # Above imitation's reward wrapper, whose buffering layer keeps raw observations for the discriminator.
        trainer.venv_train = normalize_obs_env(trainer.venv_wrapped)
        trainer.gen_algo.set_env(trainer.venv_train)
    _seed_demo_order(trainer, seed)
    return trainer


class _CountingIterator:
    """An iterator that counts what it hands out (the expert batches drawn so far)."""

    def __init__(self, it: Any) -> None:
        self.it, self.n = it, 0

    def __iter__(self) -> "_CountingIterator":
        return self

    def __next__(self) -> Any:
        self.n += 1
        return next(self.it)


def _seed_demo_order(trainer: Any, seed: int, skip: int = 0) -> None:
    """Draw the expert batches' order from a generator of their own, seeded, and count them.

    imitation's demo loader shuffles with torch's global RNG at every pass over the demos, at
    points a checkpoint cannot replay; with its own generator the order is a function of the seed
    alone, so a resumed run rebuilds it and skips the ``skip`` batches already drawn.
    """
    from imitation.util import util

    loader = trainer._demo_data_loader
    generator = th.Generator().manual_seed(seed)
    loader.generator = generator  # the per-pass seed of its workers
    loader.sampler.generator = generator  # the per-pass shuffle
    it = _CountingIterator(util.endless_iter(loader))
    for _ in range(skip):
        next(it)
    trainer._endless_expert_iterator = it


# ---- imitation's round loop, checkpointed ----------------------------------------------------


def _adversarial_state(trainer: Any, evaluator: Any, eval_env: Any, rounds_done: int) -> dict[str, Any]:
    from sbil.sb3.envstate import get_run_state

    learner = trainer.gen_algo
    return {
        "rounds_done": rounds_done,
        "global_step": trainer._global_step,
        "disc_step": trainer._disc_step,
        "reward_net": trainer._reward_net.state_dict(),
        "disc_opt": trainer._disc_opt.state_dict(),
        "gen_replay": trainer._gen_replay_buffer,
        "demo_batches": trainer._endless_expert_iterator.n,
        # Partial episodes and episode returns that imitation's wrappers keep as objects, not plain data.
        "traj_accum": trainer.venv_buffering._traj_accum,
        "episode_rewards": trainer.venv_wrapped.episode_rewards,
        "learner": {k: getattr(learner, k) for k in ("num_timesteps", "_n_updates", "_episode_num", "ep_info_buffer", "ep_success_buffer")},
        "evaluator": evaluator.state_dict(),
        "run": get_run_state(learner, eval_env),
    }


def _save_adversarial(checkpoint_dir: Path, trainer: Any, evaluator: Any, eval_env: Any, rounds_done: int, fingerprint: str) -> None:
    learner = trainer.gen_algo
    state = _adversarial_state(trainer, evaluator, eval_env, rounds_done)

    def write_state(path: Path) -> None:
        with open(path, "wb") as f:
            pickle.dump(state, f)

    writers = {"model.zip": learner.save, "state.pkl": write_state}
    if getattr(learner, "replay_buffer", None) is not None:
        writers["replay_buffer.pkl"] = learner.save_replay_buffer
    save_checkpoint(checkpoint_dir, learner.num_timesteps, writers, meta={"rounds_done": rounds_done, "fingerprint": fingerprint})


def _restore_adversarial(path: Path, manifest: dict, trainer: Any, evaluator: Any, eval_env: Any, seed: int, fingerprint: str) -> int:
    """Load a checkpoint of :func:`train_adversarial` into a freshly built trainer; returns the rounds done."""
    from stable_baselines3.common.save_util import load_from_zip_file
    from stable_baselines3.common.utils import get_device

    from sbil.sb3.envstate import set_run_envs, set_run_rngs

    saved = manifest.get("meta", {}).get("fingerprint")
    if saved != fingerprint:
        raise SbilError(f"Checkpoint {path} was written by another run setup (recipe, algorithm or seed changed since), so it cannot "
                        f"continue this one. Delete {path.parent} to start the run over.")
    learner = trainer.gen_algo
    with open(path / "state.pkl", "rb") as f:
        state = pickle.load(f)
    _, params, variables = load_from_zip_file(path / "model.zip", device=get_device(learner.device))
    learner.set_parameters(params, exact_match=True, device=learner.device)
    for name, value in (variables or {}).items():  # SAC's log_ent_coef: in place, its optimizer holds it
        getattr(learner, name).data.copy_(value.data)
    if (path / "replay_buffer.pkl").is_file():
        learner.load_replay_buffer(path / "replay_buffer.pkl")
    for key, value in state["learner"].items():
        setattr(learner, key, value)
    if not set_run_envs(learner, eval_env, state["run"]):
        raise SbilError(f"Checkpoint {path}: the envs' state could not be restored, so the run would not continue exactly. "
                        f"Delete {path.parent} to start the run over.")
    trainer._reward_net.load_state_dict(state["reward_net"])
    trainer._disc_opt.load_state_dict(state["disc_opt"])
    trainer._gen_replay_buffer = state["gen_replay"]
    trainer.venv_buffering._traj_accum = state["traj_accum"]
    trainer.venv_wrapped.episode_rewards.extend(state["episode_rewards"])  # in place: imitation's log callback holds this deque
    trainer._global_step, trainer._disc_step = state["global_step"], state["disc_step"]
    _seed_demo_order(trainer, seed, skip=state["demo_batches"])
    evaluator.load_state_dict(state["evaluator"])
    set_run_rngs(learner, state["run"])  # last: nothing after it may draw
    return int(state["rounds_done"])


def train_adversarial(
    trainer: Any,
    total_timesteps: int,
    evaluator: Any,
    eval_env: VecEnv,
    seed: int = 0,
    checkpoint_dir: Optional[PathLike] = None,
    checkpoint_freq: int = 0,
    fingerprint: str = "",
) -> Optional[str]:
    """imitation's training rounds (``train_gen``, then ``n_disc_updates_per_round`` x ``train_disc``,
    as ``trainer.train`` runs them), with checkpoints between rounds and exact resume.

    imitation's own ``train`` keeps nothing on disk, so a stopped run starts over. Here a
    checkpoint every ``checkpoint_freq`` env steps holds the generator (policy, optimiser, replay
    buffer), the discriminator and its optimiser, imitation's sample buffers and partial episodes,
    both envs' state and every RNG; a run that finds one in ``checkpoint_dir`` continues from it
    and ends with the same numbers as an uninterrupted run. The last round is not checkpointed (the
    run is then done). With a ``checkpoint_dir``, SIGINT and SIGTERM stop the run at the end of the
    round, after a checkpoint; one that comes during the last round is raised again once it is done.

    :param trainer: from :func:`make_adversarial_trainer` (with the same ``seed``).
    :param evaluator: the :class:`sbil.sb3.EvalCallback` among ``trainer.gen_callback``; its curve is checkpointed.
    :param eval_env: the evaluator's env (its state is checkpointed).
    :param fingerprint: identifies the run's setup; a checkpoint written under another one is refused.
    :return: the signal (``"SIGTERM"``, ``"SIGINT"``) that stopped the run after a checkpoint, or None.
    """
    from imitation.util import networks

    rounds = total_timesteps // trainer.gen_train_timesteps
    if rounds < 1:
        raise SbilError(f"total_timesteps={total_timesteps} is less than one round of {trainer.gen_train_timesteps} env steps.")
    checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir is not None else None
    found = latest_checkpoint(checkpoint_dir) if checkpoint_dir is not None else None
    done = _restore_adversarial(*found, trainer, evaluator, eval_env, seed, fingerprint) if found else 0
    learner = trainer.gen_algo
    last_save = learner.num_timesteps
    stop = SignalFlag()
    with stop if checkpoint_dir is not None else contextlib.nullcontext():
        for r in range(done, rounds):
            trainer.train_gen(trainer.gen_train_timesteps)
            for _ in range(trainer.n_disc_updates_per_round):
                with networks.training(trainer.reward_train):
                    trainer.train_disc()
            trainer.logger.dump(trainer._global_step)
            if checkpoint_dir is None or r + 1 == rounds:
                continue
            # At multiples of checkpoint_freq, so a resumed run saves at the same steps as an uninterrupted one.
            due = checkpoint_freq > 0 and learner.num_timesteps // checkpoint_freq > last_save // checkpoint_freq
            if due or stop.signal is not None:
                _save_adversarial(checkpoint_dir, trainer, evaluator, eval_env, r + 1, fingerprint)
                last_save = learner.num_timesteps
            if stop.signal is not None:
                return stop.signal
    if stop.signal is not None:  # it came during the last round: the run is whole, the signal still stands
        signal.raise_signal(getattr(signal, stop.signal))
    return None


def train_bc(demos: Demos, venv: VecEnv, n_epochs: int = 10, batch_size: int = 256, seed: int = 0, progress_bar: bool = False,
             allow_other_env: bool = False) -> Any:
    """Behaviour cloning with ``imitation``'s BC on the demos; returns the trained policy.

    :param n_epochs: passes over the demos.
    :param allow_other_env: accept demos recorded on another env (see :func:`sbil.data.check_demos_env`).
    """
    check_demos_env(demos, venv, allow_other_env=allow_other_env)
    from imitation.algorithms import bc

    trainer = bc.BC(
        observation_space=venv.observation_space,
        action_space=venv.action_space,
        demonstrations=demos.to_transitions(),
        batch_size=min(batch_size, len(demos)),
        rng=np.random.default_rng(seed),
    )
    trainer.train(n_epochs=n_epochs, progress_bar=progress_bar)
    return trainer.policy


def evaluate(policy: Any, eval_env: VecEnv, n_episodes: int) -> tuple[float, float]:
    """Mean and std true return of the deterministic policy (the same evaluation for every method)."""
    from stable_baselines3.common.evaluation import evaluate_policy

    mean, std = evaluate_policy(policy, eval_env, n_eval_episodes=n_episodes, deterministic=True)
    return float(mean), float(std)


def check_baseline(name: str) -> None:
    """Raise :class:`SbilError` listing the valid names for an unknown baseline."""
    if name not in BASELINES:
        raise SbilError(f"Unknown baseline {name!r}; valid: {', '.join(BASELINES)}.")
