"""The diffusion math of SMILING, kept apart from the networks and the learner.

The forward process is diffusers' ``DDPMScheduler`` (its ``alphas_cumprod``); everything here is a
pure function of a schedule, networks and random draws.
"""

from __future__ import annotations

from typing import Optional

import torch as th
from diffusers import DDPMScheduler
from torch import nn

ESTIMATORS = ("qmc", "stratified", "reference")
REWARD_FORMS = ("loss", "score")


class NoiseSchedule:
    """DDPM forward process ``x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps``.

    :param num_train_timesteps: number of diffusion steps ``T`` (reference: 5000).
    :param beta_schedule: diffusers beta schedule name (reference: ``"linear"``).
    :param device: where the coefficient tables live.
    """

    def __init__(self, num_train_timesteps: int = 5000, beta_schedule: str = "linear", device: th.device | str = "cpu") -> None:
        scheduler = DDPMScheduler(num_train_timesteps=num_train_timesteps, beta_schedule=beta_schedule)
        alphas_cumprod = scheduler.alphas_cumprod.to(th.float32)
        self.num_timesteps = num_train_timesteps
        self.sqrt_abar = alphas_cumprod.sqrt().to(device)
        self.sqrt_one_minus_abar = (1.0 - alphas_cumprod).sqrt().to(device)

    def informative_steps(self, min_signal: float) -> int:
        """The number of leading steps whose ``x_t`` keeps at least ``min_signal`` of the clean input
        (``sqrt(abar_t) >= min_signal``; ``abar`` falls with ``t``). Beyond them ``x_t`` is almost pure
        noise: both nets' terms of the reward average to about zero there and add only variance."""
        return max(1, int((self.sqrt_abar >= min_signal).sum()))

    def add_noise(self, x0: th.Tensor, eps: th.Tensor, t: th.Tensor) -> th.Tensor:
        """Noise ``x0`` of shape ``(..., d)`` with ``eps`` (same shape) at integer steps ``t`` of shape ``(...)``."""
        return self.sqrt_abar[t].unsqueeze(-1) * x0 + self.sqrt_one_minus_abar[t].unsqueeze(-1) * eps


def sample_timesteps(estimator: str, n: int, k: int, num_timesteps: int, generator: Optional[th.Generator], device: th.device) -> th.Tensor:
    """Diffusion steps at which each of ``n`` inputs is scored: ``(n, k)`` integers in ``[0, T)``.

    ``reference``: ``k`` evenly spaced steps, the same for every input (the authors' grid).
    ``stratified``: one uniform step inside each of ``k`` equal strata, drawn per input: unbiased
    for the mean over all ``T`` steps, with much lower variance than i.i.d. steps.
    """
    if estimator == "reference":
        grid = th.div(th.arange(k, device=device) * num_timesteps, k, rounding_mode="floor")
        return grid.expand(n, k)
    if estimator == "stratified":
        u = th.rand((n, k), generator=generator, device=device)
        t = ((th.arange(k, device=device) + u) * (num_timesteps / k)).long()
        return t.clamp_(0, num_timesteps - 1)
    raise ValueError(f"estimator must be one of {ESTIMATORS}, got {estimator!r}")


def sample_qmc(k: int, d: int, num_timesteps: int, seed: int, device: th.device) -> tuple[th.Tensor, th.Tensor]:
    """``k`` quasi-random (t, eps) draws to be shared by every input of a batch: ``(k,)``, ``(k, d)``.

    A scrambled Sobol sequence in ``d + 1`` dimensions: the first coordinate places one ``t`` in
    each of ``k`` strata, the others become Gaussian noise by the inverse normal CDF. Sharing the
    draws across the batch (common random numbers) turns most estimator noise into an offset common
    to all states, which neither ranks nor (after normalisation) rewards any state differently.
    """
    engine = th.quasirandom.SobolEngine(d + 1, scramble=True, seed=seed)
    u = engine.draw(k).to(th.float64)
    t = ((th.arange(k, dtype=th.float64) + u[:, 0]) * (num_timesteps / k)).long().clamp_(0, num_timesteps - 1)
    eps = th.special.ndtri(u[:, 1:].clamp(1e-7, 1 - 1e-7)).to(th.float32)
    return t.to(device), eps.to(device)


