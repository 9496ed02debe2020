"""SMILING: the diffusion score-matching reward learner.

Two noise-prediction networks share one DDPM forward process: the expert net is fit once on expert
states (cached on disk), the learner net is refit on the learner's recent states after every policy
phase (:meth:`SmilingReward.update`). The reward of a state is how much better the expert model
explains it than the learner model does.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np
import torch as th
from gymnasium import spaces
from tqdm.auto import tqdm

from sbil.errors import SbilError
from sbil.io import atomic_path
from sbil.rewards.base import RewardLearner, check_obs_dims
from sbil.rewards.diffusion import (
    ESTIMATORS, REWARD_FORMS, NoiseSchedule, denoising_loss, sample_noise, sample_qmc, sample_timesteps, smiling_reward,
    smiling_reward_shared,
)
from sbil.rewards.nets import ScoreNet


@dataclass
class SmilingConfig:
    """Hyperparameters of :class:`SmilingReward` (defaults: the reference, except the estimator).

    The default estimator (64 shared quasi-random draws over the informative steps) ranks states
    within narrow sets (one policy's states; expert states) at Spearman >= 0.95 against a precise
    reward, where 16 draws over all steps fell to 0.56 (results/ablation/base/diagnosis_495k).

    :param use_action: score (state, action) pairs instead of states (state-action variant).
    :param score_state: which state of a transition the state-only reward scores: ``"next_obs"``
        (the state the transition reaches) or ``"obs"`` (the state it starts from, as the
        reference's SAC path does). ``next_obs`` by default so that a transition's reward depends on
        its action (the action is paid for where it leads); scored on ``obs`` the reward arrives one
        step late, and a terminal transition's last state is never scored.
    :param obs_dims: the observation coordinates the reward sees (default ``None``: all). For
        coordinates that are noise to a density model: Ant-v5's 78 contact forces (indices 27-104) are
        exactly 0 in over 90% of expert states and spike to +-1 in a few, so standardised they reach
        10 sigma and made 97% of the reward's spread across learner states
        (results/ablation/floorm1/diagnosis_ant_200k); ``list(range(27))`` keeps its positions and
        velocities, the observation of Ant-v4 and earlier.
    :param score_net: ``"mlp"`` (one hidden layer) or ``"linear"`` (linear-score variant).
    :param hidden_size: hidden width of the ``mlp`` score net.
    :param time_embed_dim: size of the sinusoidal time embedding.
    :param num_train_timesteps: DDPM steps ``T``.
    :param beta_schedule: diffusers beta schedule.
    :param estimator: ``"qmc"`` (default: quasi-random draws shared by every state, and fixed until
        the next refit, so the reward is a deterministic function between refits), ``"stratified"``
        (independent stratified draws per state) or ``"reference"`` (the authors' evenly spaced grid).
    :param n_t_samples: diffusion steps per state in the reward (reference: 500; default 64).
    :param reward_min_signal: ``qmc`` and ``stratified`` draw the reward's diffusion steps only where
        ``sqrt(abar_t)`` is at least this (0: all ``T`` steps, as the reference grid does). With the
        linear 5000-step schedule, 0.02 keeps the first 1955 steps: the rest is near pure noise,
        whose terms average to ~0 for any state (measured: ``scripts/diagnose_reward.py``), so the
        same draws go 2.6x further.
    :param antithetic: mirror half of the noise draws (variance reduction, ``stratified`` only).
    :param reward_form: ``"loss"`` (loss difference, reference) or ``"score"`` (``-||eps_E - eps_P||^2``).
    :param lr: AdamW learning rate of both nets.
    :param batch_size: minibatch size of score-net fits.
    :param expert_grad_steps: gradient steps of the one-off expert fit (reference: 4000 epochs of
        5000 states at batch 1024, about 20k steps).
    :param learner_epochs: passes over the states given to each :meth:`SmilingReward.update`.
    :param normalize_inputs: standardise inputs with the expert data's mean and std.
    :param eval_chunk: rows (states x t-samples) per forward pass when computing rewards.
    :param seed: seeds network init and every random draw of this learner.
    """

    use_action: bool = False
    score_state: str = "next_obs"
    obs_dims: Optional[list[int]] = None
    score_net: str = "mlp"
    hidden_size: int = 256
    time_embed_dim: int = 16
    num_train_timesteps: int = 5000
    beta_schedule: str = "linear"
    estimator: str = "qmc"
    n_t_samples: int = 64
    reward_min_signal: float = 0.02
    antithetic: bool = True
    reward_form: str = "loss"
    lr: float = 5e-3
    batch_size: int = 1024
    expert_grad_steps: int = 20_000
    learner_epochs: int = 1
    normalize_inputs: bool = True
    eval_chunk: int = 8192
    seed: int = 0

    def validate(self) -> None:
        """Raise :class:`SbilError` naming the first out-of-range field."""
        checks = [
            ("score_net", self.score_net in ("mlp", "linear"), "'mlp' or 'linear'"),
            ("score_state", self.score_state in ("obs", "next_obs"), "'obs' or 'next_obs'"),
            ("estimator", self.estimator in ESTIMATORS, " or ".join(map(repr, ESTIMATORS))),
            ("reward_form", self.reward_form in REWARD_FORMS, " or ".join(map(repr, REWARD_FORMS))),
            ("n_t_samples", self.n_t_samples >= 1, "an integer >= 1"),
            ("reward_min_signal", 0.0 <= self.reward_min_signal < 1.0, "a number in [0, 1)"),
            ("num_train_timesteps", self.num_train_timesteps >= 2, "an integer >= 2"),
            ("hidden_size", self.hidden_size >= 1, "an integer >= 1"),
            ("time_embed_dim", self.time_embed_dim >= 2 and self.time_embed_dim % 2 == 0, "an even integer >= 2"),
            ("lr", self.lr > 0, "a positive number"),
            ("batch_size", self.batch_size >= 1, "an integer >= 1"),
            ("expert_grad_steps", self.expert_grad_steps >= 0, "an integer >= 0"),
            ("learner_epochs", self.learner_epochs >= 1, "an integer >= 1"),
            ("eval_chunk", self.eval_chunk >= 1, "an integer >= 1"),
        ]
        for name, ok, valid in checks:
            if not ok:
                raise SbilError(f"SMILING config: {name}={getattr(self, name)!r} is invalid; it must be {valid}.")


def default_cache_dir() -> Path:
    """Where fitted expert nets are cached: ``$SBIL_CACHE_DIR`` or ``~/.cache/sbil``."""
    return Path(os.environ.get("SBIL_CACHE_DIR", Path.home() / ".cache" / "sbil"))


# Fields that change the expert fit; the rest (reward estimation, learner refits) do not.
_EXPERT_FIT_FIELDS = (
    "use_action", "score_state", "obs_dims", "score_net", "hidden_size", "time_embed_dim", "num_train_timesteps", "beta_schedule",
    "lr", "batch_size", "expert_grad_steps", "normalize_inputs", "seed",
)


class SmilingReward(RewardLearner):
    """The SMILING reward learner (state-only by default).

    Typical use::

        reward = SmilingReward(env.observation_space, env.action_space)
        reward.fit_expert(demos)            # cached on disk by demos + config hash
        rewards = reward(obs, acts, next_obs, dones)
        reward.update(obs, acts, next_obs, dones)   # refit the learner net on learner data

    The state-only reward scores ``next_obs`` (the state the transition reaches); the state-action
    reward scores ``(obs, acts)``.

    :param observation_space: the env's observation space.
    :param action_space: the env's action space.
    :param config: a :class:`SmilingConfig` (or a dict of its fields).
    :param reward_norm: see :class:`~sbil.rewards.base.RewardLearner`. Default ``"rank"`` with
        ``reward_clip=3`` and ``reward_floor=-1`` (``"auto"``: clip 3 with ``"rank"`` and ``"robust"``, floor -1
        with ``"rank"`` and 0 with ``"robust"``, neither with the other normalisations, so that
        ``reward_norm="none"`` gives raw rewards): each batch (a whole rollout on-policy, a replay minibatch
        off-policy) becomes its ranks as standard normal scores, kept in ``[-1, 3]``. Bounded, so that states
        far from everything (a fallen hopper) cannot outweigh all else (unbounded, PPO parked Hopper standing
        still); ranks, so that the spread among the learner's good states survives when part of the batch lies
        far below (a walker that falls in half its episodes); a floor below 0, so that falling still costs
        something. ``results/ablation/`` holds the runs behind each choice. For scoring step by step use
        ``"running"`` (and no floor).
    :param reward_scale: multiplies the normalised reward (reference: 0.1).
    :param device: ``"auto"``, ``"cpu"`` or ``"cuda"``.
    :param reward_clip, reward_floor, reward_center: see :class:`~sbil.rewards.base.RewardLearner`.
    :param kwargs: shortcuts for :class:`SmilingConfig` fields, e.g. ``use_action=True``.
    """

    portable_update = True  # nets, optimiser, input statistics and RNGs are all in _state()

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        config: Union[SmilingConfig, dict[str, Any], None] = None,
        reward_norm: str = "rank",
        reward_scale: float = 0.1,
        device: str | th.device = "auto",
        reward_clip: Union[float, None, str] = "auto",
        reward_floor: Union[float, None, str] = "auto",
        reward_center: float = 0.5,
        **kwargs: Any,
    ) -> None:
        # auto bounds only the quantile-centred normalisations, whose 0 is the batch's median. Floor: rank -1, so that
        # below the median a state costs up to 1 (at 0 a flipped Ant cost no more than a median state); robust 0, as its
        # scale can come from a far-off tail whose rewards would otherwise dwarf the rest
        auto_floor = {"rank": -1.0, "robust": 0.0}
        reward_clip = (3.0 if reward_norm in auto_floor else None) if reward_clip == "auto" else reward_clip
        reward_floor = auto_floor.get(reward_norm) if reward_floor == "auto" else reward_floor
        super().__init__(observation_space, action_space, reward_norm, reward_scale, device, reward_clip, reward_floor, reward_center)
        fields = dataclasses.asdict(config) if isinstance(config, SmilingConfig) else dict(config or {})
        fields.update(kwargs)
        known = {f.name for f in dataclasses.fields(SmilingConfig)}
        unknown = set(fields) - known
        if unknown:
            raise SbilError(f"Unknown SMILING config keys {sorted(unknown)}; valid keys: {sorted(known)}.")
        self.cfg = SmilingConfig(**fields)
        self.cfg.validate()
        self.obs_dim = int(np.prod(self.observation_space.shape))
        self._obs_index = check_obs_dims(self.cfg.obs_dims, self.obs_dim, "SMILING config: obs_dims")
        if self._obs_index is not None:  # plain ints: the config is written to JSON (cache key, reward files)
            self.cfg.obs_dims = self._obs_index.tolist()
        self.act_dim = int(np.prod(self.action_space.shape))
        self.input_dim = (self.obs_dim if self._obs_index is None else len(self._obs_index)) + (self.act_dim if self.cfg.use_action else 0)
        self.schedule = NoiseSchedule(self.cfg.num_train_timesteps, self.cfg.beta_schedule, self.device)
        #: the range [0, reward_steps) the qmc and stratified estimators draw diffusion steps from
        self.reward_steps = self.schedule.informative_steps(self.cfg.reward_min_signal)
        # Seeded network init that leaves the caller's global torch RNG untouched.
        with th.random.fork_rng(devices=[]):
            th.manual_seed(self.cfg.seed)
            self.expert_net = self._make_net()
            self.learner_net = self._make_net()
        self.learner_optimizer = th.optim.AdamW(self.learner_net.parameters(), lr=self.cfg.lr)
        self.train_generator = th.Generator(device=self.device).manual_seed(self.cfg.seed + 1)
        self.reward_generator = th.Generator(device=self.device).manual_seed(self.cfg.seed + 2)
        self.input_mean = th.zeros(self.input_dim, device=self.device)
        self.input_std = th.ones(self.input_dim, device=self.device)
        self.expert_fitted = False
        self.last_stats: dict[str, float] = {}
        # qmc: (version, k, seed, t, eps) of the draws every reward call shares until the next refit
        self._draws: Optional[tuple[int, int, int, th.Tensor, th.Tensor]] = None

    def _make_net(self) -> ScoreNet:
        return ScoreNet(self.input_dim, self.cfg.hidden_size, self.cfg.time_embed_dim, self.cfg.score_net).to(self.device)

    # ---- inputs -------------------------------------------------------------------------------
    def scored_state(self, obs: np.ndarray, next_obs: np.ndarray) -> np.ndarray:
        """The state of each transition the reward scores: ``obs`` for the state-action variant (its
        pairs are (obs, action)) and for ``score_state="obs"``, else ``next_obs``."""
        return obs if self.cfg.use_action or self.cfg.score_state == "obs" else next_obs

    def _raw_inputs(self, obs: np.ndarray, acts: np.ndarray, next_obs: np.ndarray) -> th.Tensor:
        state = self.scored_state(obs, next_obs).reshape(len(obs), -1)
        if self._obs_index is not None:
            state = state[:, self._obs_index]
        x = np.concatenate([state, acts.reshape(len(acts), -1)], axis=1) if self.cfg.use_action else state
        return th.as_tensor(x, dtype=th.float32, device=self.device)

    def _inputs(self, obs: np.ndarray, acts: np.ndarray, next_obs: np.ndarray) -> th.Tensor:
        x = self._raw_inputs(obs, acts, next_obs)
        if self.cfg.normalize_inputs:
            # Clip like VecNormalize: a far off-distribution state must not blow up the nets.
            x = ((x - self.input_mean) / self.input_std).clamp_(-10.0, 10.0)
        return x

    # ---- expert fit ---------------------------------------------------------------------------
    def fit_expert(
        self,
        demos: Any,
        cache_dir: Optional[Union[str, Path]] = None,
        use_cache: bool = True,
        progress_bar: bool = False,
    ) -> dict[str, float]:
        """Fit the expert score net on demonstrations (once; cached by demos + config hash).

        :param demos: a :class:`sbil.data.Demos`, or anything with ``obs``, ``acts`` and
            ``next_obs`` arrays (e.g. imitation's ``Transitions``).
        :param cache_dir: cache folder (default :func:`default_cache_dir`).
        :param use_cache: read and write the cache.
        :param progress_bar: show a tqdm bar over gradient steps.
        :return: ``{"expert_loss": ..., "cached": 0 or 1}``.
        """
        try:
            obs, acts, next_obs = (np.asarray(getattr(demos, k), dtype=np.float32) for k in ("obs", "acts", "next_obs"))
        except AttributeError:
            raise SbilError("fit_expert needs demos with obs, acts and next_obs arrays (sbil.data.Demos or imitation Transitions).") from None
        if len(obs) == 0:
            raise SbilError("The demos are empty: fit_expert needs at least one transition.")
        obs, acts, next_obs, _ = self.check_batch(obs, acts, next_obs, np.zeros(len(obs), bool))
        for name, arr in (("obs", obs), ("acts", acts), ("next_obs", next_obs)):
            if not np.all(np.isfinite(arr)):
                raise SbilError(f"The demos' {name} contain NaN or inf ({np.sum(~np.isfinite(arr))} values). Clean or regenerate the demos.")
        key = self._expert_cache_key(obs, acts, next_obs)
        cache_file = Path(cache_dir or default_cache_dir()) / f"smiling-expert-{key}.pt"
        if use_cache and cache_file.is_file():
            try:
                cached = th.load(cache_file, map_location=self.device, weights_only=True)
                self.expert_net.load_state_dict(cached["expert_net"])
                self.input_mean, self.input_std = cached["input_mean"].to(self.device), cached["input_std"].to(self.device)
                self._expert_fit_done()
                return {"expert_loss": float(cached["expert_loss"]), "cached": 1.0}
            except Exception:  # noqa: BLE001 - a bad cache entry is refit, never trusted
                pass
        raw = self._raw_inputs(obs, acts, next_obs)
        if self.cfg.normalize_inputs:
            self.input_mean = raw.mean(0)
            # Floor the std: a coordinate the expert never varies must not amplify learner noise.
            self.input_std = raw.std(0).clamp_min(1e-2)
        x = self._inputs(obs, acts, next_obs)
        net, gen = self.expert_net, th.Generator(device=self.device).manual_seed(self.cfg.seed + 3)
        optimizer = th.optim.AdamW(net.parameters(), lr=self.cfg.lr)
        losses = []
        steps = range(self.cfg.expert_grad_steps)
        for _ in tqdm(steps, desc="expert score net", disable=not progress_bar, mininterval=1.0):
            idx = th.randint(0, len(x), (min(self.cfg.batch_size, len(x)),), generator=gen, device=self.device)
            loss = denoising_loss(net, x[idx], self.schedule, gen)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        expert_loss = float(np.mean(losses[-100:])) if losses else float("nan")
        if not np.isfinite(expert_loss) and losses:
            raise SbilError(f"The expert score-net fit diverged (loss {expert_loss}). Lower lr (now {self.cfg.lr}).")
        self._expert_fit_done()
        if use_cache:
            with atomic_path(cache_file) as tmp:
                th.save({"expert_net": net.state_dict(), "input_mean": self.input_mean.cpu(), "input_std": self.input_std.cpu(), "expert_loss": expert_loss}, tmp)
        return {"expert_loss": expert_loss, "cached": 0.0}

    def _expert_fit_done(self) -> None:
        self.expert_fitted = True
        self.version += 1

    def _expert_cache_key(self, obs: np.ndarray, acts: np.ndarray, next_obs: np.ndarray) -> str:
        h = hashlib.sha256()
        # obs_dims only when set: caches from before it existed stay valid.
        cfg = {k: getattr(self.cfg, k) for k in _EXPERT_FIT_FIELDS if not (k == "obs_dims" and self.cfg.obs_dims is None)}
        h.update(json.dumps({"cfg": cfg, "obs": self._obs_summary, "act": self._act_summary, "format": 1}, sort_keys=True).encode())
        state = self.scored_state(obs, next_obs)
        for arr in ((state, acts) if self.cfg.use_action else (state,)):
            h.update(np.ascontiguousarray(arr).tobytes())
        return h.hexdigest()[:20]

    # ---- reward -------------------------------------------------------------------------------
    def raw_reward(self, obs: np.ndarray, acts: np.ndarray, next_obs: np.ndarray, dones: np.ndarray) -> np.ndarray:
        if not self.expert_fitted:
            raise SbilError("The SMILING expert score net is not fitted: call fit_expert(demos) first.")
        x = self._inputs(obs, acts, next_obs)
        return self.reward_for_inputs(x, self.cfg.estimator, self.cfg.n_t_samples).cpu().numpy()

    @th.inference_mode()
    def reward_for_inputs(
        self, x: th.Tensor, estimator: str, n_t_samples: int, form: Optional[str] = None, generator: Optional[th.Generator] = None,
        min_signal: Optional[float] = None,
    ) -> th.Tensor:
        """Raw rewards for already-normalised inputs ``(n, d)``, with any estimator (for benchmarks).

        :param generator: draws from it (default: the learner's own draws: for qmc, the ones shared
            until the next refit).
        :param min_signal: draw t where sqrt(abar_t) >= this (default: the config's ``reward_min_signal``).
        """
        gen = generator or self.reward_generator
        k = n_t_samples
        chunk = max(1, self.cfg.eval_chunk // k)
        steps_drawn = self.reward_steps if min_signal is None else self.schedule.informative_steps(min_signal)
        if estimator == "qmc" and generator is None and steps_drawn == self.reward_steps:
            shared_t, shared_eps = self._version_draws(k)
        elif estimator == "qmc":  # one set of draws for the whole call, chunks included
            seed = int(th.randint(0, 2**31 - 1, (1,), generator=gen, device=self.device))
            shared_t, shared_eps = sample_qmc(k, self.input_dim, steps_drawn, seed, self.device)
        form = form or self.cfg.reward_form
        out = []
        for start in range(0, len(x), chunk):
            xc = x[start : start + chunk]
            if estimator == "qmc":
                out.append(smiling_reward_shared(self.expert_net, self.learner_net, xc, self.schedule, shared_t, shared_eps, form))
                continue
            steps = self.schedule.num_timesteps if estimator == "reference" else steps_drawn
            t = sample_timesteps(estimator, len(xc), k, steps, gen, self.device)
            eps = sample_noise(len(xc), k, self.input_dim, self.cfg.antithetic and estimator == "stratified", gen, self.device)
            out.append(smiling_reward(self.expert_net, self.learner_net, xc, self.schedule, t, eps, form))
        return th.cat(out) if out else th.zeros(0, device=self.device)

    def _version_draws(self, k: int) -> tuple[th.Tensor, th.Tensor]:
        """The qmc draws shared by every reward call until the learner changes (drawn at the first
        call after a refit). One set per version makes the reward a function of the state alone
        between refits: a cached replay slot and a freshly scored one agree, whichever minibatch
        scored them, and small batches skip rebuilding the Sobol sequence."""
        if self._draws is None or self._draws[:2] != (self.version, k):
            seed = int(th.randint(0, 2**31 - 1, (1,), generator=self.reward_generator, device=self.device))
            t, eps = sample_qmc(k, self.input_dim, self.reward_steps, seed, self.device)
            self._draws = (self.version, k, seed, t, eps)
        return self._draws[3], self._draws[4]

    # ---- learner refit ------------------------------------------------------------------------
    def update(self, obs: np.ndarray, acts: np.ndarray, next_obs: np.ndarray, dones: np.ndarray) -> dict[str, float]:
        """Refit the learner score net on learner transitions (``learner_epochs`` passes).

        :return: ``learner_loss``, ``expert_loss`` (the expert net's loss on the same learner data)
            and ``ds_divergence`` (an estimate of ``E_learner ||eps_E - eps_P||^2``).
        """
        obs, acts, next_obs, dones = self.check_batch(obs, acts, next_obs, dones)
        if len(obs) == 0:
            return {}
        for name, arr in (("obs", obs), ("acts", acts), ("next_obs", next_obs)):
            if not np.all(np.isfinite(arr)):
                raise SbilError(f"Learner {name} contain NaN or inf: the environment produced non-finite values; check the env and its actions.")
        x = self._inputs(obs, acts, next_obs)
        gen, bs = self.train_generator, self.cfg.batch_size
        losses = []
        for _ in range(self.cfg.learner_epochs):
            perm = th.randperm(len(x), generator=gen, device=self.device)
            for start in range(0, len(x), bs):
                loss = denoising_loss(self.learner_net, x[perm[start : start + bs]], self.schedule, gen)
                self.learner_optimizer.zero_grad(set_to_none=True)
                loss.backward()
                self.learner_optimizer.step()
                losses.append(loss.item())
        learner_loss = float(np.mean(losses))
        if not np.isfinite(learner_loss):
            raise SbilError(f"The learner score-net loss exploded ({learner_loss}). Lower lr (now {self.cfg.lr}) or check the observations.")
        self.version += 1
        with th.inference_mode():
            probe = x[th.randperm(len(x), generator=gen, device=self.device)[:bs]]
            expert_loss = float(denoising_loss(self.expert_net, probe, self.schedule, gen))
            ds = float(-self.reward_for_inputs(probe, "qmc", 16, form="score", generator=gen).mean())
        self.last_stats = {"learner_loss": learner_loss, "expert_loss": expert_loss, "ds_divergence": ds}
        return dict(self.last_stats)

    # ---- persistence --------------------------------------------------------------------------
    def config(self) -> dict[str, Any]:
        return {**super().config(), "config": dataclasses.asdict(self.cfg)}

    @classmethod
    def config_from_file(cls, config: dict[str, Any]) -> dict[str, Any]:
        config = super().config_from_file(config)
        fields = dict(config.get("config") or {})
        # Files from before these options scored next_obs over all T steps: keep rebuilding that learner.
        fields.setdefault("reward_min_signal", 0.0)
        fields.setdefault("score_state", "next_obs")
        return {**config, "config": fields}

    def _state(self) -> dict[str, Any]:
        return {
            "expert_net": self.expert_net.state_dict(),
            "learner_net": self.learner_net.state_dict(),
            "learner_optimizer": self.learner_optimizer.state_dict(),
            "input_mean": self.input_mean.cpu(),
            "input_std": self.input_std.cpu(),
            "expert_fitted": self.expert_fitted,
            "train_generator": self.train_generator.get_state(),
            "reward_generator": self.reward_generator.get_state(),
            "draws": None if self._draws is None else self._draws[:3],  # (version, k, seed): redrawn exactly on load
        }

    def _load_state(self, state: dict[str, Any]) -> None:
        self.expert_net.load_state_dict(state["expert_net"])
        self.learner_net.load_state_dict(state["learner_net"])
        self.learner_optimizer.load_state_dict(state["learner_optimizer"])
        self.input_mean = state["input_mean"].to(self.device)
        self.input_std = state["input_std"].to(self.device)
        self.expert_fitted = bool(state["expert_fitted"])
        self.train_generator.set_state(state["train_generator"])
        self.reward_generator.set_state(state["reward_generator"])
        self._draws = None
        if state.get("draws") is not None:  # files from before per-version draws lack it
            version, k, seed = state["draws"]
            self._draws = (version, k, seed, *sample_qmc(k, self.input_dim, self.reward_steps, seed, self.device))


def LinearSmilingReward(observation_space: spaces.Space, action_space: spaces.Space, **kwargs: Any) -> SmilingReward:
    """SMILING with the linear score function (``score_net="linear"``)."""
    return SmilingReward(observation_space, action_space, score_net="linear", **kwargs)
