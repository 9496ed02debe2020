"""The reward-learner interface every learned reward in sbil implements.

A :class:`RewardLearner` is, first of all, a plain callable ``(obs, acts, next_obs, dones) ->
np.ndarray`` of shape ``(batch,)``: ``imitation``'s ``RewardFn`` protocol, so it also works inside
imitation's own ``RewardVecEnvWrapper`` (which scores one step of the envs at a time: build the
learner with ``reward_norm="running"`` there, as batch normalisations need whole batches). On top of that it can be refit from learner data
(:meth:`update`), saved and reloaded (:meth:`save`, :func:`load_reward`), and checks its inputs
against the spaces it was built for.
"""

from __future__ import annotations

import abc
import importlib
from pathlib import Path
from typing import Any, ClassVar, Optional, Sequence

import numpy as np
import torch as th
from gymnasium import spaces
from scipy import special
from stable_baselines3.common.running_mean_std import RunningMeanStd
from stable_baselines3.common.utils import get_device

from sbil.errors import SbilError
from sbil.io import PathLike, atomic_path

REWARD_NORMS = ("none", "batch", "robust", "rank", "running")
#: normalisations computed over each call's batch alone (they need large batches: at least MIN_BATCH)
BATCH_NORMS = ("batch", "robust", "rank")
MIN_BATCH = 64
FORMAT = "sbil-reward-v1"


def _space_summary(space: spaces.Space) -> dict[str, Any]:
    if isinstance(space, spaces.Box):
        return {"type": "Box", "shape": list(space.shape), "low": space.low.tolist(), "high": space.high.tolist()}
    raise SbilError(f"sbil reward learners need Box (continuous) spaces, got {space}. Flatten dict/discrete spaces first.")


def _space_from_summary(summary: dict[str, Any]) -> spaces.Box:
    return spaces.Box(np.asarray(summary["low"], np.float32), np.asarray(summary["high"], np.float32), dtype=np.float32)


def check_spaces_match(expected: spaces.Box, actual: spaces.Space, what: str, fix: str) -> None:
    """Refuse a space whose shape or bounds differ from the one a reward learner was built for."""
    if not isinstance(actual, spaces.Box) or actual.shape != expected.shape:
        raise SbilError(f"{what} space mismatch: the reward learner expects shape {expected.shape}, got {getattr(actual, 'shape', actual)}. {fix}")
    if not (np.allclose(actual.low, expected.low, equal_nan=True) and np.allclose(actual.high, expected.high, equal_nan=True)):
        raise SbilError(f"{what} space bounds differ from the ones the reward learner was built for. {fix}")


def check_obs_dims(obs_dims: Optional[Sequence[int]], obs_dim: int, what: str = "obs_dims") -> Optional[np.ndarray]:
    """``obs_dims`` (observation coordinates a reward sees) as an index array, or None for all of
    them; an :class:`SbilError` naming the problem for anything but distinct coordinates in range."""
    if obs_dims is None:
        return None
    index = np.asarray(list(obs_dims))
    if index.size == 0 or index.dtype.kind not in "iu" or len(np.unique(index)) != index.size or index.min() < 0 or index.max() >= obs_dim:
        raise SbilError(f"{what}={list(obs_dims)!r} is invalid; it must list distinct observation coordinates in [0, {obs_dim}) "
                        f"(the flattened observation has {obs_dim}), or be null for all of them.")
    return index


def robust_center_scale(rewards: np.ndarray, center: float = 0.5) -> tuple[float, float]:
    """The ``robust`` normalisation's centre and scale: the ``center`` quantile (0.5: the median)
    and 1.4826 MAD (the std, for normal data), or the std when more than half the rewards are alike
    (MAD 0)."""
    median = float(np.median(rewards))
    mad = float(np.median(np.abs(rewards - median)))
    # The median itself at 0.5: np.quantile's interpolation may differ from it in the last bit.
    centre = median if center == 0.5 else float(np.quantile(rewards, center))
    return centre, 1.4826 * mad if mad > 0 else float(np.std(rewards))


