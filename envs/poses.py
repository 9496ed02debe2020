"""Scripted poses that check every task constant: standing, seated on the chair, crawling in the tunnel.

Each function puts the env's robot in the pose (holding it, so position actuators exert no force)
and returns nothing; read the reward with ``env.reward_now()``. Heights are not guessed: the body is
lowered until it first touches its support (floor or seat), so the numbers the tests pin are what
the geometry gives.
"""

from __future__ import annotations

import math
from typing import Optional

import mujoco
import numpy as np

from .humanoid_env import HumanoidTaskEnv
from .tasks import CHAIR_X, CRAWL_POSE, TUNNEL_START

_BENT = {  # hips flexed 90 degrees, knees bent 90 degrees, per robot
    "h1": {"left_hip_pitch": -math.pi / 2, "right_hip_pitch": -math.pi / 2, "left_knee": math.pi / 2, "right_knee": math.pi / 2,
           "left_ankle": 0.0, "right_ankle": 0.0},
    "humanoid": {"left_hip_y": -math.pi / 2, "right_hip_y": -math.pi / 2, "left_knee": -math.pi / 2, "right_knee": -math.pi / 2},
}


def _set_joints(env: HumanoidTaskEnv, qpos: np.ndarray, values: dict[str, float]) -> None:
    for name, value in values.items():
        qpos[env.model.joint(name).qposadr[0]] = value


def _touches(env: HumanoidTaskEnv, support: str) -> bool:
    target = env.model.geom(support).id
    d = env.data
    return any(target in (d.contact[i].geom1, d.contact[i].geom2) for i in range(d.ncon))


def _lower_onto(env: HumanoidTaskEnv, qpos: np.ndarray, support: str, qvel: Optional[np.ndarray] = None, step: float = 0.001) -> None:
    """Lower the root from high up until the body first touches ``support``."""
    z = qpos[2] + 1.0
    while z > 0.0:
        qpos[2] = z
        env.set_state(qpos, qvel)
        if _touches(env, support):
            return
        z -= step
    raise RuntimeError(f"the pose never touched {support}")


def standing(env: HumanoidTaskEnv, forward_speed: float = 0.0) -> None:
    """The nominal pose with the feet on the floor, the whole body moving forward at ``forward_speed``."""
    qpos = env.robot.nominal_qpos(env.model)
    qvel = np.zeros(env.model.nv)
    qvel[0] = forward_speed
    _lower_onto(env, qpos, "floor", qvel)


def seated(env: HumanoidTaskEnv) -> None:
    """Upright, hips and knees at 90 degrees, the pelvis over the chair's centre, resting on the seat."""
    qpos = env.robot.nominal_qpos(env.model)
    _set_joints(env, qpos, _BENT[env.robot.name])
    env.set_state(qpos)
    # Put the pelvis (not the root) over the chair: the roots differ between the robots.
    qpos[0] += CHAIR_X * env.robot.scale - env.data.xpos[env.model.body(env.robot.pelvis).id, 0]
    _lower_onto(env, qpos, "chair_seat")


def crawling(env: HumanoidTaskEnv, forward_speed: float = 1.0) -> None:
    """Pelvis pitched to the crawl pose, inside the tunnel, imu at the middle of the crawl band, moving forward."""
    qpos = env.robot.nominal_qpos(env.model)
    qpos[0] = (TUNNEL_START + 1.0) * env.robot.scale
    env.set_state(qpos)
    # Rotate the root so that the pelvis body ends at the crawl orientation.
    pelvis = env.model.body(env.robot.pelvis).id
    target = CRAWL_POSE / np.linalg.norm(CRAWL_POSE)
    root_to_pelvis = np.empty(4)
    mujoco.mju_negQuat(root_to_pelvis, qpos[3:7])
    mujoco.mju_mulQuat(root_to_pelvis, root_to_pelvis, env.data.xquat[pelvis])  # pelvis in the root frame
    inverse = np.empty(4)
    mujoco.mju_negQuat(inverse, root_to_pelvis)
    root = np.empty(4)
    mujoco.mju_mulQuat(root, target, inverse)
    qpos[3:7] = root
    qvel = np.zeros(env.model.nv)
    qvel[0] = forward_speed
    env.set_state(qpos, qvel)
    imu = env.model.site("imu").id
    band = env.robot.crawl_band
    qpos[2] += (band[0] + band[1]) / 2 - env.data.site_xpos[imu, 2]
    env.set_state(qpos, qvel)
