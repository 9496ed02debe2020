"""Sampling-based model-predictive control for the position-actuated humanoid tasks.

Predictive sampling (as in MuJoCo MPC): every few control steps, copy the simulator's state, roll
out a few dozen perturbations of the current joint-target plan over a short horizon with
``mujoco.rollout`` (C code, no Python per physics step), score them with the task reward (plus
planning-only shaping terms), keep the best plan and act on its first steps. The plan holds the
joint targets at a few knots over the horizon, linearly interpolated in between; it starts at the
nominal pose (or at offsets from it). Shaping matters because the horizon is short (0.5-0.7 s):
the task reward alone does not show the planner that collapsing to the floor, or standing too tall
for the tunnel, stops all later progress. :class:`BranchingPlanner` sees further: it runs the
planner itself, closed loop, on a copy of the simulator for 2 s along a few differently seeded
branches, and plays the best.

The planner reads the simulator (a privileged model, as the humanoid issue allows); the demos it
produces are rollouts of the task exactly as defined.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Callable, Optional

import mujoco
import numpy as np
from mujoco import rollout as mj_rollout

from sbil.errors import SbilError
from sbil.experts.controllers import FORMAT, expand_sides, save_controller
from sbil_envs.tasks import Readings
from sbil_envs.tolerance import tolerance


@dataclasses.dataclass
class Rollouts:
    """What the planner's shaping terms read, per sample and step: arrays of shape ``(samples, horizon, ...)``."""

    readings: Readings  #: what the task reward reads
    bodies: np.ndarray  #: (..., nbody - 1, 3) every body's origin (world excluded)
    feet: tuple[int, int]  #: index of the left and right foot in ``bodies``
    dt: float  #: control step (s)
    joints: np.ndarray  #: (..., njnt - 1) every hinge joint's angle (the free root excluded)
    joint_names: tuple[str, ...]  #: names of the hinge joints, in the order of ``joints``
    nominal: np.ndarray  #: (njnt - 1,) the joints' angles in the nominal standing pose

    def feet_midpoint(self) -> np.ndarray:
        return 0.5 * (self.bodies[..., self.feet[0], :2] + self.bodies[..., self.feet[1], :2])


def pelvis_height(x: Rollouts, robot: Any) -> np.ndarray:
    """The pelvis kept off the floor, at crawling height (H1: 0.55-0.9 m)."""
    s = robot.scale
    return tolerance(x.readings.pelvis[..., 2], (0.55 * s, 0.9 * s), margin=0.3 * s)


def pelvis_tall(x: Rollouts, robot: Any) -> np.ndarray:
    """The pelvis at standing height, above 0.95 m (H1): a walk that sinks into a crouch buckles."""
    s = robot.scale
    return tolerance(x.readings.pelvis[..., 2], (0.95 * s, np.inf), margin=0.3 * s)


def low_profile(x: Rollouts, robot: Any) -> np.ndarray:
    """Every body below 1 m (H1), i.e. under the crawl tunnel's 1.15 m ceiling."""
    s = robot.scale
    return tolerance(x.bodies[..., 2].max(axis=-1), (-np.inf, 1.0 * s), margin=0.3 * s)


def balance(x: Rollouts, robot: Any) -> np.ndarray:
    """The capture point (where the body would come to rest; the pelvis stands in for the centre of
    mass) over the feet's midpoint."""
    s, pelvis = robot.scale, x.readings.pelvis
    capture = pelvis[..., :2] + x.readings.com_vel[..., :2] * np.sqrt(np.maximum(pelvis[..., 2:3], 0.05) / 9.81)
    return tolerance(np.linalg.norm(capture - x.feet_midpoint(), axis=-1), (0.0, 0.05 * s), margin=0.3 * s)


def feet_follow(x: Rollouts, robot: Any) -> np.ndarray:
    """The feet move with the body: walking by stepping rather than by leaning."""
    feet = x.feet_midpoint()
    feet_v = np.diff(feet, axis=1, prepend=feet[:, :1]) / x.dt
    return tolerance(np.linalg.norm(feet_v - x.readings.com_vel[..., :2], axis=-1), (0.0, 0.0), margin=1.0)


