"""How faithfully a SMILING reward estimator ranks states, per set of states.

The reward of a state is a mean over diffusion steps and noise draws; an estimator with few draws
ranks states by a noisy copy of it. Fidelity here is the Spearman rank correlation of an estimator's
rewards with a precise reward (the mean of many reference draws: 500 evenly spaced t, one noise draw
each). A broad batch mixing expert and learner states flatters every estimator, since the two sets
differ a lot; the narrow sets (one policy's states; expert states) are where imitation needs fine
distinctions. ``scripts/bench_speed.py --estimator-only`` and ``scripts/diagnose_reward.py`` report it.
"""

from __future__ import annotations

from typing import Mapping, NamedTuple, Optional

import numpy as np
import torch as th
from scipy.stats import spearmanr

from sbil.errors import SbilError
from sbil.rewards.smiling import SmilingReward


class Estimator(NamedTuple):
    """A reward estimator: ``qmc``, ``stratified`` or ``reference``, its draws per state, and the
    diffusion steps drawn from (``sqrt(abar_t) >= min_signal``; None: the reward's own setting)."""

    label: str
    estimator: str
    n_t_samples: int
    min_signal: Optional[float] = None


def state_inputs(reward: SmilingReward, sets: Mapping[str, np.ndarray]) -> dict[str, th.Tensor]:
    """The score nets' (normalised) inputs for each set of states, as the reward scores them."""
    if reward.cfg.use_action:
        raise SbilError("Fidelity is measured on state-only SMILING rewards; this one scores state-action pairs (use_action=True).")
    return {name: reward._inputs(states, None, states) for name, states in sets.items()}


def precise_rewards(reward: SmilingReward, inputs: Mapping[str, th.Tensor], n_draws: int, generator: th.Generator) -> dict[str, np.ndarray]:
    """``(n_draws, n)`` reference-estimator rewards of each set: their mean is the precise reward."""
    return {name: th.stack([reward.reward_for_inputs(x, "reference", 500, generator=generator) for _ in range(n_draws)]).numpy()
            for name, x in inputs.items()}


def fidelity(reward: SmilingReward, inputs: Mapping[str, th.Tensor], precise: Mapping[str, np.ndarray], est: Estimator,
             generator: th.Generator) -> dict[str, dict[str, float]]:
    """Per set: ``spearman`` of the estimator's rewards with the precise reward, and ``rel_rmse``
    (their RMS difference over the precise reward's spread across the set)."""
    out = {}
    for name, x in inputs.items():
        guess = reward.reward_for_inputs(x, est.estimator, est.n_t_samples, generator=generator, min_signal=est.min_signal).numpy()
        truth = precise[name].mean(0)
        out[name] = {"spearman": float(spearmanr(guess, truth)[0]),
                     "rel_rmse": float(np.sqrt(np.mean((guess - truth) ** 2)) / (np.std(truth) + 1e-12))}
    return out


def split_half_ceiling(precise: Mapping[str, np.ndarray]) -> dict[str, float]:
    """Per set, the Spearman a noise-free estimator would be expected to reach against the precise
    reward, given the precise reward's own noise. Its draws split in two halves, the halves' Spearman
    ``r`` is the reliability of a half; the whole mean's is ``2r / (1 + r)`` (Spearman-Brown), and a
    noise-free estimator correlates with a noisy copy of the truth by the square root of that copy's
    reliability. Approximate for ranks (the formula is exact for Pearson's correlation), so a noisy
    estimator can pass it by chance. On a set whose rewards barely differ the precise reward is
    itself mostly noise, and so is any Spearman against it: more draws raise the ceiling. NaN where
    the halves' rank correlation is undefined (constant rewards).

    :param precise: ``(n_draws, n)`` reference draws per set, as :func:`precise_rewards` returns.
    """
    out = {}
    for name, draws in precise.items():
        half = len(draws) // 2
        if half < 1:
            raise SbilError(f"The ceiling splits the precise reward's draws in two halves: set {name!r} has {len(draws)} draw(s); use at least 2.")
        r = float(spearmanr(draws[:half].mean(0), draws[half : 2 * half].mean(0))[0])
        if np.isnan(r):
            out[name] = float("nan")
            continue
        reliability = 2 * r / (1 + r) if r > -1 else 0.0  # Spearman-Brown; r = -1 would divide by zero
        out[name] = float(np.sqrt(max(reliability, 0.0)))
    return out