def normal_scores(rewards: np.ndarray, reference: np.ndarray, center: float = 0.5) -> np.ndarray:
    """The ``rank`` normalisation: each reward's rank among ``reference`` (ties count half), mapped
    through the standard normal's inverse CDF and shifted so that the ``center`` quantile lands on 0.

    For normally distributed rewards this is ``robust``'s z-score; for a batch split into far-apart
    groups (a walker's fallen states hundreds of units below its upright ones) it still spreads
    each group over its share of the normal, where a z-score would squeeze the better group into
    a sliver of its scale.
    """
    ref = np.sort(reference)
    n = len(ref)
    below = np.searchsorted(ref, rewards, side="left")
    not_above = np.searchsorted(ref, rewards, side="right")
    # Ranks kept within (0, 1) by half a rank, as the batch's own extremes would be.
    rank = np.clip((below + not_above) / (2.0 * n), 0.5 / n, 1.0 - 0.5 / n)
    return special.ndtri(rank) - special.ndtri(center)


class RewardLearner(abc.ABC):
    """Base class of learned rewards: SMILING, GAIL/AIRL reward nets, or your own.

    Subclasses implement :meth:`raw_reward` (and, if they learn online, :meth:`update`) plus
    :meth:`_state` / :meth:`_load_state` for persistence. Normalisation, input checks, versioning
    and save/load live here, once.

    :param observation_space: the env's observation space (Box).
    :param action_space: the env's action space (Box).
    :param reward_norm: ``"none"``; ``"batch"``: ``(r - mean) / std`` over each call's batch (as in
        the SMILING reference; needs large batches, e.g. replay minibatches or whole rollouts);
        ``"robust"``: ``(r - median) / (1.4826 MAD)`` over each call's batch, so that a few states
        with extreme rewards set neither the centre nor the scale; ``"rank"``: each reward's rank
        in the batch, as a standard normal score (``robust``'s z-score for normal rewards, and no
        group of far-off rewards can squeeze the others into a sliver of the scale); ``"running"``: with running
        statistics of all rewards produced so far (for per-step VecEnv use).
    :param reward_scale: multiplies the normalised reward (the reference uses 0.1 with ``batch``).
    :param device: ``"auto"`` (CUDA when present, else CPU), ``"cpu"`` or ``"cuda"``.
    :param reward_clip: if set, the normalised reward is clipped to ``[-reward_clip, reward_clip]``
        before scaling (as ``VecNormalize`` clips rewards), so a few wild states cannot dominate.
    :param reward_floor: if set, normalised rewards below it are raised to it (before scaling): a
        state far from both the expert's and the learner's is worth no less than this, as GAIL's
        ``-log(1 - D)`` is never below 0, instead of a penalty that dwarfs everything else.
    :param reward_center: ``"robust"`` and ``"rank"`` only: the quantile of the batch's rewards it centres on
        (0.5: the median). With ``reward_floor=0``, the share of the batch that earns nothing.
    """

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        reward_norm: str = "none",
        reward_scale: float = 1.0,
        device: str | th.device = "auto",
        reward_clip: Optional[float] = None,
        reward_floor: Optional[float] = None,
        reward_center: float = 0.5,
    ) -> None:
        if reward_norm not in REWARD_NORMS:
            raise SbilError(f"Unknown reward_norm {reward_norm!r}; valid: {', '.join(REWARD_NORMS)}.")
        if reward_clip is not None and not reward_clip > 0:
            raise SbilError(f"reward_clip={reward_clip!r} is invalid: it must be a positive number, or None for no clipping.")
        self.reward_clip = None if reward_clip is None else float(reward_clip)
        self.reward_floor = None if reward_floor is None else float(reward_floor)
        if not 0.0 < reward_center < 1.0:
            raise SbilError(f"reward_center={reward_center!r} is invalid: it must be a quantile in (0, 1) (0.5: the median).")
        if reward_center != 0.5 and reward_norm not in ("robust", "rank"):
            raise SbilError(f"reward_center={reward_center} needs reward_norm='robust' or 'rank' (got {reward_norm!r}).")
        self.reward_center = float(reward_center)
        if self.reward_floor is not None and self.reward_clip is not None and self.reward_floor >= self.reward_clip:
            raise SbilError(f"reward_floor={reward_floor} must lie below reward_clip={reward_clip}.")
        self._obs_summary = _space_summary(observation_space)
        self._act_summary = _space_summary(action_space)
        self.observation_space = _space_from_summary(self._obs_summary)
        self.action_space = _space_from_summary(self._act_summary)
        self.reward_norm = reward_norm
        self.reward_scale = float(reward_scale)
        self.device = get_device(device)
        self.reward_stats = RunningMeanStd(shape=())
        #: increases by one each time the reward function changes (caches key on it)
        self.version = 0

    #: True when :meth:`update` needs nothing but :meth:`_state` and its arguments, so that a copy
    #: rebuilt from :meth:`save` refits exactly like the original: then
    #: :class:`~sbil.sb3.refit.RewardRefitCallback` may run refits in a child process.
    portable_update: ClassVar[bool] = False

    # ---- what a subclass provides -------------------------------------------------------------
    @abc.abstractmethod
    def raw_reward(self, obs: np.ndarray, acts: np.ndarray, next_obs: np.ndarray, dones: np.ndarray) -> np.ndarray:
        """Unnormalised reward, shape ``(batch,)``; inputs are already checked float32 arrays."""

    def update(self, obs: np.ndarray, acts: np.ndarray, next_obs: np.ndarray, dones: np.ndarray) -> dict[str, float]:
        """Refit from learner data; return scalar stats to log. Fixed rewards do nothing."""
        return {}

    def config(self) -> dict[str, Any]:
        """Constructor keyword arguments (JSON-serialisable) that rebuild this learner."""
        config = {"reward_norm": self.reward_norm, "reward_scale": self.reward_scale, "reward_clip": self.reward_clip, "reward_floor": self.reward_floor}
        if self.reward_center != 0.5:  # files stay loadable by versions without it
            config["reward_center"] = self.reward_center
        return config

    @classmethod
    def config_from_file(cls, config: dict[str, Any]) -> dict[str, Any]:
        """The constructor kwargs a saved :meth:`config` stands for: a subclass fills in what files
        written before one of its options existed lack, so an old file rebuilds the same learner."""
        return {"reward_clip": None, "reward_floor": None, **config}  # files from before clipping existed

    def _state(self) -> dict[str, Any]:
        """Learned state (tensors, arrays, numbers) for :meth:`save`."""
        return {}

    def _load_state(self, state: dict[str, Any]) -> None:
        """Inverse of :meth:`_state`."""

    # ---- the public, shared part --------------------------------------------------------------
    def __call__(
        self, obs: np.ndarray, acts: np.ndarray, next_obs: np.ndarray, dones: np.ndarray,
        reference: Optional[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = None,
    ) -> np.ndarray:
        """Normalised learned reward for a batch of transitions (imitation's ``RewardFn``).

        :param obs: ``(batch, *obs_shape)`` states before the step.
        :param acts: ``(batch, *act_shape)`` actions taken (env units, not rescaled).
        :param next_obs: ``(batch, *obs_shape)`` states after the step.
        :param dones: ``(batch,)`` episode-end flags.
        :param reference: other transitions ``(obs, acts, next_obs, dones)`` whose raw rewards set a
            batch normalisation's statistics instead of this batch's own (see :meth:`normalize`).
        :return: ``(batch,)`` float32 rewards.
        """
        raw = self.raw_reward(*self.check_batch(obs, acts, next_obs, dones))
        return self.normalize(raw, reference=None if reference is None else self.raw_reward(*self.check_batch(*reference)))

    predict_reward = __call__

    def check_batch(self, obs, acts, next_obs, dones) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Validate shapes and finiteness of a transition batch; return float32 arrays."""
        obs_shape, act_shape = self.observation_space.shape, self.action_space.shape
        obs = np.asarray(obs, dtype=np.float32)
        next_obs = np.asarray(next_obs, dtype=np.float32)
        acts = np.asarray(acts, dtype=np.float32)
        n = obs.shape[0] if obs.ndim else -1
        for name, arr, shape in (("obs", obs, obs_shape), ("next_obs", next_obs, obs_shape), ("acts", acts, act_shape)):
            if arr.shape[1:] != tuple(shape) or arr.shape[0] != n:
                raise SbilError(
                    f"Reward input {name} has shape {arr.shape}; expected (batch, {', '.join(map(str, shape))}) "
                    f"with batch {n}. The env and the reward learner disagree: build the learner for this env's spaces."
                )
        dones = np.asarray(dones, dtype=bool).reshape(-1)
        if dones.shape[0] != n:
            raise SbilError(f"Reward input dones has {dones.shape[0]} entries for a batch of {n}.")
        return obs, acts, next_obs, dones

    def normalize(self, rewards: np.ndarray, update_stats: bool = True, reference: Optional[np.ndarray] = None) -> np.ndarray:
        """Apply this learner's reward normalisation to raw rewards.

        :param update_stats: with ``"running"``, fold this batch into the running statistics.
        :param reference: batch normalisations: raw rewards whose statistics (mean / std, median /
            MAD) to use instead of the batch's own (e.g. a sample of the learner's recent transitions).
        """
        r = np.asarray(rewards, dtype=np.float64)
        ref = r if reference is None else np.asarray(reference, dtype=np.float64)
        if not np.all(np.isfinite(r)):
            raise SbilError(
                f"The learned reward produced {np.sum(~np.isfinite(r))} non-finite values (NaN/inf). "
                "The reward model has diverged: lower its learning rate, or check the demos and observations for NaN."
            )
        if self.reward_norm in BATCH_NORMS and len(ref) < MIN_BATCH:
            raise SbilError(
                f"reward_norm={self.reward_norm!r} normalises each call's batch, here only {len(ref)} rewards (at least {MIN_BATCH} "
                "needed): score whole rollouts (RewardRefitCallback with n_steps x n_envs >= 64), larger replay minibatches, or use "
                "reward_norm='running' with reward_clip=None and reward_floor=None (train_smile.py: reward.reward_norm=running "
                "reward.reward_clip=null reward.reward_floor=null)."
            )
        if self.reward_norm == "batch":
            r = (r - ref.mean()) / (ref.std() + 1e-8)
        elif self.reward_norm == "robust":
            centre, scale = robust_center_scale(ref, self.reward_center)
            r = (r - centre) / (scale + 1e-8)
        elif self.reward_norm == "rank":
            r = normal_scores(r, ref, self.reward_center)
        elif self.reward_norm == "running":
            if update_stats:
                self.reward_stats.update(r)
            r = (r - self.reward_stats.mean) / np.sqrt(self.reward_stats.var + 1e-8)
        if self.reward_clip is not None:
            r = np.clip(r, -self.reward_clip, self.reward_clip)
        if self.reward_floor is not None:
            r = np.maximum(r, self.reward_floor)
        return (r * self.reward_scale).astype(np.float32)

    def check_env(self, env: Any) -> None:
        """Refuse an env (gymnasium or VecEnv) whose spaces differ from this learner's."""
        fix = "Use the env this reward was trained for, or train a reward learner for this env."
        check_spaces_match(self.observation_space, env.observation_space, "Observation", fix)
        check_spaces_match(self.action_space, env.action_space, "Action", fix)

    def save(self, path: PathLike) -> None:
        """Save config, spaces, normalisation statistics and learned weights (atomically)."""
        payload = {
            "format": FORMAT,
            "class": f"{type(self).__module__}:{type(self).__qualname__}",
            "config": self.config(),
            "observation_space": self._obs_summary,
            "action_space": self._act_summary,
            "version": self.version,
            "reward_stats": {"mean": float(self.reward_stats.mean), "var": float(self.reward_stats.var), "count": float(self.reward_stats.count)},
            "state": self._state(),
        }
        with atomic_path(path) as tmp:
            th.save(payload, tmp)

    @classmethod
    def load(cls, path: PathLike, device: str | th.device = "auto") -> "RewardLearner":
        """Load a learner saved with :meth:`save` (any subclass; see :func:`load_reward`)."""
        learner = load_reward(path, device, allowed_modules=[cls.__module__])
        if not isinstance(learner, cls):
            raise SbilError(f"{path} holds a {type(learner).__name__}, not a {cls.__name__}.")
        return learner


