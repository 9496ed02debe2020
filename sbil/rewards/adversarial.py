"""GAIL's discriminator reward as a :class:`~sbil.rewards.RewardLearner`, a peer of SMILING.

The network is ``imitation``'s ``BasicRewardNet`` (state-action, or state-only with
``use_action=False``); its logit is the discriminator's, trained with binary cross-entropy (expert
demos 1, learner transitions 0) in :meth:`GailReward.update`, and the reward is imitation's GAIL
form ``-log(1 - D) = softplus(logit)``. Plugged into the same wrapper, buffer and refit callback as
SMILING, it makes a like-for-like comparison of the reward learner alone.
(AIRL needs the policy's log-probabilities in its discriminator: use
:func:`sbil.benchmark.baselines.make_adversarial_trainer` for it.)
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np
import torch as th
import torch.nn.functional as F
from gymnasium import spaces

from sbil.errors import SbilError
from sbil.rewards.base import RewardLearner, check_obs_dims


def obs_subset_net(net_cls: type, observation_space: Any, action_space: Any, obs_dims: Optional[Sequence[int]], **kwargs: Any) -> Any:
    """An imitation reward net of ``net_cls`` that sees only the coordinates ``obs_dims`` of the
    (flat Box) observations: built on the smaller space, fed the selected columns of state and next
    state. ``obs_dims=None``: the plain net on the whole observation.

    A shaped net (AIRL's ``BasicShapedRewardNet``) has its base reward and its potential select the
    columns, so that its unshaped ``.base`` (AIRL's ``reward_test``) takes whole observations too.
    """
    from imitation.rewards.reward_nets import RewardNetWrapper

    if obs_dims is None:
        return net_cls(observation_space, action_space, **kwargs)
    if not isinstance(observation_space, spaces.Box) or len(observation_space.shape) != 1:
        raise SbilError(f"obs_dims needs flat Box observations, got {observation_space}.")
    dims = check_obs_dims(obs_dims, observation_space.shape[0])
    small = spaces.Box(observation_space.low[dims], observation_space.high[dims], dtype=observation_space.dtype)
    index = th.as_tensor(dims, dtype=th.long)
    net = net_cls(small, action_space, **kwargs)
    # imitation preprocesses the env's own observations before forward: keep its space.
    net.observation_space = observation_space
    if isinstance(net, RewardNetWrapper):
        _take_columns(net.base, index, observation_space)
        _take_columns(net.potential, index)
    else:
        _take_columns(net, index, observation_space)
    return net


def _take_columns(module: th.nn.Module, index: th.Tensor, observation_space: Optional[spaces.Box] = None) -> None:
    """Make ``module`` (a reward net ``(state, action, next_state, done)`` or a potential ``(state)``,
    built on the selected coordinates) take whole observations and select ``index`` itself."""
    cls = type(module)

    class TakesColumns(cls):  # type: ignore[misc, valid-type]
        def forward(self, state: th.Tensor, *rest: th.Tensor) -> th.Tensor:
            if len(rest) == 3:  # action, next_state, done
                action, next_state, done = rest
                return cls.forward(self, state[:, self.obs_index], action, next_state[:, self.obs_index], done)
            return cls.forward(self, state[:, self.obs_index], *rest)

    TakesColumns.__name__ = TakesColumns.__qualname__ = f"{cls.__name__}OnColumns"
    module.__class__ = TakesColumns
    module.register_buffer("obs_index", index.clone())
    if observation_space is not None:
        module.observation_space = observation_space


class GailReward(RewardLearner):
    """GAIL discriminator reward.

    :param use_action: discriminate (state, action) pairs; ``False``: states only.
    :param lr: Adam learning rate of the discriminator.
    :param n_disc_updates: discriminator steps per :meth:`update`.
    :param batch_size: learner and expert transitions per discriminator step (each).
    :param seed: seeds network init and minibatch draws.
    :param obs_dims: the observation coordinates the discriminator sees (default all), as SMILING's.
    """

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        use_action: bool = True,
        lr: float = 3e-4,
        n_disc_updates: int = 4,
        batch_size: int = 256,
        seed: int = 0,
        reward_norm: str = "running",
        reward_scale: float = 1.0,
        device: str | th.device = "auto",
        reward_clip: Optional[float] = None,
        reward_floor: Optional[float] = None,
        reward_center: float = 0.5,
        obs_dims: Optional[Sequence[int]] = None,
    ) -> None:
        from imitation.rewards.reward_nets import BasicRewardNet
        from imitation.util.networks import RunningNorm

        super().__init__(observation_space, action_space, reward_norm, reward_scale, device, reward_clip, reward_floor, reward_center)
        self.use_action, self.lr, self.n_disc_updates, self.batch_size, self.seed = use_action, lr, n_disc_updates, batch_size, seed
        index = check_obs_dims(obs_dims, int(np.prod(self.observation_space.shape)))
        self.obs_dims = None if index is None else index.tolist()
        with th.random.fork_rng(devices=[]):
            th.manual_seed(seed)
            self.net = obs_subset_net(BasicRewardNet, self.observation_space, self.action_space, self.obs_dims, use_action=use_action,
                                      normalize_input_layer=RunningNorm).to(self.device)
        self.optimizer = th.optim.Adam(self.net.parameters(), lr=lr)
        self.rng = np.random.default_rng(seed)
        self.expert: tuple[np.ndarray, ...] | None = None

    def fit_expert(self, demos: Any, **_: Any) -> dict[str, float]:
        """Keep the expert transitions the discriminator is trained against (no fit happens here)."""
        if len(demos.obs) == 0:
            raise SbilError("The demos are empty: GAIL needs expert transitions.")
        n = len(demos.obs)
        self.expert = self.check_batch(demos.obs, demos.acts, demos.next_obs, np.asarray(getattr(demos, "dones", np.zeros(n, bool))))
        return {}

    def _logits(self, obs: np.ndarray, acts: np.ndarray, next_obs: np.ndarray, dones: np.ndarray) -> th.Tensor:
        return self.net(*self.net.preprocess(obs, acts, next_obs, dones))

    def raw_reward(self, obs: np.ndarray, acts: np.ndarray, next_obs: np.ndarray, dones: np.ndarray) -> np.ndarray:
        self.net.eval()
        with th.inference_mode():
            return F.softplus(self._logits(obs, acts, next_obs, dones)).cpu().numpy()

    def update(self, obs: np.ndarray, acts: np.ndarray, next_obs: np.ndarray, dones: np.ndarray) -> dict[str, float]:
        if self.expert is None:
            raise SbilError("GailReward has no expert demos: call fit_expert(demos) first.")
        learner = self.check_batch(obs, acts, next_obs, dones)
        self.net.train()
        losses, acc_e, acc_l = [], [], []
        for _ in range(self.n_disc_updates):
            li = self.rng.integers(0, len(learner[0]), self.batch_size)
            ei = self.rng.integers(0, len(self.expert[0]), self.batch_size)
            batch = [np.concatenate([l[li], e[ei]]) for l, e in zip(learner, self.expert)]
            labels = th.cat([th.zeros(self.batch_size), th.ones(self.batch_size)]).to(self.device)
            logits = self._logits(*batch)
            loss = F.binary_cross_entropy_with_logits(logits, labels)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            losses.append(loss.item())
            acc_l.append(float((logits[: self.batch_size] < 0).float().mean()))
            acc_e.append(float((logits[self.batch_size :] > 0).float().mean()))
        if not np.isfinite(np.mean(losses)):
            raise SbilError(f"The GAIL discriminator loss exploded. Lower lr (now {self.lr}).")
        self.version += 1
        return {"disc_loss": float(np.mean(losses)), "disc_acc_expert": float(np.mean(acc_e)), "disc_acc_learner": float(np.mean(acc_l))}

    def config(self) -> dict[str, Any]:
        return {**super().config(), "use_action": self.use_action, "lr": self.lr, "n_disc_updates": self.n_disc_updates, "batch_size": self.batch_size, "seed": self.seed,
                "obs_dims": self.obs_dims}

    def _state(self) -> dict[str, Any]:
        return {"net": self.net.state_dict(), "optimizer": self.optimizer.state_dict(), "rng": self.rng.bit_generator.state}

    def _load_state(self, state: dict[str, Any]) -> None:
        self.net.load_state_dict(state["net"])
        self.optimizer.load_state_dict(state["optimizer"])
        if "rng" in state:  # files saved before the sampler's state was kept lack it
            self.rng.bit_generator.state = state["rng"]
