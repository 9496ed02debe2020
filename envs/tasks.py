"""Walk, sit and crawl: the props each task adds to the scene and its reward.

Reward formulas and constants follow HumanoidBench's ``walk``, ``sit_simple`` and ``crawl`` (as used
by the SMILING paper), written for any robot described by :class:`envs.robots.Robot`: heights of
the props scale with ``robot.scale``, height bands come from the robot's own numbers.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Callable, Optional

import mujoco
import numpy as np

from .errors import EnvError

from .robots import Robot
from .tolerance import _tolerance

CHAIR_X = -0.25  # H1 units; behind the robot, which faces +x
TUNNEL_START = 2.2


@dataclasses.dataclass
class Readings:
    """What the reward reads from the simulator after a step.

    One step's readings have the shapes below; a planner may pass a batch (leading dimensions
    ``(...)`` on every field), and the rewards come back with those leading dimensions.
    """

    head_z: float | np.ndarray  # () or (...)
    imu: np.ndarray  # (..., 3)
    pelvis: np.ndarray  # (..., 3)
    pelvis_quat: np.ndarray  # (..., 4) w, x, y, z
    torso_zz: float | np.ndarray
    com_vel: np.ndarray  # (..., 3) whole-body centre-of-mass velocity
    actuation: np.ndarray  # (..., nu) actuator force, or ctrl / ctrl limit for torque robots


def add_chair(spec: mujoco.MjSpec, scale: float) -> None:
    chair = spec.worldbody.add_body(name="chair", pos=[CHAIR_X * scale, 0.0, 0.0])
    rgba = [0.55, 0.35, 0.2, 1.0]
    chair.add_geom(name="chair_seat", type=mujoco.mjtGeom.mjGEOM_BOX, pos=[0.0, 0.0, 0.2375 * scale],
                   size=[0.21 * scale, 0.21 * scale, 0.2375 * scale], rgba=rgba)
    chair.add_geom(name="chair_back", type=mujoco.mjtGeom.mjGEOM_BOX, pos=[-0.23 * scale, 0.0, 0.65 * scale],
                   size=[0.02 * scale, 0.21 * scale, 0.2 * scale], rgba=rgba)


def add_tunnel(spec: mujoco.MjSpec, scale: float) -> None:
    start, half_len = TUNNEL_START * scale, 8.0 * scale
    rgba = [0.5, 0.5, 0.55, 0.6]
    body = spec.worldbody.add_body(name="tunnel", pos=[start + half_len, 0.0, 0.0])
    for name, y in (("tunnel_left", 1.35), ("tunnel_right", -1.35)):
        body.add_geom(name=name, type=mujoco.mjtGeom.mjGEOM_BOX, pos=[0.0, y * scale, 0.775 * scale],
                      size=[half_len, 0.2 * scale, 0.775 * scale], rgba=rgba)
    body.add_geom(name="tunnel_ceiling", type=mujoco.mjtGeom.mjGEOM_BOX, pos=[0.0, 0.0, 1.35 * scale],
                  size=[half_len, 1.15 * scale, 0.2 * scale], rgba=rgba)


# ---- shared terms -------------------------------------------------------------------------------


def small_control(r: Readings, robot: Robot) -> float | np.ndarray:
    # tolerance(actuation, bounds (0, 0), margin, quadratic, value_at_margin 0) is max(1 - (x/margin)^2, 0);
    # written out because this runs every step and the general form costs 3x more.
    u = r.actuation * (1.0 / robot.actuation_margin)
    return (4.0 + np.maximum(1.0 - u * u, 0.0).mean(axis=-1)) / 5.0


def standing(r: Readings, robot: Robot) -> float | np.ndarray:
    return _tolerance(r.head_z, robot.stand_head, math.inf, margin=robot.stand_head / 4)


def move(r: Readings) -> float | np.ndarray:
    return (5.0 * _tolerance(r.com_vel[..., 0], 1.0, math.inf, margin=1.0, sigmoid="linear", value_at_margin=0.0) + 1.0) / 6.0


def dont_move(r: Readings) -> float | np.ndarray:
    return (_tolerance(r.com_vel[..., 0], 0.0, 0.0, margin=2.0) + _tolerance(r.com_vel[..., 1], 0.0, 0.0, margin=2.0)) / 2.0


# ---- tasks ---------------------------------------------------------------------------------------


def walk_reward(r: Readings, robot: Robot) -> tuple[float | np.ndarray, dict[str, float | np.ndarray]]:
    terms = {
        "small_control": small_control(r, robot),
        "standing": standing(r, robot),
        "upright": _tolerance(r.torso_zz, 0.9, math.inf, margin=1.9, sigmoid="linear", value_at_margin=0.0),
        "move": move(r),
    }
    return terms["small_control"] * terms["standing"] * terms["upright"] * terms["move"], terms


def sit_reward(r: Readings, robot: Robot) -> tuple[float | np.ndarray, dict[str, float | np.ndarray]]:
    s = robot.scale
    chair_x = CHAIR_X * s
    terms = {
        "small_control": small_control(r, robot),
        "sitting": _tolerance(r.pelvis[..., 2], *robot.sit_pelvis, margin=0.2 * s),
        "on_chair": _tolerance(r.pelvis[..., 0] - chair_x, -0.19 * s, 0.19 * s, margin=0.2 * s) * _tolerance(r.pelvis[..., 1], 0.0, 0.0, margin=0.1 * s),
        "upright": _tolerance(r.torso_zz, 0.95, math.inf, margin=0.9, sigmoid="linear", value_at_margin=0.0),
        "posture": _tolerance(r.head_z - r.imu[..., 2], *robot.posture, margin=robot.posture_margin),
        "dont_move": dont_move(r),
    }
    reward = (terms["small_control"] * (0.5 * terms["sitting"] + 0.5 * terms["on_chair"]) * terms["upright"]
              * terms["posture"] * terms["dont_move"])
    return reward, terms


CRAWL_POSE = np.array([0.75, 0.0, 0.65, 0.0])  # pelvis quaternion: torso pitched ~82 degrees forward


def crawl_reward(r: Readings, robot: Robot) -> tuple[float | np.ndarray, dict[str, float | np.ndarray]]:
    s = robot.scale
    terms = {
        "small_control": small_control(r, robot),
        "crawling": np.minimum(_tolerance(r.imu[..., 2], *robot.crawl_band, margin=1.0 * s), _tolerance(r.head_z, *robot.crawl_band, margin=1.0 * s)),
        "move": move(r),
        "pose": _tolerance(np.sqrt(np.square(r.pelvis_quat - CRAWL_POSE).sum(axis=-1)), 0.0, 0.0, margin=1.0),
        "in_tunnel": np.where(np.abs(r.imu[..., 1]) <= 1.0 * s, 1.0, 0.0),
    }
    reward = (0.1 * terms["small_control"] + 0.25 * terms["crawling"] + 0.4 * terms["move"] + 0.25 * terms["pose"]) * terms["in_tunnel"]
    return reward, terms


@dataclasses.dataclass(frozen=True)
class Task:
    name: str
    reward: Callable[[Readings, Robot], tuple[float | np.ndarray, dict[str, float | np.ndarray]]]
    add_props: Optional[Callable[[mujoco.MjSpec, float], None]]
    terminate_below: Optional[float]  #: early termination: pelvis height in H1 units (None: never)


TASKS = {
    "walk": Task("walk", walk_reward, None, 0.2),
    "sit": Task("sit", sit_reward, add_chair, 0.5),
    "crawl": Task("crawl", crawl_reward, add_tunnel, None),
}


def get_task(name: str) -> Task:
    if name not in TASKS:
        raise EnvError(f"Unknown humanoid task {name!r}; valid: {', '.join(TASKS)}.")
    return TASKS[name]
