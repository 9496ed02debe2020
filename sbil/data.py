"""Expert demonstrations: the :class:`Demos` type, its compressed file format, checks and subsets.

A demos file is a compressed ``.npz`` (float32 arrays, no pickles) holding per-step ``obs``, ``acts``,
``next_obs``, ``rewards``, ``dones``, the index of each episode's first step, and a JSON header
(``env_id``, ``env_kwargs``, versions, provenance). Shipped demos live in ``expert_data/`` with a
``manifest.json`` of sha256 hashes; :func:`load_demos` verifies them on every load.
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence, Union

import numpy as np
from gymnasium import spaces

from sbil.errors import SbilError
from sbil.io import PathLike, atomic_path, first_hash_problem


def _expert_data_dir() -> Path:
    """Where the shipped demos are: the ``expert_data/`` folder beside the ``sbil`` being imported
    (a clone or source tree), else the ``sbil_expert_data`` package that a regular install (wheel,
    ``pip install .`` or ``git+...``) puts beside it, found through ``importlib.resources``."""
    from importlib.resources import files

    sibling = Path(__file__).resolve().parent.parent / "expert_data"
    if (sibling / MANIFEST_NAME).is_file():
        return sibling
    try:
        return Path(str(files("sbil_expert_data")))
    except ModuleNotFoundError:
        return sibling


MANIFEST_NAME = "manifest.json"
EXPERT_DATA_DIR = _expert_data_dir()
_ARRAYS = ("obs", "acts", "next_obs", "rewards", "dones", "episode_starts")


@dataclass(frozen=True)
class Demos:
    """Expert transitions, flat over episodes, with episode boundaries.

    :param obs: ``(n, *obs_shape)`` float32 states.
    :param acts: ``(n, *act_shape)`` float32 actions (env units).
    :param next_obs: ``(n, *obs_shape)`` float32 states after each action.
    :param rewards: ``(n,)`` float32 true task rewards.
    :param dones: ``(n,)`` bool, True on each episode's last step.
    :param episode_starts: ``(n_episodes,)`` int64 index of each episode's first step.
    :param meta: JSON-able header: ``env_id``, ``env_kwargs`` and provenance.
    """

    obs: np.ndarray
    acts: np.ndarray
    next_obs: np.ndarray
    rewards: np.ndarray
    dones: np.ndarray
    episode_starts: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.obs)

    @property
    def n_episodes(self) -> int:
        return len(self.episode_starts)

    @property
    def env_id(self) -> Optional[str]:
        return self.meta.get("env_id")

    @property
    def env_kwargs(self) -> dict[str, Any]:
        return dict(self.meta.get("env_kwargs", {}))

    def episode_bounds(self) -> list[tuple[int, int]]:
        """``(start, end)`` index pairs of each episode (end exclusive)."""
        ends = list(self.episode_starts[1:]) + [len(self)]
        return [(int(s), int(e)) for s, e in zip(self.episode_starts, ends)]

    def episode_returns(self) -> np.ndarray:
        """True return of each episode."""
        return np.array([self.rewards[s:e].sum() for s, e in self.episode_bounds()], dtype=np.float64)

    def subset(self, n_episodes: Optional[int] = None, every: int = 1, max_transitions: Optional[int] = None) -> "Demos":
        """A smaller set: the first ``n_episodes``, every ``every``-th step, at most ``max_transitions``.

        Episode boundaries are kept; ``dones`` still marks each kept episode's last kept step.
        """
        if every < 1:
            raise SbilError(f"every must be >= 1, got {every}.")
        bounds = self.episode_bounds()
        if n_episodes is not None:
            if not 1 <= n_episodes <= len(bounds):
                raise SbilError(f"n_episodes={n_episodes} is out of range: these demos hold {len(bounds)} episodes.")
            bounds = bounds[:n_episodes]
        idx_parts, starts, total = [], [], 0
        for s, e in bounds:
            idx = np.arange(s, e, every)
            if max_transitions is not None:
                idx = idx[: max(0, max_transitions - total)]
            if len(idx) == 0:
                break
            starts.append(total)
            idx_parts.append(idx)
            total += len(idx)
        idx = np.concatenate(idx_parts)
        dones = np.zeros(len(idx), bool)
        dones[np.array(starts[1:] + [len(idx)]) - 1] = True
        return Demos(self.obs[idx], self.acts[idx], self.next_obs[idx], self.rewards[idx], dones, np.array(starts, np.int64), dict(self.meta))

    def to_transitions(self):
        """As imitation's ``Transitions`` (for BC and the adversarial trainers)."""
        from imitation.data.types import Transitions

        infos = np.array([{}] * len(self), dtype=object)
        return Transitions(obs=self.obs, acts=self.acts, infos=infos, next_obs=self.next_obs, dones=self.dones)

    def to_trajectories(self) -> list:
        """As a list of imitation ``TrajectoryWithRew`` (one per episode)."""
        from imitation.data.types import TrajectoryWithRew

        trajs = []
        for s, e in self.episode_bounds():
            obs = np.concatenate([self.obs[s:e], self.next_obs[e - 1 : e]])
            trajs.append(TrajectoryWithRew(obs=obs, acts=self.acts[s:e], infos=None, terminal=bool(self.meta.get("terminal", False)), rews=self.rewards[s:e]))
        return trajs


