"""Typed configs of the training scripts (omegaconf structured configs: the schema is the doc).

``load_config`` merges, in order: the schema's defaults, a YAML file (``sbil/configs/train/*.yaml``
by name, or a path), then ``key=value`` overrides from the command line. Struct mode makes a
misspelt key an error, and values are type-checked and range-checked before any work starts.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence, Union

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from sbil.errors import SbilError
from sbil.rewards.base import REWARD_NORMS
from sbil.rewards.smiling import SmilingConfig

TRAIN_CONFIGS = Path(__file__).parent / "configs" / "train"
#: ``gail_reward*``: GAIL's discriminator reward (sbil.rewards.GailReward) through the same train
#: loop as SMILING; not imitation's GAIL trainer, which the benchmark calls ``gail`` / ``gail_so``.
#: ``true_reward``: no learner, the env's own reward (the oracle; same loop, checkpoints and evaluation)
REWARD_LEARNERS = ("smiling", "smiling_sa", "smiling_linear", "gail_reward", "gail_reward_so", "true_reward")
_RENAMED_LEARNERS = {"gail": "gail_reward", "gail_so": "gail_reward_so"}


@dataclass
class EnvConfig:
    id: str = "Pendulum-v1"  #: gymnasium id
    kwargs: dict[str, Any] = field(default_factory=dict)  #: gymnasium.make kwargs (the imitation task)
    n_envs: int = 1  #: parallel training envs
    subprocess: bool = False  #: run the training envs in subprocesses (SubprocVecEnv)
    #: the policy sees VecNormalize'd observations (reward learners keep raw ones; rewards are not touched)
    normalize_obs: bool = False


@dataclass
class DemosConfig:
    source: str = "pendulum"  #: shipped task name (expert_data/manifest.json) or a demos .npz path
    n_episodes: Optional[int] = None  #: keep the first N episodes
    every: int = 1  #: keep every k-th step
    max_transitions: Optional[int] = None  #: keep at most this many transitions
    allow_other_env: bool = False  #: accept demos recorded on another env id or task kwargs (on purpose only)
    #: a task that is neither shipped nor cached: train its expert and collect its demos inside this run
    #: (hours for a MuJoCo task); otherwise such a task is an error naming the commands that make its demos
    make_missing: bool = False


@dataclass
class AlgoConfig:
    name: str = "sac"  #: ppo, a2c, sac or td3 (stock SB3)
    policy: str = "MlpPolicy"
    kwargs: dict[str, Any] = field(default_factory=dict)  #: SB3 constructor kwargs


@dataclass
class RewardConfig:
    learner: str = "smiling"  #: smiling (state-only), smiling_sa (state-action), smiling_linear, gail_reward, gail_reward_so (state-only), true_reward (the oracle)
    smiling: SmilingConfig = field(default_factory=SmilingConfig)
    #: the observation coordinates the learned reward sees (SMILING's score nets or GAIL's discriminator); null: all.
    #: E.g. Ant-v5 without its 78 contact forces: [0, 1, ..., 26] (README, "Ant: the contact forces drowned the reward")
    obs_dims: Optional[list[int]] = None
    #: auto (the learner's own default: rank for SMILING, running for GAIL's reward), none, batch (the
    #: reference: per call's batch), robust (median / MAD per batch: per rollout on-policy, per minibatch
    #: off-policy), rank (each batch's ranks as standard normal scores: robust's z-scores for normal rewards,
    #: unsquashed when part of the batch lies far below the rest) or running (running statistics, for scoring step by step)
    reward_norm: str = "auto"
    reward_scale: float = 0.1
    #: clip the normalised reward to [-clip, clip] before scaling; null: no clipping; auto: 3 with robust or rank, else null
    reward_clip: Any = "auto"
    #: raise normalised rewards below this to it; null: no floor; auto: -1 with rank, 0 with robust, else null. Bounded
    #: below, a state far worse than the batch's median (a fallen hopper) cannot dwarf the rest (unbounded, PPO parked
    #: Hopper standing still); -1 rather than 0 with rank, so that falling still costs something (results/ablation/)
    reward_floor: Any = "auto"
    #: robust and rank only: the quantile of each batch's rewards to centre on (auto: the median); with the floor at 0, the share that earns nothing
    reward_center: Any = "auto"
    refit_every: int = 1000  #: env steps between learner-net refits (off-policy; on-policy: every rollout)
    buffer_size: int = 200_000  #: learner transitions kept for refits
    samples_per_refit: int = 100_000  #: learner transitions per refit
    refit_replace: bool = False  #: draw samples_per_refit transitions with replacement (reference: a fixed refit budget from the first refit on)
    refit_first_rollout: bool = False  #: on-policy: fit the learner net on the first rollout before scoring it (else an untrained net scores it)
    #: on-policy, batch normalisations: statistics from the newest N learner transitions (the rollout included), not the rollout alone; 0: the rollout
    norm_window: int = 0
    refit_in_process: str = "auto"  #: on-policy: refit in a child process beside the policy update (same numbers, another core): auto (when 2+ CPUs), true or false
    relabel: str = "cached"  #: off-policy: every_batch (reference: rescore each minibatch) or cached
    cache_dir: Optional[str] = None  #: expert-net fit cache (default ~/.cache/sbil)


@dataclass
class EvalConfig:
    freq: int = 2000  #: env steps between evaluations of the true return
    n_episodes: int = 5


@dataclass
class TrainConfig:
    env: EnvConfig = field(default_factory=EnvConfig)
    demos: DemosConfig = field(default_factory=DemosConfig)
    algo: AlgoConfig = field(default_factory=AlgoConfig)
    reward: RewardConfig = field(default_factory=RewardConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    total_timesteps: int = 10_000  #: env steps, warm-up included
    seed: int = 0
    device: str = "auto"
    threads: Optional[int] = None  #: torch CPU threads (None: torch's default)
    out_dir: Optional[str] = None  #: default runs/smile/<env.id>/seed<seed>
    checkpoint_freq: int = 5000  #: env steps between checkpoints
    progress_bar: bool = True
    verbose: int = 1


def _fail(e: OmegaConfBaseException, schema: Any) -> SbilError:
    key = getattr(e, "full_key", None) or ""
    msg = getattr(e, "msg", str(e)).split("\n")[0]
    if "not in" in msg or "ConfigKeyError" in type(e).__name__ or "ConfigAttributeError" in type(e).__name__:
        flat = _flat_keys(OmegaConf.to_container(OmegaConf.structured(schema)))
        close = difflib.get_close_matches(key, flat, n=3, cutoff=0.6)
        hint = f" Did you mean: {', '.join(close)}?" if close else " Run with --help-config to list the keys."
        return SbilError(f"Unknown config key {key!r}.{hint}")
    return SbilError(f"Config value for {key!r} is invalid: {msg}")


def _flat_keys(d: Any, prefix: str = "") -> list[str]:
    out = []
    for k, v in d.items():
        name = f"{prefix}{k}"
        out.append(name)
        if isinstance(v, dict) and not name.endswith("kwargs"):
            out.extend(_flat_keys(v, name + "."))
    return out


def config_path(name_or_path: str) -> Path:
    """A train config by name (``sbil/configs/train/<name>.yaml``) or by path."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml"):
        if not path.is_file():
            raise SbilError(f"Config file {path} does not exist.")
        return path
    candidate = TRAIN_CONFIGS / f"{name_or_path}.yaml"
    if not candidate.is_file():
        names = sorted(p.stem for p in TRAIN_CONFIGS.glob("*.yaml"))
        raise SbilError(f"Unknown config {name_or_path!r}. Shipped configs: {', '.join(names)}; or pass a .yaml path.")
    return candidate


