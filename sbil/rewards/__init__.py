"""Reward learners: one interface (:class:`RewardLearner`), SMILING and its variants, GAIL."""

from sbil.rewards.adversarial import GailReward
from sbil.rewards.base import RewardLearner, load_reward
from sbil.rewards.smiling import LinearSmilingReward, SmilingConfig, SmilingReward

__all__ = ["RewardLearner", "load_reward", "SmilingReward", "SmilingConfig", "LinearSmilingReward", "GailReward"]