def validate_demos(demos: Demos, observation_space: Optional[spaces.Space] = None, action_space: Optional[spaces.Space] = None, source: str = "demos") -> None:
    """Refuse demos that are empty, inconsistent, non-finite, or do not fit the env's spaces.

    :param source: how to name the demos in messages (e.g. the file path).
    """
    n = len(demos.obs)
    if n == 0:
        raise SbilError(f"{source} are empty (0 transitions). Collect demos with scripts/collect_demos.py.")
    for name in ("acts", "next_obs", "rewards", "dones"):
        if len(getattr(demos, name)) != n:
            raise SbilError(f"{source}: {name} has {len(getattr(demos, name))} rows but obs has {n}; the file is inconsistent. Regenerate it.")
    if demos.obs.shape != demos.next_obs.shape:
        raise SbilError(f"{source}: obs {demos.obs.shape} and next_obs {demos.next_obs.shape} differ in shape.")
    starts = demos.episode_starts
    if len(starts) == 0 or starts[0] != 0 or np.any(np.diff(starts) <= 0) or starts[-1] >= n:
        raise SbilError(f"{source}: episode_starts {starts[:5]}... are not increasing indices starting at 0. Regenerate the file.")
    for name in ("obs", "acts", "next_obs", "rewards"):
        arr = getattr(demos, name)
        if not np.issubdtype(arr.dtype, np.floating):
            raise SbilError(f"{source}: {name} has dtype {arr.dtype}; expected floating point.")
        bad = ~np.isfinite(arr)
        if bad.any():
            row = int(np.argwhere(bad)[0][0])
            raise SbilError(f"{source}: {name} contains {int(bad.sum())} NaN/inf values (first at transition {row}). Clean or regenerate the demos.")
    for what, arr, space in (("observations", demos.obs, observation_space), ("actions", demos.acts, action_space)):
        if space is not None and arr.shape[1:] != tuple(space.shape):
            raise SbilError(
                f"{source}: {what} have size {arr.shape[1:]} but the env's {what[:-1]} space is {tuple(space.shape)}. "
                f"These demos were recorded for {demos.env_id or 'another env'}; use demos made for this env."
            )
    if isinstance(action_space, spaces.Box):
        tol = 1e-4 * np.maximum(1.0, np.abs(np.where(np.isfinite(action_space.high), action_space.high, 0)))
        if np.any(demos.acts < action_space.low - tol) or np.any(demos.acts > action_space.high + tol):
            raise SbilError(
                f"{source}: actions fall outside the env's action bounds [{action_space.low.min()}, {action_space.high.max()}]. "
                "They were probably recorded in another action scaling (e.g. [-1, 1] policy outputs); record env actions instead."
            )


#: env kwargs that change how an env is shown, not the task its demos solve
_PRESENTATION_KWARGS = frozenset({"render_mode", "width", "height", "camera_id", "camera_name", "default_camera_config", "max_geom", "visual_options"})


def _env_spec(env: Any) -> Any:
    """The gymnasium ``EnvSpec`` of an env or VecEnv (its first env), or None if it has none."""
    if hasattr(env, "get_attr") and hasattr(env, "num_envs"):  # SB3 VecEnv, wrappers included
        try:
            return env.get_attr("spec", [0])[0]
        except Exception:  # noqa: BLE001 - a VecEnv of envs without specs: nothing to compare
            return None
    return getattr(getattr(env, "unwrapped", env), "spec", None) or getattr(env, "spec", None)


