"""sbil: diffusion score-matching imitation rewards (SMILING) for Stable-Baselines3."""

__version__ = "0.1.0"
