"""Whole episodes of a policy on a fresh env: demos, evaluation of experts, random-policy returns."""

from __future__ import annotations

from typing import Any

import numpy as np
from tqdm.auto import tqdm

from sbil.envs import make_env


def rollout_episodes(policy: Any, env_id: str, env_kwargs: dict[str, Any], n_episodes: int, seed: int, progress_bar: bool = False) -> list[dict]:
    """Roll out ``policy`` (an SB3 model, deterministic; a controller with ``bind(env)`` and
    ``reset()`` such as :class:`sbil.experts.controllers.OpenLoopController`; or ``None`` for uniform
    random actions).

    :return: one dict per episode with ``obs, acts, next_obs, rewards`` arrays and ``terminated``.
    """
    env = make_env(env_id, env_kwargs)
    env.action_space.seed(seed)
    if hasattr(policy, "bind"):  # controllers that read the simulator (sbil.experts)
        policy.bind(env.unwrapped)
    episodes = []
    for ep in tqdm(range(n_episodes), desc=f"rollouts {env_id}", disable=not progress_bar):
        obs, _ = env.reset(seed=seed + ep)
        if hasattr(policy, "bind"):
            policy.reset()
        rows: dict[str, list] = {"obs": [], "acts": [], "next_obs": [], "rewards": []}
        while True:
            act = env.action_space.sample() if policy is None else policy.predict(obs, deterministic=True)[0]
            next_obs, rew, terminated, truncated, _ = env.step(act)
            for key, value in zip(rows, (obs, act, next_obs, rew)):
                rows[key].append(np.asarray(value, dtype=np.float32))
            obs = next_obs
            if terminated or truncated:
                break
        episodes.append({**{k: np.stack(v) for k, v in rows.items()}, "terminated": bool(terminated)})
    env.close()
    return episodes
