"""GAIL, AIRL and BC from ``imitation``, fed exactly what SMILING gets: same demos, envs, SB3
learner and evaluation. This module is the one place where ``imitation`` needs glue.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch as th
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.vec_env import VecEnv

from sbil.data import Demos, check_demos_env
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
    """
    from imitation.algorithms.adversarial.airl import AIRL
    from imitation.algorithms.adversarial.gail import GAIL
    from imitation.rewards.reward_nets import BasicRewardNet, BasicShapedRewardNet
    from imitation.util.networks import RunningNorm

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
        net = net_cls(venv.observation_space, venv.action_space, use_action=use_action, normalize_input_layer=RunningNorm)
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
    return trainer


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
