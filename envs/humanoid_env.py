"""``HumanoidTaskEnv``: one gymnasium env class for every (robot, task) pair.

Observation: ``concat(qpos, qvel)`` including the root x, y (the paper's choice;
``exclude_root_xy=True`` drops them). Action: one value per actuator in ``[-1, 1]``, mapped
linearly onto the actuator's control range; out-of-range values are clipped, while a wrong shape
or NaN/inf is an error. Episodes last 1000 steps (``TimeLimit`` from the registration); early
termination on a fall is off by default, as in the SMILING paper.
"""

from __future__ import annotations

from typing import Any, Optional

import gymnasium as gym
import mujoco
import numpy as np
from gymnasium import spaces

from .errors import EnvError

from .robots import get_robot
from .tasks import Readings, get_task

RENDER_HINT = "Set MUJOCO_GL=egl (GPU) or MUJOCO_GL=osmesa (CPU, needs libosmesa) before importing mujoco."


class HumanoidTaskEnv(gym.Env):
    """A humanoid on a walk / sit / crawl task (see ``../shared/HUMANOID.md`` for the formulas).

    :param robot: ``h1`` (Unitree H1, needs the ``h1`` extra) or ``humanoid`` (gymnasium's).
    :param task: ``walk``, ``sit`` or ``crawl``.
    :param early_termination: end the episode when the pelvis falls below the task's height
        (walk 0.2 m, sit 0.5 m, in H1 units; crawl never ends early).
    :param exclude_root_xy: drop the root's world x, y from the observation.
    :param reset_noise_scale: reset = nominal pose + U(-scale, scale) on every qpos entry.
    :param render_mode: ``rgb_array`` or ``None``.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 50}

    def __init__(
        self,
        robot: str = "humanoid",
        task: str = "walk",
        early_termination: bool = False,
        exclude_root_xy: bool = False,
        reset_noise_scale: float = 0.01,
        render_mode: Optional[str] = None,
        width: int = 320,
        height: int = 240,
    ) -> None:
        self.robot = get_robot(robot)
        self.task = get_task(task)
        if reset_noise_scale < 0:
            raise EnvError(f"reset_noise_scale must be >= 0, got {reset_noise_scale}.")
        if render_mode not in (None, "rgb_array"):
            raise EnvError(f"render_mode {render_mode!r} is not supported; valid: rgb_array or None.")
        spec = self.robot.build()
        if self.task.add_props is not None:
            self.task.add_props(spec, self.robot.scale)
        spec.option.timestep = self.robot.timestep
        self.model = spec.compile()
        self.data = mujoco.MjData(self.model)
        self.early_termination = early_termination
        self.exclude_root_xy = exclude_root_xy
        self.reset_noise_scale = float(reset_noise_scale)
        self.render_mode = render_mode
        self._size = (height, width)
        self._renderer: Any = None
        self.dt = self.robot.timestep * self.robot.n_substeps
        self.metadata = {**self.metadata, "render_fps": int(round(1.0 / self.dt))}

        m = self.model
        self._head = m.site("head").id
        self._imu = m.site("imu").id
        self._pelvis = m.body(self.robot.pelvis).id
        self._torso = m.body(self.robot.torso).id
        self._com_adr = m.sensor("com_vel").adr[0]
        self._ctrl_low, self._ctrl_high = m.actuator_ctrlrange[:, 0].copy(), m.actuator_ctrlrange[:, 1].copy()
        self._ctrl_mid, self._ctrl_half = (self._ctrl_high + self._ctrl_low) / 2, (self._ctrl_high - self._ctrl_low) / 2
        self._ctrl_limit = np.maximum(np.abs(self._ctrl_low), np.abs(self._ctrl_high))
        self._nominal = self.robot.nominal_qpos(m)
        self._terminate_below = None if self.task.terminate_below is None else self.task.terminate_below * self.robot.scale

        self.action_space = spaces.Box(-1.0, 1.0, shape=(m.nu,), dtype=np.float32)
        n_obs = m.nq + m.nv - (2 if exclude_root_xy else 0)
        self.observation_space = spaces.Box(-np.inf, np.inf, shape=(n_obs,), dtype=np.float64)

    # ---- gymnasium API ----------------------------------------------------------------------------

    def reset(self, *, seed: Optional[int] = None, options: Optional[dict] = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        mujoco.mj_resetData(self.model, self.data)
        noise = self.np_random.uniform(-self.reset_noise_scale, self.reset_noise_scale, size=self.model.nq)
        self.data.qpos[:] = self._nominal + noise
        self.data.qvel[:] = 0.0
        self.data.ctrl[:] = self._hold_ctrl(self.data.qpos)
        mujoco.mj_forward(self.model, self.data)
        return self._obs(), {}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict]:
        action = np.asarray(action, dtype=np.float64)
        if action.shape != self.action_space.shape:
            raise EnvError(f"{self.spec_id}: action has shape {action.shape}, expected {self.action_space.shape}.")
        if not np.isfinite(action).all():
            raise EnvError(f"{self.spec_id}: action contains NaN or inf: {action}.")
        self.data.ctrl[:] = self.action_to_ctrl(action)
        mujoco.mj_step(self.model, self.data, nstep=self.robot.n_substeps)
        reward, terms = self.reward_now()
        terminated = bool(self._terminate_below is not None and self.early_termination and self.data.xpos[self._pelvis, 2] < self._terminate_below)
        info = {**terms, "x_position": float(self.data.xpos[self._pelvis, 0]), "com_vx": float(self.data.sensordata[self._com_adr])}
        return self._obs(), reward, terminated, False, info

    def render(self) -> Optional[np.ndarray]:
        if self.render_mode is None:
            return None
        if self._renderer is None:
            try:
                self._renderer = mujoco.Renderer(self.model, *self._size)
            except Exception as e:  # no OpenGL context on this machine
                raise EnvError(f"Rendering needs an OpenGL backend and none works here ({type(e).__name__}: {e}). {RENDER_HINT}") from None
        camera = mujoco.MjvCamera()
        camera.lookat[:] = self.data.xpos[self._pelvis]
        camera.distance, camera.azimuth, camera.elevation = 3.5 * self.robot.scale, 135.0, -15.0
        self._renderer.update_scene(self.data, camera)
        return self._renderer.render()

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None

    # ---- helpers (also used by scripted poses and expert planners) --------------------------------

    @property
    def spec_id(self) -> str:
        return self.spec.id if self.spec is not None else f"{self.robot.name}-{self.task.name}"

    def action_to_ctrl(self, action: np.ndarray) -> np.ndarray:
        a = np.minimum(np.maximum(action, -1.0), 1.0)  # documented: out-of-range actions are clipped
        return self._ctrl_mid + a * self._ctrl_half

    def ctrl_to_action(self, ctrl: np.ndarray) -> np.ndarray:
        return np.clip(2.0 * (ctrl - self._ctrl_low) / (self._ctrl_high - self._ctrl_low) - 1.0, -1.0, 1.0)

    def _hold_ctrl(self, qpos: np.ndarray) -> np.ndarray:
        """Controls that hold ``qpos``: the joint targets for position actuators, zero torque otherwise."""
        if self.robot.normalise_actuation:
            return np.zeros(self.model.nu)
        joints = self.model.actuator_trnid[:, 0]
        return np.clip(qpos[self.model.jnt_qposadr[joints]], self._ctrl_low, self._ctrl_high)

    def nominal_action(self) -> np.ndarray:
        """The action that holds the nominal pose (zero for torque robots)."""
        return self.ctrl_to_action(self._hold_ctrl(self._nominal)).astype(np.float32)

    def readings(self) -> Readings:
        d = self.data
        if self.robot.normalise_actuation:
            actuation = d.ctrl / self._ctrl_limit
        else:
            actuation = d.actuator_force
        return Readings(
            head_z=float(d.site_xpos[self._head, 2]),
            imu=d.site_xpos[self._imu],
            pelvis=d.xpos[self._pelvis],
            pelvis_quat=d.xquat[self._pelvis],
            torso_zz=float(d.xmat[self._torso, 8]),
            com_vel=d.sensordata[self._com_adr:self._com_adr + 3],
            actuation=actuation,
        )

    def set_state(self, qpos: np.ndarray, qvel: Optional[np.ndarray] = None, hold: bool = True) -> None:
        """Put the robot in a pose (a scripted pose, or a planner's rollout start) and recompute."""
        self.data.qpos[:] = qpos
        self.data.qvel[:] = 0.0 if qvel is None else qvel
        if hold:
            self.data.ctrl[:] = self._hold_ctrl(self.data.qpos)
        mujoco.mj_forward(self.model, self.data)

    def reward_now(self) -> tuple[float, dict[str, float]]:
        """The task reward of the current state (after :meth:`set_state` or a step)."""
        reward, terms = self.task.reward(self.readings(), self.robot)
        return float(reward), {k: float(v) for k, v in terms.items()}

    def _obs(self) -> np.ndarray:
        qpos = self.data.qpos[2:] if self.exclude_root_xy else self.data.qpos
        return np.concatenate([qpos, self.data.qvel])