def _task_defaults(env_id: str) -> dict[str, Any]:
    """The kwargs an env id is made with when none are given: its class's defaults, then its registration's."""
    import inspect

    import gymnasium as gym
    from gymnasium.envs.registration import load_env_creator

    try:
        spec = gym.spec(env_id)
        creator = load_env_creator(spec.entry_point) if isinstance(spec.entry_point, str) else spec.entry_point
        # The env class's own defaults, then the registration's: a default passed explicitly is no other task.
        params = inspect.signature(creator).parameters.values()
        defaults = {p.name: p.default for p in params if p.default is not inspect.Parameter.empty and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
        defaults.update(spec.kwargs)
    except Exception:  # noqa: BLE001 - an id no longer registered, or no signature: compare what was given
        defaults = {}
    return defaults


def _task_kwargs(defaults: dict[str, Any], kwargs: dict[str, Any]) -> dict[str, Any]:
    """The kwargs that define the task: ``defaults`` updated by ``kwargs``, JSON-normalised (tuples as
    lists, as a demos header stores them), presentation-only keys left out."""
    merged = {k: v for k, v in {**defaults, **kwargs}.items() if k not in _PRESENTATION_KWARGS}
    return json.loads(json.dumps(merged, sort_keys=True, default=repr))


def check_demos_env(demos: Demos, env: Any, source: str = "demos", allow_other_env: bool = False,
                    data_dir: PathLike = EXPERT_DATA_DIR) -> None:
    """Refuse demos recorded on another env (id, or kwargs that change the task) than ``env``.

    Observation and action sizes alone cannot tell tasks apart (HalfCheetah and Walker2d both have
    17-dim observations and 6-dim actions), so the demos' header is compared with the env's
    gymnasium spec. Demos without a recorded env id, and envs without a spec, pass unchecked.

    :param allow_other_env: skip the check: imitate demos from another env on purpose.
    :param data_dir: expert data whose tasks the error suggests for the env.
    """
    spec = _env_spec(env)
    if allow_other_env or spec is None or not demos.env_id:
        return
    override = "If that is intended, pass allow_other_env=True (train_smile.py: demos.allow_other_env=true)."
    if spec.id != demos.env_id:
        shipped = sorted(task for task, e in read_manifest(data_dir)["tasks"].items() if e.get("env_id") == spec.id)
        where = "shipped" if Path(data_dir) == Path(EXPERT_DATA_DIR) else f"tasks in {data_dir}"
        hint = f" ({where}: {', '.join(shipped)})" if shipped else ""
        raise SbilError(f"{source} were recorded on {demos.env_id}, but the env is {spec.id}. "
                        f"Use demos made for {spec.id}{hint}. {override}")
    defaults = _task_defaults(spec.id)  # the same id on both sides by now
    want, have = _task_kwargs(defaults, demos.env_kwargs), _task_kwargs(defaults, dict(spec.kwargs or {}))
    differ = sorted(k for k in set(want) | set(have) if want.get(k) != have.get(k))
    if differ:
        shown = ", ".join(f"{k}: demos {want.get(k, '(default)')!r}, env {have.get(k, '(default)')!r}" for k in differ[:4])
        raise SbilError(f"{source} were recorded on {demos.env_id} with other task settings than this env ({shown}). "
                        f"Make the env with the demos' kwargs {demos.env_kwargs}, or use demos made for it. {override}")


def save_demos(demos: Demos, path: PathLike) -> None:
    """Write demos as a compressed, pickle-free ``.npz`` (atomically)."""
    arrays = {
        "obs": demos.obs.astype(np.float32),
        "acts": demos.acts.astype(np.float32),
        "next_obs": demos.next_obs.astype(np.float32),
        "rewards": demos.rewards.astype(np.float32),
        "dones": demos.dones.astype(bool),
        "episode_starts": demos.episode_starts.astype(np.int64),
        "meta": np.frombuffer(json.dumps(demos.meta, sort_keys=True).encode(), dtype=np.uint8),
    }
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **arrays)


def read_demos(path: PathLike, regenerate_hint: str = "") -> Demos:
    """Read a demos file written by :func:`save_demos`, with errors that name the file.

    :param regenerate_hint: the command that recreates the file, appended to error messages.
    """
    path = Path(path)
    hint = f" Regenerate it: {regenerate_hint}" if regenerate_hint else ""
    if not path.is_file():
        raise SbilError(f"Demos file {path} does not exist.{hint}")
    try:
        with np.load(path, allow_pickle=False) as data:
            missing = [k for k in _ARRAYS if k not in data.files]
            if missing:
                raise SbilError(f"{path} is not an sbil demos file: it lacks {missing}.{hint}")
            arrays = {k: data[k] for k in _ARRAYS}
            meta = json.loads(bytes(data["meta"]).decode()) if "meta" in data.files else {}
    except SbilError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile, EOFError, KeyError, io.UnsupportedOperation) as e:
        raise SbilError(f"{path} is not a readable demos file (truncated or not an .npz: {type(e).__name__}: {e}).{hint}") from None
    return Demos(
        obs=arrays["obs"], acts=arrays["acts"], next_obs=arrays["next_obs"], rewards=arrays["rewards"],
        dones=arrays["dones"].astype(bool), episode_starts=arrays["episode_starts"].astype(np.int64), meta=meta,
    )