def feet_apart(x: Rollouts, robot: Any) -> np.ndarray:
    """The left foot 0.15-0.4 m (H1) to the left of the right one: no crossed legs."""
    s = robot.scale
    return tolerance(x.bodies[..., x.feet[0], 1] - x.bodies[..., x.feet[1], 1], (0.15 * s, 0.4 * s), margin=0.1 * s)


def low_feet(x: Rollouts, robot: Any) -> np.ndarray:
    """Both feet at most 0.3 m (H1) off the floor: steps, not kicks (an unshaped walk swings a foot to hip height and topples)."""
    s = robot.scale
    feet_z = x.bodies[..., list(x.feet), 2].max(axis=-1)
    return tolerance(feet_z, (-np.inf, 0.3 * s), margin=0.3 * s)


def _posture(x: Rollouts, parts: tuple[str, ...], bounds: float, margin: float) -> np.ndarray:
    """The joints whose names contain one of ``parts`` within ``bounds`` (mean absolute angle, rad) of the nominal pose."""
    cols = [i for i, name in enumerate(x.joint_names) if any(part in name for part in parts)]
    if not cols:
        raise SbilError(f"This robot has no joint named like {', '.join(parts)}; drop the posture term from the shaping.")
    error = np.abs(x.joints[..., cols] - x.nominal[cols]).mean(axis=-1)
    return tolerance(error, (0.0, bounds), margin=margin)


def upper_posture(x: Rollouts, robot: Any) -> np.ndarray:
    """Torso and arms near the nominal pose: the planner's perturbations otherwise swing them freely,
    which shifts the centre of mass the legs must catch."""
    return _posture(x, ("torso", "shoulder", "elbow"), 0.1, 0.5)


def hip_posture(x: Rollouts, robot: Any) -> np.ndarray:
    """Hip yaw and roll and the ankles near the nominal pose: a walk steps with hip pitch and knee;
    twisted or splayed legs trip it."""
    return _posture(x, ("hip_yaw", "hip_roll", "ankle"), 0.05, 0.3)


def speed_limit(x: Rollouts, robot: Any) -> np.ndarray:
    """Forward speed at most 1.1 m/s: the walk reward stops growing at 1 m/s, the risk of a fall does not."""
    return tolerance(x.readings.com_vel[..., 0], (-np.inf, 1.1), margin=0.5)


#: planning-only shaping terms, added to the task's own by name in ``PredictiveSampling(shaping=...)``
PLANNER_TERMS: dict[str, Callable[[Rollouts, Any], np.ndarray]] = {
    "pelvis_height": pelvis_height, "pelvis_tall": pelvis_tall, "low_profile": low_profile, "balance": balance, "feet_follow": feet_follow,
    "feet_apart": feet_apart, "low_feet": low_feet, "speed_limit": speed_limit, "upper_posture": upper_posture,
    "hip_posture": hip_posture}


def _add_reading_sensors(spec: mujoco.MjSpec, env: Any) -> None:
    """Sensors that give, per physics step, what the task reward reads from ``mjData``."""
    site, xbody = mujoco.mjtObj.mjOBJ_SITE, mujoco.mjtObj.mjOBJ_XBODY  # xbody: mjData.xpos / xquat, as the env reads
    sensor = mujoco.mjtSensor
    spec.add_sensor(name="mpc_head", type=sensor.mjSENS_FRAMEPOS, objtype=site, objname="head")
    spec.add_sensor(name="mpc_imu", type=sensor.mjSENS_FRAMEPOS, objtype=site, objname="imu")
    spec.add_sensor(name="mpc_pelvis", type=sensor.mjSENS_FRAMEPOS, objtype=xbody, objname=env.robot.pelvis)
    spec.add_sensor(name="mpc_pelvis_quat", type=sensor.mjSENS_FRAMEQUAT, objtype=xbody, objname=env.robot.pelvis)
    spec.add_sensor(name="mpc_torso_z", type=sensor.mjSENS_FRAMEZAXIS, objtype=xbody, objname=env.robot.torso)
    for i in range(1, env.model.nbody):  # every body's origin, for the shaping terms
        spec.add_sensor(name=f"mpc_body_{i}", type=sensor.mjSENS_FRAMEPOS, objtype=xbody, objname=env.model.body(i).name)
    for j in range(1, env.model.njnt):  # every hinge joint's angle, for the posture terms
        spec.add_sensor(name=f"mpc_joint_{j}", type=sensor.mjSENS_JOINTPOS, objtype=mujoco.mjtObj.mjOBJ_JOINT,
                        objname=env.model.joint(j).name)
    for i in range(env.model.nu):
        spec.add_sensor(name=f"mpc_force_{i}", type=sensor.mjSENS_ACTUATORFRC, objtype=mujoco.mjtObj.mjOBJ_ACTUATOR,
                        objname=env.model.actuator(i).name)


