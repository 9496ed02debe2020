"""sbil: diffusion score-matching imitation rewards (SMILING) for Stable-Baselines3."""

__version__ = "0.1.0"

import sbil_envs  # noqa: E402,F401  (registers the sbil/* humanoid tasks with gymnasium)