def sample_noise(n: int, k: int, d: int, antithetic: bool, generator: Optional[th.Generator], device: th.device) -> th.Tensor:
    """Gaussian noise ``(n, k, d)``; with ``antithetic`` the second half of the ``k`` draws mirrors the first."""
    if not antithetic or k < 2:
        return th.randn((n, k, d), generator=generator, device=device)
    half = th.randn((n, (k + 1) // 2, d), generator=generator, device=device)
    return th.cat([half, -half], dim=1)[:, :k]


def denoising_loss(net: nn.Module, x0: th.Tensor, schedule: NoiseSchedule, generator: Optional[th.Generator]) -> th.Tensor:
    """The DDPM regression loss ``E_t,eps ||net(x_t, t) - eps||^2`` on a batch (t uniform, one draw per input)."""
    n = x0.shape[0]
    t = th.randint(0, schedule.num_timesteps, (n,), generator=generator, device=x0.device)
    eps = th.randn(x0.shape, generator=generator, device=x0.device)
    return ((net(schedule.add_noise(x0, eps, t), t) - eps) ** 2).sum(-1).mean()


def _per_draw_reward(eps_e: th.Tensor, eps_p: th.Tensor, eps: th.Tensor, form: str) -> th.Tensor:
    if form == "loss":
        return ((eps_p - eps) ** 2).sum(-1) - ((eps_e - eps) ** 2).sum(-1)
    if form == "score":
        return -((eps_e - eps_p) ** 2).sum(-1)
    raise ValueError(f"form must be one of {REWARD_FORMS}, got {form!r}")


def smiling_reward(
    expert_net: nn.Module,
    learner_net: nn.Module,
    x0: th.Tensor,
    schedule: NoiseSchedule,
    t: th.Tensor,
    eps: th.Tensor,
    form: str = "loss",
) -> th.Tensor:
    """Per-input SMILING reward, averaged over the ``k`` (t, eps) draws of each input.

    Both networks see the same noised inputs (common random numbers), and all ``n * k`` draws go
    through each network in one batched forward pass.

    ``loss``: ``||eps_P - eps||^2 - ||eps_E - eps||^2`` (the reference form).
    ``score``: ``-||eps_E - eps_P||^2`` (same expectation over learner states, lower variance).

    :param x0: ``(n, d)`` clean inputs. :param t: ``(n, k)`` steps. :param eps: ``(n, k, d)`` noise.
    :return: ``(n,)`` rewards.
    """
    n, k = t.shape
    x_t = schedule.add_noise(x0.unsqueeze(1), eps, t).reshape(n * k, -1)
    t_flat = t.reshape(n * k)
    eps_e = expert_net(x_t, t_flat).reshape(n, k, -1)
    eps_p = learner_net(x_t, t_flat).reshape(n, k, -1)
    return _per_draw_reward(eps_e, eps_p, eps, form).mean(dim=1)


def smiling_reward_shared(
    expert_net: nn.Module,
    learner_net: nn.Module,
    x0: th.Tensor,
    schedule: NoiseSchedule,
    t: th.Tensor,
    eps: th.Tensor,
    form: str = "loss",
) -> th.Tensor:
    """:func:`smiling_reward` for draws shared by every input (``t``: ``(k,)``, ``eps``: ``(k, d)``),
    through :meth:`ScoreNet.forward_shared_draws`: the same numbers, several times faster.

    :return: ``(n,)`` rewards.
    """
    a, s = schedule.sqrt_abar[t], schedule.sqrt_one_minus_abar[t]
    eps_e = expert_net.forward_shared_draws(x0, a, s, eps, t)
    eps_p = learner_net.forward_shared_draws(x0, a, s, eps, t)
    return _per_draw_reward(eps_e, eps_p, eps, form).mean(dim=1)