def load_config(name_or_path: Optional[str] = "default", overrides: Sequence[str] = (), base: Optional[DictConfig] = None) -> DictConfig:
    """Schema defaults <- YAML file (or ``base``) <- ``key=value`` overrides, validated.

    :raises SbilError: naming the offending key for unknown keys, wrong types or bad ranges.
    """
    schema = OmegaConf.structured(TrainConfig)
    try:
        cfg = schema
        if base is not None:
            cfg = OmegaConf.merge(cfg, base)
        elif name_or_path:
            cfg = OmegaConf.merge(cfg, OmegaConf.load(config_path(name_or_path)))
        for item in overrides:
            if "=" not in item:
                raise SbilError(f"Override {item!r} is not key=value (e.g. env.id=Hopper-v5).")
        cfg = OmegaConf.merge(cfg, OmegaConf.from_dotlist(list(overrides)))
    except OmegaConfBaseException as e:
        raise _fail(e, TrainConfig) from None
    validate(cfg)
    OmegaConf.set_readonly(cfg, False)
    return cfg


def validate(cfg: DictConfig) -> None:
    """Range checks that types cannot express; the message names the key."""
    checks = [
        ("total_timesteps", cfg.total_timesteps > 0, "a positive number of env steps"),
        ("env.n_envs", cfg.env.n_envs >= 1, ">= 1"),
        ("checkpoint_freq", cfg.checkpoint_freq >= 0, ">= 0 (0: only at the end)"),
        ("eval.freq", cfg.eval.freq >= 0, ">= 0 (0: only at the end)"),
        ("eval.n_episodes", cfg.eval.n_episodes >= 1, ">= 1"),
        ("demos.every", cfg.demos.every >= 1, ">= 1"),
        ("reward.learner", cfg.reward.learner in REWARD_LEARNERS, f"one of {', '.join(REWARD_LEARNERS)}"),
        ("reward.reward_norm", cfg.reward.reward_norm in ("auto", *REWARD_NORMS), ", ".join(("auto", *REWARD_NORMS))),
        ("reward.reward_clip", cfg.reward.reward_clip in ("auto", None) or _positive(cfg.reward.reward_clip), "auto, null or a positive number"),
        ("reward.reward_floor", cfg.reward.reward_floor in ("auto", None) or _number(cfg.reward.reward_floor), "auto, null or a number"),
        ("reward.reward_center", cfg.reward.reward_center == "auto" or (_number(cfg.reward.reward_center) and 0 < cfg.reward.reward_center < 1),
         "auto or a quantile in (0, 1)"),
        ("reward.relabel", cfg.reward.relabel in ("every_batch", "cached"), "every_batch or cached"),
        ("reward.refit_in_process", str(cfg.reward.refit_in_process).lower() in ("auto", "true", "false"), "auto, true or false"),
        ("reward.refit_every", cfg.reward.refit_every >= 1, ">= 1"),
        ("reward.buffer_size", cfg.reward.buffer_size >= 1, ">= 1"),
        ("reward.samples_per_refit", cfg.reward.samples_per_refit >= 1, ">= 1"),
        ("reward.smiling.n_t_samples", cfg.reward.smiling.n_t_samples >= 1, ">= 1"),
        ("reward.smiling.lr", cfg.reward.smiling.lr > 0, "> 0"),
        ("reward.smiling.batch_size", cfg.reward.smiling.batch_size >= 1, ">= 1"),
        ("reward.smiling.expert_grad_steps", cfg.reward.smiling.expert_grad_steps >= 0, ">= 0"),
    ]
    if cfg.reward.smiling.obs_dims is not None:
        raise SbilError("Set reward.obs_dims, not reward.smiling.obs_dims: in a run config the observation coordinates the "
                        "reward sees are one setting for every reward learner.")
    if cfg.reward.learner in _RENAMED_LEARNERS:
        new = _RENAMED_LEARNERS[cfg.reward.learner]
        raise SbilError(f"reward.learner={cfg.reward.learner} is now reward.learner={new}: GAIL's discriminator reward in sbil's own "
                        f"train loop, named apart from imitation's GAIL trainer (the benchmark's {cfg.reward.learner}).")
    for key, ok, valid in checks:
        if not ok:
            value = OmegaConf.select(cfg, key)
            raise SbilError(f"Config value {key}={value!r} is out of range: it must be {valid}.")
    SmilingConfig(**OmegaConf.to_container(cfg.reward.smiling)).validate()