# ---- shipped expert data -------------------------------------------------------------------------
def read_manifest(data_dir: PathLike = EXPERT_DATA_DIR) -> dict[str, Any]:
    """The ``expert_data/manifest.json`` (empty task table if there is none yet)."""
    path = Path(data_dir) / MANIFEST_NAME
    if not path.exists():
        return {"tasks": {}}
    try:
        return json.loads(path.read_text())
    except ValueError as e:
        raise SbilError(f"{path} is not valid JSON ({e}). Restore it from git: git checkout -- {path}") from None


def find_task_data(task: str, data_dirs: Sequence[PathLike] = ()) -> Optional[Path]:
    """The first data folder whose manifest lists ``task``: the shipped one, then ``data_dirs``
    (e.g. a cache of demos made on demand); ``None`` when none does."""
    for data_dir in (EXPERT_DATA_DIR, *data_dirs):
        if task in read_manifest(data_dir)["tasks"]:
            return Path(data_dir)
    return None


def verify_task_files(task: str, data_dir: PathLike = EXPERT_DATA_DIR) -> dict[str, Any]:
    """Check every file of a shipped task against the manifest's sha256; return its entry."""
    data_dir = Path(data_dir)
    tasks = read_manifest(data_dir)["tasks"]
    if task not in tasks:
        raise SbilError(f"No shipped expert data for {task!r}. Available: {', '.join(sorted(tasks)) or 'none yet'}.")
    entry = tasks[task]
    regen = entry.get("command", f"python scripts/collect_demos.py {task}")
    problem = first_hash_problem(data_dir, entry["files"])
    if problem is not None:
        f, kind = problem
        what = "is listed in {m} but missing" if kind == "missing" else "does not match its sha256 in {m} (corrupt, truncated or edited)"
        raise SbilError(f"{f} {what.format(m=MANIFEST_NAME)}. Regenerate it: {regen}")
    return entry


def load_demos(
    name_or_path: Union[str, PathLike],
    env: Any = None,
    n_episodes: Optional[int] = None,
    every: int = 1,
    max_transitions: Optional[int] = None,
    data_dir: PathLike = EXPERT_DATA_DIR,
    allow_other_env: bool = False,
) -> Demos:
    """Load shipped demos by task name (verified against the manifest) or a demos file by path.

    :param name_or_path: a task in ``expert_data/manifest.json`` (e.g. ``"hopper"``) or a ``.npz`` path.
    :param env: an env (or VecEnv) the demos must belong to: the same spaces, and the same env id and
        task kwargs as the demos recorded (:func:`check_demos_env`); ``None`` skips these checks.
    :param allow_other_env: accept demos recorded on another env id or task kwargs (spaces must still fit).
    :param n_episodes: keep the first N episodes. :param every: keep every k-th step.
    :param max_transitions: keep at most this many transitions.
    """
    tasks = read_manifest(data_dir)["tasks"]
    key = str(name_or_path)
    if key in tasks:
        entry = verify_task_files(key, data_dir)
        path = Path(data_dir) / entry["demos"]
        demos = read_demos(path, entry.get("command", ""))
    elif Path(key).suffix == ".npz" or Path(key).exists():
        path = Path(key)
        demos = read_demos(path)
    else:
        raise SbilError(f"Unknown demos {key!r}: not a file and not a shipped task. Shipped tasks: {', '.join(sorted(tasks)) or 'none yet'}.")
    validate_demos(demos, getattr(env, "observation_space", None), getattr(env, "action_space", None), source=f"Demos {path}")
    if env is not None:
        check_demos_env(demos, env, source=f"Demos {path}", allow_other_env=allow_other_env, data_dir=data_dir)
    if n_episodes is not None or every != 1 or max_transitions is not None:
        demos = demos.subset(n_episodes, every, max_transitions)
    return demos


def demos_from_episodes(episodes: Sequence[dict[str, np.ndarray]], meta: dict[str, Any]) -> Demos:
    """Assemble :class:`Demos` from per-episode dicts of ``obs, acts, next_obs, rewards`` arrays."""
    if not episodes:
        raise SbilError("No episodes to assemble into demos.")
    starts = np.cumsum([0] + [len(e["obs"]) for e in episodes[:-1]]).astype(np.int64)
    dones = np.concatenate([np.arange(len(e["obs"])) == len(e["obs"]) - 1 for e in episodes])
    cat = {k: np.concatenate([np.asarray(e[k], np.float32) for e in episodes]) for k in ("obs", "acts", "next_obs", "rewards")}
    return Demos(**cat, dones=dones, episode_starts=starts, meta=dict(meta))
