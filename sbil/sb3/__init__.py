"""How a learned reward reaches a stock Stable-Baselines3 algorithm, through SB3's own seams.

One path per algorithm family:

- on-policy (PPO, A2C): :class:`LearnedRewardVecEnv` (a ``VecEnvWrapper``) records each rollout,
  and :class:`RewardRefitCallback` scores it in one batch at the rollout's end, rewrites SB3's
  rollout buffer rewards and advantages, then refits the learner (in a child process where a second
  CPU is free: :mod:`~sbil.sb3.refit_process`);
- off-policy (SAC, TD3): :class:`RelabelingReplayBuffer` (``replay_buffer_class=``) scores every
  sampled minibatch, and :class:`RewardRefitCallback` refits the learner every N env steps.

Beside them, the SB3 plumbing of a run: :class:`EvalCallback` and :class:`CheckpointCallback`,
:mod:`~sbil.sb3.envstate` (the envs' live state, for exact resume), :func:`make_vec_env`,
:func:`get_algo` and :func:`rollout_episodes`.
"""

from sbil.sb3.algos import ALGOS, get_algo
from sbil.sb3.buffers import RelabelingReplayBuffer
from sbil.sb3.callbacks import CheckpointCallback, EvalCallback
from sbil.sb3.refit import RewardRefitCallback
from sbil.sb3.rollouts import rollout_episodes
from sbil.sb3.vec_env import make_vec_env, normalize_obs
from sbil.sb3.wrappers import LearnedRewardVecEnv

__all__ = ["ALGOS", "CheckpointCallback", "EvalCallback", "LearnedRewardVecEnv", "RelabelingReplayBuffer", "RewardRefitCallback",
           "get_algo", "make_vec_env", "normalize_obs", "rollout_episodes"]
