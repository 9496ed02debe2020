"""sbil: diffusion score-matching imitation rewards (SMILING) for Stable-Baselines3.

The house, from the bottom up (a module imports only from the layers above it in this list):

- ``sbil.errors``, ``sbil.io``, ``sbil.cli``, ``sbil.logging``, ``sbil.checkpoint``: plumbing
  (one error type, crash-safe files and locks, one-paragraph script errors, loggers, checkpoints);
- ``sbil.data`` (demos and the manifest of shipped expert data), ``sbil.envs`` (making one env);
- ``sbil.rewards``: the reward learners (SMILING, GAIL's reward) behind one interface;
- ``sbil.sb3``: how a reward learner reaches a stock SB3 algorithm (VecEnv wrapper, replay
  buffer, refit callback) and the SB3 plumbing of a run (eval / checkpoint callbacks, exact resume);
- ``sbil.config`` + ``sbil.train``: the main job, one training run;
- ``sbil.experts``: making the experts whose demos ship (SB3 training, planners, shipping);
- ``sbil.benchmark``: sweeps against imitation's GAIL / AIRL / BC, and their reports.

The environments are the separate package ``sbil_envs`` (folder ``envs/``), which imports nothing
from sbil. Importing sbil registers its gymnasium ids (``sbil/H1Walk-v0``, ...) without building
or even importing MuJoCo.
"""

__version__ = "0.1.0"

import sbil_envs  # noqa: E402,F401  (registers the sbil/* gymnasium ids: string entry points, no MuJoCo)