class PredictiveSampling:
    """A controller (``bind(env)``, ``reset()``, ``predict(obs)``) that re-plans from the simulator state.

    :param horizon: planning horizon in control steps.
    :param knots: spline knots over the horizon (linear interpolation between them).
    :param samples: plans rolled out per re-plan (one of them the unperturbed current plan).
    :param noise: perturbation scale, as a fraction of each actuator's half control range.
    :param replan_every: control steps executed between re-plans.
    :param shaping: planning-only terms added to each step's reward, as weights by name: the task's
        own terms (e.g. ``pose``, ``crawling``) or the planner's (:data:`PLANNER_TERMS`); the key
        ``terminal`` multiplies the shaping of the horizon's last step (a stand-in for what comes after).
    :param temperature: 0 keeps the best sample (predictive sampling); above 0, the plan is the
        samples' mean weighted by ``exp(return / (temperature * std(returns)))`` (MPPI).
    :param seed: seed of the perturbations (the planner is deterministic given it).
    :param threads: threads for ``mujoco.rollout``.
    :param substeps: physics steps per control step in the planning model (default: the env's).
        Fewer, longer steps plan faster: H1's 5 x 4 ms instead of 10 x 2 ms halves the cost of a
        rollout, and its trajectories stay within ~5 mm of the env's over 0.8 s.
    :param start: offsets (rad) added to the nominal joint targets in the first plan, by actuator
        name (``left_``/``right_`` may be left out). H1 holding its nominal pose tips over backward
        within 1.5 s; with the ankles at -0.3 it tips forward instead, and a walk starts ~1 s sooner.
    """

    def __init__(self, horizon: int = 25, knots: int = 4, samples: int = 32, noise: float = 0.1, replan_every: int = 2,
                 shaping: Optional[dict[str, float]] = None, temperature: float = 0.0, seed: int = 0, threads: int = 1,
                 substeps: Optional[int] = None, start: Optional[dict[str, float]] = None) -> None:
        if horizon < 2 or knots < 2 or samples < 2 or replan_every < 1 or noise < 0 or (substeps is not None and substeps < 1):
            raise SbilError("PredictiveSampling needs horizon >= 2, knots >= 2, samples >= 2, replan_every >= 1, noise >= 0 "
                            "and substeps >= 1 (or None).")
        self.horizon, self.n_knots, self.samples, self.noise = int(horizon), int(knots), int(samples), float(noise)
        self.replan_every, self.seed = int(replan_every), int(seed)
        self.shaping = {str(k): float(v) for k, v in (shaping or {}).items()}
        self.temperature = float(temperature)
        self.threads = int(threads)
        self.substeps = None if substeps is None else int(substeps)
        self.start = {str(k): float(v) for k, v in (start or {}).items()}
        self.env: Any = None

    # ---- controller interface ---------------------------------------------------------------------
    def bind(self, env: Any) -> None:
        if env.robot.normalise_actuation:
            raise SbilError(f"PredictiveSampling plans joint targets; robot {env.robot.name!r} has torque motors.")
        self.env = env
        spec = env.robot.build()
        if env.task.add_props is not None:
            env.task.add_props(spec, env.robot.scale)
        self._substeps = self.substeps or env.robot.n_substeps
        spec.option.timestep = env.robot.timestep if self.substeps is None else env.dt / self.substeps
        _add_reading_sensors(spec, env)
        self.model = spec.compile()
        if self.model.nq != env.model.nq or self.model.nu != env.model.nu:
            raise SbilError("PredictiveSampling: the planning model does not match the env's model.")
        self._datas = [mujoco.MjData(self.model) for _ in range(self.threads)]
        m = self.model
        self._adr = {name: (m.sensor(name).adr[0], m.sensor(name).dim[0]) for name in
                     ("mpc_head", "mpc_imu", "mpc_pelvis", "mpc_pelvis_quat", "mpc_torso_z", "com_vel")}
        self._body_adr = np.array([m.sensor(f"mpc_body_{i}").adr[0] + k for i in range(1, m.nbody) for k in range(3)])
        self._feet = tuple(m.body(name).id - 1 for name in env.robot.feet)
        self._force_adr = np.array([m.sensor(f"mpc_force_{i}").adr[0] for i in range(m.nu)])
        self._joint_adr = np.array([m.sensor(f"mpc_joint_{j}").adr[0] for j in range(1, m.njnt)])
        self._joint_names = tuple(m.joint(j).name for j in range(1, m.njnt))
        self._joint_nominal = np.array([env._nominal[m.jnt_qposadr[j]] for j in range(1, m.njnt)])
        self._state_spec = mujoco.mjtState.mjSTATE_FULLPHYSICS
        self._state = np.zeros(mujoco.mj_stateSize(env.model, self._state_spec))
        self._low, self._high = env._ctrl_low, env._ctrl_high
        self._scale = self.noise * env._ctrl_half
        names = [m.actuator(i).name for i in range(m.nu)]
        self._start_ctrl = env._hold_ctrl(env._nominal)
        for name, offset in expand_sides(self.start, names).items():
            self._start_ctrl[names.index(name)] += offset
        self._start_ctrl = np.clip(self._start_ctrl, self._low, self._high)
        terms = env.reward_now()[1]
        unknown = sorted(set(self.shaping) - set(terms) - set(PLANNER_TERMS) - {"terminal"})
        if unknown:
            raise SbilError(f"Unknown shaping term(s) {unknown}; valid: {', '.join([*terms, *PLANNER_TERMS, 'terminal'])}.")
        self.reset()

    def reset(self) -> None:
        self.t = 0
        self._rng = np.random.default_rng(self.seed)
        self._knot_t = np.linspace(0, self.horizon - 1, self.n_knots)
        self._knots = np.tile(self._start_ctrl, (self.n_knots, 1))
        self._plan_start = 0
        self._plan: Optional[np.ndarray] = None
        self.returns: list[float] = []  #: the chosen plan's planning return at each re-plan

    def reseed(self, *key: int) -> None:
        """Draw the next perturbations from the stream keyed by ``(seed, *key)`` (a branch of :class:`BranchingPlanner`)."""
        self._rng = np.random.default_rng([self.seed, *key])

    def predict(self, obs: Any = None, state: Any = None, episode_start: Any = None, deterministic: bool = True) -> tuple[np.ndarray, None]:
        if self.env is None:
            raise SbilError("PredictiveSampling.predict before bind(env): roll it out with sbil.sb3.rollouts.rollout_episodes.")
        if self._plan is None or self.t - self._plan_start >= self.replan_every:
            self._replan()
        ctrl = self._plan[self.t - self._plan_start]
        self.t += 1
        return self.env.ctrl_to_action(ctrl).astype(np.float32), None

    # ---- planning ------------------------------------------------------------------------------------
    def _interpolate(self, knots: np.ndarray) -> np.ndarray:
        """Knots ``(..., n_knots, nu)`` -> joint targets per control step ``(..., horizon, nu)``."""
        steps = np.arange(self.horizon)
        idx = np.clip(np.searchsorted(self._knot_t, steps, side="right") - 1, 0, self.n_knots - 2)
        w = ((steps - self._knot_t[idx]) / (self._knot_t[idx + 1] - self._knot_t[idx]))[:, None]
        return knots[..., idx, :] * (1.0 - w) + knots[..., idx + 1, :] * w

    def _shift(self, shift: int) -> np.ndarray:
        """The current plan's knots re-sampled ``shift`` steps later (the last one held)."""
        if shift == 0:
            return self._knots
        at = np.clip(np.round(self._knot_t + shift).astype(int), 0, self.horizon - 1)
        return self._interpolate(self._knots)[at]

    def _replan(self) -> None:
        env, n = self.env, self.samples
        nominal = self._shift(self.t - self._plan_start if self._plan is not None else 0)
        knots = np.repeat(nominal[None], n, axis=0)
        knots[1:] += self._scale * self._rng.standard_normal((n - 1, self.n_knots, env.model.nu))
        knots = np.clip(knots, self._low, self._high)
        ctrl = self._interpolate(knots)  # (n, h, nu)
        returns = self._score(self._rollout(ctrl))
        best = int(np.argmax(returns))
        if self.temperature > 0:  # MPPI: a softmax-weighted mean of the samples (smoother plans)
            spread = max(float(returns.std()), 1e-9)
            w = np.exp((returns - returns[best]) / (self.temperature * spread))
            self._knots = np.tensordot(w / w.sum(), knots, axes=1)
            self._plan = self._interpolate(self._knots)
        else:  # predictive sampling: the best sample
            self._knots, self._plan = knots[best], ctrl[best]
        self._plan_start = self.t
        self.returns.append(float(returns[best]))

    def _rollout(self, ctrl: np.ndarray) -> np.ndarray:
        """Joint-target plans ``(samples, horizon, nu)``, rolled out from the env's current state ->
        the planning model's sensor values after each control step ``(samples, horizon, nsensordata)``."""
        mujoco.mj_getState(self.env.model, self.env.data, self._state, self._state_spec)
        sub = self._substeps
        _, sensordata = mj_rollout.rollout(self.model, self._datas, np.tile(self._state, (len(ctrl), 1)),
                                           np.repeat(ctrl, sub, axis=1), persistent_pool=self.threads > 1)
        return sensordata[:, sub - 1::sub]

    def _readings(self, sd: np.ndarray) -> Readings:
        """Per-step sensor values ``(samples, horizon, nsensordata)`` -> batched task readings."""
        a = self._adr
        def get(name: str) -> np.ndarray:
            return sd[..., a[name][0]:a[name][0] + a[name][1]]
        return Readings(head_z=get("mpc_head")[..., 2], imu=get("mpc_imu"), pelvis=get("mpc_pelvis"),
                        pelvis_quat=get("mpc_pelvis_quat"), torso_zz=get("mpc_torso_z")[..., 2],
                        com_vel=get("com_vel"), actuation=sd[..., self._force_adr])

    def _score(self, sd: np.ndarray) -> np.ndarray:
        """Sum of task rewards (plus shaping) over the horizon, per sample."""
        readings, robot = self._readings(sd), self.env.robot
        rewards, terms = self.env.task.reward(readings, robot)
        if self.shaping:
            x = Rollouts(readings, sd[..., self._body_adr].reshape(*sd.shape[:2], -1, 3), self._feet, self.env.dt,
                         sd[..., self._joint_adr], self._joint_names, self._joint_nominal)
            extra = np.zeros_like(rewards)
            for name, weight in self.shaping.items():
                if name != "terminal":
                    extra += weight * (PLANNER_TERMS[name](x, robot) if name in PLANNER_TERMS else terms[name])
            extra[:, -1] *= self.shaping.get("terminal", 1.0)
            rewards = rewards + extra
        return rewards.sum(axis=1)

    # ---- saving -------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "kind": "mpc", "horizon": self.horizon, "knots": self.n_knots, "samples": self.samples,
                "noise": self.noise, "replan_every": self.replan_every, "shaping": self.shaping,
                "temperature": self.temperature, "seed": self.seed, "substeps": self.substeps, "start": self.start}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "PredictiveSampling":
        return cls(**{k: v for k, v in data.items() if k not in ("format", "kind")})

    def save(self, path: Path) -> None:
        save_controller(self, path)


