"""Noise-prediction (score) networks for SMILING: ``eps_theta(x_t, t)``."""

from __future__ import annotations

import math

import torch as th
from torch import nn
from torch.nn import functional as F


def sinusoidal_embedding(t: th.Tensor, dim: int) -> th.Tensor:
    """Transformer-style sinusoidal embedding of integer timesteps: ``(n,) -> (n, dim)``."""
    half = dim // 2
    freqs = th.exp(-math.log(10_000.0) * th.arange(half, device=t.device, dtype=th.float32) / half)
    angles = t.float()[:, None] * freqs[None, :]
    return th.cat([th.sin(angles), th.cos(angles)], dim=-1)


class ScoreNet(nn.Module):
    """Predicts the noise added to ``x`` at diffusion step ``t``.

    Sinusoidal time embedding -> small MLP, concatenated with ``x_t``; then either one hidden layer
    (``kind="mlp"``, the reference network) or a single linear map (``kind="linear"``, the
    linear-score variant: the prediction is linear in ``x_t``).

    :param dim: input dimension (state, or state + action).
    :param hidden_size: width of the hidden layer (``mlp`` only).
    :param time_embed_dim: size of the time embedding.
    :param kind: ``"mlp"`` or ``"linear"``.
    """

    def __init__(self, dim: int, hidden_size: int = 256, time_embed_dim: int = 16, kind: str = "mlp") -> None:
        super().__init__()
        self.time_embed_dim = time_embed_dim
        self.time_mlp = nn.Sequential(nn.Linear(time_embed_dim, 2 * time_embed_dim), nn.LeakyReLU(), nn.Linear(2 * time_embed_dim, time_embed_dim))
        if kind == "mlp":
            self.head = nn.Sequential(nn.Linear(dim + time_embed_dim, hidden_size), nn.LeakyReLU(), nn.Linear(hidden_size, dim))
        elif kind == "linear":
            self.head = nn.Linear(dim + time_embed_dim, dim)
        else:
            raise ValueError(f"kind must be 'mlp' or 'linear', got {kind!r}")

    def forward(self, x_t: th.Tensor, t: th.Tensor) -> th.Tensor:
        """:param x_t: ``(n, dim)`` noised inputs. :param t: ``(n,)`` integer steps. :return: ``(n, dim)``."""
        temb = self.time_mlp(sinusoidal_embedding(t, self.time_embed_dim))
        return self.head(th.cat([x_t, temb], dim=-1))

    def forward_shared_draws(self, x0: th.Tensor, a: th.Tensor, s: th.Tensor, eps: th.Tensor, t: th.Tensor) -> th.Tensor:
        """The same as ``forward(a_k x0_i + s_k eps_k, t_k)`` for every input ``i`` and draw ``k``, when
        the ``k`` draws are shared by all inputs, at a fraction of the cost: ``(n, k, dim)``.

        The first layer is linear in ``x_t``, so its pre-activation splits into
        ``a_k (W_x x0_i) + [s_k (W_x eps_k) + W_t temb(t_k) + b]``: one ``(n, H)`` and one ``(k, H)``
        product instead of an ``(n k, dim + E)`` one, and the time MLP runs ``k`` times, not ``n k``.

        :param x0: ``(n, dim)``. :param a, s: ``(k,)`` noise-schedule coefficients. :param eps: ``(k, dim)``. :param t: ``(k,)``.
        """
        first = self.head[0] if isinstance(self.head, nn.Sequential) else self.head
        w_x, w_t = first.weight[:, : x0.shape[1]], first.weight[:, x0.shape[1] :]
        temb = self.time_mlp(sinusoidal_embedding(t, self.time_embed_dim))
        per_draw = s[:, None] * (eps @ w_x.T) + temb @ w_t.T + first.bias  # (k, H)
        pre = th.addcmul(per_draw[None], a[None, :, None], (x0 @ w_x.T)[:, None, :])  # (n, k, H)
        if first is self.head:
            return pre
        # In place: pre is this call's own (n, k, H) buffer, the largest tensor here (~25% faster).
        return self.head[2](F.leaky_relu(pre, self.head[1].negative_slope, inplace=True))
