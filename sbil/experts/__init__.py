"""Making the experts whose demos sbil ships (``expert_data/``), and loading them back.

- :mod:`~sbil.experts.recipes`: each task's recipe (``sbil/configs/experts.yaml``);
- :mod:`~sbil.experts.training`: SB3 expert training, resumable (``scripts/train_expert.py``);
- :mod:`~sbil.experts.controllers`, :mod:`~sbil.experts.mpc`: the humanoid tasks' experts, an
  open-loop controller and predictive-sampling planners that use the simulator as a privileged
  model (``scripts/humanoid_experts.py``);
- :mod:`~sbil.experts.policies`: an expert from its file (SB3 zip or controller JSON);
- :mod:`~sbil.experts.shipping`: rolling an expert out into demos, its policy file and manifest
  entry (``scripts/collect_demos.py``).

Nothing here runs inside a training run unless asked: :func:`sbil.train.train` refuses a task
whose demos are missing, except with ``demos.make_missing=true``.
"""
