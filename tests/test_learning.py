"""Learning tests at the RL level: a stock SB3 learner, a SMILING reward through sbil's seams, seconds.

The reward-level twin is ``test_a_learner_that_moves_like_the_expert_and_sometimes_falls_beats_one_that_stands``
in test_rewards.py; this one checks that PPO actually gets out of the safe local optimum.
"""

from __future__ import annotations

from types import SimpleNamespace

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces
from stable_baselines3 import PPO
from stable_baselines3.common.env_util import make_vec_env

from sbil.rewards import SmilingReward
from sbil.sb3.refit import RewardRefitCallback
from sbil.sb3.wrappers import LearnedRewardVecEnv

LENGTH = 50
EXPERT_SPEED = 2.0


class Tightrope(gym.Env):
    """Walk a rope: each action changes the speed by up to 0.5; while upright, each step falls with
    probability ``fall_rate * speed**2`` (then it lies still, height -3, to the episode's end).
    Standing still is safe, and falls are rare but cost everything: the safe local optimum in which
    PPO parked Hopper. The expert walks at speed 2 and never falls (``fall_rate=0``).
    Observations: (speed, height) with a little noise."""

    observation_space = spaces.Box(-np.inf, np.inf, (2,), np.float32)
    action_space = spaces.Box(-1.0, 1.0, (1,), np.float32)

    def __init__(self, fall_rate: float = 0.003) -> None:
        self.fall_rate = fall_rate

    def _obs(self) -> np.ndarray:
        clean = np.array([self.speed, -3.0 if self.fallen else 1.0])
        return (clean + self.np_random.normal(0.0, 0.05, 2)).astype(np.float32)

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        self.speed, self.fallen, self.t = 0.0, False, 0
        return self._obs(), {}

    def step(self, action):
        self.t += 1
        if not self.fallen:
            self.speed = float(np.clip(self.speed + 0.5 * float(np.clip(action[0], -1.0, 1.0)), -3.0, 3.0))
            if self.np_random.random() < self.fall_rate * self.speed**2:
                self.fallen, self.speed = True, 0.0
        return self._obs(), 0.0 if self.fallen else self.speed, False, self.t >= LENGTH, {}


def expert_demos(n_episodes: int = 20) -> SimpleNamespace:
    env = Tightrope(fall_rate=0.0)
    obs, next_obs = [], []
    for episode in range(n_episodes):
        o, _ = env.reset(seed=episode)
        for _ in range(LENGTH):
            n, *_ = env.step(np.array([np.clip((EXPERT_SPEED - env.speed) / 0.5, -1.0, 1.0)]))
            obs.append(o)
            next_obs.append(n)
            o = n
    o, n = np.array(obs), np.array(next_obs)
    return SimpleNamespace(obs=o, acts=np.zeros((len(o), 1), np.float32), next_obs=n, dones=np.zeros(len(o), bool))


def cruising_speed(model: PPO) -> float:
    """The deterministic policy's mean speed after its first 10 steps, on a rope where nobody falls."""
    env = Tightrope(fall_rate=0.0)
    obs, _ = env.reset(seed=1)
    speeds = []
    for _ in range(LENGTH):
        action, _ = model.predict(obs, deterministic=True)
        obs, *_ = env.step(action)
        speeds.append(env.speed)
    return float(np.mean(speeds[10:]))


@pytest.mark.slow
@pytest.mark.parametrize("processing, walks", [
    ({}, True),  # the defaults: rank, clipped to [-1, 3]
    ({"reward_norm": "running", "reward_clip": None, "reward_floor": None}, False),  # the old default: unbounded below
])
def test_ppo_on_the_smiling_reward_walks_like_the_expert_instead_of_parking(processing, walks):
    """PPO with the default SMILING reward reaches the expert's speed in 12k steps (1.91-1.95 on
    seeds 0-3 in development, measured under robust, the default then; rank passes too); with the old, unbounded-below normalisation a fallen state's reward
    outweighs everything, and the learner settles for a safe crawl (0.53-0.87). The test's seed was
    not among those; seed 5 passes too."""
    seed = 4
    torch.manual_seed(seed)
    venv = make_vec_env(Tightrope, n_envs=4, seed=seed)
    reward = SmilingReward(venv.observation_space, venv.action_space, {"hidden_size": 64, "expert_grad_steps": 1000, "seed": seed},
                           device="cpu", **processing)
    reward.fit_expert(expert_demos())
    model = PPO("MlpPolicy", LearnedRewardVecEnv(venv, reward), n_steps=128, batch_size=128, n_epochs=5, learning_rate=1e-3,
                gamma=0.95, policy_kwargs={"net_arch": [32, 32]}, seed=seed, device="cpu")
    model.learn(12_000, callback=RewardRefitCallback(reward, buffer_size=10_000, samples_per_refit=2048, seed=seed, refit_in_process=False))
    speed = cruising_speed(model)
    assert (speed > 1.5) is walks, speed