def _reward_class(path: Path, name: Any, allowed_modules: Sequence[str]) -> type[RewardLearner]:
    """The :class:`RewardLearner` subclass a reward file names, imported only from sbil or an allowed module.

    The file is checked before anything is imported or built: a file that names another class, or a
    module nobody allowed, is refused with one message.
    """
    fix = "Load only reward files written by RewardLearner.save"
    if not isinstance(name, str) or name.count(":") != 1:
        raise SbilError(f"{path} names no reward learner class (got {name!r}). {fix}.")
    module, qualname = name.split(":")
    top = module.split(".")[0]
    if top != "sbil" and module not in allowed_modules and top not in allowed_modules:
        raise SbilError(
            f"{path} names the class {name}, from module {module!r}, which is not sbil's. {fix}; for a reward learner of "
            f"your own, pass load_reward(..., allowed_modules=[{module!r}])."
        )
    try:
        cls: Any = importlib.import_module(module)
        for part in qualname.split("."):
            cls = getattr(cls, part)
    except (ImportError, AttributeError) as e:
        raise SbilError(f"{path} names the class {name}, which cannot be imported ({type(e).__name__}: {e}). "
                        "Install the package that defines it, or save the learner again.") from None
    if not (isinstance(cls, type) and issubclass(cls, RewardLearner)):
        raise SbilError(f"{path} names {name}, which is not a RewardLearner subclass. {fix}.")
    return cls


