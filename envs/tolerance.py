"""The tolerance function of the humanoid task rewards (as in DeepMind Control and HumanoidBench).

``tolerance(x, bounds=(lo, hi))`` is 1 inside ``[lo, hi]`` and decays outside over ``margin`` to
``value_at_margin``, with a gaussian, linear or quadratic shape. Scalars take a pure-Python path:
the env computes about ten of them per step and numpy's per-call overhead would dominate.
"""

from __future__ import annotations

import math
from typing import Union

import numpy as np

SIGMOIDS = ("gaussian", "linear", "quadratic")
ArrayOrFloat = Union[float, np.ndarray]


def _shape_scalar(d: float, sigmoid: str, value_at_margin: float) -> float:
    if sigmoid == "gaussian":
        return math.exp(0.5 * (d * d) * (2.0 * math.log(value_at_margin)))  # exp(-(d k)^2 / 2), k^2 = -2 ln v
    if sigmoid == "linear":
        u = d * (1.0 - value_at_margin)
        return 1.0 - u if abs(u) < 1.0 else 0.0
    u = d * math.sqrt(1.0 - value_at_margin)  # quadratic
    return 1.0 - u * u if abs(u) < 1.0 else 0.0


def _shape_array(d: np.ndarray, sigmoid: str, value_at_margin: float) -> np.ndarray:
    if sigmoid == "gaussian":
        k = math.sqrt(-2.0 * math.log(value_at_margin))
        return np.exp(-0.5 * (d * k) ** 2)
    if sigmoid == "linear":
        u = d * (1.0 - value_at_margin)
        return np.where(np.abs(u) < 1.0, 1.0 - u, 0.0)
    u = d * math.sqrt(1.0 - value_at_margin)
    return np.where(np.abs(u) < 1.0, 1.0 - u * u, 0.0)


def tolerance(
    x: ArrayOrFloat,
    bounds: tuple[float, float] = (0.0, 0.0),
    margin: float = 0.0,
    sigmoid: str = "gaussian",
    value_at_margin: float = 0.1,
) -> ArrayOrFloat:
    """1 inside ``bounds`` (inclusive); outside, ``s(distance / margin)`` with ``s(0) = 1`` and
    ``s(1) = value_at_margin`` (0 outside when ``margin == 0``). A scalar in gives a float out.

    :param sigmoid: ``gaussian`` (needs ``0 < value_at_margin < 1``), ``linear`` or ``quadratic``.
    """
    lo, hi = bounds
    if lo > hi:
        raise ValueError(f"tolerance bounds must satisfy lo <= hi, got {bounds}.")
    if margin < 0:
        raise ValueError(f"tolerance margin must be >= 0, got {margin}.")
    if sigmoid not in SIGMOIDS:
        raise ValueError(f"Unknown sigmoid {sigmoid!r}; valid: {', '.join(SIGMOIDS)}.")
    if sigmoid == "gaussian" and not 0.0 < value_at_margin < 1.0:
        raise ValueError(f"gaussian tolerance needs 0 < value_at_margin < 1, got {value_at_margin}.")
    return _tolerance(x, lo, hi, margin, sigmoid, value_at_margin)


def _tolerance(x: ArrayOrFloat, lo: float, hi: float, margin: float = 0.0, sigmoid: str = "gaussian", value_at_margin: float = 0.1) -> ArrayOrFloat:
    """:func:`tolerance` without argument checks, for the per-step rewards (constants known good)."""
    if isinstance(x, float) or np.ndim(x) == 0:
        x = float(x)
        if lo <= x <= hi:
            return 1.0
        if margin == 0.0:
            return 0.0
        d = (lo - x if x < lo else x - hi) / margin
        return _shape_scalar(d, sigmoid, value_at_margin)
    x = np.asarray(x, dtype=float)
    inside = (lo <= x) & (x <= hi)
    if margin == 0.0:
        return np.where(inside, 1.0, 0.0)
    d = np.where(x < lo, lo - x, x - hi) / margin
    return np.where(inside, 1.0, _shape_array(d, sigmoid, value_at_margin))
