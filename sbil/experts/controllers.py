"""Open-loop joint-target controllers: experts for the position-actuated H1 tasks.

Why not RL: on this project's 2-core CPU, SAC reaches the H1 bars only after millions of steps
(days). The H1 tasks use position actuators, so a controller that moves the joint targets from the
nominal pose to a task pose (and, for locomotion, oscillates them) is a complete policy; its few
parameters are found by search in the simulator (``scripts/humanoid_experts.py``), which the issue
allows as a privileged planner. The demos are then rollouts of the task exactly as defined.

A controller is plain data (saved as JSON next to the demos) plus :meth:`predict`, the SB3 policy
interface, so the shipping and re-evaluation code treats it like any other expert.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Optional

import numpy as np

from sbil.errors import SbilError
from sbil.io import atomic_write

FORMAT = "sbil-controller-v1"


def expand_sides(values: dict[str, float], names: list[str]) -> dict[str, float]:
    """Joint name -> value, with ``left_``/``right_`` left out meaning both sides; unknown names are an error."""
    out = {}
    for key, value in values.items():
        keys = [key] if key in names else [f"{side}_{key}" for side in ("left", "right") if f"{side}_{key}" in names]
        if not keys:
            raise SbilError(f"Unknown joint {key!r} in a controller; valid: {', '.join(names)} (or without left_/right_).")
        out.update({k: value for k in keys})
    return out


class OpenLoopController:
    """Joint targets ``pose + amplitude * sin(2 pi t / period + phase)``, reached from the nominal
    pose by a linear ramp over ``ramp`` steps (targets of joints not named stay nominal).

    :param pose: joint name -> target (rad); ``left_``/``right_`` prefixes may be left out to set both sides.
    :param ramp: steps from the nominal pose to ``pose``.
    :param amplitude: joint name -> oscillation amplitude (rad), same naming as ``pose``.
    :param phase: joint name -> phase (rad); ``right_*`` joints default to ``left_*`` + pi (alternating gait).
    :param period: oscillation period in steps (0: no oscillation).
    """

    def __init__(self, pose: dict[str, float], ramp: int = 50, amplitude: Optional[dict[str, float]] = None,
                 phase: Optional[dict[str, float]] = None, period: int = 0) -> None:
        self.pose, self.ramp = dict(pose), int(ramp)
        self.amplitude, self.phase, self.period = dict(amplitude or {}), dict(phase or {}), int(period)
        self.env: Any = None
        self.t = 0

    # ---- the SB3 policy interface --------------------------------------------------------------
    def bind(self, env: Any) -> None:
        """Attach to a (unwrapped) :class:`~sbil_envs.HumanoidTaskEnv` with position actuators."""
        if env.robot.normalise_actuation:
            raise SbilError(f"OpenLoopController needs position actuators; robot {env.robot.name!r} has torque motors.")
        self.env = env
        names = [env.model.actuator(i).name for i in range(env.model.nu)]
        self._nominal = env._hold_ctrl(env._nominal)
        self._target = self._nominal.copy()
        self._amp, self._phase = np.zeros(len(names)), np.zeros(len(names))
        for key, value in expand_sides(self.pose, names).items():
            self._target[names.index(key)] = value
        for key, value in expand_sides(self.amplitude, names).items():
            self._amp[names.index(key)] = value
        for key, value in expand_sides(self.phase, names).items():
            self._phase[names.index(key)] = value
        for i, name in enumerate(names):  # an alternating gait: the right side half a period after the left
            left = "left_" + name[len("right_"):]
            if name.startswith("right_") and name not in self.phase and left in names:
                self._phase[i] = self._phase[names.index(left)] + math.pi
        low, high = env.model.actuator_ctrlrange.T
        self._target = np.clip(self._target, low, high)
        self.t = 0

    def reset(self) -> None:
        self.t = 0

    def predict(self, obs: np.ndarray, state: Any = None, episode_start: Any = None, deterministic: bool = True) -> tuple[np.ndarray, None]:
        if self.env is None:
            raise SbilError("OpenLoopController.predict before bind(env): roll it out with sbil.sb3.rollouts.rollout_episodes.")
        alpha = min(1.0, self.t / self.ramp) if self.ramp > 0 else 1.0
        ctrl = (1.0 - alpha) * self._nominal + alpha * self._target
        if self.period > 0:
            ctrl = ctrl + alpha * self._amp * np.sin(2.0 * math.pi * self.t / self.period + self._phase)
        self.t += 1
        return self.env.ctrl_to_action(ctrl).astype(np.float32), None

    # ---- saving -------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "kind": "open_loop", "pose": self.pose, "ramp": self.ramp, "amplitude": self.amplitude,
                "phase": self.phase, "period": self.period}

    def save(self, path: Path) -> None:
        save_controller(self, path)


def save_controller(controller: Any, path: Path) -> None:
    """Write a controller's ``to_dict()`` as the JSON file :func:`sbil.experts.policies.load_controller` reads (atomically)."""
    atomic_write(path, json.dumps(controller.to_dict(), indent=2, sort_keys=True) + "\n")