def load_reward(path: PathLike, device: str | th.device = "auto", env: Optional[Any] = None,
                allowed_modules: Sequence[str] = ()) -> RewardLearner:
    """Load any reward learner saved with :meth:`RewardLearner.save`.

    :param path: the saved file.
    :param device: where to put its networks.
    :param env: if given, the learner is refused unless the env's spaces match its own.
    :param allowed_modules: modules besides sbil's own that the file may name its class from (a
        reward learner of your own); nothing else is imported.
    """
    path = Path(path)
    if not path.is_file():
        raise SbilError(f"Reward file {path} does not exist.")
    try:
        payload = th.load(path, map_location="cpu", weights_only=True)
        if not isinstance(payload, dict) or payload.get("format") != FORMAT:
            raise ValueError(f"format {payload.get('format') if isinstance(payload, dict) else type(payload).__name__!r}")
    except Exception as e:  # noqa: BLE001 - any failure here means "not a readable reward file"
        raise SbilError(f"{path} is not a readable sbil reward file ({type(e).__name__}: {e}). Save it again with RewardLearner.save.") from None
    cls = _reward_class(path, payload.get("class"), allowed_modules)
    learner = cls(
        _space_from_summary(payload["observation_space"]), _space_from_summary(payload["action_space"]), device=device, **cls.config_from_file(payload["config"])
    )
    stats = payload["reward_stats"]
    learner.reward_stats.mean, learner.reward_stats.var, learner.reward_stats.count = stats["mean"], stats["var"], stats["count"]
    learner._load_state(payload["state"])
    learner.version = int(payload["version"])
    if env is not None:
        learner.check_env(env)
    return learner