#: keys a resumed run may change: they set how long it runs and where and how it reports, not the
#: numbers it computes (a longer ``total_timesteps`` extends a finished run)
RESUME_MAY_CHANGE = ("total_timesteps", "eval", "checkpoint_freq", "progress_bar", "verbose", "threads", "device",
                     "out_dir", "reward.cache_dir", "reward.refit_in_process")


def _leaves(d: Any, prefix: str = "") -> dict[str, Any]:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict) and v:
            out.update(_leaves(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def check_resume_config(saved: DictConfig, cfg: DictConfig, out_dir: Path) -> None:
    """Refuse to resume a run under a config that would change its numbers.

    The checkpoint's model, reward learner and replay buffer were made by ``saved``; resuming them
    under another env, demos, algorithm or reward setting would silently mix two runs.

    :param saved: the run's own ``config.yaml`` (filled with the schema's defaults for keys it predates).
    :param cfg: the config asked for now.
    :raises SbilError: naming each changed key, with both values.
    """
    old = _leaves(OmegaConf.to_container(saved, resolve=True))
    new = _leaves(OmegaConf.to_container(cfg, resolve=True))
    fixed = lambda key: not any(key == k or key.startswith(k + ".") for k in RESUME_MAY_CHANGE)  # noqa: E731
    changed = [k for k in sorted(set(old) | set(new)) if fixed(k) and old.get(k) != new.get(k)]
    if changed:
        diff = "; ".join(f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in changed)
        raise SbilError(f"--resume: {out_dir} was started with another setting of {', '.join(changed)} ({diff}). A resumed run "
                        f"keeps the setup that made its checkpoint (only {', '.join(RESUME_MAY_CHANGE)} may change). Drop "
                        f"the override, or start a new run with out_dir=... .")


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _positive(value: Any) -> bool:
    return _number(value) and value > 0


def reward_processing(cfg: DictConfig) -> dict[str, Any]:
    """``reward.reward_norm`` / ``reward_clip`` / ``reward_floor`` / ``reward_center`` as learner kwargs; ``auto`` ones are
    left out, so that each learner's own defaults apply."""
    keys = ("reward_norm", "reward_clip", "reward_floor", "reward_center")
    return {k: cfg.reward[k] for k in keys if not (isinstance(cfg.reward[k], str) and cfg.reward[k] == "auto")}


def refit_in_process_value(value: Any) -> Union[bool, str]:
    """``reward.refit_in_process`` as :class:`~sbil.sb3.refit.RewardRefitCallback` takes it: ``"auto"``, True or False.

    The key is a string so that ``auto`` fits beside ``true`` / ``false`` (a YAML or command-line
    boolean arrives as ``"True"`` / ``"False"``).
    """
    text = str(value).lower()
    return "auto" if text == "auto" else text == "true"