class BranchingPlanner:
    """A :class:`PredictiveSampling` planner that looks further ahead by trying out its own futures.

    Every ``segment`` control steps, it copies the simulator and runs the planner closed-loop on the
    copy for ``segment + lookahead`` steps, once per branch (each branch with its own perturbation
    seed), scoring each with the task reward alone. It then plays the best branch's first
    ``segment`` actions, which reproduce that branch exactly (the simulator is deterministic and its
    whole state is copied). Branches are tried one at a time, up to ``branches``; a branch whose mean
    reward per step reaches ``accept`` ends the search early, so the planner spends its time where a
    fall or a stall looms. The planner's 0.6 s horizon does not see most falls coming; a 2 s
    closed-loop look-ahead does, and picks a future without them.

    :param planner: the planner's settings (:class:`PredictiveSampling` keyword arguments).
    :param branches: most branches tried per segment (1: the plain planner, at extra cost).
    :param segment: control steps played from the chosen branch.
    :param lookahead: control steps each branch runs beyond its segment, to judge it.
    :param accept: mean task reward per step at which a branch is taken without trying more
        (``None``: always try every branch).
    """

    _STATE = mujoco.mjtState.mjSTATE_INTEGRATION  # everything mj_step reads, warm start included

    def __init__(self, planner: dict[str, Any], branches: int = 4, segment: int = 50, lookahead: int = 50,
                 accept: Optional[float] = None) -> None:
        if branches < 1 or segment < 1 or lookahead < 0:
            raise SbilError("BranchingPlanner needs branches >= 1, segment >= 1 and lookahead >= 0.")
        self.planner = PredictiveSampling(**planner)
        self.branches, self.segment, self.lookahead = int(branches), int(segment), int(lookahead)
        self.accept = None if accept is None else float(accept)
        self.env: Any = None

    def bind(self, env: Any) -> None:
        self.env = env
        self._copy = type(env)(robot=env.robot.name, task=env.task.name)  # the branches' simulator
        self.planner.bind(self._copy)
        self._state = np.zeros(mujoco.mj_stateSize(env.model, self._STATE))
        self.reset()

    def reset(self) -> None:
        self.planner.reset()
        self._memory = self._remember()
        self._actions: list[np.ndarray] = []
        self.scores: list[list[float]] = []  #: per segment, the branches' returns over segment + lookahead
        self.segment_returns: list[float] = []  #: per segment, the chosen branch's return over the segment (what playing it gives)

    def predict(self, obs: Any = None, state: Any = None, episode_start: Any = None, deterministic: bool = True) -> tuple[np.ndarray, None]:
        if self.env is None:
            raise SbilError("BranchingPlanner.predict before bind(env): roll it out with sbil.sb3.rollouts.rollout_episodes.")
        if not self._actions:
            self._search()
        return self._actions.pop(0), None

    def _remember(self) -> tuple:
        """What the planner carries from step to step (its plan), to restart each branch from."""
        p = self.planner
        return p.t, p._knots.copy(), None if p._plan is None else p._plan.copy(), p._plan_start

    def _restore(self, memory: tuple) -> None:
        p = self.planner
        p.t, p._knots, p._plan, p._plan_start = memory[0], memory[1].copy(), None if memory[2] is None else memory[2].copy(), memory[3]

    def _search(self) -> None:
        env, copy = self.env, self._copy
        mujoco.mj_getState(env.model, env.data, self._state, self._STATE)
        start, best, scores = self._memory, None, []
        for k in range(self.branches):
            mujoco.mj_setState(copy.model, copy.data, self._state, self._STATE)
            mujoco.mj_forward(copy.model, copy.data)
            self._restore(start)
            self.planner.reseed(len(self.scores), k)
            actions, total, memory, played = [], 0.0, None, 0.0
            for i in range(self.segment + self.lookahead):
                action = self.planner.predict(None)[0]
                total += copy.step(action)[1]
                if i < self.segment:
                    actions.append(action)
                if i == self.segment - 1:
                    memory, played = self._remember(), total
            scores.append(total)
            if best is None or total > best[0]:
                best = (total, actions, memory, played)
            if self.accept is not None and total >= self.accept * (self.segment + self.lookahead):
                break
        self.scores.append(scores)
        self.segment_returns.append(best[3])
        self._actions, self._memory = list(best[1]), best[2]

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "kind": "mpc_branching", "planner": {k: v for k, v in self.planner.to_dict().items() if k not in ("format", "kind")},
                "branches": self.branches, "segment": self.segment, "lookahead": self.lookahead, "accept": self.accept}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "BranchingPlanner":
        return cls(**{k: v for k, v in data.items() if k not in ("format", "kind")})

    def save(self, path: Path) -> None:
        save_controller(self, path)
